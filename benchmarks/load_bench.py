"""Load on a running copydesk: a model stub with a fixed latency on 127.0.0.1, closed-loop clients
at 1 / 10 / 50 / 100 / 200 concurrent, printing req/s, achieved / model-bound throughput, p50 / p95,
the service's overhead beside the model and its CPU per request and per variant.
Prints figures; asserts nothing. The load generator and the stub share the machine with the
service: on 2 cores their CPU is part of what limits throughput (it is reported separately).

Run: python benchmarks/load_bench.py --model-ms 1000 --variants 1 --workers 2
     python benchmarks/load_bench.py --model-ms 500 --variants 2 --levels 1 --requests 60"""

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

from tests.servers import free_port  # noqa: E402

REQUEST = {
    "channel": "sms",
    "locale": "zh-CN",
    "journey": "cart_abandon",
    "skus": ["SKU-1001"],
    "offer_id": "OFF-FREESHIP",
    "audience": {"segment": "hot", "interests": ["running"], "cs_topic": "sizing", "name": "张伟"},
}


class Connection:
    """A minimal keep-alive HTTP/1.1 client: httpx would spend more CPU than the service we measure."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        assert self.reader is not None
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def wait_up(port: int, path: str, timeout_s: float = 180) -> None:
    import httpx

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answered on port {port}")


TICK = os.sysconf("SC_CLK_TCK")


def start_service(
    env: dict[str, str], port: int, model_port: int, model_ms: float, cwd: Path
) -> tuple[subprocess.Popen, subprocess.Popen]:
    """The model stub on `model_port` and `copydesk serve` on `port`, both answering; (server, stub)."""
    stub = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "model_stub.py"), str(model_port), str(model_ms)], env=env
    )
    serve = [sys.executable, "-m", "app", "serve", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(serve, env=env, cwd=cwd)
    try:
        wait_up(model_port, "/v1/models")
        wait_up(port, "/healthz")
    except BaseException:
        stop(server, stub)
        raise
    return server, stub


def stop(*procs: subprocess.Popen) -> None:
    """SIGTERM each, wait up to 20 s, then SIGKILL what is left."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields after the command name


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live descendants (the workers), from /proc."""
    parents = {pid}
    stats = {
        int(p.name): st for p in Path("/proc").iterdir() if p.name.isdigit() and (st := _stat(int(p.name)))
    }
    grew = True
    while grew:
        kids = {p for p, st in stats.items() if int(st[1]) in parents} - parents
        grew, parents = bool(kids), parents | kids
    return sum((int(stats[p][11]) + int(stats[p][12])) / TICK for p in parents if p in stats)


async def level(
    port: int, concurrency: int, requests: int, variants: int, tag: str, spread_s: float = 0.0
) -> dict:
    """Closed loop: `concurrency` clients, each sending its next request when the last is answered;
    client n starts after n/concurrency of `spread_s`, so a fixed-latency model does not keep every
    client in lock-step (all arriving in one burst each round, as no real traffic does)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sources: dict[str, int] = {}
    counter = iter(range(requests))

    async def client(n: int) -> None:
        await asyncio.sleep(spread_s * n / concurrency)
        conn = Connection(port)
        try:
            for i in counter:
                body = json.dumps({**REQUEST, "request_id": f"{tag}-{i}", "variants": variants}).encode()
                started = time.perf_counter()
                status, raw = await conn.post("/v1/generate", body)
                latencies.append(time.perf_counter() - started)
                finished.append(time.perf_counter())
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    for v in json.loads(raw)["variants"]:
                        sources[v["source"]] = sources.get(v["source"], 0) + 1
        finally:
            conn.close()

    finished: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(concurrency)))
    return {
        "elapsed": time.perf_counter() - started,
        "steady": _steady_rate(finished, started, spread_s),
        "latencies": latencies,
        "statuses": statuses,
        "sources": sources,
    }


