"""How near two templates are: Jaccard similarity of their character n-gram sets (the measure and
threshold are policy, prompts/library.yaml). Works the same for Chinese and English, no model."""

from __future__ import annotations


def template_text(template: dict[str, str]) -> str:
    """Title, body and button as one case-folded line, whitespace collapsed."""
    parts = [template.get(f) or "" for f in ("title", "body", "cta")]
    return " | ".join(" ".join(p.split()) for p in parts if p).casefold()


def ngrams(text: str, n: int) -> frozenset[str]:
    if len(text) <= n:
        return frozenset({text}) if text else frozenset()
    return frozenset(text[i : i + n] for i in range(len(text) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def similarity(a: dict[str, str], b: dict[str, str], n: int) -> float:
    return jaccard(ngrams(template_text(a), n), ngrams(template_text(b), n))
