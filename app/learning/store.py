"""Where learning keeps its rows (through app/store's Database): the variants served, the events
posted about them, counts per arm and context kept up to date in the events' own transaction, and
the weights last served per context. Nothing here scans raw events."""

from __future__ import annotations

import functools
import json
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.learning.arms import Context
from app.store.database import Database, Transaction

CHUNK = 200  # rows per multi-row INSERT: 7 parameters each, far under both backends' limits


@dataclass(frozen=True)
class VariantRow:
    variant_id: str
    generation_id: str
    client: str
    created_at: float
    context: Context
    arm: str
    tone: str | None
    prompt_version: str | None
    model: str | None
    source: str | None


@dataclass(frozen=True)
class KnownVariant:
    variant_id: str
    client: str
    created_at: float
    context: Context
    arm: str


@dataclass(frozen=True)
class NewEvent:
    event_id: str
    variant: KnownVariant
    type: str
    at: float
    value: float | None


class LearningStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- variants -------------------------------------------------------------------------------
    def record_variants(self, rows: Sequence[VariantRow]) -> None:
        if not rows:
            return
        values = [
            (r.variant_id, r.generation_id, r.client, r.created_at, r.context.journey, r.context.channel,
             r.context.locale, r.context.stored_segment, r.arm, r.tone, r.prompt_version, r.model, r.source)
            for r in rows
        ]  # fmt: skip
        sql = (
            "INSERT INTO variants (variant_id, generation_id, client, created_at, journey, channel, locale,"
            " segment, arm, tone, prompt_version, model, source) VALUES "
            + ",".join(["(?,?,?,?,?,?,?,?,?,?,?,?,?)"] * len(values))
            + " ON CONFLICT (variant_id) DO NOTHING"
        )
        self.db.execute(sql, [v for row in values for v in row])

    def variants(self, ids: Iterable[str], client: str | None) -> dict[str, KnownVariant]:
        """The variants of these IDs; only `client`'s unless client is None (the audit role)."""
        found: dict[str, KnownVariant] = {}
        unique = sorted(set(ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            sql = (
                "SELECT variant_id, client, created_at, journey, channel, locale, segment, arm FROM variants"
                f" WHERE variant_id IN ({','.join(['?'] * len(chunk))})"
            )
            params: list[Any] = list(chunk)
            if client is not None:
                sql += " AND client = ?"
                params.append(client)
            for vid, owner, created, journey, channel, locale, segment, arm in self.db.fetchall(sql, params):
                ctx = Context(journey, channel, locale, segment or None)
                found[vid] = KnownVariant(vid, owner, float(created), ctx, arm)
        return found

    # -- events ---------------------------------------------------------------------------------
    def insert_events(self, events: Sequence[NewEvent]) -> int:
        """Insert what is new (by client and event_id, whoever else inserts at the same time) and
        add exactly those to the counts, in one transaction; returns how many were new."""
        if not events:
            return 0
        ordered = sorted(events, key=lambda e: (e.variant.client, e.event_id))  # one lock order
        received = time.time()
        inserted: set[tuple[str, str]] = set()
        with self.db.transaction() as tx:
            for start in range(0, len(ordered), CHUNK):
                chunk = ordered[start : start + CHUNK]
                sql = (
                    "INSERT INTO events (client, event_id, variant_id, type, at, value, received_at) VALUES "
                    + ",".join(["(?,?,?,?,?,?,?)"] * len(chunk))
                    + " ON CONFLICT (client, event_id) DO NOTHING RETURNING client, event_id"
                )
                params = [
                    v
                    for e in chunk
                    for v in (e.variant.client, e.event_id, e.variant.variant_id, e.type, e.at, e.value)
                    + (received,)
                ]
                inserted.update((c, i) for c, i in tx.fetchall(sql, params))
            new = [e for e in ordered if (e.variant.client, e.event_id) in inserted]
            _bump_counts(tx, new)
        return len(new)

    # -- counts ---------------------------------------------------------------------------------
    def parent_rows(self, client: str, context: Context) -> list[tuple[str, str, str, str, int]]:
        """(locale, segment, arm, type, n) of every context of this journey and channel."""
        rows = self.db.fetchall(
            "SELECT locale, segment, arm, type, n FROM arm_counts"
            " WHERE client = ? AND journey = ? AND channel = ?",
            (client, context.journey, context.channel),
        )
        return [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]

    def context_rows(self, client: str, context: Context) -> list[tuple[str, str, str, str, int]]:
        """(locale, segment, arm, type, n) of this context alone: a primary-key prefix read."""
        rows = self.db.fetchall(
            "SELECT locale, segment, arm, type, n FROM arm_counts"
            " WHERE client = ? AND journey = ? AND channel = ? AND locale = ? AND segment = ?",
            (client, context.journey, context.channel, context.locale, context.stored_segment),
        )
        return [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]

    def counts(self, client: str | None, filters: dict[str, str | None]) -> list[tuple]:
        """(client, journey, channel, locale, segment, arm, type, n, value) matching the filters."""
        where, params = _where(client, filters)
        return self.db.fetchall(
            "SELECT client, journey, channel, locale, segment, arm, type, n, value FROM arm_counts" + where,
            params,
        )

    def daily(self, client: str | None, filters: dict[str, str | None], since_day: str | None) -> list[tuple]:
        """(client, journey, channel, locale, segment, arm, day, type, n, value), days from since_day."""
        where, params = _where(client, filters)
        if since_day:
            where += (" AND" if where else " WHERE") + " day >= ?"
            params.append(since_day)
        return self.db.fetchall(
            "SELECT client, journey, channel, locale, segment, arm, day, type, n, value FROM arm_daily"
            + where,
            params,
        )

    # -- weights served ---------------------------------------------------------------------------
    def last_decision(self, client: str, context: Context, arms: str) -> tuple[str, dict, float] | None:
        """(state, decision, updated_at) of the weights last served for these arms, or None."""
        row = self.db.fetchone(
            "SELECT state, weights, updated_at FROM allocations"
            " WHERE client = ? AND context = ? AND arms = ?",
            (client, context.key, arms),
        )
        return (row[0], json.loads(row[1]), float(row[2])) if row else None

    def save_decision(
        self, client: str, context: Context, arms: str, state: str, decision: dict, policy: str, changed: bool
    ) -> None:
        now = time.time()
        text = json.dumps(decision)
        self.db.execute(
            "INSERT INTO allocations (client, context, arms, state, weights, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (client, context, arms) DO UPDATE SET state = excluded.state,"
            " weights = excluded.weights, updated_at = excluded.updated_at",
            (client, context.key, arms, state, text, now),
        )
        if changed:
            self.db.execute(
                "INSERT INTO allocation_log (client, context, at, policy, weights, reason)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (client, context.key, now, policy, text, decision.get("reason", "")),
            )

    def current_weights(self, client: str | None) -> list[tuple[str, str, str, dict]]:
        """(client, context key, arms, decision) of every context's weights last served."""
        sql = "SELECT client, context, arms, weights FROM allocations"
        params: list[Any] = []
        if client is not None:
            sql += " WHERE client = ?"
            params.append(client)
        return [(c, k, a, json.loads(w)) for c, k, a, w in self.db.fetchall(sql, params)]

    def allocation_log(self, client: str | None) -> list[tuple[str, str, float, str, dict, str]]:
        sql = "SELECT client, context, at, policy, weights, reason FROM allocation_log"
        params: list[Any] = []
        if client is not None:
            sql += " WHERE client = ?"
            params.append(client)
        rows = self.db.fetchall(sql + " ORDER BY at", params)
        return [(c, k, float(at), p, json.loads(w), r) for c, k, at, p, w, r in rows]


@functools.lru_cache(maxsize=4096)
def _day_of(days: int) -> str:
    return datetime.fromtimestamp(days * 86400, UTC).strftime("%Y-%m-%d")


def _day(at: float) -> str:
    """The UTC day of a Unix time (strftime costs ~10 µs: one per day, not per event)."""
    return _day_of(int(at // 86400))


def _bump_counts(tx: Transaction, events: Sequence[NewEvent]) -> None:
    """Add the new events to the totals and the daily counts, one upsert per group, in key order."""
    totals: dict[tuple, list[float]] = defaultdict(lambda: [0, 0.0])
    daily: dict[tuple, list[float]] = defaultdict(lambda: [0, 0.0])
    for e in events:
        v, c = e.variant, e.variant.context
        base = (v.client, c.journey, c.channel, c.locale, c.stored_segment, v.arm)
        value = e.value or 0.0
        total = totals[(*base, e.type)]
        total[0] += 1
        total[1] += value
        day = daily[(*base, _day(e.at), e.type)]
        day[0] += 1
        day[1] += value
    _upsert(tx, "arm_counts", ("client", "journey", "channel", "locale", "segment", "arm", "type"), totals)
    keys = ("client", "journey", "channel", "locale", "segment", "arm", "day", "type")
    _upsert(tx, "arm_daily", keys, daily)


def _upsert(tx: Transaction, table: str, keys: tuple[str, ...], groups: dict[tuple, list[float]]) -> None:
    items = sorted(groups.items())
    width = len(keys) + 2
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        sql = (
            f"INSERT INTO {table} ({', '.join(keys)}, n, value) VALUES "
            + ",".join(["(" + ",".join(["?"] * width) + ")"] * len(chunk))
            + f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET n = {table}.n + excluded.n,"
            f" value = {table}.value + excluded.value"
        )
        tx.execute(sql, [v for key, (n, value) in chunk for v in (*key, int(n), float(value))])


def _where(client: str | None, filters: dict[str, str | None]) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if client is not None:
        clauses.append("client = ?")
        params.append(client)
    for name in ("journey", "channel", "locale", "segment"):
        value = filters.get(name)
        if value is not None:
            clauses.append(f"{name} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
