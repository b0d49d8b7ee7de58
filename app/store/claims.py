"""A `request_id` is claimed in the database before it is generated (pending → done), so retries
on other workers or instances wait for that one generation instead of starting their own. Keys
belong to a client: the same `request_id` from two clients is two requests.

A claim carries a lease the owner renews while it works; when an owner dies (kill -9, a lost
machine) its lease runs out and the next retry takes the request over. Clocks of instances that
share a database must agree to well under the lease (NTP does).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Literal

from app.store.database import Database
from app.store.ids import random_hex

Outcome = Literal["claimed", "done", "busy", "conflict"]


@dataclass(frozen=True)
class Claim:
    outcome: Outcome
    owner: str | None = None  # ours when claimed
    response_json: str | None = None  # when done: the answer as it was stored (sealed, see replays.py)
    lease_until: float | None = None  # when busy: when the holder's lease runs out

    @property
    def response(self) -> dict[str, Any] | None:
        return json.loads(self.response_json) if self.response_json is not None else None


class RequestClaims:
    """Claims and answers per (client, request_id); answers are replayed for `ttl_s`."""

    def __init__(self, db: Database, *, lease_s: float = 10.0, ttl_s: float = 24 * 3600) -> None:
        self.db = db
        self.lease_s = lease_s
        self.ttl_s = ttl_s
        self._me = f"{socket.gethostname()}:{os.getpid()}"

    def claim(self, request_id: str, digest: str, *, client: str) -> Claim:
        """Take the request (new, expired, or its holder's lease ran out) or say who has it."""
        now = time.time()
        owner = f"{self._me}:{random_hex(8)}"
        row = self.db.fetchone(
            "INSERT INTO idempotency"
            " (client, request_id, body_hash, response, created_at, state, owner, lease_until)"
            " VALUES (?, ?, ?, '', ?, 'pending', ?, ?)"
            " ON CONFLICT (client, request_id) DO UPDATE SET body_hash = excluded.body_hash, response = '',"
            " created_at = excluded.created_at, state = 'pending', owner = excluded.owner,"
            " lease_until = excluded.lease_until"
            " WHERE (idempotency.state = 'pending' AND idempotency.lease_until < ?"
            " AND idempotency.body_hash = excluded.body_hash) OR idempotency.created_at < ?"
            " RETURNING owner",
            (client, request_id, digest, now, owner, now + self.lease_s, now, now - self.ttl_s),
        )
        if row is not None and row[0] == owner:
            return Claim("claimed", owner=owner)
        held = self.db.fetchone(
            "SELECT body_hash, state, response, lease_until FROM idempotency"
            " WHERE client = ? AND request_id = ?",
            (client, request_id),
        )
        if held is None:  # released between the two statements: try again
            return self.claim(request_id, digest, client=client)
        if held[0] != digest:
            return Claim("conflict")
        if held[1] == "done":
            return Claim("done", response_json=held[2])
        return Claim("busy", lease_until=float(held[3] or now))

    def renew(self, request_id: str, owner: str) -> bool:
        """The heartbeat: push the lease on; False when someone took the request over.
        (`owner` is unique to one claim: with request_id it names the client's row.)"""
        row = self.db.fetchone(
            "UPDATE idempotency SET lease_until = ? WHERE request_id = ? AND owner = ? AND state = 'pending'"
            " RETURNING request_id",
            (time.time() + self.lease_s, request_id, owner),
        )
        return row is not None

    def complete(self, request_id: str, owner: str, response: dict[str, Any] | str) -> bool:
        """Store the answer (JSON text or a dict) for replays; False when the claim was lost to a
        takeover meanwhile."""
        text = response if isinstance(response, str) else json.dumps(response, ensure_ascii=False)
        row = self.db.fetchone(
            "UPDATE idempotency SET state = 'done', response = ?, lease_until = NULL"
            " WHERE request_id = ? AND owner = ? RETURNING request_id",
            (text, request_id, owner),
        )
        return row is not None

    def release(self, request_id: str, owner: str) -> None:
        """Give the request up without an answer (it failed): the next retry generates afresh."""
        self.db.execute(
            "DELETE FROM idempotency WHERE request_id = ? AND owner = ? AND state = 'pending'",
            (request_id, owner),
        )

    def forget(self, request_id: str, client: str) -> None:
        """Drop a stored answer that can no longer be replayed (sealed under a retired key)."""
        self.db.execute(
            "DELETE FROM idempotency WHERE request_id = ? AND client = ? AND state = 'done'",
            (request_id, client),
        )
