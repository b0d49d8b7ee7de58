"""Real servers on 127.0.0.1 for the tests: uvicorn in a thread, a scripted OpenAI-compatible model."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadedServer:
    """An ASGI app served by uvicorn on a free loopback port, in a background thread. The socket is
    bound here and handed to uvicorn, so no other process can take the port in between."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> ThreadedServer:
        self.thread.start()
        end = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > end or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Reply:
    """What the scripted model does for one call."""

    content: str | None = None  # the message content
    status: int = 200
    stall_s: float = 0.0
    finish_reason: str = "stop"
    retry_after: str | None = None  # the Retry-After header of an error reply


def ok(payload: dict[str, Any]) -> Reply:
    return Reply(content=json.dumps(payload, ensure_ascii=False))


@dataclass
class ScriptedModel:
    """An OpenAI-compatible chat server whose answers a test scripts call by call."""

    queue: list[Reply] = field(default_factory=list)
    default: Callable[[dict[str, Any]], Reply] | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)  # each call's request headers
    call_times: list[float] = field(default_factory=list)  # time.monotonic() of each call
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, *replies: Reply, default: Callable[[dict[str, Any]], Reply] | None = None) -> None:
        with self.lock:
            self.queue = list(replies)
            self.default = default
            self.calls = []
            self.headers = []
            self.call_times = []

    def _next(self, body: dict[str, Any]) -> Reply:
        with self.lock:
            self.calls.append(body)
            self.call_times.append(time.monotonic())
            if self.queue:
                return self.queue.pop(0)
        if self.default is not None:
            return self.default(body)
        return Reply(status=500, content="no scripted reply left")

    def app(self) -> FastAPI:
        api = FastAPI()

        @api.get("/v1/models")
        async def models() -> dict:
            return {"object": "list", "data": [{"id": "scripted", "object": "model", "owned_by": "tests"}]}

        @api.post("/v1/chat/completions")
        async def chat(request: Request) -> JSONResponse:
            body = await request.json()
            self.headers.append(dict(request.headers))
            reply = self._next(body)
            if reply.stall_s:
                await asyncio.sleep(reply.stall_s)
            if reply.status != 200:
                return JSONResponse(
                    status_code=reply.status,
                    content={"error": {"message": reply.content or "scripted"}},
                    headers={"retry-after": reply.retry_after} if reply.retry_after else None,
                )
            return JSONResponse(
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "scripted"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.content},
                            "finish_reason": reply.finish_reason,
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }
            )

        return api


def prompt_text(call: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in call["messages"])
