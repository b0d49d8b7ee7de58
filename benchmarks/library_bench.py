"""Library hits beside fresh generations, in one run: copydesk served with a model stub on
127.0.0.1 (0 ms by default, so the figures are the service's own cost), one variant kept from a
fresh generation and approved over HTTP, then the same request in `library` mode (no model call)
and in `fresh` mode: p50 / p95 one client at a time, and requests per second at 100 concurrent
closed-loop clients. Prints figures; asserts nothing (targets: a hit <= 8 ms p50, >= 500 hits/s).

Run: python benchmarks/library_bench.py --rounds 3
     python benchmarks/library_bench.py --workers 1 --model-ms 500 --rounds 1"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import load_bench  # noqa: E402
from tests.servers import free_port  # noqa: E402


def approve_the_kept_variant(port: int) -> str:
    import httpx

    base = f"http://127.0.0.1:{port}"
    body = {**load_bench.REQUEST, "request_id": "bench-seed", "variants": 1, "mode": "fresh"}
    made = httpx.post(f"{base}/v1/generate", json=body, timeout=60).json()
    source = made["variants"][0]["source"]
    if source not in ("llm", "repaired"):
        raise SystemExit(f"the stub's copy did not pass the checks ({source}); nothing to keep")
    (entry,) = httpx.get(f"{base}/v1/library", params={"status": "pending"}).json()["items"]
    httpx.post(
        f"{base}/v1/library/{entry['library_id']}/approve", json={"reviewer": "bench"}
    ).raise_for_status()
    return entry["library_id"]


def measure(port: int, pid: int, mode: str, conc: int, n: int, tag: str) -> dict:
    load_bench.REQUEST = {**BASE, "mode": mode}
    cpu0 = load_bench.cpu_seconds(pid)
    r = asyncio.run(load_bench.level(port, conc, n, 1, tag))
    lat = sorted(r["latencies"])
    return {
        "p50": statistics.median(lat) * 1000,
        "p95": lat[int(0.95 * (len(lat) - 1))] * 1000,
        "rate": len(lat) / r["elapsed"],
        "cpu": (load_bench.cpu_seconds(pid) - cpu0) / len(lat) * 1000,
        "statuses": r["statuses"],
        "sources": r["sources"],
    }


BASE = dict(load_bench.REQUEST)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-ms", type=float, default=0.0, help="the stub's latency per call")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--sequential", type=int, default=300, help="requests one at a time, per mode and round")
    ap.add_argument("--concurrent", type=int, default=100, help="closed-loop clients")
    ap.add_argument(
        "--requests", type=int, default=3000, help="requests at that concurrency, per mode and round"
    )
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    model_port, port = free_port(), free_port()
    data = Path(tempfile.mkdtemp(prefix="copydesk-library-bench-"))
    env = {
        **os.environ,
        "PYTHONPATH": os.environ.get("COPYDESK_CODE", str(ROOT)),
        "HF_HUB_OFFLINE": "1",
        "COPYDESK_LLM_BASE_URL": f"http://127.0.0.1:{model_port}/v1",
        "COPYDESK_LLM_MODEL": "stub",
        "COPYDESK_DATA_DIR": str(data),
        "COPYDESK_INDEX_DIR": str(ROOT / "var" / "bench-index"),
        "COPYDESK_DEADLINE_S": "60",
        "COPYDESK_LLM_TIMEOUT_S": "50",
        "COPYDESK_WORKERS": str(args.workers),
    }
    server, stub = load_bench.start_service(env, port, model_port, args.model_ms, data)
    try:
        library_id = approve_the_kept_variant(port)
        for mode in ("library", "fresh"):  # imports, caches, connections
            measure(port, server.pid, mode, 4, 40, f"warm-{mode}")
        print(
            f"library entry {library_id}; model stub {args.model_ms:.0f} ms; {args.workers} worker(s); "
            f"SQLite; {os.cpu_count()} cores; load generator and stub on the same cores"
        )
        print(f"{'round':>5} {'mode':>8} {'conc':>5} {'reqs':>5} {'p50 ms':>7} {'p95 ms':>7} {'req/s':>7} "
              f"{'cpu/req':>8}  statuses / sources")  # fmt: skip
        table: dict[tuple[str, int], list[dict]] = {}
        for rnd in range(1, args.rounds + 1):
            for mode in ("library", "fresh"):
                for conc, n in ((1, args.sequential), (args.concurrent, args.requests)):
                    r = measure(port, server.pid, mode, conc, n, f"r{rnd}-{mode}-{conc}-{time.time_ns()}")
                    table.setdefault((mode, conc), []).append(r)
                    print(f"{rnd:>5} {mode:>8} {conc:>5} {n:>5} {r['p50']:>7.2f} {r['p95']:>7.2f} "
                          f"{r['rate']:>7.1f} {r['cpu']:>8.2f}  {r['statuses']} {r['sources']}")  # fmt: skip
        print("median over rounds:")
        for (mode, conc), rows in table.items():
            p50 = statistics.median(r["p50"] for r in rows)
            rate = statistics.median(r["rate"] for r in rows)
            print(f"  {mode:>8} at {conc:>3} concurrent: p50 {p50:.2f} ms, {rate:.1f} req/s")
        print("cpu/req: ms of CPU of the service's processes per request (all workers)")
    finally:
        load_bench.stop(server, stub)


if __name__ == "__main__":
    main()
