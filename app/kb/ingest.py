"""Incremental ingestion: unchanged snippets are skipped by content hash, changed ones replaced,
deleted ones removed. Nodes go into Chroma through llama-index's vector store."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from chromadb.api.models.Collection import Collection
from llama_index.core.schema import TextNode
from llama_index.vector_stores.chroma import ChromaVectorStore

from app.kb.documents import Snippet
from app.kb.embedding import encoder

BATCH = 256  # well under Chroma's 5,461 per call


@dataclass(frozen=True)
class IngestSummary:
    added: int
    updated: int
    deleted: int
    unchanged: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.deleted} deleted, "
            f"{self.unchanged} unchanged in {self.seconds:.1f}s"
        )


def stored_hashes(collection: Collection) -> dict[str, str]:
    got = collection.get(include=["metadatas"])
    return {
        i: str((m or {}).get("content_hash", ""))
        for i, m in zip(got["ids"], got["metadatas"] or [], strict=False)
    }


def ingest(
    collection: Collection, snippets: list[Snippet], on_progress: Callable[[int, int], None] | None = None
) -> IngestSummary:
    start = time.perf_counter()
    have = stored_hashes(collection)
    wanted = {s.id for s in snippets}
    new = [s for s in snippets if s.id not in have]
    changed = [s for s in snippets if s.id in have and have[s.id] != s.content_hash]
    gone = [i for i in have if i not in wanted]
    store = ChromaVectorStore(chroma_collection=collection)
    stale = gone + [s.id for s in changed]
    for i in range(0, len(stale), BATCH):
        store.delete_nodes(node_ids=stale[i : i + BATCH])
    todo = new + changed
    for i in range(0, len(todo), BATCH):
        batch = todo[i : i + BATCH]
        vectors = encoder().encode([s.text for s in batch])
        store.add(
            [
                TextNode(id_=s.id, text=s.text, metadata=s.metadata(), embedding=v.tolist())
                for s, v in zip(batch, vectors, strict=True)
            ]
        )
        if on_progress:
            on_progress(min(i + BATCH, len(todo)), len(todo))
    if stale or todo:  # instances sharing a Chroma server notice the change by this stamp
        collection.modify(metadata={**(collection.metadata or {}), "ingested_at": time.time()})
    return IngestSummary(
        len(new),
        len(changed),
        len(gone),
        len(snippets) - len(new) - len(changed),
        time.perf_counter() - start,
    )
