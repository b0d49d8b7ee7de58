"""The normal stand-in for large Beta posteriors (app/learning/draws.py): at the policy's threshold
its probabilities differ from the Beta's by less than the Monte-Carlo error of the policy's draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.learning.draws import normal_enough, prob_greater, sample
from app.learning.policy import AllocationPolicy

POLICY = AllocationPolicy.load(Path(__file__).resolve().parent.parent / "guardrails" / "allocation.yaml")
REFERENCE_DRAWS = 2_000_000


def _mc_error(p: float) -> float:
    """One standard error of a probability estimated from the policy's draws."""
    return float(np.sqrt(max(p * (1 - p), 1e-4) / POLICY.draws))


@pytest.mark.parametrize(
    "a1,b1,a2,b2",
    [
        (100, 100, 100, 100),  # both at the threshold, even
        (100, 5000, 100, 4000),  # low rates, the case of unsubscribes
        (100, 900, 100, 1200),  # credibly above: near the guard's probabilities
        (300, 15000, 250, 15000),
        (20, 1000, 80, 4000),  # the same rate, one posterior four times as wide: skews differ
    ],
)
def test_prob_greater_at_the_threshold_is_within_the_draws_error(a1, b1, a2, b2):
    t = POLICY.normal_from
    a1, b1, a2, b2 = (max(x, t) for x in (a1, b1, a2, b2))
    rng = np.random.default_rng(11)
    exact = float((rng.beta(a1, b1, REFERENCE_DRAWS) > rng.beta(a2, b2, REFERENCE_DRAWS)).mean())
    args = [np.array([x], dtype=float) for x in (a1, b1, a2, b2)]
    approx = float(prob_greater(*args, POLICY.draws, rng, t)[0])
    assert abs(approx - exact) < _mc_error(exact), (approx, exact)


def test_probability_of_being_best_from_normal_draws_matches_beta_draws():
    t = POLICY.normal_from
    alpha = np.array([t, 1.1 * t, 4 * t])  # the third as likely as the first, four times narrower
    beta = np.array([24 * t, 24 * t, 96 * t])
    rng = np.random.default_rng(3)
    normal = sample(alpha, beta, REFERENCE_DRAWS // 4, rng, POLICY.normal_from)
    exact = rng.beta(alpha, beta, size=(REFERENCE_DRAWS // 4, 3))
    p_normal = np.bincount(normal.argmax(axis=1), minlength=3) / len(normal)
    p_exact = np.bincount(exact.argmax(axis=1), minlength=3) / len(exact)
    assert np.all(np.abs(p_normal - p_exact) < [_mc_error(p) for p in p_exact]), (p_normal, p_exact)


def test_small_posteriors_are_drawn_as_betas_and_mixed_columns_keep_their_own():
    alpha = np.array([0.5, 300.0])
    beta = np.array([3.5, 20000.0])
    assert normal_enough(alpha, beta, POLICY.normal_from).tolist() == [False, True]
    drawn = sample(alpha, beta, 50_000, np.random.default_rng(1), POLICY.normal_from)
    assert drawn[:, 0].min() >= 0 and drawn[:, 0].max() <= 1  # a Beta, not a normal
    assert abs(drawn[:, 0].mean() - 0.5 / 4.0) < 0.005
    assert abs(drawn[:, 1].mean() - 300 / 20300) < 1e-4
    # With the threshold off, even a large posterior is drawn as a Beta (bounded, skewed right).
    off = sample(np.array([120.0]), np.array([120.0]), 10, np.random.default_rng(1), 0)
    assert off.min() > 0 and off.max() < 1
    # Where either side has few events, P(X > Y) comes from Beta draws, and still orders them.
    p = prob_greater(np.array([3.5]), np.array([97.5]), np.array([1.5]), np.array([99.5]), 20_000,
                     np.random.default_rng(2), POLICY.normal_from)  # fmt: skip
    assert 0.75 < p[0] < 0.95


def test_draws_on_the_logit_scale_keep_the_order_of_the_rates():
    alpha = np.array([0.5, 3.5, 300.0])  # two small posteriors (Beta draws, one can hit 0), one large
    beta = np.array([9.5, 40.0, 6000.0])
    rates = sample(alpha, beta, 5_000, np.random.default_rng(9), POLICY.normal_from)
    logits = sample(alpha, beta, 5_000, np.random.default_rng(9), POLICY.normal_from, logit=True)
    assert (rates.argmax(axis=1) == logits.argmax(axis=1)).all()
    assert abs(np.median(logits[:, 2]) - np.log(300 / 6000)) < 0.05
