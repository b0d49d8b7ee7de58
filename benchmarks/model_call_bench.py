"""CPU per chat-completion call, client side, against the zero-latency model stub on 127.0.0.1:
copydesk's ModelTransport (the openai SDK's `post` on its aiohttp backend, bounded read) and the
whole LLMClient.complete (tenacity, parsing), beside the SDK's typed `chat.completions.create`
on aiohttp and on its default httpx2, a bare aiohttp POST (what the transport was before the SDK)
and httpx, with a prompt of a real request's size. Prints figures; asserts nothing.
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

import aiohttp  # noqa: E402
import httpx  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from app.llm.client import LLMClient  # noqa: E402
from app.llm.deadline import Deadline  # noqa: E402
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


class Copy(BaseModel):
    body: str


to_close: list = []


def clients(base: str):
    """(name, one call) per client; each returns the answer's content."""
    from openai import AsyncOpenAI, DefaultAioHttpClient

    ours = ModelTransport(base, "x")
    llm = LLMClient(ModelTransport(base, "x"), "stub")
    to_close.extend([ours.aclose, llm.transport.aclose])

    async def transport() -> str:
        return (await ours.chat(BODY, 20))["choices"][0]["message"]["content"]

    async def complete() -> str:
        done = await llm.complete(BODY["messages"], Copy, Deadline(20))  # type: ignore[arg-type]
        return done.raw

    sdk_aio = AsyncOpenAI(base_url=base, api_key="x", max_retries=0, http_client=DefaultAioHttpClient())
    sdk_httpx2 = AsyncOpenAI(base_url=base, api_key="x", max_retries=0)
    to_close.extend([sdk_aio.close, sdk_httpx2.close])

    async def create_aio() -> str:
        r = await sdk_aio.chat.completions.create(**BODY, timeout=20)
        return r.choices[0].message.content or ""

    async def create_httpx2() -> str:
        r = await sdk_httpx2.chat.completions.create(**BODY, timeout=20)
        return r.choices[0].message.content or ""

    session: list[aiohttp.ClientSession] = []

    async def bare_aiohttp() -> str:
        if not session:
            session.append(aiohttp.ClientSession())
            to_close.append(session[0].close)
        async with session[0].post(
            base + "/chat/completions", data=json.dumps(BODY).encode(), headers={"authorization": "Bearer x"}
        ) as resp:
            raw = await resp.content.read(1 << 20)
        return json.loads(raw)["choices"][0]["message"]["content"]

    hx = httpx.AsyncClient(base_url=base, headers={"authorization": "Bearer x"})
    to_close.append(hx.aclose)

    async def plain_httpx() -> str:
        r = await hx.post("/chat/completions", content=json.dumps(BODY).encode(), timeout=20)
        return r.json()["choices"][0]["message"]["content"]

    return [
        ("copydesk ModelTransport (SDK, aiohttp)", transport),
        ("copydesk LLMClient.complete (+tenacity)", complete),
        ("SDK chat.completions.create, aiohttp", create_aio),
        ("SDK chat.completions.create, httpx2", create_httpx2),
        ("bare aiohttp POST (transport before)", bare_aiohttp),
        ("httpx.AsyncClient", plain_httpx),
    ]


async def run(base: str, calls: int) -> None:
    for name, call in clients(base) * 2:  # twice, alternating, so drift shows
        for _ in range(30):
            await call()
        cpu = time.process_time()
        for _ in range(calls):
            await call()
        print(f"{name:<42} {(time.process_time() - cpu) / calls * 1000:6.3f} ms CPU per call", flush=True)
    for close in to_close:
        await close()


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
