"""The knowledge base: product facts, review snippets and FAQ in Chroma, retrieved hybrid.

Imports only the shared modules; `interface.py` is what generation may rely on.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable
from pathlib import Path

from llama_index.core import Settings as LlamaSettings

from app.content import read_yaml

log = logging.getLogger(__name__)


def open_knowledge(
    content_dir: Path,
    index_path: Path,
    chroma_url: str | None,
    *,
    ingest_if_empty: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    refresh_s: float = 0.0,
    screen=None,
):
    """The knowledge base for a service; the first start builds the index from knowledge/. With a
    Chroma server and `refresh_s`, other instances' ingests are picked up within about that long.
    `screen(text, category)` names why a review may not be quoted (the guardrails' checks, which
    this layer cannot import)."""
    from app.kb.documents import load_snippets
    from app.kb.embedding import UseEmbedding
    from app.kb.ingest import ingest
    from app.kb.retrieval import ChromaKnowledge
    from app.kb.sanitize import Sanitizer
    from app.kb.store import chroma_client, open_collection

    # llama-index must never reach for its OpenAI defaults: our encoder, and no LLM.
    LlamaSettings.embed_model = UseEmbedding()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "LLM is explicitly disabled"
        LlamaSettings.llm = None
    config = read_yaml(content_dir / "knowledge" / "retrieval.yaml")
    client = chroma_client(index_path, chroma_url)
    collection = open_collection(client, config["collection"])
    if ingest_if_empty and collection.count() == 0:
        summary = ingest(collection, load_snippets(content_dir / "knowledge"), on_progress)
        log.info("built the knowledge index: %s", summary)
    sanitizer = Sanitizer(content_dir / "guardrails" / "untrusted.yaml")
    health = None
    if chroma_url:
        from app.kb.health import ServerHealth

        health = ServerHealth(client)
    knowledge = ChromaKnowledge(collection, config, sanitizer, screen, health)
    if chroma_url and refresh_s > 0:
        from app.kb.freshness import RefreshingKnowledge

        return RefreshingKnowledge(
            knowledge, lambda: ChromaKnowledge(collection, config, sanitizer, screen, health), refresh_s
        )
    return knowledge
