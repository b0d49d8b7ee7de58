"""On topic: the copy is about this request's product, offer or journey. It must carry an anchor:
a product or offer placeholder, a word it shares with the product's names, facts, offer terms or
reviews, or a word of the journey (cart, 购物车, welcome, ...). Cheap enough for every variant."""

from __future__ import annotations

import re
from functools import lru_cache

from app.guardrails.base import CheckContext, CheckResult, Copy, failed, passed
from app.guardrails.sense.policy import TopicPolicy
from app.guardrails.sense.text import HAN, LATIN_WORD, bare, model_texts
from app.placeholders import placeholders_in

# Placeholders that name the product or the offer ({name} alone says nothing about either).
TOPICAL_PLACEHOLDERS = frozenset({"product", "price", "list_price", "offer", "offer_code", "expires"})
_HAN_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


def latin_stems(text: str, stem: int, common: frozenset[str]) -> set[str]:
    words = (w.lower() for w in LATIN_WORD.findall(text))
    return {w[:stem] for w in words if len(w) >= 4 and w not in common}


def han_grams(text: str, n: int, common: frozenset[str]) -> set[str]:
    grams: set[str] = set()
    for run in _HAN_RUN.findall(text):
        grams.update(g for i in range(len(run) - n + 1) if (g := run[i : i + n]) not in common)
    return grams


@lru_cache(maxsize=256)
def _anchors(grounding: tuple[str, ...], words: tuple[str, ...], stem: int, n: int, common: frozenset[str]):
    text = "\n".join((*grounding, *words))
    return latin_stems(text, stem, common), han_grams(text, n, common)


class OnTopicCheck:
    name = "on_topic"

    def __init__(self, policy: TopicPolicy) -> None:
        self.policy = policy
        self.common = {loc: frozenset(w.lower() for w in ws) for loc, ws in policy.common_words.items()}

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        if not ctx.prompt:
            return passed(self.name, "template copy, written for the journey")
        fields = model_texts(copy)
        if any(TOPICAL_PLACEHOLDERS.intersection(placeholders_in(t)) for _, t in fields):
            return passed(self.name, "names the product or offer")
        text = "\n".join(bare(t) for _, t in fields)
        size = len(HAN.findall(text)) + len(LATIN_WORD.findall(text)) * 2
        if size < self.policy.min_chars.get(ctx.locale, 0):
            return passed(self.name, "too short to judge")
        p = self.policy
        journey = p.journey_words.get(ctx.journey, {}).get(ctx.locale, [])
        always = p.journey_words.get("any", {}).get(ctx.locale, [])
        common = self.common.get(ctx.locale, frozenset())
        stems, grams = _anchors(ctx.grounding, (*journey, *always), p.stem, p.min_anchor_chars, common)
        shared = (
            latin_stems(text, p.stem, common) & stems or han_grams(text, p.min_anchor_chars, common) & grams
        )
        if shared:
            return passed(self.name, f"about {sorted(shared)[0]!r}")
        return failed(
            self.name,
            ["names neither the product nor the offer, and shares no word with their facts or the journey"],
        )
