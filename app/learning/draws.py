"""Draws from Beta posteriors, and the probability that one rate is above another, at the cost the
counts call for. X ~ Beta(α, β) has logit X = log G_α − log G_β for independent unit gammas, whose
cumulants are polygamma values; once α and β are both at least `normal_from`, the logit is drawn as
the normal of those moments (a seventh of the cost of a Beta draw) and P(X > Y) is computed in
closed form, with an Edgeworth term for the remaining skew. Smaller posteriors are drawn exactly."""

from __future__ import annotations

import math

import numpy as np

SQRT2PI = math.sqrt(2 * math.pi)


def _polygammas(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ψ(x), ψ'(x), ψ''(x) for x > 0: recurrence up to x ≥ 8, then the asymptotic series (error
    below 1e-12 there)."""
    x = np.asarray(x, dtype=float).copy()
    d0, d1, d2 = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    while (small := x < 8).any():
        xs = np.where(small, x, 1.0)
        d0 -= np.where(small, 1 / xs, 0)
        d1 += np.where(small, 1 / xs**2, 0)
        d2 -= np.where(small, 2 / xs**3, 0)
        x = np.where(small, x + 1, x)
    r = 1 / x
    r2 = r * r
    d0 += np.log(x) - r / 2 - r2 * (1 / 12 - r2 * (1 / 120 - r2 / 252))
    d1 += r + r2 / 2 + r * r2 * (1 / 6 - r2 * (1 / 30 - r2 / 42))
    d2 += -r2 - r * r2 - r2 * r2 * (1 / 2 - r2 * (1 / 6 - r2 / 6))
    return d0, d1, d2


def logit_cumulants(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, variance and third cumulant of logit X for X ~ Beta(α, β)."""
    a0, a1, a2 = _polygammas(alpha)
    b0, b1, b2 = _polygammas(beta)
    return a0 - b0, a1 + b1, a2 - b2


def normal_enough(alpha: np.ndarray, beta: np.ndarray, normal_from: float) -> np.ndarray:
    """Where the approximation stands in for the Beta (`normal_from` 0 or less: nowhere)."""
    if normal_from <= 0:
        return np.zeros(np.shape(alpha), dtype=bool)
    return (np.asarray(alpha) >= normal_from) & (np.asarray(beta) >= normal_from)


def sample(
    alpha: np.ndarray,
    beta: np.ndarray,
    draws: int,
    rng: np.random.Generator,
    normal_from: float,
    *,
    logit: bool = False,
) -> np.ndarray:
    """`draws` rows of one draw per posterior (columns): Beta where small; where large, the inverse
    logit of a normal with the logit's mean and variance. `logit`: the draws' logits instead (the
    same order, for a caller that only compares them: no transform where all are large)."""
    alpha, beta = np.asarray(alpha, dtype=float), np.asarray(beta, dtype=float)
    large = normal_enough(alpha, beta, normal_from)
    out = np.empty((draws, len(alpha)))
    if (~large).any():
        x = rng.beta(alpha[~large], beta[~large], size=(draws, int((~large).sum())))
        if logit:
            with np.errstate(divide="ignore"):
                x = np.log(x) - np.log1p(-x)
        out[:, ~large] = x
    if large.any():
        mean, var, _ = logit_cumulants(alpha[large], beta[large])
        z = mean + np.sqrt(var) * rng.standard_normal((draws, int(large.sum())))
        out[:, large] = z if logit else 1 / (1 + np.exp(-z))
    return out


def prob_greater(
    a1: np.ndarray,
    b1: np.ndarray,
    a2: np.ndarray,
    b2: np.ndarray,
    draws: int,
    rng: np.random.Generator,
    normal_from: float,
) -> np.ndarray:
    """Elementwise P(X > Y) for X ~ Beta(a1, b1), Y ~ Beta(a2, b2): where both are large, from
    D = logit X − logit Y (its exact mean, variance and skew; first-order Edgeworth expansion);
    elsewhere from `draws` Monte-Carlo pairs."""
    a1, b1, a2, b2 = (np.asarray(x, dtype=float) for x in (a1, b1, a2, b2))
    out = np.empty(len(a1))
    large = normal_enough(a1, b1, normal_from) & normal_enough(a2, b2, normal_from)
    if large.any():
        m1, v1, k1 = logit_cumulants(a1[large], b1[large])
        m2, v2, k2 = logit_cumulants(a2[large], b2[large])
        sd = np.sqrt(v1 + v2)
        skew = (k1 - k2) / sd**3
        z = (m2 - m1) / sd  # D > 0  <=>  (D - mean) / sd > z
        tail = np.array([0.5 * math.erfc(x / math.sqrt(2)) for x in z])
        out[large] = np.clip(tail + skew / 6 * (z * z - 1) * np.exp(-z * z / 2) / SQRT2PI, 0.0, 1.0)
    small = ~large
    if small.any():
        n = int(small.sum())
        mine = rng.beta(a1[small], b1[small], size=(draws, n))
        theirs = rng.beta(a2[small], b2[small], size=(draws, n))
        out[small] = (mine > theirs).mean(axis=0)
    return out
