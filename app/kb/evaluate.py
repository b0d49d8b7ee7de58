"""Retrieval quality on the labelled set in evals/retrieval/: recall@k and MRR per retriever."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.content import read_yaml
from app.kb.retrieval import MODES, ChromaKnowledge


@dataclass(frozen=True)
class Score:
    mode: str
    recall: float
    mrr: float
    queries: int


def load_queries(path: Path) -> list[dict]:
    return read_yaml(path)["queries"]


def evaluate(kb: ChromaKnowledge, queries: list[dict], k: int = 5, locale: str | None = None) -> list[Score]:
    """Each query is filtered to its SKUs (as the service does) and searched in both locales."""
    selected = [q for q in queries if locale is None or q["locale"] == locale]
    scores = []
    for mode in MODES:
        recall_sum = mrr_sum = 0.0
        for q in selected:
            relevant = set(q["relevant"])
            ranked = [h.snippet.id for h in kb.search(q["query"], q["skus"], k=max(k, 20), mode=mode)]
            recall_sum += len(relevant & set(ranked[:k])) / len(relevant)
            mrr_sum += next((1.0 / (r + 1) for r, i in enumerate(ranked) if i in relevant), 0.0)
        n = max(1, len(selected))
        scores.append(Score(mode, recall_sum / n, mrr_sum / n, len(selected)))
    return scores
