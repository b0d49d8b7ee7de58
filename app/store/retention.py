"""Retention and erasure: rows older than their keep time are purged in small batches (each its own
short statement, so serving is never blocked for long), and everything one request stored can be
erased. Every purge that deleted something and every erasure is recorded in `deletions`: when,
by whom, what (counts per table), never the deleted data.

The tables are listed once here; a stage that stores rows belonging to requests adds its table.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from app.store.database import Database, Transaction
from app.store.ids import random_hex


@dataclass(frozen=True)
class Kept:
    """A table whose rows belong to requests."""

    table: str
    key: tuple[str, ...]  # the primary key, to delete a batch by
    created: str  # seconds since the epoch
    # The audit's retention, or the replay window: how long rows are kept (or stay linked).
    keep: Literal["retention", "replay"]
    # How a request's rows are found: the table's own request_id column (with its client column),
    # or the request's generations, or the variants served by them (in `variants`).
    by: Literal["request_id", "generation_id", "variant_id"] = "request_id"
    # What an erasure does: delete the rows, or detach them (content that outlives the request:
    # these columns are emptied, so nothing leads from it back to the request).
    detach: tuple[str, ...] = ()


# Erasure runs through these in order: what is found through variants, then through generations,
# then by request_id. Aggregates (arm_counts, arm_daily, allocations, allocation_log) and reviewers'
# decisions hold no request: they are not here.
TABLES: tuple[Kept, ...] = (
    Kept("events", ("client", "event_id"), "received_at", "retention", by="variant_id"),  # issue 20
    Kept("variants", ("variant_id",), "created_at", "retention", by="generation_id"),  # issue 20
    Kept(
        "library_links",
        ("library_id", "generation_id", "variant_id"),
        "created_at",
        "retention",
        by="generation_id",
    ),  # issue 21; fmt: skip
    Kept("library_spot_checks", ("spot_id",), "created_at", "retention", by="generation_id"),  # issue 21
    Kept(
        "library",
        ("library_id",),
        "created_at",
        "retention",
        by="generation_id",
        detach=("generation_id", "variant_id"),
    ),  # issue 21: approved copy stays, unlinked; fmt: skip
    Kept("idempotency", ("request_id", "client"), "created_at", "replay"),
    Kept("generations", ("generation_id",), "created_at", "retention"),
)


# Between two erasures of a batch (`copydesk db erase` with several IDs), as between two batches of
# a purge: a waiting writer of the serving side gets the lock. Back to back, 500 erasures from one
# process kept SQLite's write lock to themselves and serving writes waited seconds.
ERASE_PAUSE_S = 0.02


@dataclass(frozen=True)
class Policy:
    retention_s: float
    replay_window_s: float
    batch: int = 500
    pause_s: float = ERASE_PAUSE_S  # between batches: the serving side's writes get the lock

    def cutoff(self, kept: Kept, now: float) -> float:
        return now - (self.retention_s if kept.keep == "retention" else self.replay_window_s)


@dataclass
class Deletion:
    deletion_id: str
    at: float
    actor: str
    action: str
    scope: dict
    deleted: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.deleted.values())

    def as_dict(self) -> dict:
        return {
            "deletion_id": self.deletion_id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "scope": self.scope,
            "deleted": self.deleted,
        }


def _existing(db: Database, tables: tuple[Kept, ...]) -> tuple[Kept, ...]:
    """The listed tables this database has (a stage's table exists once its migration ran)."""
    if db.dialect == "sqlite":
        rows = db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = db.fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    have = {r[0] for r in rows}
    return tuple(t for t in tables if t.table in have)


def purge(
    db: Database,
    policy: Policy,
    actor: str,
    *,
    now: float | None = None,
    stop: threading.Event | None = None,
    tables: tuple[Kept, ...] = TABLES,
    record_empty: bool = True,
) -> Deletion:
    """Delete every row past its keep time, a batch per statement; `stop` ends it between batches."""
    now = time.time() if now is None else now
    run = Deletion("del_" + random_hex(20), now, actor, "purge", {})
    for kept in _existing(db, tables):
        cutoff = policy.cutoff(kept, now)
        run.scope[kept.table] = {"created_before": round(cutoff, 3)}
        keys = ", ".join(kept.key)
        match = f"({keys})" if len(kept.key) > 1 else keys
        old = f"SELECT {keys} FROM {kept.table} WHERE {kept.created} < ?"  # noqa: S608 - names from TABLES
        if kept.detach:  # content that stays: what led back to its request goes
            empty = ", ".join(f"{c} = NULL" for c in kept.detach)
            linked = f"{old} AND {kept.detach[0]} IS NOT NULL"
            sql = f"UPDATE {kept.table} SET {empty} WHERE {match} IN ({linked} LIMIT ?)"
        else:
            sql = f"DELETE FROM {kept.table} WHERE {match} IN ({old} LIMIT ?)"
        sql += " RETURNING 1"
        total = 0
        while not (stop and stop.is_set()):
            n = len(db.fetchall(sql, (cutoff, policy.batch)))
            total += n
            if n < policy.batch:
                break
            time.sleep(policy.pause_s)
        run.deleted[kept.table] = total
    if run.total or record_empty:
        _record(db, run)
    return run


def erase(
    db: Database, request_id: str, actor: str, *, client: str | None = None, tables: tuple[Kept, ...] = TABLES
) -> Deletion:
    """Delete what one request stored (of one client, or of every client that used the ID), and
    record it, in one transaction: one short hold of the write lock."""
    run = Deletion("del_" + random_hex(20), time.time(), actor, "erase", {"request_id": request_id})
    if client is not None:
        run.scope["client"] = client
    where, params = "request_id = ?", [request_id]
    if client is not None:
        where, params = where + " AND client = ?", [*params, client]
    existing = _existing(db, tables)
    have = {k.table for k in existing}
    with db.transaction() as tx:
        found = tx.fetchall(f"SELECT generation_id FROM generations WHERE {where}", params)  # noqa: S608
        ids: dict[str, list[str]] = {"generation_id": [r[0] for r in found], "variant_id": []}
        if "variants" in have:
            for gen in ids["generation_id"]:
                rows = tx.fetchall("SELECT variant_id FROM variants WHERE generation_id = ?", (gen,))
                ids["variant_id"] += [r[0] for r in rows]
        for kept in existing:  # in the order of TABLES
            n = 0
            if kept.by == "request_id":
                n = len(tx.fetchall(f"DELETE FROM {kept.table} WHERE {where} RETURNING 1", params))  # noqa: S608
            else:
                for value in ids[kept.by]:
                    if kept.detach:
                        empty = ", ".join(f"{c} = NULL" for c in kept.detach)
                        sql = f"UPDATE {kept.table} SET {empty} WHERE {kept.by} = ? RETURNING 1"  # noqa: S608
                    else:
                        sql = f"DELETE FROM {kept.table} WHERE {kept.by} = ? RETURNING 1"  # noqa: S608
                    n += len(tx.fetchall(sql, (value,)))
            run.deleted[kept.table] = n
        _insert(tx, run)
    _checkpoint(db)
    return run


def _record(db: Database, run: Deletion) -> None:
    _insert(db, run)
    _checkpoint(db)


def _insert(db: Database | Transaction, run: Deletion) -> None:
    db.execute(
        "INSERT INTO deletions (deletion_id, at, actor, action, scope, deleted) VALUES (?, ?, ?, ?, ?, ?)",
        (run.deletion_id, run.at, run.actor, run.action, json.dumps(run.scope), json.dumps(run.deleted)),
    )


def _checkpoint(db: Database) -> None:
    checkpoint = getattr(db, "checkpoint", None)
    if checkpoint is not None:  # SQLite: the deleted pages' old images leave the write-ahead log too
        checkpoint()


def deletions(db: Database, limit: int = 100) -> list[dict]:
    """The latest recorded purges and erasures, newest first."""
    rows = db.fetchall(
        "SELECT deletion_id, at, actor, action, scope, deleted FROM deletions ORDER BY at DESC LIMIT ?",
        (limit,),
    )
    return [
        Deletion(r[0], float(r[1]), r[2], r[3], json.loads(r[4]), json.loads(r[5])).as_dict() for r in rows
    ]


class Purger:
    """The purge on a schedule inside `serve`: in a thread, on its own connection, a batch at a time."""

    def __init__(self, open_db: Callable[[], Database], policy: Policy, actor: str) -> None:
        self.open_db = open_db
        self.policy = policy
        self.actor = actor
        self.stop = threading.Event()
        self._db: Database | None = None

    def run_once(self) -> Deletion:
        if self._db is None:
            self._db = self.open_db()
        return purge(self._db, self.policy, self.actor, stop=self.stop, record_empty=False)

    def close(self) -> None:
        self.stop.set()
        if self._db is not None:
            self._db.close()
            self._db = None
