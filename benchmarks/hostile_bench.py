"""Does a pathological request hold up the others? Latency of normal requests to copydesk (served by
`python -m app serve` in its own process, the scripted model and the reference commerce API on
127.0.0.1) on a quiet service, then with pathological requests in flight one after another.
Prints figures; asserts nothing.

    python benchmarks/hostile_bench.py                       # the largest schema-valid request
    python benchmarks/hostile_bench.py --kind megabyte       # the issue's 1 MB interest
    python benchmarks/hostile_bench.py --root /tmp/old-tree  # the same against another checkout
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from app.commerce.catalog import load_catalog  # noqa: E402
from app.commerce.server import create_commerce_app  # noqa: E402
from tests.servers import Reply, ScriptedModel, ThreadedServer, free_port  # noqa: E402

# A refused request returns at once; without a pause its "one in flight" would be a flood.
ATTACK_INTERVAL_S = 0.25
ANSWER = '{"title": "轻云跑鞋", "body": "您购物车里的{product}还在等您。", "cta": "去看看"}'


def normal(i: int) -> dict:
    return {
        "request_id": f"normal-{i}-{time.time_ns()}",
        "channel": "sms",
        "locale": "zh-CN",
        "journey": "cart_abandon",
        "skus": ["SKU-1001"],
        "offer_id": "OFF-FREESHIP",
        "audience": {"segment": "hot", "interests": ["running"], "cs_topic": "sizing", "name": "张伟"},
        "variants": 2,
    }


def pathological(kind: str, i: int) -> dict:
    """`max`: every bound of the schema at its limit (10 real SKUs, 10 interests of 100 mixed
    characters with PII look-alikes, 4 variants of e-mail). `megabyte`: the issue's 1 MB interest."""
    body = {
        "request_id": f"hostile-{i}-{time.time_ns()}",
        "channel": "email",
        "locale": "zh-CN",
        "journey": "cs_followup",
        "skus": [f"SKU-{c}00{n}" for c in (1, 2) for n in range(1, 6)],
        "offer_id": None,
        "audience": {
            "interests": [("跑步 running 13800138000 尺码偏小吗 a@b.cn " * 5)[:100] for _ in range(10)],
            "cs_topic": ("尺码 sizing 退换货 " * 10)[:60],
            "name": ("Ａｎｎｅ－Ｍａｒｉｅ " * 5)[:40],
        },
        "variants": 4,
    }
    if kind == "megabyte":
        body["audience"]["interests"] = ["跑步" * 500_000]
        body["variants"] = 1
    return body


def start_copydesk(root: Path, env: dict[str, str], port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "app", "serve", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=root, env={**os.environ, **env, "PYTHONPATH": str(root)})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("copydesk did not start")
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("copydesk did not start in time")


async def timed(client: httpx.AsyncClient, body: dict) -> tuple[float, int]:
    started = time.perf_counter()
    resp = await client.post("/v1/generate", json=body)
    return (time.perf_counter() - started) * 1000, resp.status_code


async def measure(
    url: str, n: int, kind: str | None
) -> tuple[list[float], list[tuple[float, int]], list[float]]:
    """n normal requests one after another; with `kind`, pathological ones in flight meanwhile.
    A probe asks /healthz every 20 ms throughout: its latency is how long the event loop stalls."""
    hostile: list[tuple[float, int]] = []
    probes: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        for i in range(2):  # warm up
            await timed(client, normal(-i - 1))
        stop = asyncio.Event()

        async def attack() -> None:
            i = 0
            while not stop.is_set():  # one at a time, at most one per ATTACK_INTERVAL_S
                started = time.perf_counter()
                hostile.append(await timed(client, pathological(kind or "max", i)))
                i += 1
                await asyncio.sleep(max(0.0, ATTACK_INTERVAL_S - (time.perf_counter() - started)))

        async def probe() -> None:
            async with httpx.AsyncClient(base_url=url, timeout=300) as own:
                while not stop.is_set():
                    started = time.perf_counter()
                    await own.get("/healthz")
                    probes.append((time.perf_counter() - started) * 1000)
                    await asyncio.sleep(0.02)

        prober = asyncio.create_task(probe())
        attacker = asyncio.create_task(attack()) if kind else None
        if attacker:
            await asyncio.sleep(0.2)
        latencies = []
        for i in range(n):
            ms, status = await timed(client, normal(i))
            assert status == 200, status
            latencies.append(ms)
            await asyncio.sleep(0.05)  # a steady trickle, so each normal request meets the attack anew
        stop.set()
        await prober
        if attacker:
            await asyncio.wait_for(attacker, timeout=300)
    return latencies, hostile, probes


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=("max", "megabyte"), default="max")
    ap.add_argument("--requests", type=int, default=200, help="normal requests per phase")
    ap.add_argument("--rounds", type=int, default=8, help="quiet/busy alternations")
    ap.add_argument("--model-ms", type=float, default=200, help="the scripted model's time per call")
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout whose app/ serves")
    args = ap.parse_args()

    model = ScriptedModel()
    model.script(default=lambda _: Reply(content=ANSWER, stall_s=args.model_ms / 1000))
    with (
        ThreadedServer(model.app()) as llm,
        ThreadedServer(create_commerce_app(load_catalog(ROOT / "knowledge"))) as commerce,
        tempfile.TemporaryDirectory() as tmp,
    ):
        port = free_port()
        env = {
            "COPYDESK_LLM_BASE_URL": llm.url + "/v1",
            "COPYDESK_LLM_MODEL": "scripted",
            "COPYDESK_LLM_API_KEY": "bench",
            "COPYDESK_COMMERCE_URL": commerce.url,
            "COPYDESK_DATA_DIR": tmp,
            "COPYDESK_DEADLINE_S": "30",
        }
        proc = start_copydesk(args.root, env, port)
        try:
            url = f"http://127.0.0.1:{port}"
            # Quiet and busy phases alternate, so that load from other processes on the machine
            # falls on both alike.
            quiet, busy, hostile, quiet_probe, busy_probe = [], [], [], [], []
            per_round = max(1, args.requests // args.rounds)
            for _ in range(args.rounds):
                got, _, probes = asyncio.run(measure(url, per_round, None))
                quiet += got
                quiet_probe += probes
                got, attacks, probes = asyncio.run(measure(url, per_round, args.kind))
                busy += got
                hostile += attacks
                busy_probe += probes
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(
        f"app from {args.root}; scripted model {args.model_ms:.0f} ms per call; {args.requests} requests each"
    )
    print(f"{'normal requests':<34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for label, xs in (("quiet", quiet), (f"{args.kind} request in flight", busy)):
        print(f"{label:<34} {p(xs, 50):8.1f} {p(xs, 95):8.1f} {max(xs):8.1f}")
    print(f"p95 moved by {p(busy, 95) - p(quiet, 95):+.1f} ms, p50 by {p(busy, 50) - p(quiet, 50):+.1f} ms")
    for label, xs in (
        ("GET /healthz, quiet", quiet_probe),
        (f"GET /healthz, {args.kind} in flight", busy_probe),
    ):
        print(f"{label:<34} {p(xs, 50):8.1f} {p(xs, 95):8.1f} {max(xs):8.1f}")
    statuses = sorted({s for _, s in hostile})
    times = [ms for ms, _ in hostile]
    print(f"{len(hostile)} {args.kind} requests meanwhile: status {statuses}, p50 {p(times, 50):.0f} ms")


if __name__ == "__main__":
    main()
