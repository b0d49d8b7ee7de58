"""Retrieval for a request: the SKUs' facts by metadata filter, and review snippets that speak to
the customer's concern by hybrid search (dense via Chroma + BM25, fused), diverse and budgeted."""

from __future__ import annotations

import functools
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

from app.kb.documents import Snippet
from app.kb.embedding import encoder
from app.kb.interface import Evidence, ProductKnowledge
from app.kb.lexical import LexicalIndex, Tokenizer
from app.kb.sanitize import Sanitizer

MODES = ("dense", "lexical", "hybrid")


class KnowledgeUnavailable(Exception):
    """The Chroma server does not answer."""


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
        self, collection: Collection, config: dict[str, Any], sanitizer: Sanitizer, health: Any = None
    ) -> None:
        self.collection = collection
        self.health = health  # a ServerHealth with a Chroma server, else None
        self.config = config
        self.sanitizer = sanitizer
        self.store = ChromaVectorStore(chroma_collection=collection)
        stop = {w for words in config.get("stopwords", {}).values() for w in words}
        self.tokenizer = Tokenizer(stop)
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
        self._in_memory = cached(lambda skus, loc, kinds: self._exact(self._mask(list(skus), loc, kinds)))

        # Facts per (sku, locale) from the same load: a request's facts without a Chroma query.
        self._facts: dict[tuple[str, str], list[Snippet]] = {}
        for s in self.snippets:
            if s.kind == "fact":
                self._facts.setdefault((s.sku, s.locale), []).append(s)
        for rows in self._facts.values():
            rows.sort(key=lambda s: s.order)

        self._sku = np.array([s.sku for s in self.snippets], dtype=object)
        self._kind = np.array([s.kind for s in self.snippets], dtype=object)
        self._locale = np.array([s.locale for s in self.snippets], dtype=object)

    def _mask(self, skus: list[str], locale: str | None, kinds: tuple[str, ...]) -> np.ndarray:
        mask = np.isin(self._kind, list(kinds))
        if skus:
            mask &= np.isin(self._sku, list(skus))
        if locale:
            mask &= self._locale == locale
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
        """Whether a search over these SKUs takes the exact in-memory path of `_dense` (a request's
        few SKUs) rather than a query to the Chroma index, which may be a network call."""
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
        k: int = 5, mode: str = "hybrid",
    ) -> list[Hit]:  # fmt: skip
        n = int(self.config.get("candidates", 20))
        query = self.bounded(query)
        if mode == "dense":
            return self._dense(query, skus, locale, kinds, max(k, n))[:k]
        if mode == "lexical":
            return self._lexical(query, skus, locale, kinds, max(k, n))[:k]
        weights = self.config.get("weights", {})
        return self._fuse(
            (self._dense(query, skus, locale, kinds, n), float(weights.get("dense", 1.0))),
            (self._lexical(query, skus, locale, kinds, n), float(weights.get("lexical", 1.0))),
        )[:k]

    def bounded(self, query: str) -> str:
        """The query as embedding and BM25 see it: cut to `max_query_chars`, so that the work a
        request's free text causes is bounded whatever the caller sent."""
        return query[: int(self.config.get("max_query_chars", 400))]

    def _filters(self, skus: list[str], locale: str | None, kinds: tuple[str, ...]) -> MetadataFilters:
        filters = [MetadataFilter(key="kind", value=list(kinds), operator=FilterOperator.IN)]
        if skus:
            filters.append(MetadataFilter(key="sku", value=list(skus), operator=FilterOperator.IN))
        if locale:
            filters.append(MetadataFilter(key="locale", value=locale))
        return MetadataFilters(filters=filters, condition=FilterCondition.AND)

    def _dense(
        self, query: str, skus: list[str], locale: str | None, kinds: tuple[str, ...], n: int
    ) -> list[Hit]:
        """Exact cosine over a narrow filter (a request's few SKUs), Chroma's HNSW index otherwise."""
        vector = query_vector(query)
        mask = self._mask(skus, locale, kinds)
        if self._exact(mask):
            subset = np.flatnonzero(mask)
            sims = self.vectors[subset] @ vector  # vectors are L2-normalised
            order = np.argsort(-sims)[:n]
            return [Hit(self.snippets[subset[i]], float(sims[i])) for i in order]
        result = self.store.query(
            VectorStoreQuery(
                query_embedding=vector.tolist(),
                similarity_top_k=n,
                filters=self._filters(skus, locale, kinds),
            )
        )
        hits = []
        for node_id, sim in zip(result.ids or [], result.similarities or [], strict=False):
            if node_id in self.position:
                hits.append(Hit(self.snippets[self.position[node_id]], float(sim)))
        return hits

    def _lexical(
        self, query: str, skus: list[str], locale: str | None, kinds: tuple[str, ...], n: int
    ) -> list[Hit]:
        if self.lexical is None:
            return []
        mask = self._mask(skus, locale, kinds)
        scores = self.lexical.scores(query, mask)
        order = np.argsort(-scores)[:n]
        return [Hit(self.snippets[i], float(scores[i])) for i in order if scores[i] > 0]

    def _fuse(self, *rankings: tuple[list[Hit], float]) -> list[Hit]:
        """Weighted reciprocal rank fusion: robust to the retrievers' incomparable score scales."""
        k = float(self.config.get("rrf_k", 60))
        fused: dict[str, float] = {}
        by_id: dict[str, Snippet] = {}
        for ranking, weight in rankings:
            for rank, hit in enumerate(ranking):
                fused[hit.snippet.id] = fused.get(hit.snippet.id, 0.0) + weight / (k + rank + 1)
                by_id[hit.snippet.id] = hit.snippet
        return [Hit(by_id[i], s) for i, s in sorted(fused.items(), key=lambda kv: -kv[1])]

    # -- reviews for a prompt ------------------------------------------------------------------
    def reviews(
        self, skus: list[str], locale: str, channel: str, concern: str | None, journey: str,
        interests: list[str], today: date,
    ) -> list[Evidence]:  # fmt: skip
        """Review snippets for the prompt: on the concern, well rated and recent first, diverse,
        sanitised, deduplicated and within the channel's budget."""
        return list(self._picked(tuple(skus), locale, channel, concern, journey, tuple(interests), today))

    def _pick_reviews(
        self, skus: tuple[str, ...], locale: str, channel: str, concern: str | None, journey: str,
        interests: tuple[str, ...], today: date,
    ) -> list[Evidence]:  # fmt: skip
        queries = self.config.get("topic_queries", {})
        if concern in queries:
            topics, extra = [concern], []
        else:
            topics, extra = list(self.config.get("journey_topics", {}).get(journey, [])), [concern or ""]
        parts = [queries[t][locale] for t in topics if t in queries] + extra + list(interests)
        query = " ".join(p for p in parts if p) or " ".join(skus)
        hits = self.search(query, list(skus), locale=locale, k=int(self.config.get("candidates", 20)))
        boost = self.config.get("boost", {})
        recent_after = (today - timedelta(days=int(boost.get("recent_days", 365)))).isoformat()
        scored = []
        for h in hits:
            s = h.score
            s += boost.get("topic_match", 0.0) if h.snippet.topic in topics else 0.0
            s += boost.get("good_rating", 0.0) if h.snippet.rating >= 4 else 0.0
            s += boost.get("recent", 0.0) if h.snippet.date >= recent_after else 0.0
            scored.append(Hit(h.snippet, s))
        budget = self.config.get("budget", {}).get(channel, {"snippets": 2, "chars": 120})
        out: list[Evidence] = []
        seen: set[str] = set()
        used = 0
        for hit in self._mmr(scored, int(budget["snippets"]) * 3):
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
