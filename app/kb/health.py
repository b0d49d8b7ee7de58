"""Whether the Chroma server (COPYDESK_CHROMA_URL) answers, watched by a background thread, so a
request learns it without a network call: while it does not, the service writes copy from the
product facts it holds and leaves review snippets out (its copy of them may be stale: an ingest or
a removal elsewhere cannot reach it), and /readyz names the knowledge index as missing."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class ServerHealth:
    def __init__(self, client: Any, every_s: float = 1.0) -> None:
        self.client = client
        self.every_s = every_s
        self.ok = True
        self.detail: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="kb-health", daemon=True)
        self._thread.start()

    def check(self) -> bool:
        try:
            self.client.heartbeat()
        except Exception as exc:  # noqa: BLE001 - down, restarting, unreachable: all the same here
            if self.ok:
                log.warning("the knowledge server does not answer (%s): copy without review snippets", exc)
            self.ok, self.detail = False, f"the knowledge server does not answer: {type(exc).__name__}"
            return False
        if not self.ok:
            log.info("the knowledge server answers again")
        self.ok, self.detail = True, None
        return True

    def _watch(self) -> None:
        while not self._stop.wait(self.every_s):
            self.check()

    def close(self) -> None:
        self._stop.set()
