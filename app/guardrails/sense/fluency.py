"""Fluency: the copy is language, not character or word salad. Chinese is segmented by jieba with
its shipped word-frequency dictionary: in salad, characters that live inside words (漂, 秃, 哨) stand
alone, so each lone character is scored by how often the dictionary uses it alone. English words
are scored by wordfreq's Zipf frequency. Both also catch repetition loops. Thresholds are
calibrated on evals/sense/ (see guardrails/sense.yaml)."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from functools import cache, lru_cache

from app.guardrails.base import CheckContext, CheckResult, Copy, failed, passed
from app.guardrails.sense.policy import FluencyPolicy
from app.guardrails.sense.text import LATIN_WORD, bare, model_texts, units

_HAN_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


@dataclass(frozen=True)
class Fluency:
    units: int
    score: float  # zh: mean log-share of lone use per character; en: mean Zipf frequency per word
    unknown: float  # zh: share of characters standing alone that rarely do; en: words no list knows
    distinct: float  # distinct units / units


@cache
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.dt.check_initialized()
    return jieba.dt


@cache
def _alone_share() -> dict[str, float]:
    """Per character: its dictionary frequency as a word of its own / its frequency in all words."""
    dt = _jieba()
    inside: dict[str, int] = {}
    for word, freq in dt.FREQ.items():
        if freq and len(word) > 1:
            for ch in set(word):
                inside[ch] = inside.get(ch, 0) + freq
    chars = set(inside) | {w for w in dt.FREQ if len(w) == 1}
    return {c: (dt.FREQ.get(c, 0) + 1) / (dt.FREQ.get(c, 0) + inside.get(c, 0) + 2) for c in chars}


@cache
def _zipf():
    from wordfreq import zipf_frequency

    return lru_cache(maxsize=50_000)(lambda w: zipf_frequency(w, "en"))


@lru_cache(maxsize=256)
def _known_bigrams(grounding: tuple[str, ...], domain: tuple[str, ...]) -> frozenset[str]:
    """Chinese character pairs of the product's own texts and the domain's words: not salad."""
    grams: set[str] = set()
    for text in (*grounding, *domain):
        for run in _HAN_RUN.findall(text):
            grams.update(run[i : i + 2] for i in range(len(run) - 1))
    return frozenset(grams)


def chinese_fluency(text: str, known: frozenset[str], rare_alone: float) -> Fluency:
    dt, alone = _jieba(), _alone_share()
    chars = orphans = 0
    logp = 0.0
    for run in _HAN_RUN.findall(text):
        covered = [False] * len(run)
        for i in range(len(run) - 1):
            if run[i : i + 2] in known:
                covered[i] = covered[i + 1] = True
        start = 0
        for word in dt.cut(run, HMM=False):
            end = start + len(word)
            if not all(covered[start:end]):
                chars += len(word)
                if len(word) == 1:
                    share = alone.get(word, 1e-6)
                    logp += math.log(share)
                    orphans += share < rare_alone
            start = end
    seen = units(text)
    return Fluency(
        chars,
        logp / chars if chars else 0.0,
        orphans / chars if chars else 0.0,
        len(set(seen)) / len(seen) if seen else 1.0,
    )


def english_fluency(text: str, known: frozenset[str], floor: float = 0.0) -> Fluency:
    """A word of the product's own texts that the dictionary rates under `floor` (CloudLite) is
    not scored; one it knows well (the, light) still is, so quoting facts cannot sink the mean."""
    zipf = _zipf()
    words = [w.lower() for w in LATIN_WORD.findall(text)]
    scored = [(w, zipf(w.replace("’", "'"))) for w in words]
    freqs = [f for w, f in scored if w not in known or f >= floor]
    return Fluency(
        len(words),
        sum(freqs) / len(freqs) if freqs else 7.0,
        sum(1 for f in freqs if f < 1.0) / len(freqs) if freqs else 0.0,
        len(set(words)) / len(words) if words else 1.0,
    )


@lru_cache(maxsize=256)
def _known_words(grounding: tuple[str, ...]) -> frozenset[str]:
    """Product names and fact words the dictionary may not know (CloudLite) are not salad."""
    return frozenset(w.lower() for g in grounding for w in LATIN_WORD.findall(g))


@lru_cache(maxsize=4096)  # template copy comes back on every request
def fluency(
    text: str, locale: str, rule, grounding: tuple[str, ...] = (), domain: tuple[str, ...] = ()
) -> Fluency:
    text = bare(text)
    if locale == "zh-CN":
        return chinese_fluency(text, _known_bigrams(grounding, domain), rule.rare_alone)
    return english_fluency(text, _known_words((*grounding, *domain)), rule.min_score)


class FluencyCheck:
    name = "fluency"

    def __init__(self, policy: FluencyPolicy) -> None:
        self.policy = policy

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        rule = self.policy.rules[ctx.locale]
        problems = []
        for field, text in model_texts(copy):
            quotable = (*ctx.grounding, *ctx.reviews)
            f = fluency(text, ctx.locale, rule, quotable, self.policy.domain.get(ctx.locale, ()))
            why = []
            if f.units >= rule.min_units and f.score < rule.min_score:
                why.append(f"score {f.score:.2f} < {rule.min_score}")
            if f.units >= rule.min_unknown_units and f.unknown > rule.max_unknown_share:
                why.append(f"{f.unknown:.0%} unknown")
            seen = len(units(bare(text)))
            if seen >= rule.min_repeat_units and f.distinct < rule.min_distinct_share:
                why.append(f"only {f.distinct:.0%} distinct: a repetition loop")
            if why:
                problems.append(f"{field} does not read as language ({', '.join(why)})")
        return failed(self.name, problems) if problems else passed(self.name)


def warm_up() -> None:
    """Load the dictionaries now rather than on the first request."""
    _alone_share()
    _zipf()("the")
