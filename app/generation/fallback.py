"""Deterministic copy from prompts/fallback/, used when the model cannot produce a passing variant."""

from __future__ import annotations

import re

from app.content import Content
from app.generation.assemble import assemble
from app.guardrails import Check, CheckContext, CheckResult, Copy, run_checks
from app.placeholders import placeholders_in

# "[{name}，]" in a fallback template: kept when its placeholders have values and the copy still
# passes the checks with it, else dropped.
_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")


class FallbackExhausted(RuntimeError):
    """No fallback candidate passes the checks: the fallback file needs a shorter last entry."""


def resolve_optional(text: str, values: dict[str, str], keep: bool = True) -> str:
    """Unwrap the bracketed parts this request can fill (all of them dropped when keep is False)."""

    def part(m: re.Match[str]) -> str:
        return m.group(1) if keep and all(p in values for p in placeholders_in(m.group(1))) else ""

    return _OPTIONAL.sub(part, text)


def _passing(
    fields: dict[str, str], checks: list[Check], ctx: CheckContext
) -> tuple[Copy, list[CheckResult]] | None:
    """The candidate with its optional parts if it passes so, else without them, else None."""
    for keep in (True, False):
        copy = assemble({f: resolve_optional(v, ctx.values, keep) for f, v in fields.items()},
                        ctx.channel, ctx.locale, ctx.values, sentences=True)  # fmt: skip
        results = run_checks(checks, copy, ctx)
        if all(r.passed for r in results):
            return copy, results
    return None


def fallback_copies(
    content: Content, checks: list[Check], ctx: CheckContext, journey: str, n: int
) -> list[tuple[Copy, list[CheckResult]]]:
    """The passing candidates for this journey, one per variant, distinct while they last."""
    spec = ctx.channel
    good: list[tuple[Copy, list[CheckResult]]] = []
    for cand in content.fallbacks[spec.name][ctx.locale]:
        if cand.journeys and journey not in cand.journeys:
            continue
        found = _passing(cand.fields, checks, ctx)
        if found and all(found[0].fields != g.fields for g, _ in good):
            good.append(found)
        if len(good) == n:
            break
    if not good:
        raise FallbackExhausted(f"no fallback for {spec.name}/{ctx.locale}/{journey} passes the checks")
    return [good[i % len(good)] for i in range(n)]
