"""Reads as copy: a linear classifier over each field's bag of subwords (the input embeddings of
the sentence encoder the knowledge base already loads; title, body and button side by side, so a
title that is a label or a button that is a sentence count as such), trained on the labelled set
in evals/sense/: thousands of real junk answers of the embedded model against sendable shop copy.
It sees what no rule names (fluent nonsense, product essays, form labels) for ~0.15 ms a variant.
Weights and threshold: guardrails/copy_classifier.json, written by `python -m app.evals.sense_train`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.guardrails.base import CheckContext, CheckResult, Copy, failed, passed
from app.guardrails.sense.text import filled, model_texts

FEATURES = "use-m3-token-bag-per-field/v2"  # what the weights were trained on: change it and retrain
FIELDS = ("title", "body", "cta")  # each field's bag has its own weights; a field the channel lacks is 0
_BAG = 512


def features(copy: Copy, ctx: CheckContext, max_chars: int) -> np.ndarray:
    """Each field as the customer reads it (the model's text, placeholders filled, its first
    `max_chars` characters) as a bag of subword embeddings, the fields side by side."""
    from app.kb.embedding import encoder

    texts, bag = dict(model_texts(copy)), encoder().token_bag
    empty = np.zeros(_BAG, np.float32)
    return np.concatenate(
        [bag(filled([(f, texts[f])], ctx.values)[:max_chars]) if texts.get(f) else empty for f in FIELDS]
    )


@dataclass(frozen=True)
class CopyClassifier:
    weights: np.ndarray
    bias: float
    threshold: float  # a score above it is junk (log-odds)

    def score(self, x: np.ndarray) -> float:
        return float(x @ self.weights + self.bias)

    @classmethod
    def load(cls, path: Path) -> CopyClassifier:
        raw = json.loads(path.read_text())
        if raw["features"] != FEATURES:
            raise ValueError(f"{path}: trained on {raw['features']!r}, the check computes {FEATURES!r}")
        return cls(np.asarray(raw["weights"], dtype=np.float32), float(raw["bias"]), float(raw["threshold"]))


class ReadsAsCopyCheck:
    name = "reads_as_copy"

    def __init__(self, model: CopyClassifier, max_field_chars: int) -> None:
        self.model = model
        self.max_field_chars = max_field_chars

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        if not ctx.prompt:
            return passed(self.name, "template copy, written for the journey")
        if not model_texts(copy):
            return passed(self.name, "no text to judge")
        score = self.model.score(features(copy, ctx, self.max_field_chars))
        if score > self.model.threshold:
            return failed(
                self.name,
                [f"reads like the model's junk, not a message to the customer "
                 f"(classifier score {score:.2f} > {self.model.threshold:.2f})"],
            )  # fmt: skip
        return passed(self.name, f"score {score:.2f}")
