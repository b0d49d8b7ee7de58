"""Beta posteriors per arm in a context, with a hierarchical (empirical-Bayes) prior from the
parent: the same journey and channel over every other locale and segment.

Prior mean of an arm: its rate over the parent's other contexts (falling back to its family, then to
every arm of the parent, when it has fewer than `min_parent_sends` there). Prior strength κ by the
method of moments: the contexts' rates of an arm spread around its mean by V = m(1-m)/(κ+1) for a
Beta(mκ, (1-m)κ), plus the binomial noise; ρ = 1/(κ+1) is estimated from Cochran's Q per arm with the
ANOVA (DerSimonian-Laird) correction for the mean being estimated from the same sends (see
`prior_strength`), kept within the policy's bounds and never above the parent's own sends of that arm.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from app.learning.arms import HOLDOUT, Context, family
from app.learning.policy import AllocationPolicy

Counts = dict[str, int]  # event type -> n
CellRows = list[tuple[str, str, str, str, int]]  # (locale, segment, arm, type, n) of one parent

Cells = dict[tuple[str, str], dict[str, Counts]]  # (locale, segment) -> arm -> counts

BASE = 0.5  # pseudo-counts under every prior: a proper Beta even where the parent rate is 0 or 1


@dataclass(frozen=True)
class Posterior:
    arm: str
    alpha: float
    beta: float
    sends: int
    prior_alpha: float
    prior_beta: float
    prior_from: str  # "arm", "family", "parent" or "none": what the prior mean came from


@dataclass
class ParentCounts:
    """One parent's counts, split into the context's own and its siblings' (the other contexts)."""

    own: dict[str, Counts]
    siblings: dict[tuple[str, str], dict[str, Counts]]
    held: Counts  # the context's own hold-out ("send nothing"): reported, never a prior or a rival

    @classmethod
    def split(cls, rows: CellRows, context: Context) -> ParentCounts:
        return cls.of_cells(cells_of(rows), context)

    @classmethod
    def of_cells(cls, cells: Cells, context: Context) -> ParentCounts:
        """From a parent's counts per (locale, segment) cell: one pass over the rows serves every
        context of the parent (GET /v1/performance reads them all)."""
        own = dict(cells.get((context.locale, context.stored_segment), {}))
        held = own.pop(HOLDOUT, {})
        siblings = {
            cell: {arm: c for arm, c in arms.items() if arm != HOLDOUT}
            for cell, arms in cells.items()
            if cell != (context.locale, context.stored_segment)
        }
        return cls(own, {k: v for k, v in siblings.items() if v}, dict(held))

    def sibling_totals(self, key=lambda arm: arm) -> dict[str, Counts]:
        return regroup((item for arms in self.siblings.values() for item in arms.items()), key)


def regroup(pairs: Iterable[tuple[str, Counts]], key: Callable[[str], str]) -> dict[str, Counts]:
    """(arm, counts) pairs summed per `key(arm)`."""
    out: dict[str, Counts] = defaultdict(dict)
    for arm, c in pairs:
        bucket = out[key(arm)]
        for kind, n in c.items():
            bucket[kind] = bucket.get(kind, 0) + n
    return dict(out)


def cells_of(rows: CellRows) -> Cells:
    """A parent's rows gathered per (locale, segment) cell and arm."""
    cells: Cells = defaultdict(lambda: defaultdict(dict))
    for locale, segment, arm, kind, n in rows:
        cell = cells[(locale, segment)][arm]
        cell[kind] = cell.get(kind, 0) + int(n)
    return {k: dict(v) for k, v in cells.items()}


def successes(counts: Counts, goal: str) -> tuple[int, int]:
    """(goal events, sends), goal events at most the sends (a late `sent` must not make a rate > 1)."""
    sends = counts.get("sent", 0)
    return min(counts.get(goal, 0), sends), sends


def prior_strength(parent: ParentCounts, goal: str, policy: AllocationPolicy) -> float:
    """κ by the method of moments over the siblings' (context, arm) rates. Per arm with K contexts,
    N sends (n_c each) and pooled rate m: E[Σ n_c (p_c - m)²] = (K-1)·m(1-m) + (N - Σn_c²/N - K + 1)·V
    (the mean is estimated from the same sends, so one context's worth of noise is spent on it); the
    arms' standardised excesses and their coefficients are summed, ρ = excess / coefficient, κ = 1/ρ - 1.
    The earlier estimate subtracted K, not K-1, noise terms: with few contexts it said "no spread" far
    too often and pooled too much (three contexts, true κ 100: median estimate ~1,160; now ~100)."""
    measured = [cell for cell, arms in parent.siblings.items() if any(c.get("sent") for c in arms.values())]
    if len(measured) < 2:
        return policy.default_strength
    per_arm: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for arms in parent.siblings.values():
        for arm, counts in arms.items():
            s, n = successes(counts, goal)
            if n > 0:
                per_arm[arm].append((s, n))
    excess = coefficient = 0.0
    for cells in per_arm.values():
        total_n = sum(n for _, n in cells)
        m = sum(s for s, _ in cells) / total_n
        if len(cells) < 2 or m in (0.0, 1.0):
            continue  # one context, or no spread to see: nothing about V from this arm
        q = sum(n * (s / n - m) ** 2 for s, n in cells) / (m * (1 - m))
        excess += q - (len(cells) - 1)
        coefficient += total_n - sum(n * n for _, n in cells) / total_n - (len(cells) - 1)
    if coefficient <= 0:
        return policy.default_strength
    if excess <= 0:  # no more spread than the noise: the contexts agree as far as can be seen
        return policy.max_strength
    rho = excess / coefficient
    return min(policy.max_strength, max(policy.min_strength, 1 / rho - 1))


def posteriors(arms: list[str], parent: ParentCounts, goal: str, policy: AllocationPolicy) -> list[Posterior]:
    """Beta(α, β) of each arm's goal rate per send in the context, its prior from the parent."""
    strength = prior_strength(parent, goal, policy) if parent.siblings else 0.0
    by_arm = parent.sibling_totals()
    by_family = regroup(by_arm.items(), family)
    pooled: Counts = {}
    for counts in by_arm.values():
        for kind, n in counts.items():
            pooled[kind] = pooled.get(kind, 0) + n
    out = []
    for arm in arms:
        mean, sends, source = None, 0, "none"
        levels = (("arm", by_arm.get(arm)), ("family", by_family.get(family(arm))), ("parent", pooled))
        for label, counts in levels:
            if not counts:
                continue
            s, n = successes(counts, goal)
            if n >= policy.min_parent_sends or (label == "parent" and n > 0):
                mean, sends, source = s / n, n, label
                break
        kappa = min(strength, float(sends)) if mean is not None else 0.0
        a0 = BASE + (mean or 0.0) * kappa
        b0 = BASE + (1 - (mean or 0.0)) * kappa
        s, n = successes(parent.own.get(arm, {}), goal)
        out.append(Posterior(arm, a0 + s, b0 + n - s, n, a0, b0, source))
    return out
