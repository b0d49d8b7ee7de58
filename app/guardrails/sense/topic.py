"""On topic: the copy is about this request's product, offer or journey. Its meaning must be near
them (sentence-encoder similarity to the product's names and facts, the offer terms and the
journey's words, above a calibrated floor), and it must carry an anchor: a product or offer
placeholder, a distinctive word it shares with the product's names, facts or offer terms (words
common in any text, by dictionary frequency, anchor nothing), or a word of the journey (cart,
购物车, welcome, ...)."""

from __future__ import annotations

import math
from functools import lru_cache

from app.guardrails.base import CheckContext, CheckResult, Copy, failed, passed
from app.guardrails.sense.fluency import _jieba, _zipf
from app.guardrails.sense.policy import TopicPolicy
from app.guardrails.sense.similarity import closeness
from app.guardrails.sense.text import HAN, LATIN_WORD, bare, filled, model_texts
from app.placeholders import placeholders_in

# Placeholders that name the product or the offer ({name} alone says nothing about either).
TOPICAL_PLACEHOLDERS = frozenset({"product", "price", "list_price", "offer", "offer_code", "expires"})


@lru_cache(maxsize=100_000)
def _zh_zipf(word: str) -> float:
    dt = _jieba()
    return math.log10((dt.FREQ.get(word, 0) + 1) / dt.total * 1e9)


def words(text: str, locale: str, stem: int, max_zipf: float | None) -> set[str]:
    """The text's distinctive words: Chinese words of two or more characters (jieba), Latin words
    of four or more letters cut to `stem` letters; with `max_zipf`, only those rarer than it."""
    out: set[str] = set()
    for w in LATIN_WORD.findall(text):
        w = w.lower()
        if len(w) >= 4 and (max_zipf is None or _zipf()(w) < max_zipf):
            out.add(w[:stem])
    if locale == "zh-CN" and HAN.search(text):
        for w in _jieba().cut(text, HMM=False):
            if len(w) >= 2 and HAN.match(w) and (max_zipf is None or _zh_zipf(w) < max_zipf):
                out.add(w)
    return out


@lru_cache(maxsize=256)
def _anchors(grounding: tuple[str, ...], journey: tuple[str, ...], locale: str, stem: int, max_zipf: float):
    found = words("\n".join(grounding), locale, stem, max_zipf)
    for phrase in journey:  # the journey's words anchor whatever their frequency
        found |= words(phrase, locale, stem, None) | ({phrase} if HAN.search(phrase) else set())
    return frozenset(found)


def _shared(mine: set[str], anchors: frozenset[str], text: str) -> str | None:
    """The first anchor the copy shares (Chinese anchors also as a substring jieba cut apart)."""
    shared = mine & anchors or {a for a in anchors if len(a) >= 2 and HAN.search(a) and a in text}
    return sorted(shared)[0] if shared else None


class OnTopicCheck:
    name = "on_topic"

    def __init__(self, policy: TopicPolicy) -> None:
        self.policy = policy

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        if not ctx.prompt:
            return passed(self.name, "template copy, written for the journey")
        fields = model_texts(copy)
        text = "\n".join(bare(t) for _, t in fields)
        size = len(HAN.findall(text)) + len(LATIN_WORD.findall(text)) * 2
        if size < self.policy.min_chars.get(ctx.locale, 0):
            return passed(self.name, "too short to judge")
        p = self.policy
        journey = (*p.journey_words.get(ctx.journey, {}).get(ctx.locale, []),
                   *p.journey_words.get("any", {}).get(ctx.locale, []))  # fmt: skip
        if any(TOPICAL_PLACEHOLDERS.intersection(placeholders_in(t)) for _, t in fields):
            return passed(self.name, "names the product or offer")
        mine = words(text, ctx.locale, p.stem, None)
        offer = ctx.trade.offer.terms_for(ctx.locale) if ctx.trade.offer is not None else ""
        product = tuple(g for g in ctx.grounding if g != offer)
        # The product's own name anchors whatever its words' frequency (积雪草修护精华: 精华).
        about = _anchors(product, (ctx.values.get("product", ""),), ctx.locale, p.stem,
                         p.max_anchor_zipf[ctx.locale])  # fmt: skip
        if shared := _shared(mine, about, text):
            return passed(self.name, f"about {shared!r}")
        # A word of the offer terms or the journey (order, customer, cart, 价格) is weak evidence:
        # any shop's copy has them. The meaning must be near too.
        weak = _anchors((offer,), journey, ctx.locale, p.stem, p.max_anchor_zipf[ctx.locale])
        if shared := _shared(mine, weak, text):
            floor = p.min_similarity.get(ctx.locale)
            if floor is not None:
                about_journey = p.journey_about.get(ctx.journey, {}).get(ctx.locale, "")
                head = filled(fields, ctx.values)[: p.similarity_chars.get(ctx.locale, 10**6)]
                near = closeness(head, ("\n".join(product), offer, about_journey))
                if near < floor:
                    return failed(
                        self.name,
                        [f"shares only the offer's or journey's word {shared!r} and reads as about something "
                         f"else (similarity {near:.2f} to the product, offer and journey < {floor:.2f})"],
                    )  # fmt: skip
            return passed(self.name, f"about {shared!r}")
        return failed(
            self.name,
            ["names neither the product nor the offer, nor a distinctive word of their facts or the journey"],
        )
