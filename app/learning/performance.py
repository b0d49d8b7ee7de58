"""Performance per arm and context, from the counts (never the raw events): counts per event type,
rates per send with 95 % Wilson intervals, the probability of being best, unsubscribe and complaint
rates against the context's baseline, the weight last served, and the hold-out's uplift."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.learning.allocation import p_above, wins_share
from app.learning.arms import EVENT_TYPES, HOLDOUT, NO_SEGMENT, Context
from app.learning.draws import sample
from app.learning.policy import AllocationPolicy
from app.learning.posteriors import ParentCounts, Posterior, cells_of, posteriors
from app.learning.store import LearningStore

Z95 = 1.959963984540054
RATED = ("delivered", "opened", "clicked", "converted", "unsubscribed", "complained")
GUARDED = ("unsubscribed", "complained")


@dataclass(frozen=True)
class Filters:
    journey: str | None = None
    channel: str | None = None
    locale: str | None = None
    segment: str | None = None  # "none": requests without a segment
    since_day: str | None = None  # YYYY-MM-DD, UTC

    def stored(self) -> dict[str, str | None]:
        segment = NO_SEGMENT if self.segment == "none" else self.segment
        return {"journey": self.journey, "channel": self.channel, "locale": self.locale, "segment": segment}


def wilson(k: int, n: int) -> tuple[float, float, float] | None:
    """(rate, low, high), the 95 % Wilson score interval; None without sends."""
    if n <= 0:
        return None
    p = min(k, n) / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def _rate(k: int, n: int) -> dict[str, float] | None:
    w = wilson(k, n)
    return None if w is None else {"rate": w[0], "low": w[1], "high": w[2]}


def uplift(treated: tuple[int, int], held: tuple[int, int]) -> dict[str, float] | None:
    """Difference of goal rates, treated minus hold-out, with Newcombe's hybrid score interval."""
    a, b = wilson(*treated), wilson(*held)
    if a is None or b is None:
        return None
    d = a[0] - b[0]
    low = d - math.sqrt((a[0] - a[1]) ** 2 + (b[2] - b[0]) ** 2)
    high = d + math.sqrt((a[2] - a[0]) ** 2 + (b[0] - b[1]) ** 2)
    return {"difference": d, "low": low, "high": high}


def performance(
    store: LearningStore, policy: AllocationPolicy, client: str | None, filters: Filters
) -> dict[str, Any]:
    """Every context matching the filters (only `client`'s unless None), its arms, as JSON."""
    parent_filter = {"journey": filters.journey, "channel": filters.channel}
    totals = store.counts(client, parent_filter)  # whole parents: the priors need the siblings
    shown = _rows_shown(store, client, filters)
    weights = _weights_served(store, client)
    parents: dict[tuple[str, str, str], list] = defaultdict(list)
    for c, journey, channel, locale, segment, arm, kind, n, _ in totals:
        parents[(c, journey, channel)].append((locale, segment, arm, kind, int(n)))
    cells = {key: cells_of(rows) for key, rows in parents.items()}
    shown_contexts = []
    for (c, journey, channel, locale, segment), arms in sorted(shown.items()):
        context = Context(journey, channel, locale, segment or None)
        parent = ParentCounts.of_cells(cells.get((c, journey, channel), {}), context)
        shown_contexts.append(_Shown.of(c, context, arms, parent, policy))
    # Seeded per query and policy: the same counts give the same figures on every read.
    seed = hashlib.sha256(f"{policy.version}|{client}|{filters}".encode()).digest()[:8]
    _probabilities(shown_contexts, policy, np.random.default_rng(int.from_bytes(seed, "big")))
    contexts = [_context(x, policy, weights.get((x.client, x.context.key), {})) for x in shown_contexts]
    return {"goal": policy.goal, "policy_version": policy.version, "since": filters.since_day,
            "contexts": contexts}  # fmt: skip


def _rows_shown(store: LearningStore, client: str | None, filters: Filters) -> dict[tuple, dict]:
    """(client, journey, channel, locale, segment) -> arm -> {type: n, "value": revenue}."""
    out: dict[tuple, dict] = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
    if filters.since_day:
        rows = [(c, j, ch, lo, s, a, t, n, v) for c, j, ch, lo, s, a, _, t, n, v
                in store.daily(client, filters.stored(), filters.since_day)]  # fmt: skip
    else:
        rows = store.counts(client, filters.stored())
    for c, journey, channel, locale, segment, arm, kind, n, value in rows:
        cell = out[(c, journey, channel, locale, segment)][arm]
        cell[kind] += int(n)
        cell["value"] += float(value)
    return out


