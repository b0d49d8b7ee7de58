"""What `copydesk serve --workers N` does once, in the parent, before the workers start: one
embedded model for all of them, the knowledge index built, the schema migrated, and a directory
where the workers' Prometheus metrics meet."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable

from app.config import Settings

log = logging.getLogger(__name__)


_made: list[str] = []  # the metrics directory this process made, once


def metrics_dir_for(settings: Settings, undo: list[Callable[[], None]] | None = None) -> None:
    """With several workers, the directory where their Prometheus metrics meet. Before anything
    imports prometheus_client: it picks its value store at import."""
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="copydesk-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        _made.append(metrics_dir)
    if undo is not None:
        undo.extend(lambda d=d: shutil.rmtree(d, ignore_errors=True) for d in _made)


def prepare_workers(settings: Settings) -> Callable[[], None]:
    """Set the environment the workers inherit; returns what undoes it when serving ends."""
    undo: list[Callable[[], None]] = []
    metrics_dir_for(settings, undo)
    os.environ["COPYDESK_WORKERS"] = str(settings.workers)
    # The workers share one listening socket. libuv (uvloop) accepts every pending connection per
    # wake-up, so one worker took ~70 of 100 keep-alive connections arriving together and kept
    # them; one accept per wake-up spreads them (~54 / 46) and so the load.
    os.environ.setdefault("UV_TCP_SINGLE_ACCEPT", "1")

    from app.kb import open_knowledge
    from app.store.database import open_database

    open_database(settings.database_url, settings.data_dir).close()
    open_knowledge(settings.content_dir, settings.index_path, settings.chroma_url)  # built if empty

    if settings.uses_embedded_model:  # one model server for every worker, not one each
        from app.generation.service import model_call_limit, start_embedded_model

        model = start_embedded_model(settings)
        undo.append(model.stop)
        os.environ["COPYDESK_LLM_BASE_URL"] = model.base_url
        os.environ["COPYDESK_LLM_MODEL"] = settings.llm_model or model.model.alias
        os.environ["COPYDESK_LLM_JSON_MODE"] = settings.json_mode
        # The workers see a remote model now: each may keep its share of the slots busy.
        os.environ["COPYDESK_LLM_CONCURRENCY"] = str(model_call_limit(settings))
        log.info("embedded model for %d workers at %s", settings.workers, model.base_url)

    def cleanup() -> None:
        for step in reversed(undo):
            step()

    return cleanup
