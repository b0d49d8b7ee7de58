"""The replay gate: the same recorded answers, today's checks, repair, assembly and fallback.
No sampling is involved, so any assertion that held when the answers were recorded and fails now
is a regression, and a check that now lets through an answer it stopped is a loosened check."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.evals.runner import CaseRun

PASSED, FAILED, NO_EVIDENCE = "passed", "failed", "not enough evidence"


def outcome_of(run: CaseRun) -> dict:
    """What a recording keeps of a run, to compare a replay with."""
    return {
        "error": run.error,
        "assertions": {a.name: a.passed for a in run.assertions},
        "answers": {f"{a.detail} · {a.name}": a.passed for a in run.answers},
    }


@dataclass
class ReplayVerdict:
    regressions: list[str] = field(default_factory=list)
    loosened: list[str] = field(default_factory=list)
    tightened: list[str] = field(default_factory=list)
    improved: list[str] = field(default_factory=list)
    stale: dict[str, list[str]] = field(default_factory=dict)
    unrecorded: list[str] = field(default_factory=list)
    replayed: int = 0

    @property
    def status(self) -> str:
        if self.regressions or self.loosened:
            return FAILED
        return NO_EVIDENCE if self.stale or self.unrecorded or not self.replayed else PASSED

    def reasons(self) -> list[str]:
        out = [f"regression: {r}" for r in self.regressions]
        out += [f"check loosened: {r}" for r in self.loosened]
        if self.stale:
            out.append(
                f"prompt changed since the answers were recorded for {len(self.stale)} case(s) "
                f"({', '.join(sorted(self.stale))}): replay cannot judge the new prompt; "
                "run against a model with --record"
            )
        if self.unrecorded:
            out.append(f"no recorded answers for {', '.join(self.unrecorded)}")
        return out


def judge_replay(
    runs: list[CaseRun], recorded: dict[str, dict], stale: dict[str, list[str]]
) -> ReplayVerdict:
    verdict = ReplayVerdict(stale=dict(stale))
    for r in runs:
        before = recorded.get(r.case.id, {}).get("outcomes", {}).get(str(r.repeat))
        if before is None:
            verdict.unrecorded.append(f"{r.case.id}#{r.repeat}")
            continue
        verdict.replayed += 1
        where = f"{r.case.id}#{r.repeat}"
        now = outcome_of(r)
        if now["error"] and not before.get("error"):
            verdict.regressions.append(f"{where}: {now['error']}")
        for name, held in before.get("assertions", {}).items():
            after = now["assertions"].get(name)
            if held and after is False:
                detail = next(a.detail for a in r.assertions if a.name == name)
                verdict.regressions.append(f"{where}: “{name}” held, now fails ({detail})")
            elif not held and after:
                verdict.improved.append(f"{where}: “{name}” now holds")
        for key, held in before.get("answers", {}).items():
            after = now["answers"].get(key)
            if after is None:
                continue
            if not held and after:
                verdict.loosened.append(f"{where} answer {key} was stopped, now passes")
            elif held and not after:
                verdict.tightened.append(f"{where} answer {key} passed, now stopped")
    return verdict
