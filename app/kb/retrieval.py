"""Retrieval for a request: the SKUs' facts by metadata filter, and review snippets that speak to
the customer's concern by hybrid search (dense via Chroma + BM25, fused), diverse and budgeted."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from chromadb.api.models.Collection import Collection
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)
from llama_index.vector_stores.chroma import ChromaVectorStore

from app.content import LOCALES
from app.kb.documents import Snippet
from app.kb.embedding import encoder
from app.kb.interface import Evidence, LanguageGap, ProductKnowledge, Reviews
from app.kb.lexical import LexicalIndex, Tokenizer
from app.kb.sanitize import Sanitizer

MODES = ("dense", "lexical", "hybrid")
# Why a review may not be quoted, from its text and its product's category (the guardrails'
# sensitive-word and PII checks, wired in by the service): an empty tuple when it may.
Screen = Callable[[str, str], tuple[str, ...]]


class KnowledgeUnavailable(Exception):
    """The Chroma server does not answer."""


_NONE = np.zeros(0, dtype=np.intp)


def _rows_by(values) -> dict[str, np.ndarray]:
    rows: dict[str, list[int]] = {}
    for i, v in enumerate(values):
        rows.setdefault(v, []).append(i)
    return {v: np.asarray(r, dtype=np.intp) for v, r in rows.items()}


@functools.lru_cache(maxsize=4096)
def query_vector(query: str) -> np.ndarray:
    """A query's embedding, once: requests repeat the same topic queries (~2.5 ms each to encode)."""
    vector = encoder().encode([query])[0]
    vector.setflags(write=False)
    return vector


@dataclass(frozen=True)
class Hit:
    snippet: Snippet
    score: float


