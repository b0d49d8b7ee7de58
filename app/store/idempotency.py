"""`request_id` is an idempotency key: a retried request gets the first answer back, not new copy."""

from __future__ import annotations

import hashlib
import json
import threading
import time
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
