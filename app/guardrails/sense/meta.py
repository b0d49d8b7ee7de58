"""Meta and template text: words addressed to the writer rather than the customer ("the customer",
"remind them", 用户 in the third person, 请…提醒), placeholders and tags that are not ours, labels
("Tweet", "Subject line", "Product Details") standing where copy should be, and one text pasted
into several fields."""

from __future__ import annotations

import re
from functools import lru_cache

from app.guardrails.base import CheckContext, CheckResult, Copy, failed, passed
from app.guardrails.sense.fluency import _jieba
from app.guardrails.sense.policy import MetaPolicy
from app.guardrails.sense.text import HAN, LATIN_WORD, model_texts
from app.placeholders import PLACEHOLDER, placeholders_in

_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
_PUNCT = re.compile(r"[\W_]+")


@lru_cache(maxsize=4096)
def _words(text: str) -> list[str]:
    latin = [w.lower() for w in LATIN_WORD.findall(text)]
    han = [w for w in _jieba().cut(text, HMM=False) if HAN.match(w)] if HAN.search(text) else []
    return latin + han


class MetaTextCheck:
    name = "meta_text"

    def __init__(self, policy: MetaPolicy) -> None:
        self.policy = policy

    def is_label(self, field: str, text: str) -> bool:
        if _EDGES.sub("", text).lower() in self.policy.labels:
            return True
        if field == "cta":  # a button is a short label by nature: only the exact ones above
            return False
        if len(text) > 12 * self.policy.max_label_words:  # too long to be a label: skip segmenting
            return False
        words, p = _words(text), self.policy
        return (
            0 < len(words) <= p.max_label_words
            and all(w in p.form_words or w in p.filler_words for w in words)
            and any(w in p.form_words for w in words)
        )

    def is_name_alone(self, text: str, ctx: CheckContext) -> bool:
        """Every word is a word of the product's name, the brand or filler ("CloudLite Cushion
        Runner", "Lumi 5-inch running shorts", "{product}"): it names, it does not say."""
        if set(placeholders_in(text)) - {"product"}:  # an offer, a price, a name: it says something
            return False
        words = _words(PLACEHOLDER.sub(" ", text))
        names = [n for n in (*(p.name for p in ctx.trade.products), ctx.values.get("product")) if n]
        brand = self.policy.brand_words
        allowed = set(_words(" ".join([*names, *brand]))) | brand | self.policy.filler_words
        return all(w in allowed for w in words) and (bool(words) or "{product}" in text)

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        patterns = self.policy.patterns.get("any", []) + self.policy.patterns.get(ctx.locale, [])
        problems: list[str] = []
        texts = model_texts(copy)
        seen: dict[str, str] = {}
        for field, text in texts:
            key = _PUNCT.sub("", text).lower()
            if key and key in seen:
                problems.append(f"{field} repeats the {seen[key]} word for word")
            seen.setdefault(key, field)
            if self.is_label(field, text):
                problems.append(f"{field} is a label ({text.strip()!r}), not copy")
                continue
            if field in self.policy.name_alone_fields and self.is_name_alone(text, ctx):
                problems.append(f"{field} is the product's name alone ({text.strip()!r}), not a message")
                continue
            for p in patterns:
                m = p.regex.search(text)
                if m:
                    problems.append(f"{field} has {p.why} ({m.group(0).strip()!r})")
        return failed(self.name, problems) if problems else passed(self.name)
