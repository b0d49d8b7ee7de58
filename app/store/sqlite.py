"""The service's small SQLite stores (audit log, idempotency keys) open the same way."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_store(path: Path) -> sqlite3.Connection:
    """Autocommit, WAL (readers never block the writer), shared across threads behind a caller's lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    return db
