"""Traces: a request's spans (server, generate, trade facts, retrieval, variants, model calls,
checks) with the GenAI semantic conventions' attributes and copydesk's own and no PII, caught by
the SDK's in-memory exporter; then `copydesk serve` exporting to a real OTLP/HTTP receiver on
127.0.0.1 (decoded with opentelemetry-proto), its log lines carrying the same trace ID."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from app.config import REPO_ROOT
from app.observability import tracing
from app.observability.logs import JsonFormatter
from tests.conftest import sms_request
from tests.servers import Reply, ThreadedServer, free_port, ok, prompt_text

GOOD_SMS = "{name}，您购物车里的{product}还在等您，{offer}。"
TOO_LONG = "您购物车里的{product}还在等您回来看看" * 4  # one clause over the limit: re-asked
NAME = "张伟"
TRACEPARENT_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.install(None)
        provider.shutdown()


def no_pii_nor_prompt(span_attrs: list[dict], prompts: list[str]) -> None:
    """No attribute value names the customer or quotes a prompt."""
    for attrs in span_attrs:
        for key, value in attrs.items():
            for text in value if isinstance(value, list | tuple) else [value]:
                if isinstance(text, str):
                    assert NAME not in text, (key, text)
                    assert len(text) <= 200, key
                    assert not any(text in p for p in prompts if len(text) > 30), key


def test_a_request_is_one_trace_of_its_stages(spans, api, llm):
    llm.script(Reply(status=503), ok({"body": TOO_LONG}), default=lambda _: ok({"body": GOOD_SMS}))
    resp = api.post(
        "/v1/generate",
        json=sms_request(),
        headers={"traceparent": f"00-{TRACEPARENT_ID}-00f067aa0ba902b7-01"},
    )
    assert resp.status_code == 200, resp.text
    finished: list[ReadableSpan] = list(spans.get_finished_spans())
    by_name: dict[str, list[ReadableSpan]] = {}
    for s in finished:
        by_name.setdefault(s.name, []).append(s)

    (server,) = by_name["POST /v1/generate"]
    assert server.kind == SpanKind.SERVER and server.attributes["http.response.status_code"] == 200
    assert format(server.context.trace_id, "032x") == TRACEPARENT_ID  # the caller's trace goes on
    assert format(server.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert {s.context.trace_id for s in finished} == {server.context.trace_id}

    (generate,) = by_name["generate"]
    assert generate.parent.span_id == server.context.span_id
    assert generate.attributes["copydesk.journey"] == "cart_abandon"
    assert generate.attributes["copydesk.channel"] == "sms"
    assert generate.attributes["copydesk.locale"] == "zh-CN"
    assert generate.attributes["copydesk.generation_id"] == resp.json()["generation_id"]
    assert sorted(generate.attributes["copydesk.variant.sources"]) == ["llm", "repaired"]
    assert "channel_limits" in generate.attributes["copydesk.checks.failed"]
    for stage in ("trade_facts", "retrieval"):
        (s,) = by_name[stage]
        assert s.parent.span_id == generate.context.span_id
    assert by_name["trade_facts"][0].attributes["copydesk.commerce.available"] is True

    variants = by_name["variant"]
    assert len(variants) == 2 and {v.parent.span_id for v in variants} == {generate.context.span_id}
    assert sorted(v.attributes["copydesk.variant.source"] for v in variants) == ["llm", "repaired"]
    variant_ids = {v.context.span_id for v in variants}

    calls = by_name["chat scripted"]
    assert len(calls) == len(llm.calls) == 4  # 503 and its retry, the over-long answer, its re-ask
    assert {c.parent.span_id for c in calls} <= variant_ids
    for c in calls:
        a = c.attributes
        assert c.kind == SpanKind.CLIENT
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.provider.name"] == a["gen_ai.system"] == "openai"
        assert a["gen_ai.request.model"] == "scripted" and a["gen_ai.request.max_tokens"] >= 200
        assert a["server.address"] == "127.0.0.1"
    failed = [c for c in calls if c.status.status_code == StatusCode.ERROR]
    assert [c.attributes["error.type"] for c in failed] == ["503"]
    answered = [c for c in calls if c not in failed]
    assert all(c.attributes["gen_ai.response.model"] == "scripted" for c in answered)
    assert all(c.attributes["gen_ai.usage.input_tokens"] == 10 for c in answered)
    assert all(c.attributes["gen_ai.usage.output_tokens"] == 5 for c in answered)
    assert all(c.attributes["gen_ai.response.finish_reasons"] == ("stop",) for c in answered)

    checks = by_name["checks"]
    assert len(checks) >= 3 and {c.parent.span_id for c in checks} <= variant_ids
    assert any("channel_limits" in c.attributes["copydesk.checks.failed"] for c in checks)
    no_pii_nor_prompt([dict(s.attributes) for s in finished], [prompt_text(c) for c in llm.calls])


def test_health_polls_make_no_spans(spans, api):
    assert api.get("/healthz").status_code == 200
    assert api.get("/metrics").status_code == 200
    assert spans.get_finished_spans() == ()


def test_off_there_is_nothing_to_pay_for():
    assert not tracing.enabled() and tracing.fastapi_telemetry()["tracing"] is False
    assert tracing.span("anything") is tracing.span("else")  # one shared do-nothing context
    with tracing.span("x") as current:
        assert current is None and tracing.ids() == {}


def test_a_log_line_inside_a_span_carries_its_trace_id(spans):
    record = logging.makeLogRecord({"name": "copydesk", "msg": "hello", "levelname": "INFO"})
    with tracing.span("outer") as current:
        line = json.loads(JsonFormatter().format(record))
    assert line["trace_id"] == format(current.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(current.get_span_context().span_id, "016x")
    assert "trace_id" not in json.loads(JsonFormatter().format(record))  # outside any span


def test_only_the_standard_variables_turn_export_on():
    assert not tracing.wanted({})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert not tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"})
    assert not tracing.wanted(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}
    )


class OtlpReceiver:
    """An OTLP/HTTP trace receiver: POST /v1/traces, protobuf, decoded with opentelemetry-proto."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.resources: list[dict] = []

    def app(self) -> FastAPI:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        api = FastAPI()

        @api.post("/v1/traces")
        async def traces(request: Request) -> Response:
            assert request.headers["content-type"] == "application/x-protobuf"
            batch = ExportTraceServiceRequest.FromString(await request.body())
            for rs in batch.resource_spans:
                self.resources.append({a.key: _value(a.value) for a in rs.resource.attributes})
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        attrs = {a.key: _value(a.value) for a in s.attributes}
                        self.spans.append(
                            {
                                "name": s.name,
                                "trace_id": s.trace_id.hex(),
                                "kind": s.kind,
                                "attributes": attrs,
                            }
                        )
            body = ExportTraceServiceResponse().SerializeToString()
            return Response(body, media_type="application/x-protobuf")

        return api


