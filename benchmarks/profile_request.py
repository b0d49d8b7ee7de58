"""Where one request's CPU goes: N sequential requests through the real app (FastAPI, middleware,
claims, audit, checks) against a zero-latency model stub, under pyinstrument; prints the profile
and the CPU per request. Run: python benchmarks/profile_request.py [--requests 300] [--variants 1]"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from app.api import create_app  # noqa: E402
from app.config import Settings  # noqa: E402
from benchmarks.load_bench import REQUEST, wait_up  # noqa: E402
from tests.servers import free_port  # noqa: E402


async def run(n: int, variants: int, profile: bool) -> None:
    port = free_port()
    stub = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "model_stub.py"),
            str(port),
            os.environ.get("STUB_MS", "0"),
        ]
    )
    wait_up(port, "/v1/models")
    settings = replace(
        Settings.from_env(),
        llm_base_url=f"http://127.0.0.1:{port}/v1",
        llm_model="stub",
        data_dir=Path(tempfile.mkdtemp(prefix="copydesk-profile-")),
        index_dir=ROOT / "var" / "bench-index",
    )
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
            async with httpx.AsyncClient(transport=transport, base_url="http://copydesk") as client:

                async def one(i: int) -> None:
                    body = {**REQUEST, "request_id": f"p-{time.time_ns()}-{i}", "variants": variants}
                    resp = await client.post("/v1/generate", json=body)
                    assert resp.status_code == 200, resp.text

                for i in range(20):  # warm up
                    await one(i)
                profiler = Profiler(interval=0.0005, async_mode="enabled") if profile else None
                cpu0 = time.process_time()
                if profiler:
                    profiler.start()
                for i in range(n):
                    await one(i)
                if profiler:
                    profiler.stop()
                cpu = time.process_time() - cpu0
    finally:
        stub.terminate()
    if profiler:
        print(profiler.output_text(unicode=True, color=False, show_all=False, short_mode=False))
    print(f"{n} requests, {variants} variant(s): {cpu / n * 1000:.2f} ms CPU per request in-process")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--variants", type=int, default=1)
    ap.add_argument(
        "--no-profile", action="store_true", help="only the CPU figure, without profiler overhead"
    )
    args = ap.parse_args()
    asyncio.run(run(args.requests, args.variants, not args.no_profile))
