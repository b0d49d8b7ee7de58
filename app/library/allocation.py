"""Which approved variants of a context are served, in order of preference (the next is tried when
one fails today's checks). With weights from the outcome allocation (posteriors, arms keyed by
library ID) they are drawn by weight; without, they rotate, least served first, and a newly
approved variant gets only the exploration share of the picks while established ones exist."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from app.library.entries import LibraryEntry
from app.library.policy import LibraryPolicy


def _least_served(entries: list[LibraryEntry], rng: random.Random) -> list[LibraryEntry]:
    """Rotation among equals: fewest serves first, ties in random order (variety across workers)."""
    return sorted(entries, key=lambda e: (e.served, rng.random()))


def _by_weight(
    entries: list[LibraryEntry], weights: Mapping[str, float], rng: random.Random
) -> list[LibraryEntry]:
    """A weighted draw without replacement (Efraimidis–Spirakis keys)."""

    def key(e: LibraryEntry) -> float:
        w = max(float(weights.get(e.library_id, 0.0)), 1e-12)
        return rng.random() ** (1.0 / w)

    return sorted(entries, key=key, reverse=True)


def capped(
    weights: Mapping[str, float], new: list[LibraryEntry], settled: list[LibraryEntry], share: float
) -> dict[str, float]:
    """The posteriors' weights, with new variants together held to at most the exploration share
    while established ones exist (what they give up goes to the established, pro rata)."""
    out = {e.library_id: max(0.0, float(weights.get(e.library_id, 0.0))) for e in (*new, *settled)}
    fresh = sum(out[e.library_id] for e in new)
    known = sum(out[e.library_id] for e in settled)
    if not new or not settled or fresh <= share or known <= 0:
        return out
    for e in new:
        out[e.library_id] *= share / fresh
    for e in settled:
        out[e.library_id] *= (1.0 - share) / known
    return out


def preference(
    entries: Sequence[LibraryEntry],
    policy: LibraryPolicy,
    rng: random.Random,
    weights: Mapping[str, float] | None = None,
) -> list[LibraryEntry]:
    """Every entry, the one to serve first at the head."""
    pool = list(entries)
    if not pool:
        return []
    new = [e for e in pool if e.served < policy.warmup_serves]
    settled = [e for e in pool if e.served >= policy.warmup_serves]
    if weights:
        return _by_weight(pool, capped(weights, new, settled, policy.exploration_share), rng)
    if not new or not settled:
        return _least_served(pool, rng)
    first, second = (new, settled) if rng.random() < policy.exploration_share else (settled, new)
    return _least_served(first, rng) + _least_served(second, rng)
