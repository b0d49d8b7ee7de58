"""The embedded llama.cpp server alone: two requests side by side with a ~560-token shared
prompt, cold then warm, for a threads × slots setting. Prints wall time and llama.cpp's own
prompt / generation speeds; asserts nothing.
Run: .venv/bin/python benchmarks/llama_server_bench.py --threads 1 --slots 4"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from app.llm.embedded import EmbeddedModelServer, LocalModel

PREFIX = "You write marketing copy for a shoe shop. " * 60
SCHEMA = {
    "type": "object",
    "properties": {"body": {"type": "string", "maxLength": 60}},
    "required": ["body"],
    "additionalProperties": False,
}


async def ask(client: httpx.AsyncClient, url: str, tail: str) -> dict:
    resp = await client.post(
        url,
        json={
            "model": "bench",
            "messages": [
                {"role": "system", "content": PREFIX},
                {"role": "user", "content": f"One SMS, {tail}."},
            ],
            "response_format": {"type": "json_schema", "json_schema": {"name": "copy", "schema": SCHEMA}},
            "max_tokens": 80,
        },
    )
    resp.raise_for_status()
    return resp.json().get("timings", {})


async def main(threads: int, slots: int) -> None:
    server = EmbeddedModelServer(LocalModel.resolve(None), threads=threads, slots=slots, context=2048)
    started = time.perf_counter()
    with server:
        print(f"server ready in {time.perf_counter() - started:.1f} s (child process, model load, warm-up)")
        url = f"{server.base_url}/chat/completions"
        async with httpx.AsyncClient(timeout=300) as client:
            for label in ("cold", "warm"):
                start = time.perf_counter()
                timings = await asyncio.gather(*(ask(client, url, f"{label} tone {i}") for i in range(2)))
                wall = time.perf_counter() - start
                parts = [
                    f"prompt {t.get('prompt_n')} tok at {t.get('prompt_per_second', 0):.0f} tok/s, "
                    f"generated {t.get('predicted_n')} at {t.get('predicted_per_second', 0):.0f} tok/s"
                    for t in timings
                ]
                print(
                    f"threads={threads} slots={slots} {label}: 2 requests in {wall:.1f} s | "
                    + " | ".join(parts)
                )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--slots", type=int, default=4)
    args = ap.parse_args()
    asyncio.run(main(args.threads, args.slots))
