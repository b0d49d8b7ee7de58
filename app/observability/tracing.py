"""OpenTelemetry traces: a server span per HTTP request, the pipeline's stages (trade facts,
retrieval, each variant, each model call, each run of the checks) as its children, with the GenAI
semantic conventions' attributes and copydesk's own. Never the customer's name or other PII,
never prompt or answer text: only names, counts, models, tokens and outcomes.

Exported over OTLP/HTTP when the standard variables ask for it (OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, OTEL_BSP_* are read by the SDK). Otherwise off:
every helper here returns one shared do-nothing context, no span object is made."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes import error_attributes, server_attributes
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

log = logging.getLogger(__name__)

TRACER_NAME = "copydesk"
# Polled by orchestrators many times a minute: a span each would drown the requests' traces.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

_NOTHING: AbstractContextManager[None] = nullcontext()
_tracer: trace.Tracer | None = None  # None: tracing is off
_installed: trace.TracerProvider | None = None
_provider: Any = None  # the SDK TracerProvider configure() made, flushed at shutdown


def enabled() -> bool:
    return _tracer is not None


def install(provider: trace.TracerProvider | None) -> None:
    """Trace into `provider` from now on (None: off). configure() calls it; tests pass their own
    provider (the SDK's in-memory exporter) and None afterwards."""
    global _tracer, _installed
    _tracer = provider.get_tracer(TRACER_NAME) if provider is not None else None
    _installed = provider


def wanted(env: Mapping[str, str]) -> bool:
    """Whether the standard variables ask for traces over OTLP."""
    if (env.get("OTEL_SDK_DISABLED") or "").strip().lower() == "true":
        return False
    if (env.get("OTEL_TRACES_EXPORTER") or "otlp").strip().lower() in ("none", ""):
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure(env: Mapping[str, str] | None = None) -> bool:
    """Start exporting over OTLP/HTTP if the environment says so, once per process (each worker
    its own exporter thread); returns whether traces are on."""
    global _provider
    env = os.environ if env is None else env
    if _provider is not None or not wanted(env):
        return _provider is not None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from app import __version__

    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    ours = {"service.version": __version__, **({} if named else {"service.name": "copydesk"})}
    provider = TracerProvider(resource=Resource.create(ours))  # the rest from OTEL_RESOURCE_ATTRIBUTES
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    install(provider)
    _provider = provider
    log.info("traces exported over OTLP/HTTP to %s", _endpoint(env))
    return True


def _endpoint(env: Mapping[str, str]) -> str:
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").rstrip("/")
    return env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or f"{base}/v1/traces"


def flush(timeout_ms: int = 5000) -> None:
    """Send what the batch holds (at shutdown: a worker's last spans are not lost)."""
    if _provider is not None:
        _provider.force_flush(timeout_ms)


def span(name: str, attributes: Mapping[str, Any] | None = None, kind: SpanKind = SpanKind.INTERNAL):
    """A child span of the current one, or nothing when tracing is off. Exceptions mark it as an
    error by their type alone: an exception's message may quote the model's answer."""
    if _tracer is None:
        return _NOTHING
    return _span(_tracer, name, attributes, kind)


@contextmanager
def _span(
    tracer: trace.Tracer, name: str, attributes: Mapping[str, Any] | None, kind: SpanKind
) -> Iterator[Span]:
    attributes = {k: v for k, v in attributes.items() if v is not None} if attributes else None
    with tracer.start_as_current_span(
        name, kind=kind, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as current:
        try:
            yield current
        except BaseException as exc:
            status = getattr(current, "status", None)  # an HTTP status the code set stays
            if getattr(status, "status_code", StatusCode.UNSET) is StatusCode.UNSET:
                mark_error(current, type(exc).__name__)
            raise


def mark_error(current: Span | None, error_type: str) -> None:
    if current is not None and current.is_recording():
        current.set_attribute(error_attributes.ERROR_TYPE, error_type)
        current.set_status(Status(StatusCode.ERROR, error_type))


def annotate(current: Span | None, attributes: Mapping[str, Any]) -> None:
    """Set attributes on a span from `span()` (None when tracing is off); None values are skipped."""
    if current is not None and current.is_recording():
        current.set_attributes({k: v for k, v in attributes.items() if v is not None})


def annotate_current(attributes: Mapping[str, Any]) -> None:
    """Set attributes on the current span (the innermost `span()` this code runs in)."""
    if _tracer is not None:
        annotate(trace.get_current_span(), attributes)


def ids() -> dict[str, str]:
    """The current trace and span IDs (hex, as OTLP backends show them), for a log line."""
    if _tracer is None:
        return {}
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


# ---- the model call: OpenTelemetry's GenAI semantic conventions ------------------------------


def model_call(*, provider: str, model: str, max_tokens: int, temperature: float, server: str, attempt: int):
    """The span of one chat completion, named `chat {model}` as the conventions ask."""
    if _tracer is None:
        return _NOTHING
    return _span(
        _tracer,
        f"chat {model}",
        {
            gen_ai.GEN_AI_OPERATION_NAME: "chat",
            gen_ai.GEN_AI_PROVIDER_NAME: provider,
            gen_ai.GEN_AI_SYSTEM: provider,  # the attribute's older name, still read by many backends
            gen_ai.GEN_AI_REQUEST_MODEL: model,
            gen_ai.GEN_AI_REQUEST_MAX_TOKENS: max_tokens,
            gen_ai.GEN_AI_REQUEST_TEMPERATURE: temperature,
            gen_ai.GEN_AI_OUTPUT_TYPE: "json",
            server_attributes.SERVER_ADDRESS: server,
            "copydesk.model.attempt": attempt,
        },
        SpanKind.CLIENT,
    )


def model_answer(
    current: Span | None, answer: Mapping[str, Any], finish_reason: object, usage: tuple[int, int]
) -> None:
    """What the provider answered: its model, answer ID, finish reason and token counts."""
    annotate(
        current,
        {
            gen_ai.GEN_AI_RESPONSE_MODEL: _short(answer.get("model")),
            gen_ai.GEN_AI_RESPONSE_ID: _short(answer.get("id")),
            gen_ai.GEN_AI_RESPONSE_FINISH_REASONS: [_short(finish_reason) or "unknown"],
            gen_ai.GEN_AI_USAGE_INPUT_TOKENS: usage[0],
            gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS: usage[1],
        },
    )


def _short(value: object) -> str | None:
    """A provider's identifier, if it is one (a broken server's answer may put anything there)."""
    return value[:200] if isinstance(value, str) else None


# ---- one generation: copydesk's own attributes -----------------------------------------------


def request_attributes(req: Any) -> dict[str, Any]:
    """What a generation was asked for, by name: journey, channel, locale, how many variants."""
    return {
        "copydesk.journey": req.journey,
        "copydesk.channel": req.channel,
        "copydesk.locale": req.locale,
        "copydesk.variants.requested": req.variants,
        "copydesk.offer_id": req.offer_id,
        "copydesk.skus.count": len(req.skus),
    }


def response_attributes(resp: Any) -> dict[str, Any]:
    """What came out: the variants' sources and the checks their answers failed along the way."""
    variants = list(resp.variants)
    return {
        "copydesk.generation_id": resp.generation_id,
        "copydesk.model": resp.model,
        "copydesk.prompt_version": resp.prompt_version,
        "copydesk.variant.sources": [v.source for v in variants],
        "copydesk.snippets.count": len(resp.snippet_ids),
    }


# ---- the HTTP request: FastAPI's own server span -------------------------------------------


def fastapi_telemetry() -> dict[str, Any]:
    """FastAPI's native OpenTelemetry settings (`FastAPI(telemetry=…)`): its SERVER span per
    request (W3C `traceparent` continued, `http.route`, status) into our provider while traces are
    on, health, readiness and metrics polls excepted; its metrics (Prometheus does that), its log
    records (they may quote a request's values) and its per-operation spans off. All off when
    traces are off."""
    return {
        "tracing": _installed is not None,
        "tracer_provider": _installed,
        "metrics": False,
        "logs": False,
        "operation_spans": False,
        "auto_configure": False,
        "exclude": lambda scope: scope.get("path") in UNTRACED_PATHS,
    }
