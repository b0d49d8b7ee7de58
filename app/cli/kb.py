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
    from app.kb import open_knowledge

    return open_knowledge(
        settings.content_dir, settings.index_path, settings.chroma_url, ingest_if_empty=ingest_if_empty
    )


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
    """Count the index's snippets by kind, locale and category."""
    kb = _open(Settings.from_env())
    table = Table("kind", "locale", "category", "snippets")
    counts: dict[tuple[str, str, str], int] = {}
    for s in kb.snippets:
        key = (s.kind, s.locale, s.category or "-")
        counts[key] = counts.get(key, 0) + 1
    for key in sorted(counts):
        table.add_row(*key, str(counts[key]))
    console.print(table)
    flagged = sum(1 for s in kb.snippets if s.flags)
    console.print(
        f"{kb.size()} snippets, {len({s.sku for s in kb.snippets if s.sku})} SKUs, {flagged} flagged reviews"
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
    for hit in kb.search(text, sku, locale=locale, kinds=(kind,), k=k, mode=mode):
        s = hit.snippet
        clean = kb.sanitizer.clean(s.text)
        note = "" if not clean.removed else f"dropped: {', '.join(clean.removed)}"
        table.add_row(s.id, f"{hit.score:.4f}", s.topic, str(s.rating or ""), s.text, note)
    console.print(table)


@kb_app.command("eval")
def evaluate(
    k: Annotated[int, typer.Option(help="Cut-off for recall.")] = 5,
    gate: Annotated[bool, typer.Option(help="Exit 1 below evals/retrieval/floor.yaml.")] = True,
) -> None:
    """Recall@k and MRR of dense, lexical and hybrid retrieval on evals/retrieval/queries.yaml."""
    from app.content import read_yaml
    from app.kb.evaluate import evaluate as run_eval
    from app.kb.evaluate import load_queries

    settings = Settings.from_env()
    kb = _open(settings)
    queries = load_queries(settings.content_dir / "evals" / "retrieval" / "queries.yaml")
    table = Table("queries", "retriever", f"recall@{k}", "MRR")
    hybrid = None
    for locale in (None, "zh-CN", "en-US"):
        for score in run_eval(kb, queries, k=k, locale=locale):
            table.add_row(
                f"{locale or 'all'} ({score.queries})", score.mode, f"{score.recall:.3f}", f"{score.mrr:.3f}"
            )
            if locale is None and score.mode == "hybrid":
                hybrid = score
    console.print(table)
    floor = read_yaml(settings.content_dir / "evals" / "retrieval" / "floor.yaml")["hybrid"]
    if gate and hybrid and (hybrid.recall < floor["recall"] or hybrid.mrr < floor["mrr"]):
        console.print(f"[red]hybrid below the floor: recall {hybrid.recall:.3f} / MRR {hybrid.mrr:.3f} "
                      f"(floor {floor['recall']} / {floor['mrr']})[/red]")  # fmt: skip
        raise typer.Exit(1)
