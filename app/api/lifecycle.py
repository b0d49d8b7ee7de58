"""Whether this process is shutting down: set by `copydesk serve` on SIGTERM, read by /readyz
(503 at once, so a load balancer stops sending) and by `CloseWhenDraining` (keep-alive
connections are closed after the response they carry)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class Drain:
    since: float | None = None  # time.monotonic() of the first SIGTERM

    @property
    def draining(self) -> bool:
        return self.since is not None

    def begin(self) -> None:
        if self.since is None:
            self.since = time.monotonic()


DRAIN = Drain()  # one per process: each worker drains itself


class CloseWhenDraining:
    """While draining, every response says `Connection: close`: the client's next request opens a
    connection that the load balancer gives to another instance."""

    def __init__(self, app: ASGIApp, drain: Drain = DRAIN) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self.drain.draining:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)
