"""CPU per chat-completion call, client side, against the zero-latency model stub on 127.0.0.1:
copydesk's ModelTransport (aiohttp) beside plain httpx and, where installed, the openai SDK, with a
prompt of a real request's size. Prints figures; asserts nothing.
Run: python benchmarks/model_call_bench.py [--calls 400]"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from app.llm.transport import ModelTransport  # noqa: E402
from benchmarks.load_bench import wait_up  # noqa: E402
from tests.servers import free_port  # noqa: E402

BODY = {
    "model": "stub",
    "messages": [{"role": "system", "content": "x" * 3000}, {"role": "user", "content": "y" * 1500}],
    "response_format": {"type": "json_schema", "json_schema": {"name": "C", "schema": {"type": "object"}}},
    "max_tokens": 300,
    "temperature": 0.7,
}


clients_to_close: list[ModelTransport] = []


def clients(base: str):
    """(name, one call) per client; each returns the answer's content."""
    ours = ModelTransport(base, "x")
    clients_to_close.append(ours)

    async def transport() -> str:
        return (await ours.post_json("/chat/completions", BODY, 20))["choices"][0]["message"]["content"]

    hx = httpx.AsyncClient(base_url=base, headers={"authorization": "Bearer x"})

    async def plain_httpx() -> str:
        r = await hx.post("/chat/completions", content=json.dumps(BODY).encode(), timeout=20)
        return r.json()["choices"][0]["message"]["content"]

    found = [("copydesk ModelTransport (aiohttp)", transport), ("httpx.AsyncClient", plain_httpx)]
    try:
        from openai import AsyncOpenAI
    except ImportError:
        return found
    sdk = AsyncOpenAI(base_url=base, api_key="x", max_retries=0)

    async def openai_sdk() -> str:
        r = await sdk.chat.completions.create(**BODY, timeout=20)
        return r.choices[0].message.content or ""

    return [*found, ("openai SDK chat.completions.create", openai_sdk)]


async def run(base: str, calls: int) -> None:
    for name, call in clients(base) * 2:  # twice, alternating, so drift shows
        for _ in range(30):
            await call()
        cpu = time.process_time()
        for _ in range(calls):
            await call()
        print(f"{name:<38} {(time.process_time() - cpu) / calls * 1000:6.3f} ms CPU per call")
    cpu = time.process_time()
    for _ in range(2000):
        await asyncio.to_thread(int)
    await clients_to_close.pop().aclose()
    print(f"{'one asyncio.to_thread hop':<38} {(time.process_time() - cpu) / 2000 * 1000:6.3f} ms CPU")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=400)
    args = ap.parse_args()
    port = free_port()
    stub = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "model_stub.py"), str(port), "0"])
    try:
        wait_up(port, "/v1/models")
        asyncio.run(run(f"http://127.0.0.1:{port}/v1", args.calls))
    finally:
        stub.terminate()


if __name__ == "__main__":
    main()
