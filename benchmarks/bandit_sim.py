"""Does the allocation help? A simulated population with known rates per tone, driven through the
real HTTP API: each round asks POST /v1/generate for the context's variants, splits the round's sends
by the returned weights (the hold-out sends nothing), draws each customer's outcome from the arm it
got, and posts the events to POST /v1/events. Compared on the same customers (common random numbers)
with a fixed equal split, a flat per-context Thompson sampler (Beta(1, 1) per arm and context, one
draw per send, updated each round: what the closed tools describe) and an oracle that always sends
the best arm.

copydesk runs in this process on uvicorn (127.0.0.1) against the scripted model server of
tests/servers.py and the reference commerce server: the full request path (retrieval, checks,
audit, allocation) with a model that answers at once. Each scenario and seed is its own client key,
so their counts never mix. Prints figures; asserts nothing.

The service reads a copy of guardrails/allocation.yaml with `update_interval_s: 0`: a seed's rounds
follow each other within milliseconds here (a few seconds for the whole seed), where in production
a round of sends and its outcomes are hours apart, far longer than the interval; with the interval
every context would keep its first weights for the whole run.

One run per seed compares one draw of copydesk's allocation with one of the flat sampler's on the
same customers; both vary from draw to draw (in the segments scenario by ~10 conversions), so
`--repeats N` also runs each seed N times with other allocation draws (same customers, own client
key per run) and prints the means and how often copydesk came out ahead.

Run: python benchmarks/bandit_sim.py                      # every scenario, seeds 1-5
     python benchmarks/bandit_sim.py --scenario main --seeds 1 2 --sends 20000
     python benchmarks/bandit_sim.py --scenario segments --repeats 10
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.api import create_app  # noqa: E402
from app.commerce.catalog import load_catalog  # noqa: E402
from app.commerce.server import create_commerce_app  # noqa: E402
from app.config import Settings  # noqa: E402
from tests.servers import Reply, ScriptedModel, ThreadedServer  # noqa: E402

TONES = ("rational", "emotional", "playful")
CONTEXTS = [(loc, seg) for loc in ("zh-CN", "en-US") for seg in ("hot", "warm", "cold", None)]


@dataclass(frozen=True)
class Scenario:
    name: str
    conv: tuple[float, ...]  # per tone
    unsub: tuple[float, ...]
    sends: int
    batch: int  # sends per round and context
    contexts: int = 1
    switch_conv: tuple[float, ...] | None = None  # rates after half the sends (non-stationary)
    spread: float = 0.0  # small segments: each context's rates times 1 ± spread


SCENARIOS = {
    "main": Scenario("rates 4/5/6 %", (0.04, 0.05, 0.06), (0.004, 0.003, 0.002), 20_000, 200),
    "switch": Scenario(
        "best arm changes half-way",
        (0.06, 0.05, 0.04),
        (0.003, 0.003, 0.003),
        20_000,
        200,
        switch_conv=(0.04, 0.05, 0.06),
    ),  # fmt: skip
    "unsub": Scenario(
        "a high-unsubscribe arm (converts best, 2 % unsubscribe)",
        (0.05, 0.055, 0.065),
        (0.002, 0.002, 0.02),
        20_000,
        200,
    ),  # fmt: skip
    "segments": Scenario(
        "8 small segments of one journey",
        (0.04, 0.05, 0.06),
        (0.003, 0.003, 0.003),
        4_800,
        50,
        contexts=8,
        spread=0.3,
    ),  # fmt: skip
}


def population(s: Scenario, seed: int):
    """Per context: conversion rates per tone and round, and each customer's uniforms."""
    rng = np.random.default_rng(seed)
    per_ctx = s.sends // s.contexts
    mult = 1 + rng.uniform(-s.spread, s.spread, size=s.contexts) if s.spread else np.ones(s.contexts)
    conv = [np.array(s.conv) * m for m in mult]
    after = [np.array(s.switch_conv) * m for m in mult] if s.switch_conv else conv
    u_conv = rng.random((s.contexts, per_ctx))
    u_unsub = rng.random((s.contexts, per_ctx))
    return per_ctx, conv, after, u_conv, u_unsub


