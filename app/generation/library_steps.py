"""The variant library's part in a generation: which mode applies, the approved variants served
before any model call, what the model must still write, and afterwards the passing model copy kept
(pending review) and the spot checks queued."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.commerce.facts import TradeFacts
from app.generation.assemble import assemble
from app.generation.inputs import FACTS_PER_PRODUCT
from app.generation.reuse import Served, library_context, serve
from app.generation.variant import VariantDrafter, VariantResult
from app.guardrails import CheckContext
from app.kb.interface import Evidence
from app.library.library import Candidate, Library
from app.library.policy import default_mode
from app.observability import request_context
from app.schemas import GenerateRequest
from app.store.database import run_for


def client() -> str:
    return request_context.client.get() or "local"


class LibrarySteps:
    def __init__(self, library: Library | None, drafter: VariantDrafter, journeys: dict[str, dict]) -> None:
        self.library = library
        self.drafter = drafter
        self.journeys = journeys

    def mode(self, req: GenerateRequest) -> str:
        """The request's mode, else its journey's default (prompts/journeys.yaml); without a library
        (the evals, the CLI without a database) always fresh."""
        if self.library is None:
            return "fresh"
        return req.mode or default_mode(self.journeys, req.journey)

    async def serve(
        self, req: GenerateRequest, mode: str, ctx: CheckContext, variant_id: Callable[[int], str]
    ) -> Served:
        if mode == "fresh" or self.library is None:
            return Served()
        context = library_context(req, req.journey)
        return await run_for(
            self.library.db,
            serve,
            self.library,
            self.drafter,
            client(),
            context,
            ctx,
            req.variants,
            variant_id,
        )

    async def after(
        self,
        req: GenerateRequest,
        results: list[VariantResult],
        ctx: CheckContext,
        trade: TradeFacts,
        evidence: list[Evidence],
        generation_id: str,
        variant_id: Callable[[int], str],
        *,
        prompt_version: str,
        model: str,
    ) -> dict[str, Any]:
        """Keep the passing model copy, queue spot checks of served library copy; what was done."""
        if self.library is None:
            return {}
        lib = self.library
        keep = [(i, r) for i, r in enumerate(results) if r.source in lib.policy.keep_sources]
        spot = [(i, r) for i, r in enumerate(results) if r.library_id and lib.spot_check_due(req.journey)]
        if not keep and not spot:
            return {}
        context = library_context(req, req.journey)
        candidates = [
            Candidate(context, r.tone, dict(r.copy.template), list(r.copy.disclaimers), r.source,
                      [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in r.checks],
                      generation_id, variant_id(i))
            for i, r in keep
        ]  # fmt: skip
        snippets = {
            **{
                f: t
                for p in trade.products
                for f, t in zip(p.fact_ids[:FACTS_PER_PRODUCT], p.facts, strict=False)
            },
            **{e.id: e.text for e in evidence},
        }
        values = {k: v for k, v in ctx.values.items() if k != "name"}  # no customer's name kept

        def write() -> dict[str, Any]:
            kept = lib.keep(candidates, client=client(), prompt_version=prompt_version, model=model,
                            snippets=snippets)  # fmt: skip
            spots = []
            for i, r in spot:
                shown = assemble(dict(r.copy.template), ctx.channel, ctx.locale, values).fields
                spots.append(lib.store.queue_spot_check(r.library_id or "", generation_id, variant_id(i),
                                                        req.journey, client(), shown))  # fmt: skip
            out: dict[str, Any] = {}
            if kept:
                out["kept"] = [{"library_id": k.library_id, "linked": k.linked} for k in kept]
            if spots:
                out["spot_checks"] = spots
            return out

        return await run_for(lib.db, write)