class ChromaKnowledge:
    """The knowledge base as the pipeline, the CLI and the evals see it."""

    def __init__(
        self,
        collection: Collection,
        config: dict[str, Any],
        sanitizer: Sanitizer,
        screen: Screen | None = None,
        health: Any = None,
    ) -> None:
        self.collection = collection
        self.health = health  # a ServerHealth with a Chroma server, else None
        self.config = config
        self.sanitizer = sanitizer
        self.screen = screen
        self.store = ChromaVectorStore(chroma_collection=collection)
        stop = {w for words in config.get("stopwords", {}).values() for w in words}
        self.tokenizer = Tokenizer(stop, str(config.get("stemmer", "english")))
        self.refresh()

    def refresh(self) -> None:
        """Reload the lexical side and the vectors used for diversity from the collection."""
        got = self.collection.get(include=["documents", "metadatas", "embeddings"])
        self.snippets = [
            Snippet.from_record(i, d or "", m or {})
            for i, d, m in zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True)
        ]
        self.position = {s.id: n for n, s in enumerate(self.snippets)}
        emb = got.get("embeddings")
        self.vectors = (
            np.asarray(emb, dtype=np.float32) if emb is not None and len(emb) else np.zeros((0, 512))
        )
        self.lexical = (
            LexicalIndex([s.text for s in self.snippets], self.tokenizer) if self.snippets else None
        )

        # The same request (campaign traffic: one product, one journey) picks the same reviews:
        # picked once per index load, not per request.
        cached = functools.lru_cache(maxsize=int(self.config.get("reviews_cache", 4096)))
        self._picked = cached(self._pick_reviews)
        self._topic_of = cached(self._vote_topic)
        self._in_memory = cached(
            lambda skus, loc, kinds: (
                self._exact(self._mask(list(skus), loc, kinds, "review" in kinds))
                and self._vote_size(skus) <= int(self.config.get("exact_search_max", 2000))
            )
        )

        # Facts per (sku, locale) from the same load: a request's facts without a Chroma query.
        self._facts: dict[tuple[str, str], list[Snippet]] = {}
        for s in self.snippets:
            if s.kind == "fact":
                self._facts.setdefault((s.sku, s.locale), []).append(s)
        for rows in self._facts.values():
            rows.sort(key=lambda s: s.order)

        # Masks by kind and locale, rows by SKU, built once: np.isin over object arrays cost ~8 ms
        # a request on 10,000 snippets.
        self._by_kind = _rows_by(s.kind for s in self.snippets)
        self._by_locale = _rows_by(s.locale for s in self.snippets)
        self._by_sku = _rows_by(s.sku for s in self.snippets)
        self.unfit = self._unfit_reviews()
        self._fit = np.array([s.id not in self.unfit for s in self.snippets], dtype=bool)
        # The quotable reviews' vectors per category, contiguous, for the topic vote.
        exact = len(self.vectors) == len(self.snippets)
        fit_reviews = self._mask([], None, ("review",), True)
        self._voters: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for category, rows in _rows_by(s.category for s in self.snippets).items():
            rows = rows[fit_reviews[rows]]
            if exact and len(rows):
                self._voters[category] = (rows, self.vectors[rows])

    def _unfit_reviews(self) -> dict[str, tuple[str, ...]]:
        """Reviews never quoted, with why: flagged in knowledge/, or failing the screen (the
        sensitive-word and PII checks). Checked once per index load (~0.1 ms a review)."""
        unfit: dict[str, tuple[str, ...]] = {}
        for s in self.snippets:
            if s.kind != "review":
                continue
            reasons = tuple(f"flagged: {f}" for f in s.flags)
            if self.screen is not None:
                reasons += self.screen(s.text, s.category)
            if reasons:
                unfit[s.id] = reasons
        return unfit

    def quotable(self, snippet: Snippet) -> bool:
        return snippet.id not in self.unfit

    def _mask(
        self, skus: list[str], locale: str | None, kinds: tuple[str, ...], fit: bool = False
    ) -> np.ndarray:
        mask = np.zeros(len(self.snippets), dtype=bool)
        for kind in kinds:
            mask[self._by_kind.get(kind, _NONE)] = True
        if fit:
            mask &= self._fit
        if skus:
            of_skus = np.zeros(len(self.snippets), dtype=bool)
            for sku in skus:
                of_skus[self._by_sku.get(sku, _NONE)] = True
            mask &= of_skus
        if locale:
            of_locale = np.zeros(len(self.snippets), dtype=bool)
            of_locale[self._by_locale.get(locale, _NONE)] = True
            mask &= of_locale
        return mask

    def size(self) -> int:
        if not self.reviews_available():  # no network call to a server known to be away
            raise KnowledgeUnavailable(self.health.detail)
        return self.collection.count()

    def reviews_available(self) -> bool:
        """False while the Chroma server does not answer (embedded Chroma always answers)."""
        return self.health is None or self.health.ok

    def close(self) -> None:
        if self.health is not None:
            self.health.close()

    def searches_in_memory(self, skus: list[str], locale: str, kinds: tuple[str, ...] = ("review",)) -> bool:
        """Whether reviews() for these SKUs is small CPU work: the exact in-memory path of `_dense`
        (a request's few SKUs) rather than a query to the Chroma index, which may be a network
        call, and a concern's topic vote over at most `exact_search_max` reviews."""
        return self._in_memory(tuple(skus), locale, kinds)

    def _exact(self, mask: np.ndarray) -> bool:
        limit = int(self.config.get("exact_search_max", 2000))
        return len(self.vectors) == len(self.snippets) and int(mask.sum()) <= limit

    # -- facts: by metadata, never by similarity ---------------------------------------------
    def product(self, sku: str, locale: str) -> ProductKnowledge | None:
        """From the snippets loaded by refresh() (a Chroma `get` per request cost ~6 ms of CPU)."""
        rows = self._facts.get((sku, locale))
        if not rows:
            return None
        return ProductKnowledge(
            sku=sku,
            name=rows[0].title or None,
            facts=[s.text for s in rows],
            fact_ids=[s.id for s in rows],
            category=rows[0].category,
        )

    # -- search --------------------------------------------------------------------------------
    def search(
        self, query: str, skus: list[str], *, locale: str | None = None, kinds: tuple[str, ...] = ("review",),
        k: int = 5, mode: str = "hybrid", quotable_only: bool = True,
    ) -> list[Hit]:  # fmt: skip
        """The snippets nearest the query; reviews unfit to quote are left out unless asked for."""
        n = max(k, int(self.config.get("candidates", 20)))
        query = self.bounded(query)
        fit = quotable_only and "review" in kinds
        if mode == "dense":
            return self._dense(query, skus, locale, kinds, n, fit)[:k]
        if mode == "lexical":
            return self._lexical(query, skus, locale, kinds, n, fit)[:k]
        return self._fuse(query, skus, locale, kinds, n, fit)[:k]

    def bounded(self, query: str) -> str:
        """The query as embedding and BM25 see it: cut to `max_query_chars`, so that the work a
        request's free text causes is bounded whatever the caller sent."""
        return query[: int(self.config.get("max_query_chars", 400))]

    def lexical_weight(self, locale: str | None) -> float:
        weights = self.config.get("fusion", {}).get("lexical_weight", {})
        return float(weights.get(locale or "default", weights.get("default", 0.0)))

    def _filters(self, skus: list[str], locale: str | None, kinds: tuple[str, ...]) -> MetadataFilters:
        filters = [MetadataFilter(key="kind", value=list(kinds), operator=FilterOperator.IN)]
        if skus:
            filters.append(MetadataFilter(key="sku", value=list(skus), operator=FilterOperator.IN))
        if locale:
            filters.append(MetadataFilter(key="locale", value=locale))
        return MetadataFilters(filters=filters, condition=FilterCondition.AND)

    def _dense(
        self, query: str, skus: list[str], locale: str | None, kinds: tuple[str, ...], n: int, fit: bool
    ) -> list[Hit]:
        """Exact cosine over a narrow filter (a request's few SKUs), Chroma's HNSW index otherwise."""
        vector = query_vector(query)
        mask = self._mask(skus, locale, kinds, fit)
        if self._exact(mask):
            subset = np.flatnonzero(mask)
            sims = self.vectors[subset] @ vector  # vectors are L2-normalised
            order = np.argsort(-sims)[:n]
            return [Hit(self.snippets[subset[i]], float(sims[i])) for i in order]
        result = self.store.query(
            VectorStoreQuery(
                query_embedding=vector.tolist(),
                similarity_top_k=n + (len(self.unfit) if fit else 0),
                filters=self._filters(skus, locale, kinds),
            )
        )
        hits = []
        for node_id, sim in zip(result.ids or [], result.similarities or [], strict=False):
            if node_id in self.position and not (fit and node_id in self.unfit):
                hits.append(Hit(self.snippets[self.position[node_id]], float(sim)))
        return hits[:n]

    def _lexical(
        self, query: str, skus: list[str], locale: str | None, kinds: tuple[str, ...], n: int, fit: bool
    ) -> list[Hit]:
        if self.lexical is None:
            return []
        scores = self.lexical.scores(query, self._mask(skus, locale, kinds, fit))
        order = np.argsort(-scores)[:n]
        return [Hit(self.snippets[i], float(scores[i])) for i in order if scores[i] > 0]

    def _fuse(
        self, query: str, skus: list[str], locale: str | None, kinds: tuple[str, ...], n: int, fit: bool
    ) -> list[Hit]:
        """Calibrated score fusion: cosine + w x (BM25 / the most the query could score), with w per
        locale learned on the calibration split (`copydesk kb calibrate`). w = 0 is dense alone,
        so on the data it was learned from hybrid never ranks worse than its better half."""
        w = self.lexical_weight(locale)
        dense = self._dense(query, skus, locale, kinds, n, fit)
        if w <= 0 or self.lexical is None:
            return dense
        mask = self._mask(skus, locale, kinds, fit)
        bm25 = self.lexical.scores(query, mask)
        top = self.lexical.ceiling(query)
        if top <= 0 or not len(bm25) or float(bm25.max()) <= 0:
            return dense
        vector = query_vector(query)
        candidates = {h.snippet.id: h.score for h in dense}
        for i in np.argsort(-bm25)[:n]:
            if bm25[i] > 0:
                candidates.setdefault(self.snippets[i].id, None)  # type: ignore[arg-type]
        fused = []
        for sid, cos in candidates.items():
            pos = self.position[sid]
            if cos is None:
                cos = float(self.vectors[pos] @ vector) if pos < len(self.vectors) else 0.0
            fused.append(Hit(self.snippets[pos], cos + w * float(bm25[pos]) / top))
        return sorted(fused, key=lambda h: -h.score)

    # -- reviews for a prompt ------------------------------------------------------------------
    def reviews(
        self, skus: list[str], locale: str, channel: str, concern: str | None, journey: str,
        interests: list[str], today: date,
    ) -> Reviews:  # fmt: skip
        """Review snippets for the prompt: those that answer the customer's concern first, boosts
        only breaking near-ties, diverse, sanitised, deduplicated and within the channel's budget;
        with the language gap, if the concern is answered only in the other locale."""
        picked = self._picked(tuple(skus), locale, channel, concern, journey, tuple(interests), today)
        return Reviews(picked, language_gap=picked.language_gap)

    def topic_of(self, concern: str, skus: tuple[str, ...] = ()) -> str | None:
        """The topic a free-text concern is about: the vote of the nearest tagged reviews (any SKU,
        either locale; beyond `vote_max` reviews, those of the SKUs' categories), when one topic
        carries at least `topic_vote` of it. Once per concern."""
        return self._topic_of(concern, self._vote_categories(skus))

    def _vote_categories(self, skus: tuple[str, ...]) -> tuple[str, ...]:
        """() for every category, while there are at most `vote_max` quotable reviews."""
        voters = sum(len(r) for r, _ in self._voters.values())
        if voters <= int(self.config.get("concern_topic", {}).get("vote_max", 4000)):
            return ()
        rows = [self._by_sku.get(sku, _NONE) for sku in skus]
        return tuple(sorted({self.snippets[i].category for r in rows for i in r}))

    def _vote_size(self, skus: tuple[str, ...]) -> int:
        """How many review vectors a concern's topic vote for these SKUs reads."""
        categories = self._vote_categories(skus) or tuple(self._voters)
        return sum(len(self._voters[c][0]) for c in categories if c in self._voters)

    def _vote_topic(self, concern: str, categories: tuple[str, ...]) -> str | None:
        cfg = self.config.get("concern_topic", {})
        n = int(cfg.get("neighbours", 7))
        query = self.bounded(concern)
        voters = [self._voters[c] for c in categories or self._voters if c in self._voters]
        if voters:  # in memory, a category's reviews: no index call, bounded work
            rows = np.concatenate([r for r, _ in voters])
            sims = np.concatenate([v @ query_vector(query) for _, v in voters])
            top = np.argpartition(-sims, min(n, len(sims) - 1))[:n]
            top = top[np.argsort(-sims[top])]
            hits = [Hit(self.snippets[rows[i]], float(sims[i])) for i in top]
        else:
            hits = self._dense(query, [], None, ("review",), n, True)
        votes: dict[str, float] = {}
        for h in hits:
            if h.snippet.topic:
                votes[h.snippet.topic] = votes.get(h.snippet.topic, 0.0) + max(h.score, 0.0)
        total = sum(votes.values())
        if not total:
            return None
        best = max(votes, key=lambda t: votes[t])
        return best if votes[best] / total >= float(cfg.get("topic_vote", 0.5)) else None

    def _pick_reviews(
        self, skus: tuple[str, ...], locale: str, channel: str, concern: str | None, journey: str,
        interests: tuple[str, ...], today: date,
    ) -> Reviews:  # fmt: skip
        queries = self.config.get("topic_queries", {})
        concern = (concern or "").strip() or None
        topic = concern if concern in queries else None
        if topic:  # the concern names a tagged topic: reviews tagged with it lead
            query, leading = queries[topic][locale], topic
        elif concern:  # free text: the customer's own words lead; journey and interests do not dilute
            query, leading = concern, None
        else:
            topics = list(self.config.get("journey_topics", {}).get(journey, []))
            parts = [queries[t][locale] for t in topics if t in queries] + list(interests)
            query, leading = " ".join(p for p in parts if p) or " ".join(skus), None
        n = int(self.config.get("candidates", 20))
        hits = self.search(query, list(skus), locale=locale, k=n)
        journey_topics = set(self.config.get("journey_topics", {}).get(journey, [])) if not concern else set()
        about = topic or (self.topic_of(concern, skus) if concern else None)
        bonus = 0.0 if topic else float(self.config.get("concern_topic", {}).get("bonus", 0.0))
        scored = [
            Hit(h.snippet, h.score + self._tie_break(h.snippet, journey_topics, today)
                + (bonus if about and h.snippet.topic == about else 0.0))
            for h in hits
        ]  # fmt: skip
        scored.sort(key=lambda h: (leading is not None and h.snippet.topic != leading, -h.score))
        picked = self._budgeted(scored, channel, leading)
        gap = self._language_gap(list(skus), locale, about) if about else None
        return Reviews(picked, language_gap=gap)

    def _tie_break(self, snippet: Snippet, journey_topics: set[str], today: date) -> float:
        """Rating, recency and the journey's topics: together at most a few thousandths on the
        cosine scale, so they only reorder reviews that are about equally relevant."""
        tb = self.config.get("tie_break", {})
        recent_after = (today - timedelta(days=int(tb.get("recent_days", 365)))).isoformat()
        s = float(tb.get("good_rating", 0.0)) if snippet.rating >= 4 else 0.0
        s += float(tb.get("recent", 0.0)) if snippet.date >= recent_after else 0.0
        s += float(tb.get("journey_topic", 0.0)) if snippet.topic in journey_topics else 0.0
        return s

    def _budgeted(self, scored: list[Hit], channel: str, leading: str | None) -> list[Evidence]:
        budget = self.config.get("budget", {}).get(channel, {"snippets": 2, "chars": 120})
        out: list[Evidence] = []
        seen: set[str] = set()
        used = 0
        ordered = scored if leading else self._mmr(scored, int(budget["snippets"]) * 3)
        for hit in ordered:
            clean = self.sanitizer.clean(hit.snippet.text)
            key = "".join(clean.text.lower().split())
            if not clean.text or key in seen:
                continue
            if used + len(clean.text) > int(budget["chars"]) or len(out) >= int(budget["snippets"]):
                continue
            seen.add(key)
            used += len(clean.text)
            out.append(Evidence(id=hit.snippet.id, text=clean.text, removed=clean.removed))
        return out

    def _language_gap(self, skus: list[str], locale: str, about: str) -> LanguageGap | None:
        """The concern's topic has no quotable review of these SKUs in the request's locale but has
        some in the other one. Those are named, never quoted (docs/knowledge-base.md says why)."""
        other = next((loc for loc in LOCALES if loc != locale), None)
        fit = self._mask(skus, None, ("review",), True)
        tagged = [self.snippets[i] for i in np.flatnonzero(fit) if self.snippets[i].topic == about]
        if any(s.locale == locale for s in tagged):
            return None
        there = [s.id for s in tagged if s.locale == other]
        return LanguageGap(about, locale, other or "", tuple(there)) if there else None

    def _mmr(self, hits: list[Hit], n: int) -> list[Hit]:
        """Maximal marginal relevance: the next pick is relevant and unlike those already picked."""
        lam = float(self.config.get("mmr_lambda", 0.7))
        if not hits:
            return []
        top = max(h.score for h in hits) or 1.0
        vecs = {
            h.snippet.id: self.vectors[self.position[h.snippet.id]]
            for h in hits
            if h.snippet.id in self.position
        }
        picked: list[Hit] = []
        pool = list(hits)
        while pool and len(picked) < n:

            def value(h: Hit) -> float:
                v = vecs.get(h.snippet.id)
                sim = max((float(v @ vecs[p.snippet.id]) for p in picked if v is not None), default=0.0)
                return lam * h.score / top - (1 - lam) * sim

            best = max(pool, key=value)
            picked.append(best)
            pool.remove(best)
        return picked
