"""The library's rows in the service database (SQLite or the shared PostgreSQL, migration 0004):
entries, near-duplicate links, reviewers' decisions and spot checks. Every read names the client
it is for, or None for a caller that reads every client's (the audit role)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.library.entries import Context, LibraryEntry
from app.store.database import Database
from app.store.ids import random_hex

_COLUMNS = (
    "library_id, client, created_at, status, context_key, journey, channel, locale, skus, offer_id,"
    " segment, tone, template, disclaimers, prompt_version, model, source, checks, snippets,"
    " generation_id, variant_id, parent_id, duplicates, served, approved_at, decided_at, decided_by,"
    " note, flagged_at, flag_reason"
)


def new_library_id() -> str:
    return "lib_" + random_hex(16)


def _entry(row: Sequence[Any]) -> LibraryEntry:
    (library_id, client, created_at, status, _key, journey, channel, locale, skus, offer_id, segment,
     tone, template, disclaimers, prompt_version, model, source, checks, snippets, generation_id,
     variant_id, parent_id, duplicates, served, approved_at, decided_at, decided_by, note, flagged_at,
     flag_reason) = row  # fmt: skip
    return LibraryEntry(
        library_id=library_id,
        client=client,
        created_at=created_at,
        status=status,
        context=Context(journey, channel, locale, tuple(skus.split(",")), offer_id, segment),
        tone=tone,
        template=json.loads(template),
        disclaimers=json.loads(disclaimers),
        prompt_version=prompt_version,
        model=model,
        source=source,
        checks=json.loads(checks),
        snippets=json.loads(snippets),
        generation_id=generation_id,
        variant_id=variant_id,
        parent_id=parent_id,
        duplicates=int(duplicates),
        served=int(served),
        approved_at=approved_at,
        decided_at=decided_at,
        decided_by=decided_by,
        note=note,
        flagged_at=flagged_at,
        flag_reason=flag_reason,
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    journey: str | None = None
    channel: str | None = None
    locale: str | None = None
    sku: str | None = None
    flagged: bool | None = None


class LibraryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- entries ---------------------------------------------------------------------------------
    def insert(self, e: LibraryEntry) -> None:
        c = e.context
        self.db.execute(
            f"INSERT INTO library ({_COLUMNS}) VALUES ({', '.join('?' * 30)})",
            (e.library_id, e.client, e.created_at, e.status, c.key, c.journey, c.channel, c.locale,
             ",".join(c.skus), c.offer_id, c.segment, e.tone, _json(e.template), _json(e.disclaimers),
             e.prompt_version, e.model, e.source, _json(e.checks), _json(e.snippets), e.generation_id,
             e.variant_id, e.parent_id, e.duplicates, e.served, e.approved_at, e.decided_at,
             e.decided_by, e.note, e.flagged_at, e.flag_reason),
        )  # fmt: skip

    def get(self, library_id: str, client: str | None) -> LibraryEntry | None:
        """The entry, or None when it does not exist or belongs to another client."""
        sql = f"SELECT {_COLUMNS} FROM library WHERE library_id = ?"
        params: list[Any] = [library_id]
        if client is not None:
            sql += " AND client = ?"
            params.append(client)
        row = self.db.fetchone(sql, params)
        return _entry(row) if row else None

    def in_context(self, client: str, context_key: str, statuses: Sequence[str]) -> list[LibraryEntry]:
        marks = ", ".join("?" * len(statuses))
        rows = self.db.fetchall(
            f"SELECT {_COLUMNS} FROM library WHERE context_key = ? AND client = ? AND status IN ({marks})"
            " ORDER BY created_at",
            (context_key, client, *statuses),
        )
        return [_entry(r) for r in rows]

    def search(
        self, filters: Filters, client: str | None, limit: int, offset: int
    ) -> tuple[list[LibraryEntry], int]:
        """A page of entries, newest first, and how many match in all."""
        where, params = ["1 = 1"], []
        for column in ("status", "journey", "channel", "locale"):
            value = getattr(filters, column)
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if filters.sku is not None:  # SKUs are stored comma-joined; IDs never hold a comma
            where.append("(',' || skus || ',') LIKE ?")
            params.append(f"%,{filters.sku},%")
        if filters.flagged is not None:
            where.append("flagged_at IS NOT NULL" if filters.flagged else "flagged_at IS NULL")
        if client is not None:
            where.append("client = ?")
            params.append(client)
        clause = " AND ".join(where)
        total = self.db.fetchone(f"SELECT COUNT(*) FROM library WHERE {clause}", params)
        rows = self.db.fetchall(
            f"SELECT {_COLUMNS} FROM library WHERE {clause} ORDER BY created_at DESC, library_id"
            " LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [_entry(r) for r in rows], int(total[0]) if total else 0

    def link(self, library_id: str, generation_id: str, variant_id: str, similarity: float,
             template: dict[str, str], client: str) -> None:  # fmt: skip
        """A near-duplicate of `library_id`: counted and linked to it, not kept twice."""
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO library_links (library_id, generation_id, variant_id, similarity, template,"
                " client, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (library_id, generation_id, variant_id, similarity, _json(template), client, time.time()),
            )
            tx.execute("UPDATE library SET duplicates = duplicates + 1 WHERE library_id = ?", (library_id,))

    def links(self, library_id: str) -> list[dict[str, Any]]:
        rows = self.db.fetchall(
            "SELECT generation_id, variant_id, similarity, template, created_at FROM library_links"
            " WHERE library_id = ? ORDER BY created_at",
            (library_id,),
        )
        return [
            {"generation_id": g, "variant_id": v, "similarity": round(s, 3), "template": json.loads(t),
             "created_at": c}
            for g, v, s, t, c in rows
        ]  # fmt: skip

    def count_served(self, library_ids: Sequence[str]) -> None:
        for library_id in library_ids:
            self.db.execute("UPDATE library SET served = served + 1 WHERE library_id = ?", (library_id,))

    def flag(self, library_id: str, reason: str) -> None:
        """A served entry failed a check against today's facts: a reviewer should look at it."""
        self.db.execute(
            "UPDATE library SET flagged_at = ?, flag_reason = ? WHERE library_id = ?",
            (time.time(), reason[:2000], library_id),
        )

    # -- decisions -------------------------------------------------------------------------------
    def decide(self, library_id: str, status: str, action: str, reviewer: str, note: str,
               client: str, detail: dict[str, Any]) -> str:  # fmt: skip
        """Set the entry's status and keep the decision (who, when, why); the flag is cleared."""
        now = time.time()
        decision_id = "dec_" + random_hex(16)
        approved = ", approved_at = ?" if status == "approved" else ""
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE library SET status = ?, decided_at = ?, decided_by = ?, note = ?,"
                f" flagged_at = NULL, flag_reason = NULL{approved} WHERE library_id = ?",
                (status, now, reviewer, note, *((now,) if approved else ()), library_id),
            )
            tx.execute(
                "INSERT INTO library_decisions (decision_id, library_id, action, reviewer, note, client,"
                " created_at, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (decision_id, library_id, action, reviewer, note, client, now, _json(detail)),
            )
        return decision_id

    def record_decision(self, library_id: str, action: str, reviewer: str, note: str, client: str,
                        detail: dict[str, Any]) -> str:  # fmt: skip
        """A decision that changes no status (an edit, a spot check read)."""
        decision_id = "dec_" + random_hex(16)
        self.db.execute(
            "INSERT INTO library_decisions (decision_id, library_id, action, reviewer, note, client,"
            " created_at, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (decision_id, library_id, action, reviewer, note, client, time.time(), _json(detail)),
        )
        return decision_id

    def decisions(self, library_id: str | None, client: str | None, limit: int = 200) -> list[dict[str, Any]]:
        """Decisions on one entry (or on every entry), oldest first; `client` scopes to its entries."""
        where, params = ["1 = 1"], []
        if library_id is not None:
            where.append("d.library_id = ?")
            params.append(library_id)
        if client is not None:
            where.append("l.client = ?")
            params.append(client)
        rows = self.db.fetchall(
            "SELECT d.decision_id, d.library_id, d.action, d.reviewer, d.note, d.client, d.created_at,"
            " d.detail FROM library_decisions d JOIN library l ON l.library_id = d.library_id"
            f" WHERE {' AND '.join(where)} ORDER BY d.created_at LIMIT ?",
            (*params, limit),
        )
        keys = ("decision_id", "library_id", "action", "reviewer", "note", "by_client", "created_at")
        return [{**dict(zip(keys, r[:7], strict=True)), "detail": json.loads(r[7])} for r in rows]

    # -- spot checks -----------------------------------------------------------------------------
    def queue_spot_check(self, library_id: str, generation_id: str, variant_id: str, journey: str,
                         client: str, copy: dict[str, Any]) -> str:  # fmt: skip
        spot_id = "spot_" + random_hex(16)
        self.db.execute(
            "INSERT INTO library_spot_checks (spot_id, library_id, generation_id, variant_id, journey,"
            " client, created_at, copy, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open')",
            (spot_id, library_id, generation_id, variant_id, journey, client, time.time(), _json(copy)),
        )
        return spot_id

    def spot_checks(
        self, client: str | None, status: str | None, limit: int, offset: int, library_id: str | None = None
    ) -> list[dict[str, Any]]:
        where, params = ["1 = 1"], []
        if library_id is not None:
            where.append("library_id = ?")
            params.append(library_id)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if client is not None:
            where.append("client = ?")
            params.append(client)
        rows = self.db.fetchall(
            "SELECT spot_id, library_id, generation_id, variant_id, journey, client, created_at, copy,"
            f" status, reviewer, note, done_at FROM library_spot_checks WHERE {' AND '.join(where)}"
            " ORDER BY created_at DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        keys = ("spot_id", "library_id", "generation_id", "variant_id", "journey", "client", "created_at",
                "copy", "status", "reviewer", "note", "done_at")  # fmt: skip
        out = []
        for r in rows:
            item = dict(zip(keys, r, strict=True))
            item["copy"] = json.loads(item["copy"])
            out.append(item)
        return out

    def close_spot_checks(self, library_id: str, reviewer: str, note: str) -> list[str]:
        """Mark the entry's open spot checks read; their IDs."""
        rows = self.db.fetchall(
            "UPDATE library_spot_checks SET status = 'done', reviewer = ?, note = ?, done_at = ?"
            " WHERE library_id = ? AND status = 'open' RETURNING spot_id",
            (reviewer, note, time.time(), library_id),
        )
        return sorted(r[0] for r in rows)
