"""What the pipeline needs from the knowledge base; app/kb/ implements it over Chroma.

The knowledge base is not the authority on what exists; the commerce API is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol


@dataclass(frozen=True)
class ProductKnowledge:
    sku: str
    name: str | None
    facts: list[str]
    fact_ids: list[str] = field(default_factory=list)
    category: str = ""


@dataclass(frozen=True)
class Evidence:
    """A review snippet cleaned for a prompt; `id` is stable and travels with the response."""

    id: str
    text: str
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class LanguageGap:
    """The concern's topic is answered by reviews in the other locale only: stated in the audit
    record, those reviews named and never quoted (no translation reaches a prompt)."""

    topic: str
    locale: str
    other_locale: str
    review_ids: tuple[str, ...]

    def as_record(self) -> dict:
        return {"topic": self.topic, "locale": self.locale, "answered_in": self.other_locale,
                "review_ids": list(self.review_ids)}  # fmt: skip


class Reviews(list[Evidence]):
    """The reviews for one prompt, with the language gap when there is one."""

    def __init__(self, items=(), language_gap: LanguageGap | None = None) -> None:
        super().__init__(items)
        self.language_gap = language_gap


class KnowledgeBase(Protocol):
    def product(self, sku: str, locale: str) -> ProductKnowledge | None: ...

    def reviews(
        self,
        skus: list[str],
        locale: str,
        channel: str,
        concern: str | None,
        journey: str,
        interests: list[str],
        today: date,
    ) -> list[Evidence]:
        """May return `Reviews`, whose `language_gap` the audit record carries."""
        ...

    def searches_in_memory(self, skus: list[str], locale: str) -> bool:
        """True when reviews() for these SKUs is CPU work alone, no index or network call."""
        ...

    def size(self) -> int: ...

    def reviews_available(self) -> bool:
        """False while review snippets cannot be retrieved (the Chroma server is away): the copy is
        then written from the product facts alone, and the response says so."""
        ...
