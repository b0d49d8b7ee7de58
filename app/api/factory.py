"""The app as `copydesk serve` runs it (in-process or in each uvicorn worker): settings from the
environment, and the start-up heap frozen out of the garbage collector once the service is built."""

from __future__ import annotations

import gc
from typing import Any

from app.api.app import create_app
from app.config import Settings


class FreezeAfterStartup:
    """ASGI wrapper: when start-up completes, gc.freeze() what it loaded (index, word lists, NLP
    pipelines, ~290k objects) so full collections stop scanning it (one took ~0.2 s of CPU)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)

        async def on_send(message) -> None:
            if message["type"] == "lifespan.startup.complete":
                gc.collect()
                gc.freeze()
            await send(message)

        return await self.app(scope, receive, on_send)


def serving_app(settings: Settings) -> FreezeAfterStartup:
    return FreezeAfterStartup(create_app(settings))


def app_from_env() -> FreezeAfterStartup:
    return serving_app(Settings.from_env())
