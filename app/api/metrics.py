"""GET /metrics in Prometheus text format (merged over the workers when PROMETHEUS_MULTIPROC_DIR is
set), and the per-request observation: latency by channel / locale / status / client, replays."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from app.errors import RequestError
from app.observability import request_context, telemetry
from app.schemas import GenerateRequest

log = logging.getLogger("copydesk.requests")


def metrics_registry() -> CollectorRegistry:
    """This process's metrics, or every worker's when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def metrics_response() -> Response:
    return Response(generate_latest(metrics_registry()), media_type=CONTENT_TYPE_LATEST)


def serve_metrics_apart(address: tuple[str, int]) -> None:
    """GET /metrics on its own address (COPYDESK_METRICS_ADDR), e.g. an internal interface, in a
    thread of the serving parent; the API's port then has no /metrics."""
    from prometheus_client import start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector as Merged

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        Merged(registry)  # read at each scrape: the workers' files as they are then
    else:
        registry = REGISTRY
    host, port = address
    start_http_server(port, addr=host, registry=registry)


async def observed(req: GenerateRequest, call: Callable[[], Awaitable[Any]]) -> Any:
    """Run the request, counting it whatever it ends in."""
    started = time.perf_counter()
    client = request_context.client.get() or "local"
    status = 500
    try:
        resp = await call()
        status = getattr(resp, "status_code", 200)
        if getattr(resp, "headers", {}).get("idempotent-replay"):
            telemetry.REPLAYS.labels(client).inc()
        return resp
    except RequestError as exc:
        status = exc.status
        raise
    except Exception as exc:
        status = getattr(exc, "http_status", 500)  # 503 when the database is away
        raise
    finally:
        seconds = time.perf_counter() - started
        telemetry.REQUEST_SECONDS.labels(req.channel, req.locale, str(status), client).observe(seconds)
        log.info(
            "generate %s",
            status,
            extra={
                "channel": req.channel,
                "locale": req.locale,
                "status": status,
                "ms": round(seconds * 1000, 1),
            },
        )
