"""What traces cost: CPU per request in-process (the real app against a zero-latency model stub,
as profile_request.py does) with traces off (no OTEL_EXPORTER_OTLP_ENDPOINT) and on (OTLP/HTTP
to a sink in another process, the batch exporter's thread counted), alternating in fresh
processes. Prints figures; asserts nothing.
Run: python benchmarks/tracing_bench.py [--requests 300] [--rounds 2] [--variants 2]"""

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


async def measure(n: int, variants: int, model_port: int) -> float:
    import httpx

    from app.api import create_app
    from app.config import Settings
    from app.observability import tracing
    from benchmarks.load_bench import REQUEST

    settings = replace(
        Settings.from_env(),
        llm_base_url=f"http://127.0.0.1:{model_port}/v1",
        llm_model="stub",
        data_dir=Path(tempfile.mkdtemp(prefix="copydesk-tracing-")),
        index_dir=ROOT / "var" / "bench-index",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://copydesk") as client:

            async def one(i: int) -> None:
                body = {**REQUEST, "request_id": f"t-{time.time_ns()}-{i}", "variants": variants}
                resp = await client.post("/v1/generate", json=body)
                assert resp.status_code == 200, resp.text

            for i in range(20):
                await one(i)
            tracing.flush()
            cpu0 = time.process_time()
            for i in range(n):
                await one(i)
            tracing.flush()  # the exporter's work for these requests is counted too
            return (time.process_time() - cpu0) / n * 1000


def child(args: argparse.Namespace) -> None:
    ms = asyncio.run(measure(args.requests, args.variants, args.model_port))
    print(f"{ms:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--variants", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--model-port", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.model_port:
        child(args)
        return
    from benchmarks.load_bench import wait_up
    from tests.servers import free_port

    port = free_port()
    # The stub answers any other path with 200: it is the OTLP sink as well.
    stub = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "model_stub.py"), str(port), "0"])
    try:
        wait_up(port, "/v1/models")
        results: dict[str, list[float]] = {"off": [], "on (OTLP/HTTP)": []}
        for _ in range(args.rounds):
            for mode in results:
                env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
                if mode != "off":
                    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"
                cmd = [sys.executable, __file__, "--requests", str(args.requests)]
                cmd += ["--variants", str(args.variants), "--model-port", str(port)]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                results[mode].append(float(out.stdout.strip().splitlines()[-1]))
                print(f"traces {mode:<16} {results[mode][-1]:6.3f} ms CPU per request", flush=True)
        print(f"{args.requests} requests a round, {args.variants} variant(s), in-process, stub model")
    finally:
        stub.terminate()


if __name__ == "__main__":
    main()
