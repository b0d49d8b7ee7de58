"""Learning the fusion's lexical weight per locale on the calibration split: the middle of the run
of weights with the best MRR of the search alone, 0 included, so that hybrid ranks no worse than
dense on the data it was learned from. The result goes into knowledge/retrieval.yaml by hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.kb.evaluate import search_scores

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
