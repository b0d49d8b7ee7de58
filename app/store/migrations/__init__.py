"""Schema migrations: numbered SQL files per dialect, applied in order inside one transaction that
holds the database's write lock, recorded in `schema_version`; safe when instances start at once."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from app.store.database import Database

HERE = Path(__file__).parent
# Any constant works; it keeps two instances from migrating the same PostgreSQL at once.
ADVISORY_LOCK = 0x636F7079

VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: list[str]


def migrations(dialect: str) -> list[Migration]:
    """`0002_request_claims.sql` is version 2; statements are separated by `;`."""
    out = []
    for path in sorted((HERE / dialect).glob("*.sql")):
        number, _, name = path.stem.partition("_")
        lines = [ln for ln in path.read_text().splitlines() if not ln.strip().startswith("--")]
        statements = [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
        out.append(Migration(int(number), name, statements))
    return out


def current_version(db: Database) -> int:
    db.execute(VERSION_TABLE)
    row = db.fetchone("SELECT MAX(version) FROM schema_version")
    return int(row[0]) if row and row[0] is not None else 0


def upgrade(db: Database) -> list[Migration]:
    """Apply what is missing, in order; returns the migrations applied (none when already up to date)."""
    applied: list[Migration] = []
    db.execute(VERSION_TABLE)
    with db.transaction() as tx:
        if db.dialect == "postgres":
            tx.execute("SELECT pg_advisory_xact_lock(?)", (ADVISORY_LOCK,))
        # Every migration not yet recorded, not only those above the highest: numbers are reserved
        # per piece of work, so 0005 may land before 0003 and 0003 must still run after it.
        have = {int(r[0]) for r in tx.fetchall("SELECT version FROM schema_version")}
        for m in migrations(db.dialect):
            if m.version in have:
                continue
            for statement in m.statements:
                tx.execute(statement)
            tx.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (m.version, m.name, time.time()),
            )
            applied.append(m)
    return applied
