"""Two instances on one Chroma server (`chroma run`): an ingest by one is visible to the other,
without a restart, within the documented refresh delay (COPYDESK_KB_REFRESH_S)."""

from __future__ import annotations

import time

from app.config import REPO_ROOT
from app.kb import open_knowledge
from app.kb.documents import Snippet, load_snippets
from app.kb.ingest import ingest

REFRESH_S = 0.5

NEW_REVIEW = Snippet(
    id="R-1001-99",
    text="鞋底的紫罗兰色荧光条纹在夜跑时特别显眼，朋友都问在哪买的。",
    kind="review",
    locale="zh-CN",
    sku="SKU-1001",
    topic="appearance",
    rating=5,
    date="2026-11-01",
)


def test_an_ingest_by_one_instance_reaches_the_other(chroma_server, tmp_path):
    first = open_knowledge(REPO_ROOT, tmp_path / "a", chroma_server, refresh_s=REFRESH_S)
    second = open_knowledge(REPO_ROOT, tmp_path / "b", chroma_server, refresh_s=REFRESH_S)
    try:
        assert first.size() == second.size() > 400  # the first start built the shared index once

        def found(kb) -> bool:
            hits = kb.search("紫罗兰色荧光条纹", ["SKU-1001"], locale="zh-CN", mode="lexical")
            return any(h.snippet.id == NEW_REVIEW.id for h in hits)

        assert not found(second)
        summary = ingest(first.collection, [*load_snippets(REPO_ROOT / "knowledge"), NEW_REVIEW])
        assert summary.added == 1
        ingested = time.monotonic()
        while not found(second):
            assert time.monotonic() - ingested < REFRESH_S + 10, "the other instance never saw the ingest"
            time.sleep(0.05)
        seen_after = time.monotonic() - ingested
        assert seen_after < REFRESH_S + 10
        assert second.size() == first.size()
    finally:
        first.close()
        second.close()
