"""One library entry: a variant's template with the context it was written for, and where it
stands in review. The context key is what serving matches on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATUSES = ("pending", "approved", "rejected", "retired")


@dataclass(frozen=True)
class Context:
    """What a template was written for; tone is the variant's own, not part of the match."""

    journey: str
    channel: str
    locale: str
    skus: tuple[str, ...]
    offer_id: str | None
    segment: str | None

    @property
    def key(self) -> str:
        """Journey, channel, locale, SKUs in order (the first is the main product), offer, segment."""
        return "|".join(
            (
                self.journey,
                self.channel,
                self.locale,
                ",".join(self.skus),
                self.offer_id or "-",
                self.segment or "-",
            )
        )


@dataclass(frozen=True)
class LibraryEntry:
    library_id: str
    client: str
    created_at: float
    status: str
    context: Context
    tone: str
    template: dict[str, str]
    disclaimers: list[str]
    prompt_version: str
    model: str
    source: str
    checks: list[dict[str, Any]]
    snippets: dict[str, str]  # the facts and reviews its prompt drew on, id -> text
    generation_id: str | None = None
    variant_id: str | None = None
    parent_id: str | None = None  # the entry it was edited from
    duplicates: int = 0  # near-duplicates linked to it instead of kept
    served: int = 0
    approved_at: float | None = None
    decided_at: float | None = None
    decided_by: str | None = None
    note: str | None = None
    flagged_at: float | None = None
    flag_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        return self.flagged_at is not None
