"""A knowledge base shared through a Chroma server stays fresh: a background thread looks at the
collection's ingest stamp every `refresh_s` and, when another instance ingested, loads the new
state and swaps it in whole, so an ingest is visible everywhere within about `refresh_s`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

STAMP = "ingested_at"  # collection metadata written by app/kb/ingest.py after a change


def ingest_stamp(collection: Any) -> tuple[int, Any]:
    """What changes when anyone ingests: the snippet count and the stamp the ingest leaves."""
    fresh = collection._client.get_collection(collection.name)
    return collection.count(), (fresh.metadata or {}).get(STAMP)


class RefreshingKnowledge:
    """Delegates to the current knowledge object; `reload()` builds the next one off the request path."""

    def __init__(self, knowledge: Any, reload: Callable[[], Any], refresh_s: float) -> None:
        self.current = knowledge
        self._reload = reload
        self.refresh_s = refresh_s
        self._seen = ingest_stamp(knowledge.collection)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="kb-refresh", daemon=True)
        self._thread.start()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.current, name)

    def product(self, *args, **kwargs):
        return self.current.product(*args, **kwargs)

    def reviews(self, *args, **kwargs):
        return self.current.reviews(*args, **kwargs)

    def searches_in_memory(self, *args, **kwargs) -> bool:
        return self.current.searches_in_memory(*args, **kwargs)

    def size(self) -> int:
        return self.current.size()

    def reviews_available(self) -> bool:
        return self.current.reviews_available()

    def check(self) -> bool:
        """Reload when the collection changed since the last look; True when it did."""
        seen = ingest_stamp(self.current.collection)
        if seen == self._seen:
            return False
        started = time.perf_counter()
        self.current = self._reload()
        self._seen = seen
        log.info("knowledge reloaded after an ingest in %.2fs", time.perf_counter() - started)
        return True

    def _watch(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the server may be restarting; keep serving what we have
                log.warning("could not check the knowledge index for changes", exc_info=True)

    def close(self) -> None:
        self._stop.set()
        self.current.close()
