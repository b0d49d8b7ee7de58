"""A library template checked outside a request: for the review page's preview (filled with today's
facts and a sample name) and for a reviewer's edit, which becomes a new entry only if it passes
every check the pipeline runs, against the same facts a request would get."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

from app.generation.inputs import grounding
from app.generation.journeys import choose_journey
from app.generation.trade import placeholder_values
from app.guardrails import CheckContext, CheckResult, Copy
from app.library.entries import LibraryEntry
from app.schemas import Audience, GenerateRequest

if TYPE_CHECKING:
    from app.generation.pipeline import Generator


@dataclass(frozen=True)
class Checked:
    copy: Copy
    checks: list[CheckResult]
    snippets: dict[str, str]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def request_for(entry: LibraryEntry, name: str | None) -> GenerateRequest:
    c = entry.context
    return GenerateRequest(
        request_id="library-check",
        channel=c.channel,
        locale=c.locale,  # type: ignore[arg-type]
        journey=c.journey,
        skus=list(c.skus),
        offer_id=c.offer_id,
        audience=Audience(segment=c.segment, name=name),  # type: ignore[arg-type]
        variants=1,
    )


async def check_template(
    generator: Generator, entry: LibraryEntry, template: dict[str, str], name: str | None
) -> Checked:
    """`template` filled for the entry's context with today's facts and checked (no model call).
    Raises RequestError when today's facts refuse the context (an expired offer, an unknown SKU)."""
    req = request_for(entry, name)
    trade = await generator.trade.resolve(req)
    journey = choose_journey(generator.content.journeys, req.journey, trade)
    spec = generator.content.channels[req.channel]
    values = placeholder_values(trade, req.locale, generator.content.formats, name)
    args = (req.skus, req.locale, req.channel, None, journey.name, [], date.today())
    evidence = await asyncio.to_thread(generator.knowledge.reviews, *args)
    ctx = CheckContext(
        channel=spec,
        locale=req.locale,
        trade=trade,
        values=values,
        journey=journey.name,
        grounding=grounding(trade, req.locale),
        reviews=tuple(e.text for e in evidence),
    )
    copy, checks = generator.drafter.check(template, ctx, entry.variant_id or entry.library_id)
    copy = replace(copy, disclaimers=list(entry.disclaimers))
    snippets = {**entry.snippets, **{e.id: e.text for e in evidence}}
    return Checked(copy, checks, snippets)
