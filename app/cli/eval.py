"""`copydesk eval`: run the prompt-regression suite and write the report copywriters read."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.config import Settings

console = Console()


def eval_command(
    filter: Annotated[str | None, typer.Option("--filter", help="Only cases whose ID contains this.")] = None,  # noqa: A002
    tag: Annotated[list[str], typer.Option(help="Only cases with this tag (repeat to AND).")] = [],  # noqa: B006
    repeat: Annotated[int, typer.Option(min=1, max=20, help="Run each case N times.")] = 1,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=32, help="Cases in flight (default 1 on the embedded model, else 4)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Where results.json and report.html go.")] = Path("evals/out"),
    update_baseline: Annotated[bool, typer.Option(help="Write evals/baseline.json from this run.")] = False,
    gate: Annotated[
        bool, typer.Option(help="Exit 1 on a check violation, an error or a drop below the baseline.")
    ] = False,
    baseline_file: Annotated[
        Path | None, typer.Option("--baseline", help="Compare with this file (default evals/baseline.json).")
    ] = None,
) -> None:
    """Run the eval cases against the configured model (default: the embedded one)."""
    from app.content import read_yaml
    from app.evals.cases import load_cases
    from app.evals.gate import judge_gate
    from app.evals.judge import Judge
    from app.evals.report import baseline_of, by_group, compare, render_html, results_json, summarise, write
    from app.evals.runner import run_cases
    from app.generation.service import build_service

    settings = Settings.from_env()
    if concurrency is None:  # the embedded model shares the local CPU: one case, its variants in parallel
        concurrency = 1 if settings.uses_embedded_model else 4
    root = settings.content_dir / "evals"
    cases = load_cases(root / "cases", filter, tag or None)
    if not cases:
        console.print("[red]no case matches[/red]")
        raise typer.Exit(2)
    config = read_yaml(root / "config.yaml")
    baseline_path = baseline_file or root / "baseline.json"
    baseline = json.loads(baseline_path.read_text()) if baseline_path.exists() else {}

    async def go():
        service = await asyncio.to_thread(build_service, settings)
        columns = (TextColumn("evals"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            with Progress(*columns, console=console) as progress:
                task = progress.add_task("run", total=len(cases) * repeat)
                runs = await run_cases(
                    service, cases, concurrency=concurrency, repeat=repeat,
                    on_done=lambda _: progress.advance(task), judge=Judge.from_env(root, config),
                )  # fmt: skip
            return runs, service.llm.model, service.model_label, service.content.channels
        finally:
            await service.aclose()

    runs, model, served, channels = asyncio.run(go())
    prices = config.get("price_per_million_tokens", {})
    summary, groups, diff = summarise(runs, prices), by_group(runs, prices), compare(runs, baseline)
    results_path, html_path = write(
        out, {**results_json(runs, summary), "model": served, "by_channel_locale": groups, "baseline": diff},
        render_html(runs, summary, groups, diff, baseline, channels, served),
    )  # fmt: skip
    table = Table(
        "", "runs", "pass", "held", "1st", "fixed", "fb", "p50 s", "p95 s", "tok",
        box=box.SIMPLE, pad_edge=False,
        caption="held: assertions that held · 1st: first-try compliant · fixed: repaired · fb: fallback · "
        "tok: tokens per message",
    )  # fmt: skip
    table.columns[0].no_wrap = True
    for name, s in {"all": summary, **groups}.items():
        rates = ("pass_rate", "assertion_score", "first_try_compliance", "repair_rate", "fallback_rate")
        table.add_row(
            name.replace(" · ", " "), str(s["cases"]), *(f"{s[k]:.0%}" for k in rates),
            f"{s['latency_ms_p50'] / 1000:.1f}", f"{s['latency_ms_p95'] / 1000:.1f}",
            f"{s['tokens_per_message']:.0f}",
        )  # fmt: skip
    console.print(table)
    console.print(f"report: {html_path.resolve()}\nresults: {results_path.resolve()}")
    if diff["baseline_pass_rate"] is not None:
        console.print(
            f"baseline {diff['baseline_pass_rate']:.0%} → {diff['pass_rate']:.0%}; newly failing "
            f"{diff['newly_failing'] or 'none'}; newly passing {diff['newly_passing'] or 'none'}"
        )
    if diff.get("score") is not None:
        console.print(f"assertions held: baseline {diff['baseline_score']:.0%} → {diff['score']:.0%}")
    for case, outcome in diff["flaky"].items():
        console.print(f"[yellow]flaky: {case} {outcome}[/yellow]")
    if update_baseline:
        merged = {"cases": {**baseline.get("cases", {}), **baseline_of(runs)["cases"]}, "model": model}
        baseline_path.write_text(json.dumps(merged, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
        console.print(f"baseline updated: {baseline_path}")
    if gate:
        verdict = judge_gate(runs, diff, config)
        if not verdict.passed:
            console.print("[red]gate failed:[/red]")
            for reason in verdict.reasons():
                console.print(f"[red]  {reason}[/red]")
            raise typer.Exit(1)
        console.print("[green]gate passed[/green]")
