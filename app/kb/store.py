"""Where the index lives: embedded Chroma under the data dir, or a shared Chroma server."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import chromadb
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings

from app.kb.embedding import UseEmbeddingFunction


def chroma_client(data_dir: Path, chroma_url: str | None):
    settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        url = urlparse(chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "127.0.0.1",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=settings,
        )
    path = data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


def open_collection(client, name: str) -> Collection:
    return client.get_or_create_collection(
        name, embedding_function=UseEmbeddingFunction(), configuration={"hnsw": {"space": "cosine"}}
    )
