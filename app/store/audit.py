"""The audit log: every generation, with what went in, what the model said and what went out."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from app.store.sqlite import open_store


class AuditLog:
    """SQLite under COPYDESK_DATA_DIR; one row per generation, the record as JSON."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = open_store(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS generations ("
            " generation_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, created_at REAL NOT NULL,"
            " status TEXT NOT NULL, record TEXT NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS generations_request ON generations (request_id)")

    def record(self, generation_id: str, request_id: str, status: str, record: dict[str, Any]) -> None:
        row = (
            generation_id,
            request_id,
            time.time(),
            status,
            json.dumps(record, ensure_ascii=False, default=str),
        )
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO generations VALUES (?, ?, ?, ?, ?)", row)

    def get(self, generation_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM generations WHERE generation_id = ?", (generation_id,)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def close(self) -> None:
        self._db.close()
