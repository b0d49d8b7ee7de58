"""Learning retrieval's few numbers on the calibration split: the fusion's lexical weight per locale
(the middle of the run of weights with the best MRR of the search alone, 0 included, so that hybrid
ranks no worse than dense on the data it was learned from), and the free-text concern's topic vote
and bonus (the best SMS and e-mail quoted rates). Results go into knowledge/retrieval.yaml by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from app.kb.evaluate import quoted_rates, search_scores

GRID = tuple(round(0.05 * i, 2) for i in range(0, 21))  # 0 … 1.0
TOLERANCE = 0.001  # weights within this MRR of the best count as equally good


@dataclass(frozen=True)
class Choice:
    locale: str
    weight: float
    mrr: float
    dense_mrr: float
    queries: int
    curve: tuple[tuple[float, float], ...]  # (weight, MRR) over the grid


def learn_weights(kb: Any, queries: list[dict], k: int = 5) -> list[Choice]:
    weights = kb.config.setdefault("fusion", {}).setdefault("lexical_weight", {})
    saved = dict(weights)
    choices = []
    try:
        for locale in ("zh-CN", "en-US"):
            mine = [q for q in queries if q["locale"] == locale]
            curve = []
            for w in GRID:
                weights[locale] = w
                hybrid = next(s for s in search_scores(kb, mine, locale, k) if s.mode == "hybrid")
                curve.append((w, hybrid.mrr))
            top = max(m for _, m in curve)
            plateau = [w for w, m in curve if m >= top - TOLERANCE]
            weight = plateau[len(plateau) // 2]  # the middle of the best: robust to either edge
            mrr = dict(curve)[weight]
            choices.append(Choice(locale, weight, mrr, curve[0][1], hybrid.queries, tuple(curve)))
    finally:
        weights.clear()
        weights.update(saved)
    return choices


VOTES = (0.4, 0.5, 0.6)
BONUSES = (0.0, 0.05, 0.1, 0.2, 0.5)


@dataclass(frozen=True)
class TopicChoice:
    vote: float
    bonus: float
    score: float  # mean share quoted in SMS and e-mail, both locales
    grid: tuple[tuple[float, float, float], ...]  # (vote, bonus, score)


def learn_topic_bonus(kb: Any, queries: list[dict], journey: str, today: date) -> TopicChoice:
    """The free-text concern's topic vote and bonus with the best SMS and e-mail quoted rates on
    the calibration queries (first best in grid order: the smaller vote, then the smaller bonus)."""
    cfg = kb.config.setdefault("concern_topic", {})
    saved = dict(cfg)
    grid = []
    try:
        for vote in VOTES:
            for bonus in BONUSES:
                cfg.update(topic_vote=vote, bonus=bonus)
                kb._picked.cache_clear()
                kb._topic_of.cache_clear()
                rates = []
                for locale in ("zh-CN", "en-US"):
                    mine = [q for q in queries if q["locale"] == locale]
                    for q in quoted_rates(kb, mine, locale, [journey], today):
                        if q.channel in ("sms", "email"):
                            rates.append(q.rate)
                grid.append((vote, bonus, sum(rates) / len(rates)))
    finally:
        cfg.clear()
        cfg.update(saved)
        kb._picked.cache_clear()
        kb._topic_of.cache_clear()
    best = max(grid, key=lambda g: g[2])
    return TopicChoice(best[0], best[1], best[2], tuple(grid))
