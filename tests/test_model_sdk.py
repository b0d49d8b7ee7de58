"""The model call through the openai SDK and tenacity against real servers on 127.0.0.1: the
scripted OpenAI-compatible model (retries, Retry-After, the deadline, bad JSON) and an
Azure-shaped endpoint that insists on its `api-key` header and `api-version` query."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.config import Settings
from app.llm.client import LLMClient, LLMFailed
from app.llm.deadline import Deadline
from app.llm.transport import AzureTarget, ModelHTTPError, ModelTimeout, ModelTransport
from tests.conftest import sms_request
from tests.servers import Reply, ThreadedServer, ok

AZURE_KEY = "azure-test-key"
API_VERSION = "2024-10-21"
DEPLOYMENT = "copy-gpt4o"
GOOD_SMS = "{name}您好，您看中的{product}还在购物车里，{offer}，回来看看吧。"


class Body(BaseModel):
    body: str


class AzureShaped:
    """What Azure OpenAI's data plane checks: the key in `api-key`, `api-version` in the query,
    the deployment in the path; anything else is refused as Azure refuses it."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def app(self) -> FastAPI:
        api = FastAPI()

        def refused(request: Request) -> JSONResponse | None:
            if request.headers.get("api-key") != AZURE_KEY:
                return JSONResponse({"error": {"code": "401", "message": "Access denied"}}, status_code=401)
            if request.query_params.get("api-version") != API_VERSION:
                return JSONResponse({"error": {"code": "404", "message": "Not found"}}, status_code=404)
            return None

        @api.post("/openai/deployments/{deployment}/chat/completions")
        async def chat(deployment: str, request: Request) -> JSONResponse:
            body = await request.json()
            self.calls.append({"deployment": deployment, "headers": dict(request.headers), "body": body})
            if (refusal := refused(request)) is not None:
                return refusal
            if deployment != DEPLOYMENT:
                return JSONResponse({"error": {"code": "DeploymentNotFound"}}, status_code=404)
            content = json.dumps({"body": GOOD_SMS}, ensure_ascii=False)
            return JSONResponse(
                {
                    "id": "chatcmpl-azure",
                    "object": "chat.completion",
                    "model": "gpt-4o-2024-11-20",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],  # fmt: skip
                    "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
                }
            )

        @api.get("/openai/models")
        async def models(request: Request) -> JSONResponse:
            if (refusal := refused(request)) is not None:
                return refusal
            return JSONResponse({"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]})

        return api


@pytest.fixture
def azure() -> Iterator[tuple[AzureShaped, str]]:
    shaped = AzureShaped()
    with ThreadedServer(shaped.app()) as server:
        yield shaped, server.url


def complete(client: LLMClient, deadline_s: float = 10.0, **kwargs) -> tuple:
    """One `complete` on a fresh loop: (Completion or LLMFailed, seconds)."""

    async def once():
        try:
            messages = [{"role": "user", "content": "hi"}]
            return await client.complete(messages, Body, Deadline(deadline_s), **kwargs)
        except LLMFailed as exc:
            return exc
        finally:
            await client.transport.aclose()

    started = time.monotonic()
    result = asyncio.run(once())
    return result, time.monotonic() - started


def test_azure_gets_its_key_header_version_query_and_deployment_path(azure):
    shaped, url = azure
    transport = ModelTransport(None, AZURE_KEY, azure=AzureTarget(url, API_VERSION, DEPLOYMENT))
    done, _ = complete(LLMClient(transport, DEPLOYMENT))
    assert done.parsed.body == GOOD_SMS and done.attempts == 1
    (call,) = shaped.calls
    assert call["deployment"] == DEPLOYMENT and call["headers"]["api-key"] == AZURE_KEY
    assert "authorization" not in call["headers"]  # Azure's key header, not a bearer token
    assert call["body"]["response_format"]["type"] == "json_schema"
    assert transport.provider == "azure.ai.openai"


def test_a_wrong_azure_key_is_refused_once_not_retried(azure):
    shaped, url = azure
    transport = ModelTransport(None, "wrong", azure=AzureTarget(url, API_VERSION, DEPLOYMENT))
    failed, _ = complete(LLMClient(transport, DEPLOYMENT, attempts=3))
    assert isinstance(failed, LLMFailed) and isinstance(failed.__cause__, ModelHTTPError)
    assert failed.__cause__.status == 401 and len(shaped.calls) == 1


def test_azure_through_the_service(start_api, settings, azure):
    """COPYDESK_LLM_AZURE_ENDPOINT, _API_VERSION and _DEPLOYMENT: /readyz lists Azure's models and
    a request is written by the deployment."""
    shaped, url = azure
    env = {
        "COPYDESK_LLM_AZURE_ENDPOINT": url,
        "COPYDESK_LLM_API_VERSION": API_VERSION,
        "COPYDESK_LLM_DEPLOYMENT": DEPLOYMENT,
        "COPYDESK_LLM_API_KEY": AZURE_KEY,
    }
    from_env = Settings.from_env(env)
    assert not from_env.uses_embedded_model and from_env.model_name == DEPLOYMENT
    api = start_api(
        settings,
        llm_base_url=None,
        llm_model=None,
        llm_api_key=AZURE_KEY,
        llm_azure_endpoint=url,
        llm_api_version=API_VERSION,
        llm_deployment=DEPLOYMENT,
    )
    ready = api.get("/readyz").json()
    assert ready["checks"]["model"]["ready"] is True and "gpt-4o" in ready["checks"]["model"]["detail"]
    resp = api.post("/v1/generate", json=sms_request(variants=1))
    assert resp.status_code == 200, resp.text
    assert resp.json()["model"] == DEPLOYMENT
    assert [v["source"] for v in resp.json()["variants"]] == ["llm"]
    assert [c["deployment"] for c in shaped.calls] == [DEPLOYMENT]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COPYDESK_LLM_AZURE_ENDPOINT": "https://x.openai.azure.com", "COPYDESK_LLM_DEPLOYMENT": "d"},
         "COPYDESK_LLM_API_VERSION"),
        ({"COPYDESK_LLM_AZURE_ENDPOINT": "https://x.openai.azure.com", "COPYDESK_LLM_API_VERSION": "v"},
         "COPYDESK_LLM_DEPLOYMENT"),
        ({"COPYDESK_LLM_AZURE_ENDPOINT": "https://x", "COPYDESK_LLM_BASE_URL": "http://y/v1"}, "not both"),
    ],
)  # fmt: skip
def test_an_incomplete_azure_configuration_is_refused_at_start(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_the_bearer_key_reaches_an_openai_compatible_server(llm):
    llm.script(ok({"body": "x"}))
    done, _ = complete(LLMClient(ModelTransport(llm.url, "sk-test"), "m"))
    assert done.parsed.body == "x"
    assert llm.headers[0]["authorization"] == "Bearer sk-test"


def test_retries_until_an_answer_parses_keeping_every_raw_answer(llm):
    llm.script(Reply(content="not json {"), Reply(status=503), ok({"body": "好"}))
    done, _ = complete(LLMClient(ModelTransport(llm.url, "k"), "m", attempts=3))
    assert done.parsed.body == "好" and done.attempts == 3 and len(llm.calls) == 3


def test_bad_json_every_time_fails_with_every_raw_answer(llm):
    llm.script(Reply(content="{'body': 1"), Reply(content="[]"), Reply(content="null"))
    failed, _ = complete(LLMClient(ModelTransport(llm.url, "k"), "m", attempts=3))
    assert isinstance(failed, LLMFailed) and failed.raw_outputs == ["{'body': 1", "[]", "null"]


def test_a_retry_after_date_is_honoured(llm):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    llm.script(Reply(status=429, retry_after=when), ok({"body": "x"}))
    done, _ = complete(LLMClient(ModelTransport(llm.url, "k"), "m"))
    assert done.attempts == 2
    assert llm.call_times[1] - llm.call_times[0] >= 1.5  # whole seconds: 2-3 s away when written


def test_a_retry_that_cannot_fit_the_deadline_is_not_started(llm):
    llm.script(default=lambda _: Reply(status=429, retry_after="5"))
    failed, seconds = complete(LLMClient(ModelTransport(llm.url, "k"), "m", attempts=3), deadline_s=3.0)
    assert isinstance(failed, LLMFailed) and "deadline" in str(failed)
    assert len(llm.calls) == 1 and seconds < 1.0


def test_a_stalled_call_ends_at_the_deadline(llm):
    llm.script(default=lambda _: Reply(content=json.dumps({"body": "x"}), stall_s=10))
    failed, seconds = complete(LLMClient(ModelTransport(llm.url, "k"), "m", attempts=3), deadline_s=0.8)
    assert isinstance(failed, LLMFailed) and isinstance(failed.__cause__, ModelTimeout)
    assert seconds < 1.3 and len(llm.calls) == 1


def test_an_answer_cut_at_max_tokens_is_not_asked_again(llm):
    llm.script(Reply(content='{"body": "ramble', finish_reason="length"), ok({"body": "x"}))
    failed, _ = complete(LLMClient(ModelTransport(llm.url, "k"), "m"), max_tokens=20)
    assert isinstance(failed, LLMFailed) and failed.raw_outputs == ['{"body": "ramble']
    assert llm.calls[0]["max_tokens"] == 20 and len(llm.calls) == 1
