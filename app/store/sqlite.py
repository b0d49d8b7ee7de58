"""The service's SQLite file (audit log, request claims) opens the same way in every process."""

from __future__ import annotations

import sqlite3
from pathlib import Path

BUSY_TIMEOUT_S = 10.0  # how long a statement waits for another process's write


def open_store(path: Path) -> sqlite3.Connection:
    """Autocommit, WAL (readers never block the writer), a busy wait when another worker process
    writes; shared across threads behind a caller's lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; WAL keeps it consistent
    db.execute("PRAGMA secure_delete=ON")  # a purged or erased row is overwritten, not left in free pages
    # Events at scale (1M rows) insert into indexes far larger than SQLite's 2 MiB default page
    # cache: 64 MiB of cache per connection and reads through a memory map (no read() per page)
    # took a batch of 1,000 events from ~100 to ~80 ms here (benchmarks/events_bench.py).
    db.execute("PRAGMA cache_size=-65536")
    db.execute("PRAGMA mmap_size=268435456")
    return db
