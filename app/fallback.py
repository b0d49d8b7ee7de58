"""Deterministic copy from prompts/fallback/, used when the model cannot produce a passing variant."""

from __future__ import annotations

from app.assemble import assemble
from app.checks import Check, CheckContext, CheckResult, Copy, run_checks
from app.content import Content


class FallbackExhausted(RuntimeError):
    """No fallback candidate passes the checks: the fallback file needs a shorter last entry."""


def fallback_copies(
    content: Content, checks: list[Check], ctx: CheckContext, journey: str, n: int
) -> list[tuple[Copy, list[CheckResult]]]:
    """The passing candidates for this journey, one per variant, distinct while they last."""
    spec = ctx.channel
    good: list[tuple[Copy, list[CheckResult]]] = []
    for cand in content.fallbacks[spec.name][ctx.locale]:
        if cand.journeys and journey not in cand.journeys:
            continue
        copy = assemble(cand.fields, spec, ctx.locale, ctx.values)
        results = run_checks(checks, copy, ctx)
        if all(r.passed for r in results):
            good.append((copy, results))
    if not good:
        raise FallbackExhausted(f"no fallback for {spec.name}/{ctx.locale}/{journey} passes the checks")
    return [good[i % len(good)] for i in range(n)]
