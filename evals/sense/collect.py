"""Collect real answers of the embedded SmolLM2 model for the sense-check labelled set.

Starts `xllamacpp.Server` on loopback (the recipe in design.md), runs the real pipeline over a
spread of channels, locales, journeys, SKUs and offers, and records every model call: the
rendered prompt and the raw answer. Run once (CPU is scarce); the output is committed.

    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 .venv/bin/python evals/sense/collect.py --requests 140
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import socket
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
CHANNELS = ["sms", "push", "email", "wechat", "inapp"]
LOCALES = ["zh-CN", "en-US"]
SEGMENTS = ["hot", "warm", "cold"]
TOPICS = [None, "sizing", "delivery", "returns", "payment"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_model(threads: int) -> tuple[object, int]:
    import xllamacpp

    from app.llm.embedded import packaged_model_path as model_path

    p = xllamacpp.CommonParams()
    p.model.path = str(model_path())
    port = free_port()
    p.port = port
    p.hostnames = ["127.0.0.1"]
    p.n_parallel = 2
    p.n_ctx = 4096
    p.cpuparams.n_threads = threads
    server = xllamacpp.Server(p)
    return server, port


def requests(n: int, seed: int, content) -> list[dict]:
    rng = random.Random(seed)
    skus = sorted(content.catalog_skus)
    offers = content.offers
    journeys = sorted(content.journeys)
    out = []
    for i in range(n):
        sku = rng.choice(skus)
        usable = [o for o, skus_ in offers.items() if not skus_ or sku in skus_]
        offer = rng.choice([None, *usable])
        out.append(
            {
                "request_id": f"sense-{seed}-{i}",
                "channel": CHANNELS[i % len(CHANNELS)],
                "locale": LOCALES[(i // len(CHANNELS)) % 2],
                "journey": rng.choice(journeys),
                "skus": [sku],
                "offer_id": offer,
                "audience": {
                    "segment": rng.choice(SEGMENTS),
                    "interests": rng.sample(["running", "skincare", "home", "outdoor", "coffee"], 1),
                    "cs_topic": rng.choice(TOPICS),
                },
                "variants": 2,
            }
        )
    return out


class _Content:
    def __init__(self, root: Path) -> None:
        import yaml

        self.catalog_skus = [p.stem for p in (root / "knowledge/products").glob("SKU-*.yaml")]
        doc = yaml.safe_load((root / "knowledge/offers.yaml").read_text())
        self.offers = {
            o["offer_id"]: o["skus"] for o in doc["offers"] if o["expires_at"] > time.strftime("%Y-%m-%d")
        }
        self.journeys = yaml.safe_load((root / "prompts/journeys.yaml").read_text())


async def run(args: argparse.Namespace) -> None:
    from app.config import REPO_ROOT, Settings
    from app.generation.service import build_service
    from app.llm.deadline import Deadline
    from app.schemas import GenerateRequest

    server, port = start_model(args.threads)
    os.environ["COPYDESK_LLM_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
    os.environ["COPYDESK_LLM_JSON_MODE"] = "json_schema"
    os.environ.setdefault("COPYDESK_DATA_DIR", "/tmp/issue12-sense-var")
    os.environ.setdefault("COPYDESK_DEADLINE_S", "90")
    os.environ.setdefault("COPYDESK_LLM_TIMEOUT_S", "60")
    service = build_service(Settings.from_env())
    calls: list[dict] = []
    prompts: dict[str, list[dict]] = {}
    current: dict = {}
    complete = service.llm.complete

    async def recording(messages, output, deadline, *, max_tokens=300):
        key = hashlib.sha1(json.dumps(messages, ensure_ascii=False).encode()).hexdigest()[:16]
        prompts[key] = messages
        try:
            done = await complete(messages, output, deadline, max_tokens=max_tokens)
        except Exception as exc:
            calls.append(
                {**current, "prompt": key, "raw": getattr(exc, "raw_outputs", []), "error": str(exc)}
            )
            raise
        calls.append({**current, "prompt": key, "raw": done.raw, "fields": done.parsed.model_dump()})
        # More answers to the same prompt: the prompt is cached in the server's slot, so each costs
        # only its generation. The pipeline goes on with the first.
        for _ in range(args.extra):
            try:
                more = await complete(messages, output, Deadline(60), max_tokens=max_tokens)
            except Exception:
                continue
            calls.append(
                {**current, "prompt": key, "raw": more.raw, "fields": more.parsed.model_dump(), "extra": True}
            )
        return done

    service.llm.complete = recording  # type: ignore[method-assign]
    # A rambling answer fails anyway; stop it early so the collection spends its CPU on answers.
    drafter = service.generator.drafter
    drafter.max_tokens = lambda ctx, _orig=drafter.max_tokens: min(_orig(ctx), args.max_tokens)  # type: ignore[method-assign]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    done_ids: set[str] = set()
    if (out / "raw_calls.jsonl").exists():  # resume: keep what an earlier run collected
        calls += [json.loads(line) for line in (out / "raw_calls.jsonl").read_text().splitlines()]
        prompts.update(json.loads((out / "raw_prompts.json").read_text()))
        done_ids = {c["request"]["request_id"] for c in calls}
    reqs = [
        r for r in requests(args.requests, args.seed, _Content(REPO_ROOT)) if r["request_id"] not in done_ids
    ]
    started = time.time()
    try:
        for i, body in enumerate(reqs):
            current.clear()
            current["request"] = body
            try:
                await service.generator.generate(GenerateRequest(**body))
            except Exception as exc:  # an expected 4xx (e.g. expired offer) or a fallback gap
                print(f"{body['request_id']}: {type(exc).__name__}: {exc}", file=sys.stderr)
            if True:  # after every request: the run may be stopped at any time
                (out / "raw_calls.jsonl").write_text(
                    "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in calls)
                )
                (out / "raw_prompts.json").write_text(json.dumps(prompts, ensure_ascii=False))
                print(
                    f"{i + 1}/{len(reqs)} requests, {len(calls)} calls, {time.time() - started:.0f}s",
                    flush=True,
                )
    finally:
        await service.aclose()
        server = None  # noqa: F841  (xllamacpp stops with the process)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=140)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=300)
    ap.add_argument("--extra", type=int, default=3, help="more answers per prompt")
    ap.add_argument("--out", default=str(HERE / "collected"))
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
