"""`copydesk guardrails`: measure the checks on the labelled corpus."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.config import Settings

guardrails_app = typer.Typer(help="The checks every variant must pass.", no_args_is_help=True)
console = Console()


@guardrails_app.command("eval")
def evaluate(
    show: Annotated[bool, typer.Option(help="List every miss and false positive.")] = False,
    gate: Annotated[bool, typer.Option(help="Exit 1 below evals/guardrails/targets.yaml.")] = True,
) -> None:
    """Recall per violation class and false positives on clean samples, over evals/guardrails/."""
    from app.content import read_yaml
    from app.evals.guardrail_corpus import evaluate as run

    root = Settings.from_env().content_dir
    report = run(root)
    table = Table("violation class", "samples", "caught", "recall")
    for name in sorted(report.classes):
        c = report.classes[name]
        table.add_row(name, str(c.samples), str(c.caught), f"{c.recall:.1%}")
    console.print(table)
    fp = Table("check", f"false positives on {report.clean} clean samples", "rate")
    for name in sorted(report.false_positives):
        fp.add_row(
            name,
            str(len(report.false_positives[name])),
            f"{len(report.false_positives[name]) / report.clean:.1%}",
        )
    console.print(fp)
    console.print(
        f"clean samples flagged by any check: {len(report.flagged_clean)}/{report.clean} "
        f"({report.false_positive_rate:.1%}); all checks per variant: p50 {report.percentile(50):.2f} ms, "
        f"p95 {report.percentile(95):.2f} ms"
    )
    if show:
        for c in report.classes.values():
            for sample in c.missed:
                console.print(f"[red]missed[/red] {c.name}: {sample}")
        for name, items in report.false_positives.items():
            for item in items:
                console.print(f"[yellow]false positive[/yellow] {name}: {item}")
    targets = read_yaml(root / "evals" / "guardrails" / "targets.yaml")
    low = [c.name for c in report.classes.values() if c.recall < targets["min_recall"]]
    if gate and (low or report.false_positive_rate > targets["max_false_positive_rate"]):
        console.print(
            f"[red]below target: recall {low or 'ok'}, false positives {report.false_positive_rate:.1%}[/red]"
        )
        raise typer.Exit(1)
