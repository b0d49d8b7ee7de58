"""Checks every variant must pass before it leaves the service; the pipeline runs `default_checks()`."""

from __future__ import annotations

from app.checks.base import Check, CheckContext, CheckResult, Copy
from app.checks.limits import ChannelLimitCheck
from app.checks.numbers import LiteralNumberCheck
from app.checks.placeholders import PlaceholderCheck
from app.checks.schema import SchemaCheck

__all__ = ["Check", "CheckContext", "CheckResult", "Copy", "default_checks", "run_checks"]


def default_checks() -> list[Check]:
    return [SchemaCheck(), PlaceholderCheck(), ChannelLimitCheck(), LiteralNumberCheck()]


def run_checks(checks: list[Check], copy: Copy, ctx: CheckContext) -> list[CheckResult]:
    return [check.run(copy, ctx) for check in checks]
