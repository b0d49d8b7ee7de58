"""Latency of the embedded model end to end: an SMS (zh-CN) and a push (en-US) request with 2
variants each, median of N, through the whole pipeline (retrieval, prompt, model, checks).
Prints figures; asserts nothing.  Run: .venv/bin/python benchmarks/embedded_bench.py [N]
The embedded model's knobs apply (COPYDESK_LOCAL_MODEL, _THREADS, _SLOTS, _CONTEXT)."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from app.config import Settings  # noqa: E402
from app.generation.service import build_service  # noqa: E402
from app.schemas import GenerateRequest  # noqa: E402

REQUESTS = {
    "sms zh-CN": {"channel": "sms", "locale": "zh-CN", "journey": "cart_abandon", "offer_id": "OFF-FREESHIP"},
    "push en-US": {"channel": "push", "locale": "en-US", "journey": "price_drop", "offer_id": None},
}


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = replace(Settings.from_env(), data_dir=Path(tmp))
        started = time.perf_counter()
        service = await asyncio.to_thread(build_service, settings)
        print(f"service with {service.model_label} ready in {time.perf_counter() - started:.1f} s")
        try:
            for name, fields in REQUESTS.items():
                seconds: list[float] = []
                sources: Counter[str] = Counter()
                for i in range(rounds):
                    req = GenerateRequest.model_validate(
                        {"request_id": f"bench-{name.replace(' ', '-')}-{i}", "skus": ["SKU-1001"],
                         "audience": {"segment": "hot", "cs_topic": "sizing"}, "variants": 2, **fields}
                    )  # fmt: skip
                    t = time.perf_counter()
                    resp = await service.generator.generate(req)
                    seconds.append(time.perf_counter() - t)
                    sources.update(v.source for v in resp.variants)
                print(
                    f"{name}, 2 variants: median {statistics.median(seconds):.2f} s "
                    f"(min {min(seconds):.2f}, max {max(seconds):.2f}, n={rounds}); sources {dict(sources)}"
                )
        finally:
            await service.aclose()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
