"""The CI gate of issue 4: every violation class caught on the labelled corpus, few false alarms."""

from __future__ import annotations

from app.config import REPO_ROOT
from app.content import read_yaml
from app.evals.guardrail_corpus import evaluate


def test_the_corpus_covers_every_channel_locale_and_class():
    samples = read_yaml(REPO_ROOT / "evals" / "guardrails" / "corpus.yaml")["samples"]
    assert len(samples) >= 300
    assert {s["channel"] for s in samples} == {"sms", "push", "email", "wechat", "inapp"}
    assert {s["locale"] for s in samples} == {"zh-CN", "en-US"}
    classes = {c for s in samples for c in s["expect"]}
    assert classes >= {"channel_limits", "sensitive_words", "trade_claims", "pii", "links"}
    assert any(s.get("commerce") == "down" for s in samples)
    assert len({s["id"] for s in samples}) == len(samples)


def test_recall_and_false_positives_meet_the_targets():
    targets = read_yaml(REPO_ROOT / "evals" / "guardrails" / "targets.yaml")
    report = evaluate(REPO_ROOT)
    for name, score in report.classes.items():
        assert score.recall >= targets["min_recall"], (name, score.missed)
    assert report.false_positive_rate <= targets["max_false_positive_rate"], report.false_positives
