"""Knowledge-base benchmark: ingest throughput and query latency on an index of 10,000 snippets.

The demo knowledge is topped up with synthetic reviews (made here, never committed) spread over
200 synthetic SKUs. Prints figures; asserts nothing.  Run: python benchmarks/kb_bench.py [N]
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from app.config import REPO_ROOT  # noqa: E402
from app.kb import open_knowledge  # noqa: E402
from app.kb.documents import Snippet, load_snippets  # noqa: E402
from app.kb.ingest import ingest  # noqa: E402

TOPICS = ["sizing", "comfort", "quality", "delivery", "packaging", "payment", "returns", "value"]
WORDS_ZH = [
    "鞋码",
    "偏小",
    "偏大",
    "合脚",
    "舒服",
    "透气",
    "做工",
    "耐磨",
    "物流",
    "很快",
    "包装",
    "完好",
    "分期",
    "退货",
    "换货",
    "划算",
    "性价比",
    "推荐",
    "回购",
    "颜色",
]
WORDS_EN = [
    "size",
    "small",
    "large",
    "fit",
    "comfy",
    "breathable",
    "stitching",
    "durable",
    "shipping",
    "fast",
    "box",
    "intact",
    "instalments",
    "return",
    "exchange",
    "value",
    "worth",
    "recommend",
    "colour",
]


def synthetic(n: int, rng: random.Random) -> list[Snippet]:
    out = []
    for i in range(n):
        locale = "zh-CN" if i % 2 else "en-US"
        words = WORDS_ZH if locale == "zh-CN" else WORDS_EN
        text = ("，" if locale == "zh-CN" else " ").join(rng.sample(words, 6)) + f" #{i}"
        out.append(
            Snippet(
                id=f"SYN-{i:05d}", text=text, kind="review", locale=locale, sku=f"SKU-S{i % 200:03d}",
                category="synthetic", topic=rng.choice(TOPICS), rating=rng.randint(1, 5),
                date=f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}",
            )
        )  # fmt: skip
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def summary_of(times: list[float]) -> str:
    return f"p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms"


def main(total: int = 10_000) -> None:
    rng = random.Random(1)
    real = load_snippets(REPO_ROOT / "knowledge")
    snippets = real + synthetic(max(0, total - len(real)), rng)
    with tempfile.TemporaryDirectory() as tmp:
        kb = open_knowledge(REPO_ROOT, Path(tmp), None, ingest_if_empty=False)
        summary = ingest(kb.collection, snippets)
        rate = len(snippets) / summary.seconds
        print(f"ingest: {len(snippets)} snippets in {summary.seconds:.1f}s = {rate:.0f}/s")
        again = ingest(kb.collection, snippets)
        print(f"re-ingest, nothing changed: {again.seconds:.2f}s ({again.unchanged} unchanged)")
        t = time.perf_counter()
        kb.refresh()
        print(f"load for serving (BM25 + vectors): {time.perf_counter() - t:.2f}s")

        skus = [s.sku for s in snippets if s.kind == "review"]
        queries = ["does it run small", "会不会偏小", "how fast is shipping", "值不值这个价", "is it durable"]
        for mode in ("dense", "lexical", "hybrid"):
            times = []
            for i in range(200):
                t = time.perf_counter()
                kb.search(queries[i % len(queries)], [rng.choice(skus)], k=5, mode=mode)
                times.append((time.perf_counter() - t) * 1000)
            print(f"search {mode:7s}: {summary_of(times)} (200 queries, one SKU)")
        times = []
        for i in range(100):
            t = time.perf_counter()
            kb.search(queries[i % len(queries)], [], k=5, mode="dense")
            times.append((time.perf_counter() - t) * 1000)
        print(f"search dense, no SKU filter (Chroma HNSW): {summary_of(times)}")
        times = []
        for i in range(200):
            t = time.perf_counter()
            locale = "zh-CN" if i % 2 else "en-US"
            kb.reviews([rng.choice(skus)], locale, "email", "sizing", "cs_followup", [], date(2026, 11, 22))
            times.append((time.perf_counter() - t) * 1000)
        print(f"reviews for a prompt (hybrid + MMR + sanitise): {summary_of(times)}")
        times = []
        concerns = ["does it run small for wide feet", "物流会不会很慢", "is the box crushed", "退货麻烦吗"]
        for i in range(200):
            t = time.perf_counter()
            locale = "zh-CN" if i % 2 else "en-US"
            concern = f"{concerns[i % len(concerns)]} {i}"  # a new concern each time: nothing cached
            kb.reviews([rng.choice(skus)], locale, "email", concern, "cs_followup", [], date(2026, 11, 22))
            times.append((time.perf_counter() - t) * 1000)
        print(f"reviews for a free-text concern, uncached (+ its topic's vote): {summary_of(times)}")
        times = []
        for _ in range(200):
            t = time.perf_counter()
            kb.product(rng.choice(skus[:400]), "zh-CN")
            times.append((time.perf_counter() - t) * 1000)
        print(f"facts by filter: {summary_of(times)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
