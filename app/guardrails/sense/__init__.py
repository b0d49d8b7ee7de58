"""Sense checks: is the copy copy at all? Prompt echo, meta and template text, on topic, fluency,
and a classifier trained on real junk (reads as copy). Policy in guardrails/sense.yaml, calibrated
on the labelled set in evals/sense/."""

from __future__ import annotations

from pathlib import Path

from app.guardrails.base import Check
from app.guardrails.sense.classifier import CopyClassifier, ReadsAsCopyCheck
from app.guardrails.sense.echo import PromptEchoCheck
from app.guardrails.sense.fluency import FluencyCheck
from app.guardrails.sense.meta import MetaTextCheck
from app.guardrails.sense.policy import SensePolicy
from app.guardrails.sense.topic import OnTopicCheck

__all__ = [
    "FluencyCheck", "MetaTextCheck", "OnTopicCheck", "PromptEchoCheck", "ReadsAsCopyCheck", "SensePolicy",
    "sense_checks", "warm_up",
]  # fmt: skip


def sense_checks(policy_path: Path) -> list[Check]:
    policy = SensePolicy.load(policy_path)
    return [
        PromptEchoCheck(policy.echo),
        MetaTextCheck(policy.meta),
        OnTopicCheck(policy.topic),
        FluencyCheck(policy.fluency),
        ReadsAsCopyCheck(
            CopyClassifier.load(policy_path.parent / policy.classifier_model), policy.classifier_max_chars
        ),
    ]


def warm_up() -> None:
    """Load the dictionaries (jieba, wordfreq) and the sentence encoder now, not on a request."""
    from app.guardrails.sense import fluency, similarity

    fluency.warm_up()
    similarity.warm_up()
