"""`copydesk guardrails`: measure the checks on the hand-written corpus and on the independent
reference set built from public lists."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.config import Settings

guardrails_app = typer.Typer(help="The checks every variant must pass.", no_args_is_help=True)
console = Console()


@guardrails_app.command("eval")
def evaluate(
    show: Annotated[bool, typer.Option(help="List every miss and false positive.")] = False,
    gate: Annotated[bool, typer.Option(help="Exit 1 below the targets of both sets.")] = True,
) -> None:
    """Recall and false positives on evals/guardrails/corpus.yaml (hand-written) and on
    evals/guardrails/reference/ (public lists, evasions by code, third-party PII)."""
    from app.content import read_yaml
    from app.evals.guardrail_corpus import evaluate as run
    from app.evals.guardrail_refset import REFERENCE, below_targets
    from app.evals.guardrail_refset import evaluate as run_reference

    root = Settings.from_env().content_dir
    report = run(root)
    table = Table("violation class", "samples", "caught", "recall", title="hand-written corpus (corpus.yaml)")
    for name in sorted(report.classes):
        c = report.classes[name]
        table.add_row(name, str(c.samples), str(c.caught), f"{c.recall:.1%}")
    console.print(table)
    fp = Table("check", f"false positives on {report.clean} clean samples", "rate")
    for name in sorted(report.false_positives):
        n = len(report.false_positives[name])
        fp.add_row(name, str(n), f"{n / report.clean:.1%}")
    console.print(fp)
    console.print(
        f"clean samples flagged by any check: {len(report.flagged_clean)}/{report.clean} "
        f"({report.false_positive_rate:.1%}); all checks per variant: p50 {report.percentile(50):.2f} ms, "
        f"p95 {report.percentile(95):.2f} ms"
    )
    ref = run_reference(root)
    _print_reference(ref)
    if show:
        for c in report.classes.values():
            for sample in c.missed:
                console.print(f"[red]missed[/red] {c.name}: {sample}")
        for name, items in report.false_positives.items():
            for item in items:
                console.print(f"[yellow]false positive[/yellow] {name}: {item}")
        for cell in [*ref.recall.values(), *ref.clean.values()]:
            for item in cell.wrong:
                label = "missed" if (cell.source, cell.category) in ref.recall else "false positive"
                console.print(f"[red]{label}[/red] {cell.source}/{cell.category}: {escape(item)}")
    targets = read_yaml(root / "evals" / "guardrails" / "targets.yaml")
    low = [c.name for c in report.classes.values() if c.recall < targets["min_recall"]]
    corpus_bad = low or report.false_positive_rate > targets["max_false_positive_rate"]
    ref_bad = below_targets(ref, read_yaml(root / REFERENCE / "targets.yaml"))
    if gate and (corpus_bad or ref_bad):
        console.print(
            f"[red]below target: corpus recall {low or 'ok'}, "
            f"false positives {report.false_positive_rate:.1%}; reference {ref_bad or 'ok'}[/red]"
        )
        raise typer.Exit(1)


def _print_reference(ref) -> None:
    table = Table("source", "category", "samples", "caught", "recall", title="reference set (public lists)")
    for (source, category), c in sorted(ref.recall.items()):
        name = f"{source} (held out)" if c.held_out else source
        table.add_row(name, category, str(c.samples), str(c.right), f"{c.rate:.1%}")
    console.print(table)
    cats = Table("category (lists the checks draw on)", "samples", "caught", "recall")
    for category, (right, n) in sorted(ref.by_category(held_out=False).items()):
        cats.add_row(category, str(n), str(right), f"{right / n:.1%}")
    console.print(cats)
    clean = Table("clean look-alikes", "samples", "flagged", "rate")
    for (source, category), c in sorted(ref.clean.items()):
        clean.add_row(f"{source} / {category}", str(c.samples), str(c.samples - c.right), f"{1 - c.rate:.1%}")
    console.print(clean)
    caught, n = ref.total(ref.recall, held_out=False)
    held, held_n = ref.total(ref.recall, held_out=True)
    passed, clean_n = ref.total(ref.clean)
    console.print(
        f"reference: recall {caught}/{n} ({caught / max(n, 1):.1%}) on the lists the checks draw on, "
        f"{held}/{held_n} ({held / max(held_n, 1):.1%}) on held-out lists; clean look-alikes flagged "
        f"{clean_n - passed}/{clean_n} ({ref.false_positive_rate:.1%}); "
        f"{len(ref.skipped)} list terms skipped (reasons in reference.yaml)"
    )
