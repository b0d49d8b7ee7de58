"""The FastAPI app: POST /v1/generate with idempotent replays, the audit read-back, health and readiness.

No `from __future__ import annotations` here: the request and response models are built at start-up
from the content files, and FastAPI must see them as objects, not as names to look up."""

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__
from app.api import roles
from app.api.auth import bearer, matches
from app.api.clients import ClientLimits
from app.api.docs import mount_offline_docs
from app.api.erasure import erasure_router
from app.api.errors import error, error_responses, validation_error
from app.api.guard import Guard
from app.api.learning import router as learning_router
from app.api.library import router as library_router
from app.api.lifecycle import DRAIN, CloseWhenDraining
from app.api.limits import BodyLimit
from app.api.metrics import metrics_response, observed
from app.api.once import answer_once
from app.api.purging import ScheduledPurge
from app.config import Settings
from app.content import Content, load_content
from app.errors import RequestError
from app.generation.service import Service, build_service
from app.observability import request_context, tracing
from app.personal import Personal
from app.schemas import request_model, response_model
from app.store.claims import RequestClaims
from app.store.database import DatabaseUnavailable, open_database, run_for
from app.store.idempotency import body_hash
from app.store.replays import ReplaySeal

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    """The app; `service` may be passed in by tests that build it themselves."""
    settings = settings or Settings.from_env()
    # The published schema's enums come from the content files the service will serve.
    content: Content = service.content if service is not None else load_content(settings.content_dir)
    tones = tuple(t.name for t in content.tones)
    Request_ = request_model(tuple(content.channels), tuple(content.journeys), tones)  # noqa: N806
    Response_ = response_model(tuple(t.name for t in content.tones))  # noqa: N806
    limits = ClientLimits(settings)
    tracing.configure()  # OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set; off otherwise
    seal = ReplaySeal(settings.replay_keys)
    name_max_chars = int(content.formats["name_max_chars"])

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        svc = service or await asyncio.to_thread(build_service, settings)
        app.state.service = svc
        db = svc.database or open_database(settings.database_url, settings.data_dir)
        app.state.claims = RequestClaims(db, lease_s=settings.claim_lease_s, ttl_s=settings.replay_window_s)
        purge = ScheduledPurge(settings)  # retention: old audit records, replays past their window
        purge.start()
        try:
            yield
        finally:
            await purge.aclose()
            if service is None:
                await svc.aclose()
            await asyncio.to_thread(tracing.flush)

    app = FastAPI(
        title="copydesk",
        version=__version__,
        description="Marketing message copy from an LLM, checked before it is sent.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry=tracing.fastapi_telemetry(),  # its server span while traces are on
    )
    mount_offline_docs(app)
    app.state.settings = settings
    app.include_router(library_router)  # the variant library, its review and page
    app.add_middleware(BodyLimit)

    @app.exception_handler(RequestValidationError)
    async def on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc)

    @app.exception_handler(RequestError)
    async def on_request_error(_: Request, exc: RequestError) -> JSONResponse:
        return error(exc.status, exc.code, exc.message, exc.field, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not parse the body: bad UTF-8, nesting, digits
            return error(400, "invalid_json", "the request body is not valid JSON", "body")
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error(exc.status_code, code, str(exc.detail), headers=exc.headers)  # 405 keeps Allow

    @app.exception_handler(DatabaseUnavailable)
    async def on_database_down(_: Request, exc: DatabaseUnavailable) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return error(
            503,
            "database_unavailable",
            "the database is unavailable; nothing was sent without its audit record, try again",
            headers={"Retry-After": str(max(1, round(settings.database_timeout_s)))},
        )

    @app.exception_handler(Exception)
    async def on_crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error(500, "internal_error", "copydesk failed to handle this request; it was logged")

    app.add_middleware(Guard, settings=settings, limits=limits)  # key, client name, its limits
    app.add_middleware(CloseWhenDraining)  # after SIGTERM: no keep-alive beyond the current response
    app.include_router(learning_router)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus text; not here when COPYDESK_METRICS_ADDR serves it on its own address, and
        only with `Authorization: Bearer <COPYDESK_METRICS_KEY>` when that is set."""
        if settings.metrics_addr is not None:
            return error(404, "not_found", "metrics are served on COPYDESK_METRICS_ADDR")
        if settings.metrics_key and not matches(bearer(request), settings.metrics_key):
            return error(
                401, "unauthorized", "send Authorization: Bearer <COPYDESK_METRICS_KEY>", "Authorization"
            )
        return metrics_response()

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "a part is missing, or shutting down"}})
    async def readyz(request: Request) -> JSONResponse:
        if DRAIN.draining:  # SIGTERM: a load balancer should stop sending at once
            return JSONResponse(status_code=503, content={"ready": False, "draining": True, "missing": []})
        svc: Service = request.app.state.service
        model_ok, model_detail = await _model_ready(svc)
        commerce_ok = await svc.commerce.ping()
        checks = {
            "model": {"ready": model_ok, "detail": model_detail, "served": svc.model_label},
            "commerce": {"ready": commerce_ok},
            "knowledge": await asyncio.to_thread(_knowledge_ready, svc),
            "database": await _database_ready(svc),
        }
        missing = [name for name, c in checks.items() if not c["ready"]]
        return JSONResponse(
            status_code=503 if missing else 200,
            content={"ready": not missing, "draining": False, "missing": missing, "checks": checks},
        )

    @app.post(
        "/v1/generate",
        response_model=Response_,
        responses={**_REPLAY, **error_responses(400, 401, 403, 404, 409, 413, 422, 429, 500, 502, 503)},
        tags=["copy"],
    )
    async def generate(req: Request_, request: Request) -> Any:  # type: ignore[valid-type]
        svc: Service = request.app.state.service
        roles.require(settings, "generate")
        request_context.request_id.set(req.request_id)
        digest = body_hash(req.model_dump(mode="json"))
        return await observed(  # one generation per (client, request_id) across workers and instances
            req,
            lambda: answer_once(
                request.app.state.claims,
                req.request_id,
                digest,
                lambda: svc.generator.generate(req),
                client=roles.client(),
                seal=seal,
                personal=Personal.of(req.audience.name, name_max_chars),
                max_wait_s=settings.deadline_s + 2 * settings.claim_lease_s,
            ),
        )

    @app.get(
        "/v1/generations/{generation_id}",
        responses=error_responses(401, 403, 404, 422, 429, 500),
        tags=["audit"],
    )
    async def generation(
        request: Request,
        generation_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    ) -> Any:
        """The audit record of one generation: request (PII redacted), raw model outputs,
        every violation, the variants returned (the name as its placeholder), timings. Another
        client's generation is unknown (404) except to the audit role."""
        svc: Service = request.app.state.service
        owner = None if roles.reads_everything(settings) else roles.client()
        record = svc.generator.audit.get(generation_id, client=owner) if svc.generator.audit else None
        if record is None:
            return error(404, "unknown_generation", f"no generation {generation_id}", "generation_id")
        return record

    app.include_router(erasure_router(settings))  # DELETE /v1/requests/{id}, GET /v1/deletions
    return app


_REPLAY: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            "Idempotent-Replay": {
                "description": "`true`: the stored answer to an earlier request with this request_id",
                "schema": {"type": "string", "enum": ["true"]},
            }
        }
    }
}


def _knowledge_ready(svc: Service) -> dict[str, Any]:
    """The index's size, and whether a Chroma server (COPYDESK_CHROMA_URL) answers."""
    try:
        size = svc.knowledge.size()
    except Exception as exc:  # noqa: BLE001 - the Chroma server is down or unreachable
        detail = f"the knowledge index does not answer: {type(exc).__name__}"
        return {"ready": False, "documents": None, "detail": detail}
    return {"ready": size > 0, "documents": size}


async def _database_ready(svc: Service) -> dict[str, Any]:
    db = svc.database
    if db is None:
        return {"ready": True, "dialect": None}
    try:
        await run_for(db, db.fetchone, "SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return {"ready": False, "dialect": db.dialect, "detail": type(exc).__name__}
    return {"ready": True, "dialect": db.dialect}


async def _model_ready(svc: Service) -> tuple[bool, str]:
    try:
        ids = await svc.llm.transport.model_ids(timeout_s=3.0)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return False, f"{type(exc).__name__}"
    return True, ", ".join(ids)[:200] or svc.llm.model
