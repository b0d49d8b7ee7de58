"""`request_id` is an idempotency key: a retried request gets the first answer back, not new copy."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from app.store.sqlite import open_store


class IdempotencyConflict(Exception):
    """The same request_id arrived with a different body."""


def body_hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, path: Path, ttl_s: float = 24 * 3600) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._db = open_store(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS idempotency ("
            " request_id TEXT PRIMARY KEY, body_hash TEXT NOT NULL,"
            " response TEXT NOT NULL, created_at REAL NOT NULL)"
        )

    def get(self, request_id: str, digest: str) -> dict | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body_hash, response, created_at FROM idempotency WHERE request_id = ?",
                (request_id,),
            ).fetchone()
        if row is None or time.time() - row[2] > self.ttl_s:
            return None
        if row[0] != digest:
            raise IdempotencyConflict(request_id)
        return json.loads(row[1])

    def put(self, request_id: str, digest: str, response: dict) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?)",
                (request_id, digest, json.dumps(response, ensure_ascii=False), time.time()),
            )

    def close(self) -> None:
        self._db.close()


class InFlight:
    """One request per request_id at a time; a key's lock is dropped when its last holder leaves,
    whether the request succeeded, failed or was cancelled."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, holders = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, holders + 1)
        try:
            async with lock:
                yield
        finally:
            lock, holders = self._locks[key]
            if holders <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, holders - 1)

    def __len__(self) -> int:
        return len(self._locks)
