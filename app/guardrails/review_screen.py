"""Whether a review may be quoted in a prompt: the checks every variant must pass (sensitive words
for the product's domains, personal data) applied to the review itself, so that no prompt invites
the model to repeat what the checks would then block. The knowledge base runs it on each load."""

from __future__ import annotations

from pathlib import Path

from app.guardrails.link_policy import without_links
from app.guardrails.pii_detector import PiiDetector
from app.guardrails.word_lists import DomainMap
from app.guardrails.words import WordList


class ReviewScreen:
    def __init__(self, guardrails_dir: Path, pii: PiiDetector | None = None) -> None:
        self.words = WordList(guardrails_dir / "words")
        self.domains = DomainMap.load(guardrails_dir / "domains.yaml")
        self.pii = pii or PiiDetector(guardrails_dir / "pii.yaml")

    def __call__(self, text: str, category: str) -> tuple[str, ...]:
        """Why the review may not be quoted; empty when it may."""
        domains = self.domains.domains([category] if category else [])
        reasons = [f"sensitive word: {h.term} ({h.category})" for h in self.words.find(text, domains)]
        reasons += [f"personal data: {h.entity}" for h in self.pii.find(without_links(text))]
        return tuple(dict.fromkeys(reasons))
