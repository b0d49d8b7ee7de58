"""The CI gate: no returned variant may break a check, and the suite may not get worse than the baseline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.evals.runner import CaseRun


@dataclass
class Verdict:
    violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.violations or self.errors or self.drops)

    def reasons(self) -> list[str]:
        return (
            [f"check violated: {v}" for v in self.violations]
            + [f"error: {e}" for e in self.errors]
            + self.drops
        )


def judge_gate(runs: list[CaseRun], diff: dict[str, Any], config: dict[str, Any]) -> Verdict:
    """Margins come from evals/config.yaml: how far pass rate and assertion score may fall."""
    verdict = Verdict()
    for r in runs:
        if r.error:
            verdict.errors.append(f"{r.case.id}: {r.error}")
        for v in (r.response or {}).get("variants", []):
            verdict.violations += [
                f"{r.case.id}/{v['variant_id'][-1]}: {c['name']} ({c['detail']})"
                for c in v["checks"]
                if not c["passed"]
            ]
    for metric, margin_key in (("pass_rate", "pass_rate_margin"), ("score", "score_margin")):
        before, now = diff.get(f"baseline_{metric}"), diff.get(metric)
        margin = float(config.get(margin_key, 0.1))
        if before is not None and now is not None and now < before - margin:
            name = "pass rate" if metric == "pass_rate" else "assertion score"
            verdict.drops.append(f"{name} fell from {before:.0%} to {now:.0%} (margin {margin:.0%})")
    return verdict
