"""Outcome events at scale: ingest through POST /v1/events in batches of 1,000 (events/s), then, with
that many events stored, what the allocation adds to each /v1/generate (the calls the pipeline makes:
tones, then weights, timed in-process on the service's own database; also while events keep arriving
between two generates, the production case) and GET /v1/performance.

copydesk runs in this process on uvicorn (127.0.0.1); the client that posts the events shares the
machine and its CPU. Variants are recorded straight into the store (as a generation would record
them) over 32 contexts (2 journeys × 2 channels × 2 locales × 4 segments), 4 tones each.
Prints figures; asserts nothing.

Run: python benchmarks/events_bench.py --events 1000000                   # SQLite
     python benchmarks/events_bench.py --events 200000 --postgres          # a throwaway PostgreSQL
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.api import create_app  # noqa: E402
from app.config import Settings  # noqa: E402
from app.content import load_content  # noqa: E402
from app.generation.allocation import plan_variants, weigh_variants  # noqa: E402
from app.learning import Context, Learning, arm_key  # noqa: E402
from app.learning.store import KnownVariant, NewEvent, VariantRow  # noqa: E402
from app.schemas import GenerateRequest  # noqa: E402
from app.store.database import open_database  # noqa: E402
from tests.servers import ThreadedServer  # noqa: E402

TYPES = ("sent", "delivered", "opened", "clicked", "converted", "unsubscribed", "complained")
SHARE = (0.5, 0.2, 0.15, 0.08, 0.04, 0.02, 0.01)
TONES = ("rational", "emotional", "playful", "concise")
PV = "bench0000000"


def contexts() -> list[Context]:
    return [Context(j, ch, loc, seg) for j in ("cart_abandon", "price_drop") for ch in ("sms", "push")
            for loc in ("zh-CN", "en-US") for seg in ("hot", "warm", "cold", None)]  # fmt: skip


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL (tests/pg.py)")
    ap.add_argument("--generations", type=int, default=250, help="generations per context (4 variants each)")
    ap.add_argument("--stream-s", type=float, default=20.0, help="seconds of the streaming figure")
    ap.add_argument("--stream-events", type=int, default=10, help="events stored between two generates")
    ap.add_argument("--stream-pause-ms", type=float, default=10.0, help="pause after each generate")
    args = ap.parse_args()
    cluster = None
    with tempfile.TemporaryDirectory() as tmp:
        url = None
        if args.postgres:
            from tests.pg import PostgresCluster

            cluster = PostgresCluster().start()
            url = cluster.database()
        settings = Settings(llm_base_url="http://127.0.0.1:9/v1", data_dir=Path(tmp) / "var",
                            index_dir=Path(tmp) / "index", database_url=url)  # fmt: skip
        try:
            run(settings, args)
        finally:
            if cluster is not None:
                cluster.stop()


def run(settings: Settings, args: argparse.Namespace) -> None:
    db = open_database(settings.database_url, settings.data_dir)
    learning = Learning.load(db, settings.content_dir)
    assert learning.store is not None
    now = time.time()
    ids: list[str] = []
    for c_i, ctx in enumerate(contexts()):
        rows = []
        for g in range(args.generations):
            gen = f"gen_bench{c_i:03d}{g:06d}"
            for t_i, tone in enumerate(TONES):
                vid = f"{gen}-{'ABCD'[t_i]}"
                rows.append(
                    VariantRow(vid, gen, "local", now - 3600, ctx, arm_key(tone, PV), tone, PV, "m", "llm")
                )
                ids.append(vid)
        for i in range(0, len(rows), 1000):
            learning.store.record_variants(rows[i : i + 1000])
    print(f"backend: {db.dialect}; {len(ids)} variants over {len(contexts())} contexts")

    server = ThreadedServer(create_app(settings)).start(timeout_s=300)
    api = httpx.Client(base_url=server.url, timeout=120)
    rng = np.random.default_rng(7)
    try:
        # -- ingest -----------------------------------------------------------------------------
        posted, spent, per_batch = 0, 0.0, []
        serial = 0
        while posted < args.events:
            n = min(args.batch, args.events - posted)
            vids = rng.integers(0, len(ids), size=n)
            kinds = rng.choice(len(TYPES), size=n, p=SHARE)
            events = [{"event_id": f"e{serial + i}", "variant_id": ids[v], "type": TYPES[k], "at": now}
                      for i, (v, k) in enumerate(zip(vids, kinds, strict=True))]  # fmt: skip
            serial += n
            body = json.dumps({"events": events}).encode()
            t0 = time.perf_counter()
            resp = api.post("/v1/events", content=body, headers={"content-type": "application/json"})
            took = time.perf_counter() - t0
            resp.raise_for_status()
            assert resp.json()["accepted"] == n, resp.text[:300]
            spent += took
            per_batch.append(took * 1000)
            posted += n
            if posted % 100_000 == 0:
                print(f"  {posted:>9} events stored; {posted / spent:,.0f} events/s so far", flush=True)
        print(f"ingest: {posted:,} events in batches of {args.batch}: {posted / spent:,.0f} events/s "
              f"(request time only); per batch p50 {pct(per_batch, 50):.1f} ms, "
              f"p95 {pct(per_batch, 95):.1f} ms")  # fmt: skip
        again = api.post("/v1/events", content=body, headers={"content-type": "application/json"}).json()
        print(f"  the last batch again: accepted {again['accepted']}, duplicate {again['duplicate']}")

        # -- allocation on the generate path ------------------------------------------------------
        content = load_content(settings.content_dir)
        served = Learning.load(db, settings.content_dir)  # what the service holds, on the same database
        ctx = contexts()[0]
        req = GenerateRequest(request_id="b", channel=ctx.channel, locale=ctx.locale, journey=ctx.journey,
                              skus=["SKU-1001"], audience={"segment": ctx.segment}, variants=4)  # fmt: skip

        # The recompute figure: the same service without an update interval (recomputes whenever a
        # count changed); the others: the policy as configured (guardrails/allocation.yaml).
        every_change = Learning(db, replace(served.policy, update_interval_s=0))

        def generate_path(request: GenerateRequest, learning: Learning = served) -> None:
            plan = plan_variants(learning, content, request, PV)
            weigh_variants(learning, plan.context, [arm_key(t, PV) for t in plan.tones])

        def timed(times: list[float], cpu: list[float], request: GenerateRequest, learning: Learning) -> None:
            t0, c0 = time.perf_counter(), time.thread_time()
            generate_path(request, learning)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)

        generate_path(req)
        cpu: dict[str, list[float]] = {"cached": [], "fresh": [], "auto": [], "stream": []}
        cached: list[float] = []
        for _ in range(500):
            timed(cached, cpu["cached"], req, served)
        fresh: list[float] = []
        victim = KnownVariant(ids[0], "local", now - 3600, ctx, arm_key("rational", PV))
        for i in range(200):  # one new event in the parent before each: the weights are recomputed
            served.store.insert_events([NewEvent(f"late-{i}", victim, "sent", now, None)])
            timed(fresh, cpu["fresh"], req, every_change)
        auto: list[float] = []
        for _ in range(200):
            timed(auto, cpu["auto"], req.model_copy(update={"tones": "auto"}), served)
        # The realistic case: events keep arriving (over every context, the ingest mix) between the
        # generates of this context, for a while longer than a few update intervals.
        per_gen = len(ids) // len(contexts())
        stream: list[float] = []
        updates_before = len(served.store.allocation_log("local"))
        serial, t_end = 0, time.perf_counter() + args.stream_s
        while time.perf_counter() < t_end:
            vids = rng.integers(0, len(ids), size=args.stream_events)
            kinds = rng.choice(len(TYPES), size=args.stream_events, p=SHARE)
            served.store.insert_events([
                NewEvent(f"stream-{serial + i}", KnownVariant(ids[v], "local", now - 3600,
                         contexts()[v // per_gen], arm_key(TONES[v % 4], PV)), TYPES[k], now, None)
                for i, (v, k) in enumerate(zip(vids, kinds, strict=True))
            ])  # fmt: skip
            serial += args.stream_events
            timed(stream, cpu["stream"], req, served)
            time.sleep(args.stream_pause_ms / 1000)
        updates = len(served.store.allocation_log("local")) - updates_before
        interval = served.policy.update_interval_s
        figures = (
            ("no new outcome since the last weights (served as stored)", cached, cpu["cached"]),
            ("a new outcome in the parent before each, update_interval_s 0 (recomputed every time: "
             "priors, Thompson draws, guard, a write)", fresh, cpu["fresh"]),
            ('"tones": "auto" (one draw per tone, then the weights)', auto, cpu["auto"]),
            (f"events streaming in ({args.stream_events} between two generates, {len(stream)} generates "
             f"over {args.stream_s:g} s, update_interval_s {interval:g}: {updates} weight changes logged)",
             stream, cpu["stream"]),
        )  # fmt: skip
        for label, xs, ys in figures:
            print(f"allocation per /v1/generate, {label}: p50 {pct(xs, 50):.3f} ms, p95 {pct(xs, 95):.3f} ms "
                  f"(CPU of this thread: p50 {pct(ys, 50):.3f} ms)")  # fmt: skip

        # -- performance ----------------------------------------------------------------------------
        for label, params in (("every context", {}), ("one journey and segment", {"journey": ctx.journey,
                              "segment": "hot"}), ("since a day", {"since": "2000-01-01"})):  # fmt: skip
            times = []
            for _ in range(30):
                t0 = time.perf_counter()
                r = api.get("/v1/performance", params=params)
                times.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
            print(f"GET /v1/performance ({label}, {len(r.json()['contexts'])} contexts): "
                  f"p50 {statistics.median(times):.1f} ms, p95 {pct(times, 95):.1f} ms")  # fmt: skip
    finally:
        api.close()
        server.stop()
        db.close()


if __name__ == "__main__":
    main()
