"""The `copydesk` command, one module per command group: serve/generate, kb, eval, guardrails,
commerce, db, report.

The CLI is the top of the house with the API: it may import any stage.
"""

from __future__ import annotations

import typer

from app.cli.commerce import commerce_app
from app.cli.db import db_app
from app.cli.eval import eval_command
from app.cli.guardrails import guardrails_app
from app.cli.kb import kb_app
from app.cli.library import library_app
from app.cli.report import report_app
from app.cli.serve import generate, serve

app = typer.Typer(help="Marketing copy from an LLM, checked before it is sent.", no_args_is_help=True)
app.command()(serve)
app.command()(generate)
app.add_typer(commerce_app, name="commerce")
app.add_typer(db_app, name="db")
app.add_typer(kb_app, name="kb")
app.add_typer(library_app, name="library")
app.add_typer(guardrails_app, name="guardrails")
app.add_typer(report_app, name="report")
app.command("eval")(eval_command)


def main() -> None:
    app()
