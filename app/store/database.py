"""One small SQL interface over embedded SQLite and PostgreSQL (psycopg 3 with a pool), so the audit
log and the request claims are written once and run on either; queries use `?` placeholders."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from app.store.sqlite import BUSY_TIMEOUT_S, open_store


async def run_for(db: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call `fn` for a statement on `db`: on the event loop for SQLite (microseconds; a thread hop
    costs more and, under load, a wait for the GIL), in a thread for PostgreSQL's round trip."""
    if getattr(db, "local", False):
        return fn(*args, **kwargs)
    return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))


Params = Sequence[Any]


class DatabaseUnavailable(Exception):
    """The database cannot be reached (restarting, network gone, no connection free in time): the
    API answers 503 `database_unavailable` with Retry-After, never copy without its audit record."""

    http_status = 503


@contextmanager
def _unavailable_on_connection_loss() -> Iterator[None]:
    from psycopg import InterfaceError, OperationalError
    from psycopg_pool import PoolTimeout

    try:
        yield
    except (OperationalError, InterfaceError, PoolTimeout) as exc:
        first_line = (str(exc).splitlines() or [""])[0]
        raise DatabaseUnavailable(f"{type(exc).__name__}: {first_line}") from exc


class Cursor(Protocol):
    def execute(self, sql: str, params: Params = ()) -> Any: ...


class Database(Protocol):
    """What the stores need: a statement, a row, all rows, and a transaction."""

    dialect: str

    def execute(self, sql: str, params: Params = ()) -> None: ...

    def fetchone(self, sql: str, params: Params = ()) -> tuple | None: ...

    def fetchall(self, sql: str, params: Params = ()) -> list[tuple]: ...

    def transaction(self) -> Any: ...  # context manager yielding a Transaction

    def close(self) -> None: ...


class Transaction:
    """Statements inside one transaction, `?` placeholders whatever the backend."""

    def __init__(self, cursor: Any, postgres: bool) -> None:
        self._cursor = cursor
        self._postgres = postgres

    def execute(self, sql: str, params: Params = ()) -> None:
        self._cursor.execute(_pg(sql) if self._postgres else sql, params)

    def fetchone(self, sql: str, params: Params = ()) -> tuple | None:
        self.execute(sql, params)
        rows = self._cursor.fetchall()
        return rows[0] if rows else None

    def fetchall(self, sql: str, params: Params = ()) -> list[tuple]:
        self.execute(sql, params)
        return list(self._cursor.fetchall())


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class SqliteDatabase:
    """One connection per process behind a lock: SQLite statements here take microseconds."""

    dialect = "sqlite"
    local = True  # statements are cheap enough to run on the event loop

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = open_store(path)
        self._lock = threading.RLock()

    def execute(self, sql: str, params: Params = ()) -> None:
        with self._lock:
            self._db.execute(sql, params)

    def fetchone(self, sql: str, params: Params = ()) -> tuple | None:
        # All rows: an INSERT/UPDATE ... RETURNING commits only once its statement is run out.
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return rows[0] if rows else None

    def fetchall(self, sql: str, params: Params = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the file and empty it, if that can be done at once. Never
        waits: a checkpoint that waits for readers holds off every writer meanwhile (500 erasures
        each followed by a waiting one stalled serving writes for seconds); when busy it does
        what it can without waiting and the log is emptied by a later one."""
        with self._lock:
            self._db.execute("PRAGMA busy_timeout = 0")
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.OperationalError:
                pass  # busy: the frames it could copy are copied
            finally:
                self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """BEGIN IMMEDIATE: the write lock up front, so two processes never deadlock upgrading."""
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(cur, postgres=False)
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PostgresDatabase:
    """A psycopg connection pool; every statement autocommits unless inside `transaction()`."""

    dialect = "postgres"
    local = False  # a network round trip: callers on an event loop use a thread

    def __init__(self, url: str, *, max_size: int = 10, timeout_s: float = 2.0) -> None:
        from psycopg_pool import ConnectionPool

        self.url = url
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True},
            open=True,
            name="copydesk",
            # A request waits this long for a connection, then gets a 503 (30 s by default).
            timeout=timeout_s,
            # A connection the server dropped (a restart) is found and replaced when it is taken,
            # not by the request that would use it: one round trip (~0.1 ms on loopback).
            check=ConnectionPool.check_connection,
            # Keep trying to reconnect however long the database is away (5 min by default).
            reconnect_timeout=365 * 24 * 3600.0,
        )
        self._pool.wait(timeout=10.0)

    def execute(self, sql: str, params: Params = ()) -> None:
        with _unavailable_on_connection_loss(), self._pool.connection() as conn:
            conn.execute(_pg(sql), params)

    def fetchone(self, sql: str, params: Params = ()) -> tuple | None:
        with _unavailable_on_connection_loss(), self._pool.connection() as conn:
            return conn.execute(_pg(sql), params).fetchone()

    def fetchall(self, sql: str, params: Params = ()) -> list[tuple]:
        with _unavailable_on_connection_loss(), self._pool.connection() as conn:
            return conn.execute(_pg(sql), params).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with (
            _unavailable_on_connection_loss(),
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor() as cur,
        ):
            yield Transaction(cur, postgres=True)

    def close(self) -> None:
        self._pool.close()


def open_database(
    database_url: str | None, data_dir: Path, *, upgrade: bool = True, timeout_s: float = 2.0
) -> Database:
    """PostgreSQL when a URL is given, else SQLite under the data dir; migrated to the latest schema."""
    from app.store.migrations import upgrade as migrate

    db: Database
    if database_url:
        db = PostgresDatabase(database_url, timeout_s=timeout_s)
    else:
        db = SqliteDatabase(data_dir / "copydesk.db")
    if upgrade:
        migrate(db)
    return db
