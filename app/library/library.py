"""The library as generation and the API use it: keep passing copy (near-duplicates linked), the
approved variants of a context in serving order, what was served, flags and spot checks."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.library.allocation import preference
from app.library.entries import Context, LibraryEntry
from app.library.policy import LibraryPolicy
from app.library.similarity import jaccard, ngrams, template_text
from app.library.store import LibraryStore, new_library_id
from app.store.database import Database

# (context, arm keys) -> weight per arm: the outcome allocation's posteriors (app/learning/).
Weights = Callable[[dict[str, Any], list[str]], Mapping[str, float]]


@dataclass(frozen=True)
class Candidate:
    """A variant that passed every check, as generation hands it over to be kept."""

    context: Context
    tone: str
    template: dict[str, str]
    disclaimers: list[str]
    source: str
    checks: list[dict[str, Any]]
    generation_id: str
    variant_id: str


@dataclass(frozen=True)
class Kept:
    library_id: str
    linked: bool  # a near-duplicate linked to an existing entry, not a new one
    similarity: float = 1.0


class Library:
    def __init__(
        self, db: Database, policy: LibraryPolicy, *, weights: Weights | None = None,
        rng: random.Random | None = None,
    ) -> None:  # fmt: skip
        self.db = db
        self.store = LibraryStore(db)
        self.policy = policy
        self.weights = weights
        self.rng = rng or random.Random()

    def keep(
        self, candidates: Sequence[Candidate], *, client: str, prompt_version: str, model: str,
        snippets: dict[str, str], parent_id: str | None = None,
    ) -> list[Kept]:  # fmt: skip
        """Each passing candidate becomes a pending entry, or a link to the nearest existing entry
        of its context whose similarity reaches the policy's threshold."""
        out = []
        for cand in candidates:
            if cand.source not in self.policy.keep_sources and parent_id is None:
                continue
            near = self.nearest(client, cand.context, cand.template)
            if near is not None and near[1] >= self.policy.duplicate_threshold:
                entry, score = near
                self.store.link(
                    entry.library_id, cand.generation_id, cand.variant_id, score, cand.template, client
                )
                out.append(Kept(entry.library_id, True, score))
                continue
            entry = LibraryEntry(
                library_id=new_library_id(),
                client=client,
                created_at=time.time(),
                status="pending",
                context=cand.context,
                tone=cand.tone,
                template=cand.template,
                disclaimers=cand.disclaimers,
                prompt_version=prompt_version,
                model=model,
                source=cand.source,
                checks=cand.checks,
                snippets=snippets,
                generation_id=cand.generation_id,
                variant_id=cand.variant_id,
                parent_id=parent_id,
            )
            self.store.insert(entry)
            out.append(Kept(entry.library_id, False))
        return out

    def nearest(
        self, client: str, context: Context, template: dict[str, str]
    ) -> tuple[LibraryEntry, float] | None:
        """The most similar entry of the context in any status (a rejected text is not kept again)."""
        n = self.policy.ngram
        mine = ngrams(template_text(template), n)
        best: tuple[LibraryEntry, float] | None = None
        for entry in self.store.in_context(
            client, context.key, ("pending", "approved", "rejected", "retired")
        ):
            score = jaccard(mine, ngrams(template_text(entry.template), n))
            if best is None or score > best[1]:
                best = (entry, score)
        return best

    def servable(self, client: str, context: Context) -> list[LibraryEntry]:
        """The context's approved entries, the one to serve first at the head."""
        entries = self.store.in_context(client, context.key, ("approved",))
        if len(entries) < 2:
            return entries
        weights = None
        if self.weights is not None:
            c = context
            ctx = {"journey": c.journey, "channel": c.channel, "locale": c.locale, "skus": list(c.skus),
                   "offer_id": c.offer_id, "segment": c.segment}  # fmt: skip
            weights = self.weights(ctx, [e.library_id for e in entries])
        return preference(entries, self.policy, self.rng, weights)

    def served(self, library_ids: Sequence[str]) -> None:
        self.store.count_served(library_ids)

    def flag(self, library_id: str, reason: str) -> None:
        self.store.flag(library_id, reason)

    def spot_check_due(self, journey: str) -> bool:
        return self.rng.random() < self.policy.spot_share(journey)

    def add_edit(
        self, parent: LibraryEntry, template: dict[str, str], checks: list[dict[str, Any]],
        snippets: dict[str, str], *, reviewer: str, note: str, client: str,
    ) -> LibraryEntry:  # fmt: skip
        """A reviewer's edit: a new pending entry of the parent's library (it passed every check),
        and an `edit` decision on the parent. Never linked as a near-duplicate: the change is the point."""
        entry = LibraryEntry(
            library_id=new_library_id(),
            client=parent.client,
            created_at=time.time(),
            status="pending",
            context=parent.context,
            tone=parent.tone,
            template=template,
            disclaimers=parent.disclaimers,
            prompt_version=parent.prompt_version,
            model=parent.model,
            source="edited",
            checks=checks,
            snippets=snippets,
            generation_id=parent.generation_id,
            variant_id=parent.variant_id,
            parent_id=parent.library_id,
        )
        self.store.insert(entry)
        self.store.record_decision(parent.library_id, "edit", reviewer, note, client,
                                   {"new_library_id": entry.library_id, "template": template})  # fmt: skip
        return entry
