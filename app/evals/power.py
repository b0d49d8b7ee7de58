"""Exact small-sample statistics for the gate: did a share of held assertions fall against the
baseline (one-sided Fisher test), and what is the smallest fall this run could have detected."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import comb


@lru_cache(maxsize=4096)
def _hypergeom_cdf(k: int, total: int, successes: int, drawn: int) -> float:
    """P(X ≤ k) for X successes among `drawn` taken from `total` holding `successes`."""
    denom = comb(total, drawn)
    low = max(0, drawn - (total - successes))
    return sum(comb(successes, x) * comb(total - successes, drawn - x) for x in range(low, k + 1)) / denom


def drop_p_value(k0: int, n0: int, k1: int, n1: int) -> float:
    """One-sided Fisher exact test: how likely a share this low now (k1 of n1) if nothing changed
    since the baseline (k0 of n0), both samples drawn from one rate."""
    return min(1.0, _hypergeom_cdf(k1, n0 + n1, k0 + k1, n1))


def _binom_cdf(c: int, n: int, p: float) -> float:
    return sum(comb(n, x) * p**x * (1 - p) ** (n - x) for x in range(c + 1))


def critical_count(k0: int, n0: int, n1: int, alpha: float) -> int:
    """The most held assertions out of n1 that the test would still call a drop (-1: none would)."""
    c = -1
    for k1 in range(n1 + 1):
        if drop_p_value(k0, n0, k1, n1) <= alpha:
            c = k1
        else:
            break
    return c


def detectable_drop(k0: int, n0: int, n1: int, alpha: float, power: float) -> float | None:
    """The smallest fall below the baseline's rate that n1 new trials would detect with the given
    power (None: not even a fall to 0 % would be significant)."""
    if n0 == 0 or n1 == 0 or k0 == 0:
        return None
    c = critical_count(k0, n0, n1, alpha)
    if c < 0:
        return None
    p0 = k0 / n0
    lo, hi = 0.0, p0  # power grows as the true rate p1 = p0 - drop falls; bisect on the drop
    for _ in range(40):
        mid = (lo + hi) / 2
        if _binom_cdf(c, n1, p0 - mid) >= power:
            hi = mid
        else:
            lo = mid
    return hi


@dataclass(frozen=True)
class KindTest:
    """One assertion kind against the baseline: counts, p-value, what the run could see."""

    kind: str
    baseline: tuple[int, int]
    now: tuple[int, int]
    p_value: float
    detectable: float | None  # smallest detectable drop in share (0.25 = 25 points), None: none
    alpha: float

    @property
    def dropped(self) -> bool:
        return self.rate_now < self.rate_before and self.p_value <= self.alpha

    @property
    def rate_before(self) -> float:
        return self.baseline[0] / self.baseline[1] if self.baseline[1] else 0.0

    @property
    def rate_now(self) -> float:
        return self.now[0] / self.now[1] if self.now[1] else 0.0

    def blind_to(self, min_drop: float) -> bool:
        """The run could not have seen a drop of `min_drop`; a baseline at 0 % cannot fall."""
        if self.baseline[0] == 0:
            return False
        return self.detectable is None or self.detectable > min_drop + 1e-9


def compare_kind(
    kind: str, baseline: tuple[int, int], now: tuple[int, int], alpha: float, power: float
) -> KindTest:
    k0, n0 = baseline
    k1, n1 = now
    p = drop_p_value(k0, n0, k1, n1) if n0 and n1 else 1.0
    return KindTest(kind, baseline, now, p, detectable_drop(k0, n0, n1, alpha, power), alpha)
