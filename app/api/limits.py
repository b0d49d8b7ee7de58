"""A request body is read only up to the size of the largest valid request; more is a 413, before
any of it is parsed."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The largest schema-valid request is ~2,500 characters, under 32 KiB even with every character
# sent as a JSON escape pair; this leaves room without letting a caller make us hold megabytes.
MAX_BODY_BYTES = 64 * 1024
# POST /v1/events: up to EVENTS_MAX_BATCH events, each well under EVENT_MAX_BYTES even pretty-printed
# (an event with every field at its longest is ~330 bytes; a usual one ~150).
EVENTS_MAX_BATCH = 1000
EVENT_MAX_BYTES = 512
PATH_LIMITS = {"/v1/events": EVENTS_MAX_BATCH * EVENT_MAX_BYTES + 1024}


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Pure ASGI middleware: refuses by Content-Length, and counts a chunked body as it arrives."""

    def __init__(
        self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, per_path: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = PATH_LIMITS if per_path is None else per_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope.get("path", ""), self.max_bytes)
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await self._refuse(send, limit)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, limit)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "body_too_large",
                    "message": f"the body may hold at most {limit} bytes",
                    "field": "body",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
