"""`copydesk db upgrade` / `copydesk db version`: create or migrate the schema (the service also
upgrades on start), in SQLite under the data dir or the PostgreSQL of COPYDESK_DATABASE_URL."""

from __future__ import annotations

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
