"""Retrieval quality on the labelled sets in evals/retrieval/, measured on the service's own path:
what `reviews()` hands each channel's prompt in the request's locale, after every boost, and the
search alone (recall@k, MRR) in that locale."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from app.content import read_yaml

MODES = ("dense", "lexical", "hybrid")
CHANNELS = ("sms", "push", "wechat", "inapp", "email")


@dataclass(frozen=True)
class Score:
    """The search alone, in the request's locale, over the queries that have an answer there."""

    mode: str
    recall: float
    mrr: float
    queries: int


@dataclass(frozen=True)
class Quoted:
    """Share of (query, journey) requests whose prompt quotes a review that answers the concern."""

    channel: str
    rate: float
    requests: int
    worst_journey: str = ""
    worst_rate: float = 1.0


@dataclass
class LocaleReport:
    locale: str
    queries: int
    answerable: int  # a quotable answering review exists in this locale
    gaps: int  # none here, but one in the other locale
    search: list[Score] = field(default_factory=list)
    quoted: list[Quoted] = field(default_factory=list)
    by_topic: list[Quoted] = field(default_factory=list)  # the concern given as its topic's name


def load_queries(path: Path, split: str | None = None) -> list[dict]:
    """A labelled set; `split` keeps only its calibration or test part (sets without splits: all)."""
    queries = read_yaml(path)["queries"]
    return [q for q in queries if split is None or q.get("split", split) == split]


def _answers(kb: Any, q: dict, locale: str) -> set[str]:
    """The labelled answering reviews the service could quote in `locale`."""
    fit = getattr(kb, "quotable", None)
    by_id = {s.id: s for s in kb.snippets}
    return {
        i for i in q["relevant"]
        if i in by_id and by_id[i].locale == locale and (fit is None or fit(by_id[i]))
    }  # fmt: skip


def search_scores(kb: Any, queries: list[dict], locale: str, k: int = 5) -> list[Score]:
    scores = []
    for mode in MODES:
        recall_sum = mrr_sum = 0.0
        n = 0
        for q in queries:
            relevant = _answers(kb, q, locale)
            if not relevant:
                continue
            n += 1
            hits = kb.search(q["query"], q["skus"], locale=locale, k=max(k, 20), mode=mode)
            ranked = [h.snippet.id for h in hits]
            recall_sum += len(relevant & set(ranked[:k])) / len(relevant)
            mrr_sum += next((1.0 / (r + 1) for r, i in enumerate(ranked) if i in relevant), 0.0)
        scores.append(Score(mode, recall_sum / max(1, n), mrr_sum / max(1, n), n))
    return scores


def quoted_rates(
    kb: Any, queries: list[dict], locale: str, journeys: list[str], today: date, *, as_topic: bool = False
) -> list[Quoted]:
    """For each channel: how often `reviews()` puts an answering review into the prompt, over the
    queries answerable in `locale` and every journey (a concern may come with any of them)."""
    out = []
    for channel in CHANNELS:
        hits: dict[str, list[bool]] = {j: [] for j in journeys}
        for q in queries:
            relevant = _answers(kb, q, locale)
            if not relevant:
                continue
            concern = q["topic"] if as_topic else q["query"]
            for journey in journeys:
                got = kb.reviews(q["skus"], locale, channel, concern, journey, [], today)
                hits[journey].append(any(e.id in relevant for e in got))
        every = [h for rows in hits.values() for h in rows]
        rates = {j: sum(rows) / len(rows) for j, rows in hits.items() if rows}
        worst = min(rates, key=lambda j: rates[j]) if rates else ""
        out.append(Quoted(channel, sum(every) / max(1, len(every)), len(every), worst, rates.get(worst, 1.0)))
    return out


def evaluate_locale(
    kb: Any, queries: list[dict], locale: str, journeys: list[str], today: date, k: int = 5
) -> LocaleReport:
    mine = [q for q in queries if q["locale"] == locale]
    other = "en-US" if locale == "zh-CN" else "zh-CN"
    answerable = [q for q in mine if _answers(kb, q, locale)]
    gaps = [q for q in mine if not _answers(kb, q, locale) and _answers(kb, q, other)]
    return LocaleReport(
        locale=locale,
        queries=len(mine),
        answerable=len(answerable),
        gaps=len(gaps),
        search=search_scores(kb, mine, locale, k),
        quoted=quoted_rates(kb, mine, locale, journeys, today),
        by_topic=quoted_rates(kb, mine, locale, journeys, today, as_topic=True),
    )


@dataclass
class SetReport:
    name: str
    locales: list[LocaleReport]
    failures: list[str]


def check_floor(kb: Any, root: Path, journeys: list[str]) -> list[SetReport]:
    """Every labelled set of evals/retrieval/floor.yaml measured on the service's path, with what
    falls below its floors."""
    floor = read_yaml(root / "evals" / "retrieval" / "floor.yaml")
    k, today = int(floor.get("k", 5)), date.fromisoformat(str(floor["today"]))
    out = []
    for spec in floor["sets"]:
        queries = load_queries(root / "evals" / "retrieval" / spec["file"], spec.get("split"))
        reports, failures = [], []
        for locale in ("zh-CN", "en-US"):
            r = evaluate_locale(kb, queries, locale, journeys, today, k)
            reports.append(r)
            for q in r.quoted:
                want = spec.get("quoted", {}).get(locale, {}).get(q.channel)
                if want is not None and q.rate < want:
                    failures.append(f"{spec['name']} {locale} {q.channel}: quoted {q.rate:.3f} < {want}")
            modes = {s.mode: s for s in r.search}
            for metric, want in spec.get("search", {}).get(locale, {}).items():
                got = getattr(modes["hybrid"], metric)
                if got < want:
                    failures.append(f"{spec['name']} {locale} hybrid {metric} {got:.3f} < {want}")
            if spec.get("hybrid_not_below_dense") and modes["hybrid"].mrr < modes["dense"].mrr - 1e-9:
                failures.append(
                    f"{spec['name']} {locale}: hybrid MRR {modes['hybrid'].mrr:.3f} "
                    f"< dense {modes['dense'].mrr:.3f}"
                )
        out.append(SetReport(spec["name"], reports, failures))
    return out
