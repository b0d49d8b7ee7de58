"""What `copydesk eval` prints for its gates: the deterministic layers, the replay and the
statistical verdict with what the run could and could not see."""

from __future__ import annotations

import time

import typer
from rich import box
from rich.console import Console
from rich.table import Table

console = Console()


def static_command(settings, cases, config: dict, update_known: bool) -> None:  # noqa: ANN001
    """`copydesk eval --static`: exit 1 on any failure not accepted in the known-failures file."""
    from app.content import read_yaml
    from app.evals.static_gate import apply_known, known_path, run_static_gate, write_known

    started = time.perf_counter()
    layers = run_static_gate(settings, cases, config)
    path = known_path(settings.content_dir, config)
    if update_known:
        write_known(path, layers)
        console.print(f"known failures written: {path}")
    fixed = apply_known(layers, read_yaml(path) if path.exists() else {})
    table = Table("deterministic layer", "checked", "new failures", "known", box=box.SIMPLE, pad_edge=False)
    for layer in layers:
        new = str(len(layer.new)) if not layer.note else layer.note
        table.add_row(layer.name, str(layer.checked), new, str(len(layer.known)))
    console.print(table)
    for layer in layers:
        for key, detail in layer.new:
            console.print(f"[red]  {layer.name}: {key} — {detail}[/red]", soft_wrap=True)
    for entry in fixed:
        console.print(f"[green]  fixed, delete from {path.name}: {entry}[/green]", soft_wrap=True)
    seconds = time.perf_counter() - started
    if any(layer.new for layer in layers):
        console.print(f"[red]deterministic layers: failed[/red] ({seconds:.1f} s)")
        raise typer.Exit(1)
    console.print(f"[green]deterministic layers: passed[/green] ({seconds:.1f} s)")


def print_verdict(verdict, require_evidence: bool) -> int:  # noqa: ANN001
    from app.evals.gate import FAILED, NO_EVIDENCE, evidence_table

    table = Table(
        "assertion kind", "baseline", "now", "p", "detectable drop",
        box=box.SIMPLE, pad_edge=False,
        caption=f"✗ dropped · ? this run could not see a drop of {verdict.min_drop:.0%} · "
        "detectable drop: smallest fall this run would catch 80 % of the time (— none)",
    )  # fmt: skip
    for row in evidence_table(verdict):
        table.add_row(*row)
    console.print(table)
    if verdict.status == FAILED:
        console.print("[red]gate failed:[/red]")
        for reason in verdict.reasons():
            console.print(f"[red]  {reason}[/red]", soft_wrap=True)
        return 1
    if verdict.status == NO_EVIDENCE:
        console.print(
            "[yellow]gate: not enough evidence[/yellow] (no violation, no error, no significant drop; "
            "but this run could not have seen every drop it should):"
        )
        for line in verdict.blind:
            console.print(f"[yellow]  {line}[/yellow]", soft_wrap=True)
        return 1 if require_evidence else 0
    console.print("[green]gate passed[/green]")
    return 0


def print_replay(verdict, require_evidence: bool) -> int:  # noqa: ANN001
    from app.evals.replay_gate import FAILED, NO_EVIDENCE

    console.print(
        f"replay: {verdict.replayed} recorded runs; {len(verdict.improved)} assertions now hold that failed, "
        f"{len(verdict.tightened)} answers now stopped that passed"
    )
    if verdict.status == FAILED:
        console.print("[red]replay gate failed:[/red]")
        for reason in verdict.reasons():
            console.print(f"[red]  {reason}[/red]", soft_wrap=True)
        return 1
    if verdict.status == NO_EVIDENCE:
        console.print("[yellow]replay gate: not enough evidence[/yellow]")
        for reason in verdict.reasons():
            console.print(f"[yellow]  {reason}[/yellow]", soft_wrap=True)
        return 1 if require_evidence else 0
    console.print("[green]replay gate passed[/green]")
    return 0
