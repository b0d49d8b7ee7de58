"""`copydesk kb`: build the knowledge index, look inside it, measure retrieval."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.config import Settings

kb_app = typer.Typer(
    help="The knowledge base: product facts, reviews and FAQ in Chroma.", no_args_is_help=True
)
console = Console()


def _open(settings: Settings, ingest_if_empty: bool = True):
    """The knowledge base as the service opens it: reviews screened by the guardrails' checks."""
    from app.guardrails.review_screen import ReviewScreen
    from app.kb import open_knowledge

    return open_knowledge(
        settings.content_dir, settings.index_path, settings.chroma_url, ingest_if_empty=ingest_if_empty,
        screen=ReviewScreen(settings.content_dir / "guardrails"),
    )  # fmt: skip


def _journeys(settings: Settings) -> list[str]:
    from app.content import read_yaml

    return list(read_yaml(settings.content_dir / "knowledge" / "retrieval.yaml")["journey_topics"])


@kb_app.command()
def ingest(
    path: Annotated[Path | None, typer.Argument(help="Knowledge folder; default knowledge/.")] = None,
) -> None:
    """Build or update the index: unchanged snippets skipped, changed replaced, deleted removed."""
    from app.kb.documents import load_snippets
    from app.kb.ingest import ingest as run_ingest

    settings = Settings.from_env()
    folder = path or settings.content_dir / "knowledge"
    if not folder.is_dir():
        console.print(f"[red]{folder} is not a folder[/red]")
        raise typer.Exit(2)
    snippets = load_snippets(folder)
    kb = _open(settings, ingest_if_empty=False)
    columns = (TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("ingest", total=None)
        summary = run_ingest(
            kb.collection, snippets, lambda done, total: progress.update(task, completed=done, total=total)
        )
    where = settings.chroma_url or settings.index_path / "chroma"
    console.print(f"{summary} → {kb.collection.count()} snippets in {where}")


@kb_app.command()
def stats() -> None:
    """Count the index's snippets by kind, locale and category, and list the reviews never quoted."""
    kb = _open(Settings.from_env())
    table = Table("kind", "locale", "category", "snippets")
    counts: dict[tuple[str, str, str], int] = {}
    for s in kb.snippets:
        key = (s.kind, s.locale, s.category or "-")
        counts[key] = counts.get(key, 0) + 1
    for key in sorted(counts):
        table.add_row(*key, str(counts[key]))
    console.print(table)
    unfit = Table("review", "sku", "locale", "why it is never quoted", "text", title="Reviews never quoted")
    for sid, reasons in sorted(kb.unfit.items()):
        s = kb.snippets[kb.position[sid]]
        unfit.add_row(sid, s.sku, s.locale, "; ".join(reasons), s.text)
    console.print(unfit)
    flagged = sum(1 for s in kb.snippets if s.flags)
    skus = len({s.sku for s in kb.snippets if s.sku})
    console.print(
        f"{kb.size()} snippets, {skus} SKUs, {flagged} flagged reviews, "
        f"{len(kb.unfit)} never quoted (flagged or failing the sensitive-word / PII checks)"
    )


@kb_app.command()
def query(
    text: Annotated[str, typer.Argument(help="What to look for.")],
    sku: Annotated[list[str], typer.Option(help="Only these SKUs; repeat for several.")] = [],  # noqa: B006
    locale: Annotated[str | None, typer.Option(help="zh-CN or en-US; default both.")] = None,
    kind: Annotated[str, typer.Option(help="review, fact or faq.")] = "review",
    mode: Annotated[str, typer.Option(help="dense, lexical or hybrid.")] = "hybrid",
    k: Annotated[int, typer.Option(min=1, max=50)] = 5,
) -> None:
    """Search the index as the service does and show what comes back, raw and sanitised."""
    kb = _open(Settings.from_env())
    table = Table("id", "score", "topic", "rating", "text", "sanitised", show_lines=True)
    for hit in kb.search(text, sku, locale=locale, kinds=(kind,), k=k, mode=mode, quotable_only=False):
        s = hit.snippet
        clean = kb.sanitizer.clean(s.text)
        note = "" if not clean.removed else f"dropped: {', '.join(clean.removed)}"
        if s.id in kb.unfit:
            note = "; ".join(("never quoted: " + "; ".join(kb.unfit[s.id]), note)).strip("; ")
        table.add_row(s.id, f"{hit.score:.4f}", s.topic, str(s.rating or ""), s.text, note)
    console.print(table)


@kb_app.command("eval")
def evaluate(
    gate: Annotated[bool, typer.Option(help="Exit 1 below evals/retrieval/floor.yaml.")] = True,
) -> None:
    """Retrieval on the service's path, per labelled set of evals/retrieval/floor.yaml and locale: how
    often each channel's prompt quotes a review that answers the concern, and the search alone."""
    from app.kb.evaluate import check_floor

    settings = Settings.from_env()
    kb = _open(settings)
    failures = []
    for report in check_floor(kb, settings.content_dir, _journeys(settings)):
        for r in report.locales:
            title = (
                f"{report.name} · {r.locale}: {r.queries} concerns, {r.answerable} answerable in "
                f"{r.locale}, {r.gaps} answered only in the other locale"
            )
            table = Table("channel", "quoted (concern as asked)", "requests", "worst journey",
                          "quoted (concern as its topic)", title=title)  # fmt: skip
            for q, t in zip(r.quoted, r.by_topic, strict=True):
                worst = f"{q.worst_journey} {q.worst_rate:.3f}"
                table.add_row(q.channel, f"{q.rate:.3f}", str(q.requests), worst, f"{t.rate:.3f}")
            console.print(table)
            search = Table("search alone", "recall@5", "MRR", "queries")
            for sc in r.search:
                search.add_row(sc.mode, f"{sc.recall:.3f}", f"{sc.mrr:.3f}", str(sc.queries))
            console.print(search)
        failures += report.failures
    for f in failures:
        console.print(f"[red]below the floor: {f}[/red]")
    if gate and failures:
        raise typer.Exit(1)


@kb_app.command()
def calibrate() -> None:
    """Learn the fusion's lexical weight per locale and the concern topic's vote and bonus on the
    calibration split (plus the project's own set) and print them, to be written into
    knowledge/retrieval.yaml (`fusion.lexical_weight`, `concern_topic`)."""
    from datetime import date

    from app.kb.calibrate import learn_topic_bonus, learn_weights
    from app.kb.evaluate import load_queries

    settings = Settings.from_env()
    kb = _open(settings)
    folder = settings.content_dir / "evals" / "retrieval"
    queries = load_queries(folder / "independent.yaml", "calibration") + load_queries(folder / "queries.yaml")
    for c in learn_weights(kb, queries):
        curve = " ".join(f"{w:g}:{m:.3f}" for w, m in c.curve)
        now = kb.lexical_weight(c.locale)
        console.print(
            f"{c.locale}: lexical_weight {c.weight:g} (MRR {c.mrr:.3f}, dense alone {c.dense_mrr:.3f}, "
            f"{c.queries} queries; currently {now:g})\n  {curve}"
        )
    topic = learn_topic_bonus(kb, queries, "cart_abandon", date.today())
    grid = " ".join(f"{v:g}/{b:g}:{m:.3f}" for v, b, m in topic.grid)
    now = kb.config.get("concern_topic", {})
    console.print(
        f"concern_topic: topic_vote {topic.vote:g}, bonus {topic.bonus:g} (SMS + e-mail quoted "
        f"{topic.score:.3f}; currently {now.get('topic_vote')}, {now.get('bonus')})\n  vote/bonus: {grid}"
    )
