"""`copydesk library review`: the review queue in a terminal (rich), over the service's HTTP API
like the page, so roles, scoping and the audit trail are the same: each pending variant with its
context, template, checks and facts, then approve / reject / retire / skip with a note."""

from __future__ import annotations

import os
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.panel import Panel
from rich.prompt import Prompt
from rich.table import Table

library_app = typer.Typer(help="The variant library: review what the model wrote.", no_args_is_help=True)
console = Console()

CHOICES = {"a": "approve", "r": "reject", "t": "retire", "s": "skip", "q": "quit"}


def _panel(e: dict[str, Any]) -> Panel:
    c = e["context"]
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold")
    table.add_column()
    for field, text in e["template"].items():
        table.add_row(field, text)
    table.add_row("", "")
    where = [c["journey"], c["channel"], c["locale"], ", ".join(c["skus"]), c["offer_id"] or "no offer",
             c["segment"] or "any segment", f"tone {e['tone']}"]  # fmt: skip
    table.add_row("context", " · ".join(where))
    table.add_row("made by", f"{e['source']} · {e['model']} · prompt {e['prompt_version']}")
    table.add_row("served", f"{e['served']} times · {e['duplicates']} near-duplicates linked")
    failing = [ch["name"] for ch in e["checks"] if not ch["passed"]]
    table.add_row("checks", f"{len(e['checks'])} passed" if not failing else "failed: " + ", ".join(failing))
    if e["flagged"]:
        table.add_row("[yellow]flagged[/yellow]", e["flag_reason"] or "")
    for sid, text in list(e["snippets"].items())[:4]:
        table.add_row("drew on", f"{sid}: {text[:100]}")
    return Panel(table, title=f"{e['library_id']} · {e['status']}", expand=False)


@library_app.command()
def review(
    url: Annotated[str, typer.Option(help="The running service.")] = "http://127.0.0.1:8000",
    key: Annotated[str, typer.Option(help="A key with the review role (default: COPYDESK_REVIEW_KEY).")] = "",
    reviewer: Annotated[str, typer.Option(help="Your name, as the audit trail should show it.")] = "",
    status: Annotated[
        str, typer.Option(help="Which entries: pending, approved, rejected, retired.")
    ] = "pending",
    limit: Annotated[int, typer.Option(help="At most this many entries.")] = 50,
) -> None:
    """Review library variants one by one."""
    key = key or os.environ.get("COPYDESK_REVIEW_KEY", "")
    headers = {"authorization": f"Bearer {key}"} if key else {}
    reviewer = reviewer or Prompt.ask("your name (for the audit trail)")
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        resp = http.get("/v1/library", params={"status": status, "limit": limit})
        if resp.status_code != 200:
            console.print(f"[red]{resp.status_code}: {resp.text}[/red]")
            raise typer.Exit(1)
        page = resp.json()
        console.print(f"{page['total']} {status} variant(s)")
        decided = 0
        for entry in page["items"]:
            console.print(_panel(entry))
            choice = Prompt.ask(
                "[a]pprove [r]eject re[t]ire [s]kip [q]uit", choices=list(CHOICES), default="s"
            )
            action = CHOICES[choice]
            if action == "quit":
                break
            if action == "skip":
                continue
            note = Prompt.ask("note", default="")
            done = http.post(
                f"/v1/library/{entry['library_id']}/{action}", json={"reviewer": reviewer, "note": note}
            )
            if done.status_code == 200:
                decided += 1
                console.print(f"[green]{entry['library_id']}: {done.json()['status']}[/green]")
            else:
                console.print(f"[red]{done.status_code}: {done.json().get('error', {}).get('message')}[/red]")
        console.print(f"{decided} decision(s) recorded")
