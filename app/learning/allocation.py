"""Weights from posteriors: Thompson sampling's probability that each arm is best, a floor per arm,
at most `max_step` of change per update from the weights last served, an unsubscribe / complaint
guard that holds an arm at the floor, and the hold-out share on top. Pure: counts in, weights out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from app.learning.draws import prob_greater, sample
from app.learning.policy import AllocationPolicy
from app.learning.posteriors import BASE, ParentCounts, Posterior, posteriors


@dataclass(frozen=True)
class Decision:
    """Weights over the arms (summing to 1, before the hold-out), with what decided them."""

    arms: list[str]
    weights: list[float]
    p_best: list[float]
    flags: list[tuple[str, ...]]
    posteriors: list[Posterior]
    state: str  # a fingerprint of everything the decision read: equal state, equal decision
    reason: str


def fingerprint(arms: list[str], parent: ParentCounts, policy: AllocationPolicy) -> str:
    """Changes exactly when an input of `decide` does: the policy, the arms, any count read."""
    parts = [policy.version, "|".join(arms), repr(sorted(parent.own.items()))]
    parts.append(repr(sorted((k, sorted(v.items())) for k, v in parent.siblings.items())))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def guarded_counts(arms: list[str], parent: ParentCounts, policy: AllocationPolicy) -> list[list[int]]:
    """Per arm of the context, its count of each guarded event (unsubscribes, complaints): when these
    have not moved since the last update, neither has any arm's own guarded rate risen."""
    return [[int(parent.own.get(a, {}).get(kind, 0)) for kind in policy.guard] for a in arms]


def p_best(
    posts: list[Posterior], draws: int, rng: np.random.Generator, normal_from: float = 0
) -> list[float]:
    """Probability that each arm's rate is the highest, by Monte-Carlo Thompson draws."""
    alpha = np.array([p.alpha for p in posts])
    beta = np.array([p.beta for p in posts])
    return wins_share(posts, sample(alpha, beta, draws, rng, normal_from, logit=True))


def wins_share(posts: list[Posterior], drawn: np.ndarray) -> list[float]:
    """Per arm, the share of rows of `drawn` (one column per arm, in any order-keeping scale) in
    which it is highest; identical posteriors get exactly equal shares."""
    if len({(p.alpha, p.beta) for p in posts}) == 1:
        return [1.0 / len(posts)] * len(posts)
    wins = np.bincount(drawn.argmax(axis=1), minlength=len(posts))
    return (wins / len(drawn)).tolist()


def p_above(
    k: np.ndarray,
    n: np.ndarray,
    k_o: np.ndarray,
    n_o: np.ndarray,
    draws: int,
    rng: np.random.Generator,
    normal_from: float = 0,
) -> np.ndarray:
    """Per arm, the probability that its rate (k of n) is above another's (k_o of n_o), under their
    Beta(0.5 + k, 0.5 + n - k) posteriors; NaN where either has no sends."""
    k, k_o = np.minimum(k, n), np.minimum(k_o, n_o)
    out = prob_greater(BASE + k, BASE + n - k, BASE + k_o, BASE + n_o - k_o, draws, rng, normal_from)
    return np.where((n > 0) & (n_o > 0), out, np.nan)


def guard_flags(
    arms: list[str], parent: ParentCounts, policy: AllocationPolicy, rng: np.random.Generator
) -> list[tuple[str, ...]]:
    """Per arm, the guarded events whose rate is credibly above the context's baseline (the other
    arms together; the parent when no other arm has sends) or above the policy's ceiling."""
    flags: list[list[str]] = [[] for _ in arms]
    own = [parent.own.get(a, {}) for a in arms]
    n = np.array([c.get("sent", 0) for c in own], dtype=float)
    everyone = list(parent.own.values())
    siblings = [c for arms_ in parent.siblings.values() for c in arms_.values()]
    for kind, rule in policy.guard.items():
        eligible = n >= max(rule.min_sends, 1)
        if not eligible.any():
            continue
        k = np.array([c.get(kind, 0) for c in own], dtype=float)
        n_all = sum(c.get("sent", 0) for c in everyone)
        k_all = sum(c.get(kind, 0) for c in everyone)
        n_o, k_o = n_all - n, k_all - k
        n_sib = sum(c.get("sent", 0) for c in siblings)
        k_sib = sum(c.get(kind, 0) for c in siblings)
        alone = n_o <= 0  # no other arm has sends here: the parent is the baseline
        n_o, k_o = np.where(alone, n_sib, n_o), np.where(alone, k_sib, k_o)
        # Only an arm whose observed rate is above the baseline's (or the ceiling) can be credibly
        # above it: the draws are spent only when there is one (usually there is none).
        rate = np.divide(k, n, out=np.zeros_like(k), where=n > 0)
        base_rate = np.divide(k_o, n_o, out=np.zeros_like(k_o), where=n_o > 0)
        ceiling = np.inf if rule.ceiling is None else rule.ceiling
        eligible &= (rate > base_rate) | (rate > ceiling)
        if not eligible.any():
            continue
        above = p_above(k, n, k_o, n_o, policy.draws, rng, policy.normal_from)
        over = None
        if rule.ceiling is not None:
            k_c = np.minimum(k, n)
            drawn = sample(BASE + k_c, BASE + n - k_c, policy.draws, rng, policy.normal_from)
            over = (drawn > rule.ceiling).mean(axis=0)
        for i in np.flatnonzero(eligible):
            if above[i] >= rule.probability:  # NaN (no baseline) compares False
                flags[i].append(f"{kind}_above_baseline")
            if over is not None and over[i] >= rule.probability:
                flags[i].append(f"{kind}_above_ceiling")
    return [tuple(f) for f in flags]