def _weights_served(store: LearningStore, client: str | None) -> dict[tuple[str, str], dict[str, float]]:
    """(client, context key) -> arm -> the weight last served (later decisions win)."""
    out: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for c, key, _, decision in store.current_weights(client):
        for arm, w in zip(decision.get("arms", []), decision.get("weights", []), strict=False):
            out[(c, key)][arm] = w
    return out


@dataclass
class _Shown:
    """One context's counts and posteriors, before its probabilities are drawn for all at once."""

    client: str
    context: Context
    arms: dict[str, dict[str, float]]
    names: list[str]
    posts: list[Posterior]
    counts: list[dict[str, int]]
    baseline: dict[str, int]
    best: list[float] = field(default_factory=list)
    above: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of(
        cls, client: str, context: Context, arms: dict, parent: ParentCounts, policy: AllocationPolicy
    ) -> _Shown:
        names = sorted(a for a in arms if a != HOLDOUT)
        kinds = ("sent", policy.goal, *GUARDED)
        baseline = {k: sum(int(arms[a].get(k, 0)) for a in names) for k in kinds}
        counts = [{t: int(arms[a].get(t, 0)) for t in EVENT_TYPES} for a in names]
        return cls(
            client, context, arms, names, posteriors(names, parent, policy.goal, policy), counts, baseline
        )


def _probabilities(shown: list[_Shown], policy: AllocationPolicy, rng: np.random.Generator) -> None:
    """P(best) of every arm and P(unsubscribe / complaint rate above the other arms') for every
    context in one batch of draws (a call per context cost more than its draws)."""
    shown = [x for x in shown if x.names]
    if not shown:
        return
    alpha = np.array([p.alpha for x in shown for p in x.posts])
    beta = np.array([p.beta for x in shown for p in x.posts])
    drawn = sample(alpha, beta, policy.draws, rng, policy.normal_from, logit=True)  # only order counts
    ks, ns, k_others, n_others = [], [], [], []
    start = 0
    for x in shown:
        width = len(x.names)
        x.best = wins_share(x.posts, drawn[:, start : start + width])
        start += width
        sent = [c["sent"] for c in x.counts]
        for kind in GUARDED:
            for c, n in zip(x.counts, sent, strict=True):
                ks.append(c[kind])
                ns.append(n)
                k_others.append(x.baseline[kind] - c[kind])
                n_others.append(x.baseline["sent"] - n)
    above = p_above(*(np.array(v, dtype=float) for v in (ks, ns, k_others, n_others)), policy.draws, rng,
                    policy.normal_from)  # fmt: skip
    start = 0
    for x in shown:
        for kind in GUARDED:
            x.above[kind] = above[start : start + len(x.names)]
            start += len(x.names)


def _context(x: _Shown, policy: AllocationPolicy, served: dict[str, float]) -> dict[str, Any]:
    names, arms, counts, baseline, above, goal = x.names, x.arms, x.counts, x.baseline, x.above, policy.goal
    best = x.best
    out_arms = []
    for i, (arm, pb) in enumerate(zip(names, best, strict=True)):
        c = counts[i]
        guard = {
            kind: {
                "rate": _rate(c[kind], c["sent"]),
                "baseline": _rate(baseline[kind] - c[kind], baseline["sent"] - c["sent"]),
                "p_above_baseline": None if math.isnan(above[kind][i]) else float(above[kind][i]),
            }
            for kind in GUARDED
        }
        out_arms.append({
            "arm": arm,
            "counts": c,
            "revenue": round(arms[arm].get("value", 0.0), 2),
            "rates": {t: _rate(c[t], c["sent"]) for t in RATED},
            "p_best": pb,
            "weight": served.get(arm),
            "guard": guard,
        })  # fmt: skip
    hold = arms.get(HOLDOUT)
    hold_out = None
    if hold:
        held = (int(hold.get(goal, 0)), int(hold.get("sent", 0)))
        hold_out = {
            "sends": held[1],
            goal: held[0],
            "rate": _rate(*held),
            "uplift": uplift((baseline[goal], baseline["sent"]), held),
        }
    return {
        "client": x.client,
        **x.context.as_dict(),
        "baseline": {"sends": baseline["sent"], **{k: _rate(baseline[k], baseline["sent"]) for k in GUARDED}},
        "arms": out_arms,
        "hold_out": hold_out,
    }
