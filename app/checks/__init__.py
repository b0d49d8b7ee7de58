"""Checks every variant must pass before it leaves the service; the pipeline runs `default_checks()`."""

from __future__ import annotations

from pathlib import Path

from app.checks.base import Check, CheckContext, CheckResult, Copy
from app.checks.claims import TradeClaimCheck
from app.checks.form import FormCheck
from app.checks.limits import ChannelLimitCheck
from app.checks.links import LinkCheck
from app.checks.pii import PiiCheck
from app.checks.placeholders import PlaceholderCheck
from app.checks.schema import SchemaCheck
from app.checks.words import SensitiveWordCheck
from app.config import REPO_ROOT
from app.links import LinkPolicy
from app.pii import PiiDetector

__all__ = ["Check", "CheckContext", "CheckResult", "Copy", "default_checks", "run_checks"]


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
    ]


def run_checks(checks: list[Check], copy: Copy, ctx: CheckContext) -> list[CheckResult]:
    return [check.run(copy, ctx) for check in checks]