def target_weights(p: list[float], flagged: list[bool], floor: float) -> list[float]:
    """Each arm its floor; flagged arms only that; the rest shared by the probability of being best."""
    k = len(p)
    floor = min(floor, 1.0 / k)
    if all(flagged):
        flagged = [False] * k  # nothing to hold them against: the guard can only flag
    free = [i for i in range(k) if not flagged[i]]
    spare = 1.0 - k * floor
    mass = sum(p[i] for i in free)
    out = [floor] * k
    for i in free:
        out[i] += spare * (p[i] / mass if mass > 0 else 1.0 / len(free))
    return out


def step_limited(last: list[float], target: list[float], step: float) -> list[float]:
    """Move from `last` towards `target`, no weight by more than `step`, the sum kept at 1: the
    clipped rises and falls are scaled to the smaller of the two totals."""
    delta = [max(-step, min(step, t - w)) for w, t in zip(last, target, strict=True)]
    up = sum(d for d in delta if d > 0)
    down = -sum(d for d in delta if d < 0)
    moved = min(up, down)
    out = []
    for w, d in zip(last, delta, strict=True):
        if d > 0:
            out.append(w + d * moved / up)
        elif d < 0:  # never below 0 by rounding (with `floor: 0` a weight can reach it exactly)
            out.append(max(0.0, w + d * moved / down))
        else:
            out.append(w)
    return out


def hold_flagged(weights: list[float], flagged: list[bool], floor: float) -> list[float]:
    """A flagged arm drops to the floor at once (the guard does not wait for the step limit); what
    it gives up goes to the other arms in proportion to their weights."""
    k = len(weights)
    floor = min(floor, 1.0 / k)
    if all(flagged) or not any(flagged):
        return weights
    freed = sum(w - floor for w, f in zip(weights, flagged, strict=True) if f and w > floor)
    rest = sum(w for w, f in zip(weights, flagged, strict=True) if not f)
    return [
        min(w, floor) if f else w + freed * (w / rest if rest > 0 else 1.0 / (k - sum(flagged)))
        for w, f in zip(weights, flagged, strict=True)
    ]


def decide(
    arms: list[str], parent: ParentCounts, policy: AllocationPolicy, last: list[float] | None
) -> Decision:
    """The weights of `arms` in a context given its parent's counts and the weights last served."""
    posts = posteriors(arms, parent, policy.goal, policy)
    state = fingerprint(arms, parent, policy)
    rng = np.random.default_rng(int(state[:16], 16))  # same counts, same weights: no jitter
    p = p_best(posts, policy.draws, rng, policy.normal_from)
    flags = guard_flags(arms, parent, policy, rng)
    flagged = [bool(f) for f in flags]
    target = target_weights(p, flagged, policy.floor)
    if last is None or len(last) != len(arms):
        weights, reason = target, "first allocation in this context"
    else:
        weights = hold_flagged(step_limited(last, target, policy.max_step), flagged, policy.floor)
        reason = "moved towards the probability of being best"
        if any(abs(t - w) > 1e-9 for t, w in zip(target, weights, strict=True)):
            reason += f" (at most {policy.max_step:g} per update)"
    if not any(p.sends for p in posts) and all(p.prior_from == "none" for p in posts):
        weights = [1.0 / len(arms)] * len(arms)
        reason = "equal split: no outcomes in this context or its parent"
    elif any(flagged):
        held = ", ".join(f"{a} ({', '.join(f)})" for a, f in zip(arms, flags, strict=True) if f)
        reason += f"; held at the floor: {held}"
    return Decision(arms, weights, p, flags, posts, state, reason)
