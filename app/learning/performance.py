"""Performance per arm and context, from the counts (never the raw events): counts per event type,
rates per send with 95 % Wilson intervals, the probability of being best, unsubscribe and complaint
rates against the context's baseline, the weight last served, and the hold-out's uplift."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.learning.allocation import p_above, p_best
from app.learning.arms import EVENT_TYPES, HOLDOUT, NO_SEGMENT, Context
from app.learning.policy import AllocationPolicy
from app.learning.posteriors import ParentCounts, cells_of, posteriors
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
    contexts = []
    for (c, journey, channel, locale, segment), arms in sorted(shown.items()):
        context = Context(journey, channel, locale, segment or None)
        parent = ParentCounts.of_cells(cells.get((c, journey, channel), {}), context)
        contexts.append(_context(c, context, arms, parent, policy, weights.get((c, context.key), {})))
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


def _context(
    client: str,
    context: Context,
    arms: dict[str, dict[str, float]],
    parent: ParentCounts,
    policy: AllocationPolicy,
    served: dict[str, float],
) -> dict[str, Any]:
    names = sorted(a for a in arms if a != HOLDOUT)
    goal = policy.goal
    baseline = {k: sum(int(arms[a].get(k, 0)) for a in names) for k in ("sent", goal, *GUARDED)}
    # Seeded per context and policy: the same counts give the same figures on every read.
    seed = hashlib.sha256(f"{policy.version}|{client}|{context.key}".encode()).digest()[:8]
    rng = np.random.default_rng(int.from_bytes(seed, "big"))
    posts = posteriors(names, parent, goal, policy)
    best = p_best(posts, policy.draws, rng, policy.normal_from) if names else []
    counts = [{t: int(arms[a].get(t, 0)) for t in EVENT_TYPES} for a in names]
    sent = np.array([c["sent"] for c in counts], dtype=float)
    # Both guarded event types in one call: per arm, its rate against the other arms together.
    k = np.array([[c[kind] for c in counts] for kind in GUARDED], dtype=float).ravel()
    k_all = np.repeat([baseline[kind] for kind in GUARDED], len(names))
    n, n_all = np.tile(sent, len(GUARDED)), float(baseline["sent"])
    both = p_above(k, n, k_all - k, n_all - n, policy.draws, rng, policy.normal_from)
    above = {kind: both[i * len(names) : (i + 1) * len(names)] for i, kind in enumerate(GUARDED)}
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
        "client": client,
        **context.as_dict(),
        "baseline": {"sends": baseline["sent"], **{k: _rate(baseline[k], baseline["sent"]) for k in GUARDED}},
        "arms": out_arms,
        "hold_out": hold_out,
    }
