"""guardrails/sense.yaml read into typed rules, one section per sense check."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from app.content import read_yaml


@dataclass(frozen=True)
class EchoRule:
    ngram: int  # units per shared run that counts
    max_run: int  # this many units in a row taken from the instructions is an echo
    max_share: float  # ... or this share of the field's units in shared runs
    min_units: int  # (the share only counts on fields at least this long)


@dataclass(frozen=True)
class EchoPolicy:
    rules: dict[str, EchoRule]

    def for_locale(self, locale: str) -> EchoRule:
        return self.rules[locale]


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern[str]
    why: str


@dataclass(frozen=True)
class MetaPolicy:
    patterns: dict[str, list[Pattern]]  # locale (or "any") -> patterns
    labels: frozenset[str]  # a field that is only one of these is a label, not copy
    form_words: frozenset[str]  # a title or body of only these (and filler) words is a label
    filler_words: frozenset[str]
    max_label_words: int
    # a field of these names holding nothing but the product's name (and brand words) is a fragment
    name_alone_fields: frozenset[str] = frozenset()
    brand_words: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TopicPolicy:
    min_chars: dict[str, int]  # copy shorter than this (all fields) is not judged
    stem: int  # Latin words compared on their first N letters
    max_anchor_zipf: dict[str, float]  # locale -> a knowledge word this common (Zipf) anchors nothing
    journey_words: dict[str, dict[str, list[str]]]  # journey -> locale -> words that keep it on topic
    # locale -> the copy's sentence-encoder similarity to product, offer or journey must reach this
    min_similarity: dict[str, float] = field(default_factory=dict)
    journey_about: dict[str, dict[str, str]] = field(default_factory=dict)  # journey -> locale -> sentence
    similarity_chars: dict[str, int] = field(
        default_factory=dict
    )  # locale -> the copy's head that is encoded


@dataclass(frozen=True)
class FluencyRule:
    min_units: int  # fields shorter than this are not judged
    min_score: float  # zh: mean log-probability per character; en: mean Zipf frequency per word
    max_unknown_share: float  # share of characters / words the dictionary does not know
    min_distinct_share: float  # distinct units / units: below is a repetition loop
    rare_alone: float = 0.15  # zh: a lone character used alone less than this share is an orphan
    min_unknown_units: int = 1  # the unknown share is judged from this many units
    min_repeat_units: int = 12  # the distinct share is judged from this many units


@dataclass(frozen=True)
class FluencyPolicy:
    rules: dict[str, FluencyRule]
    domain: dict[str, tuple[str, ...]]  # locale -> words of the trade a general dictionary lacks


@dataclass(frozen=True)
class SensePolicy:
    echo: EchoPolicy
    meta: MetaPolicy
    topic: TopicPolicy
    fluency: FluencyPolicy
    classifier_model: str  # reads_as_copy's weights, next to the policy file
    classifier_max_chars: int  # reads_as_copy reads each field up to this many characters

    @classmethod
    def load(cls, path: Path) -> SensePolicy:
        raw = read_yaml(path)
        meta = raw["meta"]
        return cls(
            echo=EchoPolicy({loc: EchoRule(**r) for loc, r in raw["echo"].items()}),
            meta=MetaPolicy(
                patterns={
                    loc: [Pattern(re.compile(p["pattern"]), p["why"]) for p in pats]
                    for loc, pats in meta["patterns"].items()
                },
                labels=frozenset(w.lower() for w in meta["labels"]),
                form_words=frozenset(w.lower() for ws in meta["form_words"].values() for w in ws),
                filler_words=frozenset(w.lower() for w in meta["filler_words"]),
                max_label_words=int(meta["max_label_words"]),
                name_alone_fields=frozenset(meta.get("name_alone_fields", [])),
                brand_words=frozenset(w.lower() for w in meta.get("brand_words", [])),
            ),
            topic=TopicPolicy(**raw["topic"]),
            fluency=FluencyPolicy(
                {loc: FluencyRule(**r) for loc, r in raw["fluency"]["rules"].items()},
                {loc: tuple(ws) for loc, ws in raw["fluency"].get("domain", {}).items()},
            ),
            classifier_model=raw["reads_as_copy"]["model"],
            classifier_max_chars=int(raw["reads_as_copy"]["max_field_chars"]),
        )