def _value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def test_copydesk_serve_exports_to_an_otlp_receiver(settings, llm, tmp_path: Path):
    receiver = OtlpReceiver()
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    port, log = free_port(), tmp_path / "serve.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "HF_HUB_OFFLINE": "1",
        "COPYDESK_LLM_BASE_URL": settings.llm_base_url,
        "COPYDESK_LLM_MODEL": "scripted",
        "COPYDESK_LLM_API_KEY": "test",
        "COPYDESK_COMMERCE_URL": settings.commerce_url,
        "COPYDESK_INDEX_DIR": str(settings.index_dir),
        "COPYDESK_DATA_DIR": str(settings.data_dir),
        "OTEL_SERVICE_NAME": "copydesk-under-test",
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms: the batch goes out soon after the request
    }
    with ThreadedServer(receiver.app()) as otlp:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
        cmd = [
            sys.executable,
            "-m",
            "app",
            "serve",
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-format",
            "json",
        ]
        proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        try:
            end = time.monotonic() + 120
            while True:
                assert proc.poll() is None and time.monotonic() < end, log.read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            resp = httpx.post(f"http://127.0.0.1:{port}/v1/generate", json=sms_request(), timeout=60)
            assert resp.status_code == 200, resp.text
            end = time.monotonic() + 20
            while (
                not any(s["name"] == "POST /v1/generate" for s in receiver.spans) and time.monotonic() < end
            ):
                time.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    names = [s["name"] for s in receiver.spans]
    assert names.count("POST /v1/generate") == 1 and names.count("chat scripted") == 2, names
    assert {"generate", "trade_facts", "retrieval", "variant", "checks"} <= set(names)
    assert receiver.resources[0]["service.name"] == "copydesk-under-test"
    (trace_id,) = {s["trace_id"] for s in receiver.spans}
    chat = next(s for s in receiver.spans if s["name"] == "chat scripted")["attributes"]
    assert chat["gen_ai.request.model"] == "scripted" and chat["gen_ai.usage.input_tokens"] == 10
    assert chat["gen_ai.operation.name"] == "chat" and chat["gen_ai.provider.name"] == "openai"
    generate = next(s for s in receiver.spans if s["name"] == "generate")["attributes"]
    assert generate["copydesk.journey"] == "cart_abandon" and generate["copydesk.channel"] == "sms"
    assert generate["copydesk.variant.sources"] == ["llm", "llm"]
    no_pii_nor_prompt([s["attributes"] for s in receiver.spans], [prompt_text(c) for c in llm.calls])
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    (done,) = [line for line in lines if line["msg"] == "generate 200"]
    assert done["trace_id"] == trace_id  # the log line names the trace an operator opens
