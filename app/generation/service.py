"""Builds the parts of a running copydesk from Settings: model, commerce client, knowledge, generator."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import httpx

from app.commerce.catalog import load_catalog
from app.commerce.client import CommerceClient
from app.commerce.server import create_commerce_app
from app.config import Settings
from app.content import Content, load_content
from app.generation.pipeline import Generator
from app.generation.prompts import PromptBook
from app.guardrails import default_checks
from app.guardrails.link_policy import LinkPolicy
from app.guardrails.pii_detector import PiiDetector
from app.guardrails.review_screen import ReviewScreen
from app.guardrails.sense import warm_up
from app.kb import open_knowledge
from app.kb.interface import KnowledgeBase
from app.learning import Context, Learning
from app.library.library import Library
from app.library.policy import LibraryPolicy
from app.llm.admission import Admission, AdmittedLLM
from app.llm.client import LLMClient
from app.llm.embedded import EmbeddedModelServer, LocalModel
from app.llm.transport import AzureTarget, ModelTransport
from app.store.audit import AuditLog
from app.store.database import Database, open_database

log = logging.getLogger(__name__)


@dataclass
class Service:
    settings: Settings
    content: Content
    generator: Generator
    llm: LLMClient
    commerce: CommerceClient
    knowledge: KnowledgeBase
    embedded: EmbeddedModelServer | None
    database: Database | None = None  # audit and request claims: SQLite, or the shared PostgreSQL

    @property
    def model_label(self) -> str:
        """The model actually served, for /readyz and the eval report: GGUF file and quantisation
        for the embedded one, else the configured name."""
        if self.embedded is not None:
            return self.embedded.model.label
        return self.llm.model

    async def aclose(self) -> None:
        if self.generator.audit is not None:
            self.generator.audit.close()
        if self.database is not None:
            self.database.close()
        await self.commerce.aclose()
        if close_knowledge := getattr(self.knowledge, "close", None):
            close_knowledge()
        await self.llm.transport.aclose()
        if self.embedded is not None:
            self.embedded.stop()


def start_embedded_model(settings: Settings) -> EmbeddedModelServer:
    """The embedded model server as the settings describe it, started (serve --workers starts one
    in the parent for all workers)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    embedded = EmbeddedModelServer(
        LocalModel.resolve(settings.local_model),
        threads=settings.local_model_threads,
        slots=settings.local_model_slots,
        context=settings.local_model_context,
        log_path=settings.data_dir / "embedded-model.log",
    )
    embedded.start()
    return embedded


def model_call_limit(settings: Settings) -> int:
    """Calls in flight per worker: COPYDESK_LLM_CONCURRENCY, else the embedded server's slots
    shared by the workers, else none (a remote provider's own limit answers 429)."""
    if settings.llm_concurrency > 0:
        return settings.llm_concurrency
    if settings.uses_embedded_model:
        return max(1, settings.local_model_slots // max(1, settings.workers))
    return 0


def library_weights(learning: Learning):
    """The library's approved variants drawn by the outcome allocation, arms keyed by library ID."""

    def weights(ctx: dict, arms: list[str]) -> dict[str, float]:
        """Empty while no arm has a send: then they rotate, least served first (variety)."""
        context = Context(ctx["journey"], ctx["channel"], ctx["locale"], ctx.get("segment"))
        shares = learning.allocate(context, arms).arms
        if not any(s.sends for s in shares):
            return {}
        return {s.arm: s.weight for s in shares}

    return weights


def build_service(settings: Settings) -> Service:
    """Start what the settings ask for; with nothing set, the embedded model and demo catalog."""
    content = load_content(settings.content_dir)
    database = open_database(settings.database_url, settings.data_dir, timeout_s=settings.database_timeout_s)
    catalog = load_catalog(content.knowledge_dir)
    pii = PiiDetector(settings.content_dir / "guardrails" / "pii.yaml")
    knowledge = open_knowledge(
        settings.content_dir, settings.index_path, settings.chroma_url, refresh_s=settings.kb_refresh_s,
        screen=ReviewScreen(settings.content_dir / "guardrails", pii),
    )  # fmt: skip

    timeout = httpx.Timeout(settings.commerce_timeout_s)
    if settings.commerce_url:
        http = httpx.AsyncClient(base_url=settings.commerce_url, timeout=timeout)
    else:  # the reference server over the demo catalog, in-process, same HTTP client code
        transport = httpx.ASGITransport(app=create_commerce_app(catalog))
        http = httpx.AsyncClient(base_url="http://commerce.local", transport=transport, timeout=timeout)
    commerce = CommerceClient(http, cache_ttl_s=settings.commerce_cache_ttl_s)

    embedded = None
    base_url, model = settings.llm_base_url, settings.model_name
    if settings.uses_embedded_model:
        embedded = start_embedded_model(settings)
        base_url, model = embedded.base_url, model or embedded.model.alias
    azure = None
    if settings.llm_azure_endpoint:
        version = settings.llm_api_version or ""
        azure = AzureTarget(settings.llm_azure_endpoint, version, settings.llm_deployment)
    client = LLMClient(
        ModelTransport(base_url, settings.llm_api_key or "not-needed", azure=azure),
        model or "default",
        json_mode=settings.json_mode,
        attempts=settings.llm_attempts,
        call_timeout_s=settings.llm_call_timeout_s,
    )
    llm = AdmittedLLM(client, Admission(model_call_limit(settings)))
    # The sense checks' dictionaries (jieba, wordfreq) load beside the start, not on a request.
    threading.Thread(target=warm_up, name="sense-warm-up", daemon=True).start()
    learning = Learning.load(database, settings.content_dir)
    library_policy = LibraryPolicy.load(settings.content_dir / "prompts" / "library.yaml")
    generator = Generator(
        content,
        PromptBook(content),
        llm,
        commerce,
        knowledge,
        default_checks(settings.content_dir / "guardrails", pii),
        deadline_s=settings.deadline_s,
        max_repairs=settings.max_repairs,
        pii=pii,
        commerce_retry_after_s=settings.commerce_retry_after_s,
        audit=AuditLog(database),
        links=LinkPolicy.load(settings.content_dir / "guardrails" / "links.yaml"),
        learning=learning,
        library=Library(database, library_policy, weights=library_weights(learning)),
    )
    return Service(settings, content, generator, llm, commerce, knowledge, embedded, database)
