"""End to end on the real embedded model, with nothing configured: the README's path."""

from __future__ import annotations

import json
import os

import pytest

from app.channels import measure
from app.config import Settings
from tests.conftest import sms_request

pytestmark = pytest.mark.model

NOTHING_CONFIGURED = {"HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def embedded_api(tmp_path_factory):
    import httpx

    from app.api import create_app
    from tests.servers import ThreadedServer

    settings = Settings.from_env(
        {**NOTHING_CONFIGURED, "COPYDESK_DATA_DIR": str(tmp_path_factory.mktemp("var"))}
    )
    assert settings.uses_embedded_model and settings.commerce_url is None
    with ThreadedServer(create_app(settings)) as server, httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


def test_readyz_with_nothing_configured(embedded_api):
    resp = embedded_api.get("/readyz")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["ready"] is True
    assert "smollm2" in body["checks"]["model"]["detail"]
    assert body["checks"]["model"]["served"].startswith("SmolLM2-135M-Instruct.Q4_1.gguf (Q4_1")


def test_any_gguf_on_its_own_slots_with_a_length_bounded_schema(tmp_path):
    """COPYDESK_LOCAL_MODEL's path: a GGUF under another name, served under that name, with the
    slots asked for and the standard json_schema response format, maxLength honoured."""
    import httpx

    from app.llm.embedded import EmbeddedModelServer, LocalModel, packaged_model_path

    gguf = tmp_path / "my-model-Q4_1.gguf"
    gguf.symlink_to(packaged_model_path())
    server = EmbeddedModelServer(LocalModel.resolve(gguf), threads=1, slots=3, context=1024)
    with server:
        assert httpx.get(f"{server.base_url}/models").json()["data"][0]["id"] == "my-model-q4_1"
        assert len(httpx.get(f"http://127.0.0.1:{server.port}/slots").json()) == 3
        schema = {
            "type": "object",
            "properties": {"body": {"type": "string", "maxLength": 12}},
            "required": ["body"],
            "additionalProperties": False,
        }
        resp = httpx.post(
            f"{server.base_url}/chat/completions",
            json={
                "model": "my-model-q4_1",
                "messages": [{"role": "user", "content": "Describe running shoes at length."}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
                "max_tokens": 60,
            },
            timeout=60,
        )
        assert resp.status_code == 200, resp.text
        assert len(json.loads(resp.json()["choices"][0]["message"]["content"])["body"]) <= 12
        proc = server.proc
    assert proc is not None and proc.poll() is not None  # stopped with the context


@pytest.mark.parametrize(
    ("channel", "locale", "limits"),
    [("sms", "zh-CN", {"body": 70}), ("push", "en-US", {"title": 24, "body": 80})],
)
def test_generate_on_the_embedded_model(embedded_api, channel, locale, limits):
    body = sms_request(request_id=f"e2e-{channel}", channel=channel, locale=locale)
    resp = embedded_api.post("/v1/generate", json=body)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["model"] == "smollm2-135m-instruct"
    assert len(data["variants"]) == 2
    for v in data["variants"]:
        assert v["offer_id"] == "OFF-FREESHIP"
        assert v["source"] in {"llm", "repaired", "fallback"}
        assert all(c["passed"] for c in v["checks"]), v
        for field, limit in limits.items():
            count = "utf16" if channel == "sms" else "chars"
            assert 0 < measure(v[field], count) <= limit, (field, v[field])
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def test_the_model_server_does_not_outlive_the_service():
    """A service killed without stopping its model (kill -9, a crash) leaves no orphan behind."""
    import subprocess
    import sys
    import time

    script = (
        "import os\n"
        "from app.llm.embedded import EmbeddedModelServer\n"
        "s = EmbeddedModelServer(threads=1, slots=1, context=512)\n"
        "s.start()\n"
        "print(s.proc.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    child = int(out.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(child, 9)
    raise AssertionError("the embedded model server outlived the process that started it")


def test_the_sdk_path_on_the_embedded_model():
    """The same client as for a remote model (openai SDK, tenacity) against llama.cpp's server: an
    answer parses, one cut at max_tokens is kept raw and not asked again, a long one ends at the
    deadline."""
    import asyncio
    import time

    from pydantic import BaseModel, Field

    from app.llm.client import LLMClient, LLMFailed
    from app.llm.deadline import Deadline
    from app.llm.embedded import EmbeddedModelServer
    from app.llm.transport import ModelTimeout, ModelTransport

    class Short(BaseModel):
        body: str = Field(max_length=20)

    class Long(BaseModel):
        body: str = Field(min_length=400)  # the grammar makes the model write at least this

    messages = [{"role": "user", "content": "Write a one-line note about running shoes as JSON."}]
    with EmbeddedModelServer(threads=1, slots=1, context=1024) as server:
        client = LLMClient(ModelTransport(server.base_url, "none"), server.model.alias, attempts=2)

        async def run(output, deadline_s: float, max_tokens: int):
            started = time.monotonic()
            try:
                return await client.complete(messages, output, Deadline(deadline_s), max_tokens=max_tokens)
            except LLMFailed as exc:
                return exc, time.monotonic() - started

        async def all_three():
            try:
                return (
                    await run(Short, 60, 60),
                    await run(Short, 60, 3),
                    await run(Long, 1.0, 800),
                )
            finally:
                await client.transport.aclose()

        done, (cut, _), (late, late_s) = asyncio.run(all_three())
    assert len(done.parsed.body) <= 20 and done.completion_tokens > 0
    assert "cut off" in str(cut) and len(cut.raw_outputs) == 1  # raw kept, not asked twice
    assert isinstance(late.__cause__, ModelTimeout) and late_s < 1.5
