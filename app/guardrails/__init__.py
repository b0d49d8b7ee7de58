"""Checks every variant must pass before it leaves the service (twin of guardrails/), with their
detectors beside them: PII, links, word normalisation. The pipeline runs `default_checks()`.

May import commerce (trade facts), kb.embedding (the sentence encoder the knowledge base loads,
for on_topic's meaning test) and the shared modules; not generation, api or cli.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from app.config import REPO_ROOT
from app.guardrails.base import Check, CheckContext, CheckResult, Copy
from app.guardrails.claims import TradeClaimCheck
from app.guardrails.form import FormCheck
from app.guardrails.limits import ChannelLimitCheck
from app.guardrails.link_policy import LinkPolicy
from app.guardrails.links import LinkCheck
from app.guardrails.pii import PiiCheck
from app.guardrails.pii_detector import PiiDetector
from app.guardrails.placeholders import PlaceholderCheck
from app.guardrails.schema import SchemaCheck
from app.guardrails.sense import sense_checks
from app.guardrails.words import SensitiveWordCheck

__all__ = ["Check", "CheckContext", "CheckResult", "Copy", "default_checks", "run_checks", "timed_checks"]

# The CPU milliseconds run_checks spent in the current request, when one is timing (timed_checks):
# a list so that the variant tasks, which copy the context, add to the same total.
_spent: ContextVar[list[float] | None] = ContextVar("checks_spent", default=None)


def default_checks(
    guardrails_dir: Path = REPO_ROOT / "guardrails", pii: PiiDetector | None = None
) -> list[Check]:
    """The checks in the order they run; policy files come from `guardrails_dir`."""
    pii = pii or PiiDetector(guardrails_dir / "pii.yaml")
    return [
        SchemaCheck(),
        PlaceholderCheck(),
        ChannelLimitCheck(),
        FormCheck(guardrails_dir / "form.yaml"),
        SensitiveWordCheck(guardrails_dir / "words"),
        TradeClaimCheck(guardrails_dir / "claims.yaml"),
        PiiCheck(pii),
        LinkCheck(LinkPolicy.load(guardrails_dir / "links.yaml")),
        *sense_checks(guardrails_dir / "sense.yaml"),
    ]


def run_checks(checks: list[Check], copy: Copy, ctx: CheckContext) -> list[CheckResult]:
    spent = _spent.get()
    if spent is None:
        return [check.run(copy, ctx) for check in checks]
    start = time.thread_time()  # this thread's CPU: other requests' work on the loop is not counted
    try:
        return [check.run(copy, ctx) for check in checks]
    finally:
        spent[0] += (time.thread_time() - start) * 1000


@contextmanager
def timed_checks() -> Iterator[list[float]]:
    """Sum the CPU time of every run_checks call in this context (one request) into [ms]."""
    spent = [0.0]
    token = _spent.set(spent)
    try:
        yield spent
    finally:
        _spent.reset(token)
