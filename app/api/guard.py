"""Who may call /v1/ and within which limits, as pure ASGI middleware: starlette's
BaseHTTPMiddleware (`@app.middleware("http")`) runs every request in an extra task group and
wraps its body stream, a fixed CPU cost per request that this check does not need."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.auth import refuse
from app.api.clients import ClientLimits
from app.config import Settings
from app.observability import request_context


class Guard:
    """Refuses callers without a valid key (or off loopback), names the client for the rest of
    the request, and applies its rate limit and concurrency cap; other paths pass untouched."""

    def __init__(self, app: ASGIApp, settings: Settings, limits: ClientLimits) -> None:
        self.app = app
        self.settings = settings
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if not request.url.path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        refused = refuse(request, self.settings)
        if refused is None:
            client = self.limits.name(request)
            request_context.client.set(client)
            refused = self.limits.refuse(client)
            if refused is None:
                try:
                    await self.app(scope, receive, send)
                finally:
                    self.limits.release(client)
                return
        await refused(scope, receive, send)
