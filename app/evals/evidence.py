"""What a run is evidence of, per assertion kind: how many held out of how many, per case.

Kinds are the case assertions (variant letters dropped), whether the case passed, and each check
on every model answer before repair or fallback: on a model whose copy mostly ends as fallback,
the answers are where a worse prompt shows first.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from app.evals.runner import CaseRun

CASE_PASSED = "case passed"
_VARIANT = re.compile(r"^judge [A-Z] ")


def kind_of(assertion: str) -> str:
    """'judge A relevance' -> 'judge relevance'; other assertion names are their kind."""
    return _VARIANT.sub("judge ", assertion)


def run_kinds(run: CaseRun) -> dict[str, list[int]]:
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    kinds[CASE_PASSED] = [int(run.passed), 1]
    for a in [*run.assertions, *run.answers]:
        held_total = kinds[kind_of(a.name)]
        held_total[0] += int(a.passed)
        held_total[1] += 1
    return dict(kinds)


def case_kinds(runs: Iterable[CaseRun]) -> dict[str, dict[str, list[int]]]:
    """Per case, per kind: [held, total] summed over the case's repeats."""
    out: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for r in runs:
        for kind, (held, total) in run_kinds(r).items():
            now = out[r.case.id].setdefault(kind, [0, 0])
            now[0] += held
            now[1] += total
    return dict(out)


def pooled(per_case: dict[str, dict[str, list[int]]], cases: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Kind -> (held, total) over the given cases."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case in cases:
        for kind, (held, total) in per_case.get(case, {}).items():
            out[kind][0] += held
            out[kind][1] += total
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}
