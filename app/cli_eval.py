"""`copydesk eval`: run the prompt-regression suite and write the report copywriters read."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.config import Settings

console = Console()


def eval_command(
    filter: Annotated[str | None, typer.Option("--filter", help="Only cases whose ID contains this.")] = None,  # noqa: A002
    tag: Annotated[list[str], typer.Option(help="Only cases with this tag (repeat to AND).")] = [],  # noqa: B006
    repeat: Annotated[int, typer.Option(min=1, max=20, help="Run each case N times.")] = 1,
    concurrency: Annotated[int, typer.Option(min=1, max=32, help="Cases in flight.")] = 2,
    out: Annotated[Path, typer.Option(help="Where results.json and report.html go.")] = Path("evals/out"),
    update_baseline: Annotated[bool, typer.Option(help="Write evals/baseline.json from this run.")] = False,
    gate: Annotated[bool, typer.Option(help="Exit 1 on any check violation or a pass-rate drop.")] = False,
) -> None:
    """Run the eval cases against the configured model (default: the embedded one)."""
    from app.content import read_yaml
    from app.evals.cases import load_cases
    from app.evals.judge import Judge
    from app.evals.report import baseline_of, by_group, compare, render_html, results_json, summarise, write
    from app.evals.runner import run_cases
    from app.service import build_service

    settings = Settings.from_env()
    root = settings.content_dir / "evals"
    cases = load_cases(root / "cases", filter, tag or None)
    if not cases:
        console.print("[red]no case matches[/red]")
        raise typer.Exit(2)
    config = read_yaml(root / "config.yaml")
    baseline_path = root / "baseline.json"
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
            return runs, service.llm.model, service.content.channels
        finally:
            await service.aclose()

    runs, model, channels = asyncio.run(go())
    prices = config.get("price_per_million_tokens", {})
    summary, groups, diff = summarise(runs, prices), by_group(runs, prices), compare(runs, baseline)
    results_path, html_path = write(
        out, {**results_json(runs, summary), "by_channel_locale": groups, "baseline": diff},
        render_html(runs, summary, groups, diff, baseline, channels, model),
    )  # fmt: skip
    table = Table("", "runs", "pass", "first try", "repaired", "fallback", "p50 ms", "p95 ms", "tokens/msg")
    for name, s in {"all": summary, **groups}.items():
        table.add_row(name, str(s["cases"]), f"{s['pass_rate']:.0%}", f"{s['first_try_compliance']:.0%}",
                      f"{s['repair_rate']:.0%}", f"{s['fallback_rate']:.0%}", f"{s['latency_ms_p50']:.0f}",
                      f"{s['latency_ms_p95']:.0f}", str(s["tokens_per_message"]))  # fmt: skip
    console.print(table)
    console.print(f"report: {html_path.resolve()}\nresults: {results_path.resolve()}")
    if diff["baseline_pass_rate"] is not None:
        console.print(
            f"baseline {diff['baseline_pass_rate']:.0%} → {diff['pass_rate']:.0%}; newly failing "
            f"{diff['newly_failing'] or 'none'}; newly passing {diff['newly_passing'] or 'none'}"
        )
    if update_baseline:
        merged = {"cases": {**baseline.get("cases", {}), **baseline_of(runs)["cases"]}, "model": model}
        baseline_path.write_text(json.dumps(merged, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
        console.print(f"baseline updated: {baseline_path}")
    if gate:
        variants = [(r.case.id, v) for r in runs if r.response for v in r.response["variants"]]
        violations = [
            f"{case}/{v['variant_id'][-1]}: {c['name']}"
            for case, v in variants
            for c in v["checks"]
            if not c["passed"]
        ]
        errors = [f"{r.case.id}: {r.error}" for r in runs if r.error]
        margin = float(config.get("pass_rate_margin", 0.1))
        dropped = (
            diff["baseline_pass_rate"] is not None and diff["pass_rate"] < diff["baseline_pass_rate"] - margin
        )
        if violations or errors or dropped:
            console.print(
                f"[red]gate failed: violations {violations}, errors {errors}, pass-rate drop {dropped}[/red]"
            )
            raise typer.Exit(1)
        console.print("[green]gate passed[/green]")
