"""`copydesk eval`: run the prompt-regression suite and write the report copywriters read."""

from __future__ import annotations

import asyncio
import dataclasses
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
    repeat: Annotated[
        int | None, typer.Option(min=1, max=50, help="Run each case N times (--gate: gate.repeat).")
    ] = None,
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
    static: Annotated[
        bool,
        typer.Option("--static", help="Only the deterministic layers, no model; exit 1 on a new failure."),
    ] = False,
    update_known: Annotated[
        bool, typer.Option(help="With --static: accept today's failures into evals/static_known.yaml.")
    ] = False,
    replay: Annotated[
        bool, typer.Option(help="Serve recorded answers (evals/recorded/) instead of calling a model.")
    ] = False,
    record: Annotated[
        bool, typer.Option(help="Write this run's model answers and outcomes to evals/recorded/.")
    ] = False,
    update_recorded: Annotated[
        bool, typer.Option(help="With --replay: accept today's outcomes on the recorded answers (no model).")
    ] = False,
    recorded_dir: Annotated[
        Path | None, typer.Option("--recorded", help="Recorded answers' folder (default: recorded_dir).")
    ] = None,
    require_evidence: Annotated[
        bool, typer.Option(help='Exit 1 on "not enough evidence" too (gate.require_evidence).')
    ] = False,
) -> None:
    """Run the eval cases against the configured model (default: the embedded one)."""
    from app.cli.eval_gate import print_replay, print_verdict
    from app.content import read_yaml
    from app.evals.cases import load_cases
    from app.evals.evidence import case_kinds
    from app.evals.gate import gate_settings, judge_gate
    from app.evals.judge import Judge
    from app.evals.recording import (
        Book,
        RecordingLLM,
        ReplayLLM,
        ToneTagging,
        accept_outcomes,
        load_recorded,
        write_recorded,
    )  # fmt: skip
    from app.evals.replay_gate import judge_replay, outcome_of
    from app.evals.report import baseline_of, by_group, compare, render_html, results_json, summarise, write
    from app.evals.report_gate import gate_section, with_gate_section
    from app.evals.runner import run_cases
    from app.evals.static_gate import NO_MODEL_URL
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
    if static:
        from app.cli.eval_gate import static_command

        static_command(settings, cases, config, update_known)
        return
    baseline_path = baseline_file or root / "baseline.json"
    baseline = json.loads(baseline_path.read_text()) if baseline_path.exists() else {}
    repeat = repeat or (int(config.get("gate", {}).get("repeat", 1)) if gate else 1)
    recorded_dir = recorded_dir or settings.content_dir / config.get("recorded_dir", "evals/recorded")
    recorded = load_recorded(recorded_dir, [c.id for c in cases]) if replay else {}
    if replay:
        cases = [c for c in cases if c.id in recorded] or cases
        settings = dataclasses.replace(settings, llm_base_url=NO_MODEL_URL)
    book, replayer = Book(), ReplayLLM(recorded, model=_recorded_model(recorded))

    async def go():
        service = await asyncio.to_thread(build_service, settings)
        drafter = service.generator.drafter
        drafter.llm = replayer if replay else RecordingLLM(drafter.llm, book)
        service.generator.drafter = ToneTagging(drafter)  # type: ignore[assignment]
        columns = (TextColumn("evals"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        repeats = {c: len(r.get("outcomes", {})) or 1 for c, r in recorded.items()} if replay else None
        try:
            with Progress(*columns, console=console) as progress:
                total = sum(repeats.values()) if repeats else len(cases) * repeat
                task = progress.add_task("run", total=total)
                runs = await run_cases(
                    service, cases, concurrency=concurrency, repeat=repeat, repeats=repeats,
                    on_done=lambda _: progress.advance(task), judge=Judge.from_env(root, config),
                )  # fmt: skip
            versions = {c.id: service.generator.prompts.version(c.request["channel"], c.request["locale"])
                        for c in cases}  # fmt: skip
            if replay:
                return runs, replayer.model, replayer.model, service.content.channels, versions
            return runs, service.llm.model, service.model_label, service.content.channels, versions
        finally:
            await service.aclose()

    runs, model, served, channels, versions = asyncio.run(go())
    prices = config.get("price_per_million_tokens", {})
    summary, groups, diff = summarise(runs, prices), by_group(runs, prices), compare(runs, baseline)
    verdict = judge_gate(runs, baseline, config) if gate and not replay else None
    replayed = judge_replay(runs, recorded, replayer.stale) if replay else None
    section = gate_section(verdict, replayed, {c: r.get("prompts", {}) for c, r in recorded.items()},
                           replayer.prompts.prompts)  # fmt: skip
    results_path, html_path = write(
        out, {**results_json(runs, summary), "model": served, "by_channel_locale": groups, "baseline": diff},
        with_gate_section(render_html(runs, summary, groups, diff, baseline, channels, served), section),
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
        kinds = case_kinds(runs)
        fresh = {c: {**v, "kinds": kinds[c]} for c, v in baseline_of(runs)["cases"].items()}
        merged = {"cases": {**baseline.get("cases", {}), **fresh}, "model": model}
        baseline_path.write_text(json.dumps(merged, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
        console.print(f"baseline updated: {baseline_path}")
    if record and not replay:
        outcomes: dict[str, dict[int, dict]] = {}
        for r in runs:
            outcomes.setdefault(r.case.id, {})[r.repeat] = outcome_of(r)
        written = write_recorded(recorded_dir, book, outcomes, model, versions)
        console.print(f"recorded the answers of {len(written)} case(s) in {recorded_dir}")
    if replay and update_recorded:
        written = accept_outcomes(
            recorded_dir, recorded, {(r.case.id, r.repeat): outcome_of(r) for r in runs}
        )
        console.print(
            f"accepted today's outcomes on the recorded answers of {written} case(s) in {recorded_dir}"
        )
        replayed = judge_replay(runs, load_recorded(recorded_dir, list(recorded)), replayer.stale)
    exit_code = 0
    if replayed is not None:
        exit_code = print_replay(replayed, require_evidence or gate_settings(config)["require_evidence"])
    if verdict is not None:
        exit_code = max(
            exit_code, print_verdict(verdict, require_evidence or gate_settings(config)["require_evidence"])
        )
    if exit_code:
        raise typer.Exit(exit_code)


def _recorded_model(recorded: dict[str, dict]) -> str:
    models = sorted({r.get("model", "?") for r in recorded.values()})
    return "replay of " + (", ".join(models) or "nothing")
