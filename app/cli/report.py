"""`copydesk report performance`: the outcomes per arm and context as one self-contained HTML page,
beside the eval report (which links to it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from app.config import Settings

report_app = typer.Typer(help="Reports on what the service has done.", no_args_is_help=True)
console = Console()


@report_app.command()
def performance(
    out: Annotated[Path, typer.Option(help="The HTML page to write.")] = Path("evals/out/performance.html"),
    journey: Annotated[str | None, typer.Option(help="Only this journey.")] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel.")] = None,
    since: Annotated[str | None, typer.Option(help="Only events from this day on (YYYY-MM-DD, UTC).")] = None,
) -> None:
    """Per context: each arm's rates with 95 % intervals, sends and weights over time, what the
    allocation changed and why; every client's, from the service's database."""
    from datetime import date

    from app.learning import Learning
    from app.learning.performance import Filters
    from app.learning.report import render
    from app.store.database import open_database

    if since is not None:
        try:
            since = date.fromisoformat(since).isoformat()
        except ValueError as exc:
            raise typer.BadParameter("a day, YYYY-MM-DD", param_hint="--since") from exc
    settings = Settings.from_env()
    db = open_database(settings.database_url, settings.data_dir)
    try:
        learning = Learning.load(db, settings.content_dir)
        assert learning.store is not None
        page = render(learning.store, learning.policy, Filters(journey, channel, since_day=since))
    finally:
        db.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    console.print(f"report: {out.resolve()}")
