"""The audit log: every generation, with what went in, what the model said and what went out."""

from __future__ import annotations

import json
import time
from typing import Any

from app.observability import request_context
from app.store.database import Database


class AuditLog:
    """One row per generation, the record as JSON, in SQLite or the shared PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, generation_id: str, request_id: str, status: str, record: dict[str, Any]) -> None:
        client = request_context.client.get()
        if client is not None:
            record = {**record, "client": client}
        row = (
            generation_id,
            request_id,
            time.time(),
            status,
            json.dumps(record, ensure_ascii=False, default=str),
            client,
        )
        self.db.execute(
            "INSERT INTO generations (generation_id, request_id, created_at, status, record, client)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (generation_id) DO UPDATE SET"
            " status = excluded.status, record = excluded.record, client = excluded.client",
            row,
        )

    def get(self, generation_id: str, *, client: str | None = None) -> dict[str, Any] | None:
        """The record, or None; with `client`, None also when another client created it."""
        sql = "SELECT record, client FROM generations WHERE generation_id = ?"
        row = self.db.fetchone(sql, (generation_id,))
        if row is None or (client is not None and row[1] != client):
            return None
        return json.loads(row[0])

    def for_request(self, request_id: str) -> list[dict[str, Any]]:
        """Every generation recorded for one request_id (one, when claims work)."""
        rows = self.db.fetchall(
            "SELECT record FROM generations WHERE request_id = ? ORDER BY created_at", (request_id,)
        )
        return [json.loads(r[0]) for r in rows]

    def close(self) -> None:
        """The database belongs to the service, which closes it."""