def outcomes(arms: np.ndarray, c: int, start: int, s: Scenario, pop) -> tuple[np.ndarray, np.ndarray]:
    """Who converts and who unsubscribes, for sends start.. of context c given the arm each got
    (-1: held out, nothing sent)."""
    per_ctx, conv, after, u_conv, u_unsub = pop
    idx = np.arange(start, start + len(arms))
    rates = np.where((idx >= per_ctx // 2)[:, None], after[c], conv[c])
    sent = arms >= 0
    pick = np.clip(arms, 0, None)
    won = sent & (u_conv[c, idx] < rates[np.arange(len(arms)), pick])
    lost = sent & (u_unsub[c, idx] < np.array(s.unsub)[pick])
    return won, lost


def offline(policy: str, s: Scenario, pop, seed: int, draw: int = 0) -> tuple[int, int]:
    """Equal split, flat per-context Thompson, or the oracle: (conversions, unsubscribes)."""
    per_ctx, conv, after, *_ = pop
    rng = np.random.default_rng(seed + 1000 + 10_000 * draw)
    k = len(TONES)
    won_total = lost_total = 0
    for c in range(s.contexts):
        a, b = np.ones(k), np.ones(k)
        for start in range(0, per_ctx, s.batch):
            n = min(s.batch, per_ctx - start)
            if policy == "equal":
                arms = rng.integers(0, k, size=n)
            elif policy == "oracle":
                idx = np.arange(start, start + n)
                arms = np.where(idx >= per_ctx // 2, int(np.argmax(after[c])), int(np.argmax(conv[c])))
            else:
                arms = rng.beta(a, b, size=(n, k)).argmax(axis=1)
            won, lost = outcomes(arms, c, start, s, pop)
            won_total += int(won.sum())
            lost_total += int(lost.sum())
            for arm in range(k):
                mine = arms == arm
                a[arm] += won[mine].sum()
                b[arm] += mine.sum() - won[mine].sum()
    return won_total, lost_total


def copydesk(
    api: httpx.Client, key: str, s: Scenario, pop, seed: int, draw: int = 0
) -> tuple[int, int, float]:
    """The service's own weights: (conversions, unsubscribes, last weight of the best arm)."""
    per_ctx = pop[0]
    rng = np.random.default_rng(seed + 2000 + 10_000 * draw)
    headers = {"Authorization": f"Bearer {key}"}
    won_total = lost_total = 0
    last_best = 0.0
    serial = 0
    for start in range(0, per_ctx, s.batch):
        for c in range(s.contexts):
            locale, segment = CONTEXTS[c]
            serial += 1
            body = {"request_id": f"{key}-{serial}", "channel": "sms", "locale": locale,
                    "journey": "cart_abandon", "skus": ["SKU-1001"], "offer_id": "OFF-FREESHIP",
                    "audience": {"segment": segment}, "variants": len(TONES)}  # fmt: skip
            resp = api.post("/v1/generate", json=body, headers=headers)
            resp.raise_for_status()
            gen = resp.json()
            weights = np.array([v["weight"] for v in gen["variants"]] + [gen["allocation"]["hold_out"]])
            n = min(s.batch, per_ctx - start)
            arms = rng.choice(len(weights), size=n, p=weights / weights.sum())
            arms = np.where(arms == len(TONES), -1, arms)
            won, lost = outcomes(arms, c, start, s, pop)
            won_total += int(won.sum())
            lost_total += int(lost.sum())
            ids = [v["variant_id"] for v in gen["variants"]]
            tones = [v["tone"] for v in gen["variants"]]
            assert tones == list(TONES), tones
            now = time.time()
            events = []
            for i, arm in enumerate(arms):
                vid = ids[arm] if arm >= 0 else gen["allocation"]["hold_out_id"]
                if vid is None:
                    continue
                events.append({"event_id": f"{serial}-{i}-s", "variant_id": vid, "type": "sent", "at": now})
                if won[i]:
                    events.append(
                        {"event_id": f"{serial}-{i}-c", "variant_id": vid, "type": "converted", "at": now}
                    )
                if lost[i]:
                    events.append({"event_id": f"{serial}-{i}-u", "variant_id": vid, "type": "unsubscribed",
                                   "at": now})  # fmt: skip
            for i in range(0, len(events), 1000):
                api.post(
                    "/v1/events", json={"events": events[i : i + 1000]}, headers=headers
                ).raise_for_status()
            last_best = float(weights[int(np.argmax(pop[2][c]))])
    return won_total, lost_total, last_best


def sim_content(tmp: Path) -> tuple[Path, str]:
    """This checkout's content, but for allocation.yaml without the update interval (see the module
    doc); with a line saying so."""
    root = tmp / "content"
    (root / "guardrails").mkdir(parents=True)
    for name in ("prompts", "knowledge", "evals"):
        (root / name).symlink_to(ROOT / name)
    for entry in (ROOT / "guardrails").iterdir():
        if entry.name != "allocation.yaml":
            (root / "guardrails" / entry.name).symlink_to(entry)
    policy = yaml.safe_load((ROOT / "guardrails" / "allocation.yaml").read_text())
    was = policy.get("update_interval_s")
    (root / "guardrails" / "allocation.yaml").write_text(yaml.safe_dump({**policy, "update_interval_s": 0}))
    note = (f"policy: guardrails/allocation.yaml with update_interval_s 0 (the file says {was}): rounds here "
            "are milliseconds apart, in production hours; everything else as in the file")  # fmt: skip
    return root, note


def serve(keys: list[str], tmp: Path) -> tuple[httpx.Client, list[ThreadedServer]]:
    model = ScriptedModel()
    answer = json.dumps({"body": "{name}，您购物车里的{product}还在等您，{offer}。"}, ensure_ascii=False)
    model.script(default=lambda _: Reply(content=answer))
    model_server = ThreadedServer(model.app()).start()
    commerce = ThreadedServer(create_commerce_app(load_catalog(ROOT / "knowledge"))).start()
    content, note = sim_content(tmp)
    print(note, flush=True)
    settings = Settings(
        llm_base_url=model_server.url + "/v1", llm_model="scripted", llm_api_key="sim",
        commerce_url=commerce.url, data_dir=tmp / "var", index_dir=tmp / "index", content_dir=content,
        api_keys=frozenset(keys), client_keys=tuple((k, k) for k in keys),
    )  # fmt: skip
    service = ThreadedServer(create_app(settings)).start(timeout_s=300)
    return httpx.Client(base_url=service.url, timeout=60), [service, commerce, model_server]


def run_key(name: str, seed: int, draw: int) -> str:
    return f"sim-{name}-{seed}" + (f"-{draw}" if draw else "")


def repeats(api: httpx.Client, name: str, s: Scenario, pop, seed: int, n: int, first: tuple) -> None:
    """The seed's customers again under n-1 other allocation draws of copydesk, the equal split and
    the flat sampler (`first`: draw 0's figures of the three, already run): copydesk's mean, sd and
    range as a share of the oracle, unsubscribes, and in what share of the n × n pairs of runs
    copydesk converts more than the flat sampler."""
    mine, equal, flat = (np.array(f, dtype=float)[None, :2] for f in first)
    for r in range(1, n):
        mine = np.vstack([mine, copydesk(api, run_key(name, seed, r), s, pop, seed, r)[:2]])
        equal = np.vstack([equal, offline("equal", s, pop, seed, r)])
        flat = np.vstack([flat, offline("flat", s, pop, seed, r)])
    oracle = offline("oracle", s, pop, seed)[0]
    ahead = float((mine[:, None, 0] > flat[None, :, 0]).mean())
    print(f"      {n} draws: copydesk {mine[:, 0].mean():.1f} ± {mine[:, 0].std(ddof=1):.1f} "
          f"({mine[:, 0].min() / oracle:.1%}–{mine[:, 0].max() / oracle:.1%} of the oracle), "
          f"unsub {mine[:, 1].mean():.1f} (at most {mine[:, 1].max():.0f}); equal {equal[:, 0].mean():.1f} "
          f"(unsub {equal[:, 1].mean():.1f}, at least {equal[:, 1].min():.0f}); "
          f"flat TS {flat[:, 0].mean():.1f} ± {flat[:, 0].std(ddof=1):.1f} (unsub {flat[:, 1].mean():.1f}); "
          f"copydesk converts more than the flat sampler in {ahead:.0%} of the pairs of runs",
          flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--sends", type=int, default=None, help="override the scenario's sends")
    ap.add_argument("--repeats", type=int, default=1, help="allocation draws per seed (same customers)")
    args = ap.parse_args()
    chosen = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    keys = [run_key(name, seed, r) for name in chosen for seed in args.seeds for r in range(args.repeats)]
    with tempfile.TemporaryDirectory() as tmp:
        api, servers = serve(keys, Path(tmp))
        try:
            for name in chosen:
                s = SCENARIOS[name] if args.sends is None else replace(SCENARIOS[name], sends=args.sends)
                print(f"\n{name}: {s.name}; {s.sends} sends, {s.batch} per round and context, "
                      f"{s.contexts} context(s)")  # fmt: skip
                print("seed  copydesk conv (unsub)  %oracle  equal conv (unsub)  flat TS conv (unsub)  "
                      "oracle conv (unsub)  regret vs oracle  best arm's last weight  s")  # fmt: skip
                for seed in args.seeds:
                    pop = population(s, seed)
                    t0 = time.perf_counter()
                    mine = copydesk(api, f"sim-{name}-{seed}", s, pop, seed)
                    took = time.perf_counter() - t0
                    equal, flat, oracle = (offline(p, s, pop, seed) for p in ("equal", "flat", "oracle"))
                    print(f"{seed:>4}  {mine[0]:>8} ({mine[1]:>4})     {mine[0] / oracle[0]:6.1%}  "
                          f"{equal[0]:>10} ({equal[1]:>4})  {flat[0]:>12} ({flat[1]:>4})  "
                          f"{oracle[0]:>11} ({oracle[1]:>4})  {oracle[0] - mine[0]:>16}  {mine[2]:>22.2f}  "
                          f"{took:4.0f}",
                          flush=True)  # fmt: skip
                    if args.repeats > 1:
                        repeats(api, name, s, pop, seed, args.repeats, (mine, equal, flat))
        finally:
            api.close()
            for server in servers:
                server.stop()


if __name__ == "__main__":
    main()
