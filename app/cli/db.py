"""`copydesk db upgrade` / `copydesk db version`: create or migrate the schema (the service also
upgrades on start), in SQLite under the data dir or the PostgreSQL of COPYDESK_DATABASE_URL."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from app.config import Settings

db_app = typer.Typer(help="The database: audit log and request claims.", no_args_is_help=True)
console = Console()


def _where(settings: Settings) -> str:
    if settings.database_url:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(settings.database_url)
        return f"postgresql {info.get('host', '')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
    return f"sqlite {settings.data_dir / 'copydesk.db'}"


@db_app.command()
def upgrade() -> None:
    """Apply the migrations the database lacks (safe while other instances run or start)."""
    from app.store.database import open_database
    from app.store.migrations import current_version
    from app.store.migrations import upgrade as migrate

    settings = Settings.from_env()
    db = open_database(settings.database_url, settings.data_dir, upgrade=False)
    try:
        applied = migrate(db)
        for m in applied:
            console.print(f"applied {m.version:04d} {m.name}")
        console.print(f"{_where(settings)}: schema version {current_version(db)}")
    finally:
        db.close()


@db_app.command()
def version() -> None:
    """Print the schema version and the latest this copydesk knows."""
    from app.store.database import open_database
    from app.store.migrations import current_version, migrations

    settings = Settings.from_env()
    db = open_database(settings.database_url, settings.data_dir, upgrade=False)
    try:
        latest = max(m.version for m in migrations(db.dialect))
        console.print(f"{_where(settings)}: schema version {current_version(db)} (latest {latest})")
    finally:
        db.close()


@db_app.command("replay-key")
def replay_key() -> None:
    """Print a new 256-bit key for COPYDESK_REPLAY_KEY (put it first; keep the old one after it
    for a replay window)."""
    from app.store.replays import new_key

    print(new_key())


def _actor() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"


@db_app.command()
def purge() -> None:
    """Delete audit records older than COPYDESK_RETENTION_DAYS and idempotency entries past
    COPYDESK_REPLAY_WINDOW_S, in batches of COPYDESK_PURGE_BATCH (serving goes on meanwhile);
    recorded in the deletions log. `serve` also runs it every COPYDESK_PURGE_EVERY_S."""
    from app.api.purging import policy_of
    from app.store.database import open_database
    from app.store.retention import purge as run_purge

    settings = Settings.from_env()
    db = open_database(settings.database_url, settings.data_dir)
    try:
        done = run_purge(db, policy_of(settings), _actor())
    finally:
        db.close()
    counts = ", ".join(f"{n} from {t}" for t, n in done.deleted.items())
    print(f"{_where(settings)}: purged {counts} ({done.deletion_id})")


@db_app.command()
def erase(
    request_ids: Annotated[
        list[str], typer.Option("--request-id", help="A request_id whose data to erase; repeat for several.")
    ],
    client: Annotated[
        str | None, typer.Option(help="Only this client's request (default: every client that used the ID).")
    ] = None,
) -> None:
    """Erase everything one request stored (audit records, idempotency entry, and what later stages
    keep for it); recorded in the deletions log, without the erased data."""
    import time

    from app.store.database import open_database
    from app.store.retention import ERASE_PAUSE_S
    from app.store.retention import erase as run_erase

    settings = Settings.from_env()
    db = open_database(settings.database_url, settings.data_dir)
    try:
        for i, request_id in enumerate(request_ids):
            if i:
                time.sleep(ERASE_PAUSE_S)  # serving writes get the lock between two
            done = run_erase(db, request_id, _actor(), client=client)
            counts = ", ".join(f"{n} from {t}" for t, n in done.deleted.items())
            print(f"{_where(settings)}: {request_id}: erased {counts} ({done.deletion_id})")
    finally:
        db.close()


@db_app.command("deletions")
def list_deletions(limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20) -> None:
    """The recorded purges and erasures: when, by whom, what (counts per table)."""
    import json

    from app.store.database import open_database
    from app.store.retention import deletions

    settings = Settings.from_env()
    db = open_database(settings.database_url, settings.data_dir)
    try:
        for d in deletions(db, limit):
            print(json.dumps(d, ensure_ascii=False))
    finally:
        db.close()
