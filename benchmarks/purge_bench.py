"""Serving while the purge and erasures run: latency of concurrent requests on a running copydesk
(a model stub with a fixed latency), first alone, then while `copydesk db purge` deletes old rows
seeded into its database, then while `copydesk db erase`-style erasures run one request after
another. Prints p50 / p95 / max per phase and how fast the purge deleted; asserts nothing.

Run: python benchmarks/purge_bench.py --rows 20000 --concurrency 20
     python benchmarks/purge_bench.py --rows 20000 --concurrency 20 --postgres"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.load_bench import REQUEST, Connection, start_service, stop  # noqa: E402
from tests.servers import free_port  # noqa: E402

OLD_S = 60 * 86400  # seeded rows are two months old: past the 30-day retention and the replay window

ERASER = """
import sys, time
from app.config import Settings
from app.store.database import open_database
from app.store.retention import ERASE_PAUSE_S, erase
s = Settings.from_env()
db = open_database(s.database_url, s.data_dir, upgrade=False)
started = time.perf_counter()
n = int(sys.argv[1])
for i in range(n):  # as `copydesk db erase` with many --request-id does
    erase(db, f"old-{i}", "bench")
    time.sleep(ERASE_PAUSE_S)
print(f"{n} erasures in {time.perf_counter() - started:.2f} s")
"""


def seed(env: dict[str, str], rows: int, record_bytes: int) -> float:
    """`rows` old audit records and idempotency entries, as weeks of traffic leave them."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("COPYDESK_")})
    from app.config import Settings
    from app.store.database import open_database

    s = Settings.from_env()
    db = open_database(s.database_url, s.data_dir)
    record = json.dumps({"request": REQUEST, "response": {"body": "x" * record_bytes}})
    then = time.time() - OLD_S
    started = time.perf_counter()
    try:
        for start in range(0, rows, 2000):
            with db.transaction() as tx:
                for i in range(start, min(rows, start + 2000)):
                    tx.execute(
                        "INSERT INTO generations"
                        " (generation_id, request_id, created_at, status, record, client)"
                        " VALUES (?, ?, ?, 'ok', ?, 'local')",
                        (f"gen_old{i:015d}", f"old-{i}", then, record),
                    )
                    tx.execute(
                        "INSERT INTO idempotency (client, request_id, body_hash, response, created_at, state)"
                        " VALUES ('local', ?, 'h', '{}', ?, 'done')",
                        (f"old-{i}", then),
                    )
    finally:
        db.close()
    return time.perf_counter() - started


async def load_while(
    port: int, concurrency: int, tag: str, busy: subprocess.Popen | None, minimum: int
) -> list:
    """Closed-loop clients; with `busy`, until that process ends (and at least `minimum` requests)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    count = iter(range(10**9))

    def more() -> bool:
        return (busy is not None and busy.poll() is None) or len(latencies) < minimum

    async def client() -> None:
        conn = Connection(port)
        try:
            while more():
                body = json.dumps({**REQUEST, "request_id": f"{tag}-{next(count)}", "variants": 1}).encode()
                started = time.perf_counter()
                status, _ = await conn.post("/v1/generate", body)
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            conn.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return [latencies, statuses]


def report(name: str, latencies: list[float], statuses: dict, extra: str = "") -> None:
    lat = sorted(latencies)
    p50, p95 = statistics.median(lat), lat[int(0.95 * (len(lat) - 1))]
    print(
        f"{name:<14} {len(lat):>6} {p50 * 1000:>8.1f} {p95 * 1000:>8.1f} {lat[-1] * 1000:>8.1f}"
        f"  {statuses} {extra}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--rows", type=int, default=20000, help="old generations (and idempotency entries) to purge"
    )
    ap.add_argument("--record-bytes", type=int, default=4000, help="size of each seeded audit record")
    ap.add_argument("--erasures", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--model-ms", type=float, default=200.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=500, help="COPYDESK_PURGE_BATCH")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL (as the tests do)")
    args = ap.parse_args()
    cluster, database_url = None, ""
    if args.postgres:
        from tests.pg import PostgresCluster

        cluster = PostgresCluster().start()
        database_url = cluster.database()

    model_port, port = free_port(), free_port()
    data = Path(tempfile.mkdtemp(prefix="copydesk-purge-bench-"))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "COPYDESK_LLM_BASE_URL": f"http://127.0.0.1:{model_port}/v1",
        "COPYDESK_LLM_MODEL": "stub",
        "COPYDESK_DATA_DIR": str(data),
        "COPYDESK_INDEX_DIR": str(ROOT / "var" / "bench-index"),
        "COPYDESK_DEADLINE_S": "60",
        "COPYDESK_LLM_TIMEOUT_S": "50",
        "COPYDESK_DATABASE_URL": database_url,
        "COPYDESK_PURGE_EVERY_S": "0",  # only the purges this script starts
        "COPYDESK_PURGE_BATCH": str(args.batch),
        "COPYDESK_WORKERS": str(args.workers),
    }
    server, stub = start_service(env, port, model_port, args.model_ms, data)
    try:
        asyncio.run(load_while(port, 4, "warmup", None, 16))
        print(
            f"{'PostgreSQL' if database_url else 'SQLite'}, {args.workers} worker(s), "
            f"model {args.model_ms:.0f} ms, "
            f"{args.concurrency} concurrent clients, purge batch {args.batch}, {os.cpu_count()} cores"
        )
        print(f"{'phase':<14} {'reqs':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  statuses")
        for r in range(args.rounds):
            lat, st = asyncio.run(load_while(port, args.concurrency, f"base{r}", None, 8 * args.concurrency))
            report("alone", lat, st)
            took = seed(env, args.rows, args.record_bytes)
            print(f"  seeded {args.rows} old rows x 2 tables in {took:.1f} s")
            started = time.perf_counter()
            purge = subprocess.Popen(
                [sys.executable, "-m", "app", "db", "purge"],
                env=env,
                cwd=data,
                stdout=subprocess.PIPE,
                text=True,
            )
            lat, st = asyncio.run(
                load_while(port, args.concurrency, f"purge{r}", purge, 8 * args.concurrency)
            )
            out = purge.communicate()[0].strip()
            purge_s = time.perf_counter() - started
            report("during purge", lat, st, f"purge {purge_s:.1f} s incl. start-up: {out.split(': ', 1)[-1]}")
            seed(env, args.erasures, args.record_bytes)
            eraser = subprocess.Popen(
                [sys.executable, "-c", ERASER, str(args.erasures)],
                env=env,
                cwd=data,
                stdout=subprocess.PIPE,
                text=True,
            )
            lat, st = asyncio.run(
                load_while(port, args.concurrency, f"erase{r}", eraser, 8 * args.concurrency)
            )
            report("during erase", lat, st, eraser.communicate()[0].strip())
    finally:
        stop(server, stub)
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
