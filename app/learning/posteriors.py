"""Beta posteriors per arm in a context, with a hierarchical (empirical-Bayes) prior from the
parent: the same journey and channel over every other locale and segment.

Prior mean of an arm: its rate over the parent's other contexts (falling back to its family, then to
every arm of the parent, when it has fewer than `min_parent_sends` there). Prior strength κ by the
method of moments: the spread of the contexts' rates around their arm's mean, less the binomial
noise, is V = m(1-m)/(κ+1) for a Beta(mκ, (1-m)κ), so κ = m(1-m)/V - 1, kept within the policy's
bounds and never above the parent's own sends of that arm.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from app.learning.arms import HOLDOUT, Context, family
from app.learning.policy import AllocationPolicy

Counts = dict[str, int]  # event type -> n
CellRows = list[tuple[str, str, str, str, int]]  # (locale, segment, arm, type, n) of one parent

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
        own: dict[str, Counts] = defaultdict(dict)
        siblings: dict[tuple[str, str], dict[str, Counts]] = defaultdict(lambda: defaultdict(dict))
        held: Counts = {}
        for locale, segment, arm, kind, n in rows:
            mine = locale == context.locale and segment == context.stored_segment
            if arm == HOLDOUT:
                if mine:
                    held[kind] = held.get(kind, 0) + int(n)
                continue
            if mine:
                own[arm][kind] = own[arm].get(kind, 0) + int(n)
            else:
                cell = siblings[(locale, segment)][arm]
                cell[kind] = cell.get(kind, 0) + int(n)
        return cls(dict(own), {k: dict(v) for k, v in siblings.items()}, held)

    def sibling_totals(self, key=lambda arm: arm) -> dict[str, Counts]:
        out: dict[str, Counts] = defaultdict(dict)
        for arms in self.siblings.values():
            for arm, counts in arms.items():
                bucket = out[key(arm)]
                for kind, n in counts.items():
                    bucket[kind] = bucket.get(kind, 0) + n
        return dict(out)


def successes(counts: Counts, goal: str) -> tuple[int, int]:
    """(goal events, sends), goal events at most the sends (a late `sent` must not make a rate > 1)."""
    sends = counts.get("sent", 0)
    return min(counts.get(goal, 0), sends), sends


def prior_strength(parent: ParentCounts, goal: str, policy: AllocationPolicy) -> float:
    """κ by the method of moments over the siblings' (context, arm) rates; see the module doc."""
    means = {arm: successes(c, goal) for arm, c in parent.sibling_totals().items()}
    cells = []
    for arms in parent.siblings.values():
        for arm, counts in arms.items():
            s, n = successes(counts, goal)
            total_s, total_n = means[arm]
            if n > 0 and total_n > 0:
                cells.append((s / n, n, total_s / total_n))
    measured = [cell for cell, arms in parent.siblings.items() if any(c.get("sent") for c in arms.values())]
    if len(measured) < 2:
        return policy.default_strength
    weight = sum(n for _, n, _ in cells)
    noise = sum(m * (1 - m) for _, _, m in cells)
    spread = (sum(n * (p - m) ** 2 for p, n, m in cells) - noise) / weight
    binomial = sum(n * m * (1 - m) for _, n, m in cells) / weight
    if spread <= 0:
        return policy.max_strength
    return min(policy.max_strength, max(policy.min_strength, binomial / spread - 1))


def posteriors(arms: list[str], parent: ParentCounts, goal: str, policy: AllocationPolicy) -> list[Posterior]:
    """Beta(α, β) of each arm's goal rate per send in the context, its prior from the parent."""
    strength = prior_strength(parent, goal, policy) if parent.siblings else 0.0
    by_arm = parent.sibling_totals()
    by_family = parent.sibling_totals(family)
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