def _steady_rate(finished: list[float], started: float, spread_s: float) -> float | None:
    """Completions per second between the end of the ramp-up and the start of the wind-down."""
    if not finished or spread_s <= 0:
        return None
    lo, hi = started + 2 * spread_s, max(finished) - spread_s
    if hi - lo < spread_s:
        return None
    return sum(lo <= t < hi for t in finished) / (hi - lo)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-ms", type=float, default=1000.0, help="the stub's latency per call")
    ap.add_argument("--variants", type=int, default=1)
    ap.add_argument("--levels", default="1,10,50,100,200", help="concurrent clients, comma-separated")
    ap.add_argument("--requests", type=int, default=0, help="requests per level (default: 3 x level, min 30)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--database-url", default=os.environ.get("COPYDESK_DATABASE_URL", ""))
    ap.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL (as the tests do)")
    ap.add_argument(
        "--spread",
        action="store_true",
        help="spread the clients' starts over one model latency and report the steady-state rate",
    )
    args = ap.parse_args()
    cluster = None
    if args.postgres:
        from tests.pg import PostgresCluster

        cluster = PostgresCluster().start()
        args.database_url = cluster.database()

    model_port, port = free_port(), free_port()
    data = Path(tempfile.mkdtemp(prefix="copydesk-bench-"))
    print(f"data dir (audit with stage timings): {data}")
    index = ROOT / "var" / "bench-index"  # built on the first run, reused after
    env = {
        **os.environ,
        "PYTHONPATH": os.environ.get("COPYDESK_CODE", str(ROOT)),  # another checkout, to compare
        "HF_HUB_OFFLINE": "1",
        "COPYDESK_LLM_BASE_URL": f"http://127.0.0.1:{model_port}/v1",
        "COPYDESK_LLM_MODEL": "stub",
        "COPYDESK_DATA_DIR": str(data),
        "COPYDESK_INDEX_DIR": str(index),
        "COPYDESK_DEADLINE_S": "60",
        "COPYDESK_LLM_TIMEOUT_S": "50",
        "COPYDESK_DATABASE_URL": args.database_url,
    }
    env["COPYDESK_WORKERS"] = str(args.workers)  # by the environment: older copydesk lacks --workers
    server, stub = start_service(env, port, model_port, args.model_ms, data)
    try:
        service, stub_proc = server.pid, stub.pid
        asyncio.run(level(port, 4, 8, args.variants, "warmup"))  # imports, caches, connections
        idle0 = cpu_seconds(service)
        time.sleep(5)
        idle_per_s = (cpu_seconds(service) - idle0) / 5  # background work, charged to no request
        model_s = args.model_ms / 1000
        print(
            f"model {args.model_ms:.0f} ms, {args.variants} variant(s), {args.workers} worker(s), "
            f"{'PostgreSQL' if args.database_url else 'SQLite'}, {os.cpu_count()} cores"
        )
        print(
            f"{'conc':>5} {'reqs':>5} {'req/s':>7} {'bound':>7} {'ratio':>6} {'p50 ms':>8} {'p95 ms':>8} "
            f"{'ovh p50':>8} {'cpu/req':>8} {'cpu/var':>8} {'client':>7} {'stub':>6}  statuses / sources"
        )
        for conc in [int(c) for c in args.levels.split(",")]:
            n = args.requests or max(30, 3 * conc)
            cpu0, stub0, me0 = cpu_seconds(service), cpu_seconds(stub_proc), time.process_time()
            spread = model_s if args.spread else 0.0
            r = asyncio.run(level(port, conc, n, args.variants, f"l{conc}-{time.time_ns()}", spread))
            cpu = cpu_seconds(service) - cpu0 - idle_per_s * r["elapsed"]
            lat = sorted(r["latencies"])
            rate = r["steady"] or len(lat) / r["elapsed"]
            bound = conc / model_s
            p50, p95 = statistics.median(lat), lat[int(0.95 * (len(lat) - 1))]
            print(
                f"{conc:>5} {len(lat):>5} {rate:>7.1f} {bound:>7.1f} {rate / bound:>6.2f} {p50 * 1000:>8.1f} "
                f"{p95 * 1000:>8.1f} {(p50 - model_s) * 1000:>8.1f} {cpu / len(lat) * 1000:>8.2f} "
                f"{cpu / len(lat) / args.variants * 1000:>8.2f} "
                f"{(time.process_time() - me0) / len(lat) * 1000:>7.2f} "
                f"{(cpu_seconds(stub_proc) - stub0) / len(lat) * 1000:>6.2f}  {r['statuses']} {r['sources']}"
            )
        print(
            "req/s: "
            + (
                "steady state (from 2 model latencies in to 1 before the end; starts spread over one)"
                if args.spread
                else "all requests of the level over its wall time (clients start together)"
            )
        )
        print(
            "cpu columns: ms of CPU per request (service: all workers, less its idle CPU of "
            f"{idle_per_s * 1000:.1f} ms/s; client: this load generator; stub: the model stub)"
        )
    finally:
        stop(server, stub)
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
