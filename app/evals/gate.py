"""The CI gate: no returned variant may break a check, no case may error, and no assertion kind may
fall significantly below the baseline; when the run was too small to see a fall of the configured
size, the verdict is "not enough evidence", never "passed"."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.evals.evidence import case_kinds, pooled
from app.evals.power import KindTest, compare_kind
from app.evals.runner import CaseRun

PASSED, FAILED, NO_EVIDENCE = "passed", "failed", "not enough evidence"


@dataclass
class Verdict:
    violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)
    blind: list[str] = field(default_factory=list)  # what the run could not have seen
    tests: list[KindTest] = field(default_factory=list)
    min_drop: float = 0.15

    @property
    def passed(self) -> bool:
        """Nothing went wrong that the run could see (it may still have seen too little)."""
        return not (self.violations or self.errors or self.drops)

    @property
    def status(self) -> str:
        if not self.passed:
            return FAILED
        return NO_EVIDENCE if self.blind else PASSED

    def reasons(self) -> list[str]:
        return (
            [f"check violated: {v}" for v in self.violations]
            + [f"error: {e}" for e in self.errors]
            + self.drops
        )


def gate_settings(config: dict[str, Any]) -> dict[str, Any]:
    g = config.get("gate", {})
    return {
        "alpha": float(g.get("alpha", 0.05)),
        "power": float(g.get("power", 0.8)),
        "min_drop": float(g.get("min_drop", 0.15)),
        "require_evidence": bool(g.get("require_evidence", False)),
    }


def judge_gate(runs: list[CaseRun], baseline: dict[str, Any], config: dict[str, Any]) -> Verdict:
    """Settings come from the `gate` block of evals/config.yaml."""
    s = gate_settings(config)
    verdict = Verdict(min_drop=s["min_drop"])
    for r in runs:
        if r.error:
            verdict.errors.append(f"{r.case.id}: {r.error}")
        for v in (r.response or {}).get("variants", []):
            verdict.violations += [
                f"{r.case.id}/{v['variant_id'][-1]}: {c['name']} ({c['detail']})"
                for c in v["checks"]
                if not c["passed"]
            ]
    old = baseline.get("cases", {})
    now_cases = case_kinds(runs)
    common = [c for c in now_cases if "kinds" in old.get(c, {})]
    missing = sorted(set(now_cases) - set(common))
    if missing:
        verdict.blind.append(f"no per-kind baseline for {', '.join(missing)}")
    before = pooled({c: old[c]["kinds"] for c in common}, common)
    now = pooled(now_cases, common)
    kinds = [k for k in before if k in now]
    testable = [k for k in kinds if before[k][0] > 0]  # a share at 0 % cannot fall
    alpha = s["alpha"] / max(1, len(testable))  # Bonferroni: a false alarm in 1/alpha runs at most
    for kind in kinds:
        t = compare_kind(kind, before[kind], now[kind], alpha, s["power"])
        verdict.tests.append(t)
        if t.dropped:
            verdict.drops.append(
                f"{kind} fell from {t.rate_before:.0%} ({_n(t.baseline)}) to {t.rate_now:.0%} "
                f"({_n(t.now)}), p = {t.p_value:.2g} ≤ {alpha:.2g}"
            )
        elif t.blind_to(s["min_drop"]):
            seen = "no drop at all" if t.detectable is None else f"only a drop of {t.detectable:.0%}"
            verdict.blind.append(
                f"{kind}: baseline {t.rate_before:.0%} ({_n(t.baseline)}); with {t.now[1]} now this run "
                f"could see {seen}, not {s['min_drop']:.0%}"
            )
    return verdict


def _n(counts: tuple[int, int]) -> str:
    return f"{counts[0]}/{counts[1]}"


def evidence_table(verdict: Verdict) -> list[tuple[str, str, str, str, str]]:
    """Rows for the console and the report: kind, baseline, now, p, smallest detectable drop."""
    rows = []
    for t in verdict.tests:
        seen = "—" if t.detectable is None else f"{t.detectable:.0%}"
        mark = " ✗" if t.dropped else (" ?" if t.blind_to(verdict.min_drop) else "")
        rows.append((t.kind + mark, f"{t.rate_before:.0%} {_n(t.baseline)}",
                     f"{t.rate_now:.0%} {_n(t.now)}", f"{t.p_value:.2g}", seen))  # fmt: skip
    return rows
