"""The HTTP round trip to an OpenAI-compatible or Azure OpenAI endpoint, through the openai SDK
(`AsyncOpenAI` / `AsyncAzureOpenAI`) on its aiohttp backend. The SDK builds the URL, the auth
header (`Authorization: Bearer` or Azure's `api-key`), `api-version` and the deployment path;
retries are the caller's (tenacity, app/llm/client.py), so the SDK's own are off.

`sdk.post("/chat/completions", cast_to=httpx2.Response)`, the SDK's own call for a body built by
the caller, rather than `chat.completions.create`: the typed method walks the request through
its TypedDicts and builds a pydantic answer, 1.1 ms of CPU per call against 0.6 ms here
(benchmarks/model_call_bench.py), and the answer is read as JSON by the caller either way."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2
import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI, DefaultAioHttpClient


class ModelCallError(Exception):
    """The endpoint did not give a usable HTTP answer; `retryable` says whether asking again may help."""

    retryable = True


class ModelTimeout(ModelCallError):
    """No answer within the call's timeout."""


class ModelUnreachable(ModelCallError):
    """Connection refused, reset or closed mid-answer."""


class ModelBadResponse(ModelCallError):
    """A 2xx answer whose body is not the JSON object the protocol promises, or is too large."""


class ModelHTTPError(ModelCallError):
    """An HTTP error status: 429 and 5xx are worth a retry, other 4xx are our request's fault."""

    def __init__(self, status: int, message: str, retry_after: str | None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.retry_after = retry_after
        self.retryable = status == 429 or status >= 500


class _AnswerTooLarge(Exception):
    """Raised from inside the SDK's read, so that a broken server's gigabyte is never buffered."""


@dataclass(frozen=True)
class AzureTarget:
    """An Azure OpenAI resource: `https://<resource>.openai.azure.com`, an API version, a deployment."""

    endpoint: str
    api_version: str
    deployment: str | None = None


class _BoundedStream(httpx2.AsyncByteStream):
    """A response body that stops with `_AnswerTooLarge` past `limit` bytes (errors' bodies too)."""

    def __init__(self, inner: httpx2.AsyncByteStream, limit: int) -> None:
        self.inner = inner
        self.limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self.inner:
            seen += len(chunk)
            if seen > self.limit:
                raise _AnswerTooLarge(f"the answer is over {self.limit} bytes")
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


def _root_cause(exc: BaseException) -> BaseException:
    """The first exception of a chain (the SDK's wraps httpx2's, which wraps aiohttp's)."""
    seen = 0
    while exc.__cause__ is not None and seen < 10:
        exc, seen = exc.__cause__, seen + 1
    return exc


class ModelTransport:
    """One SDK client, and so one aiohttp connection pool, per event loop (an aiohttp session
    belongs to the loop that made it; the CLI and the tests run more than one loop in a process)."""

    def __init__(
        self,
        base_url: str | None,
        api_key: str,
        *,
        azure: AzureTarget | None = None,
        max_answer_bytes: int = 1 << 20,
    ) -> None:
        if base_url is None and azure is None:
            raise ValueError("a model endpoint needs a base URL or an Azure target")
        self.base_url = base_url.rstrip("/") if base_url else None
        self.api_key = api_key
        self.azure = azure
        self.max_answer_bytes = max_answer_bytes  # a chat answer is a few KB; a broken server's isn't
        self._sdk: AsyncOpenAI | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def provider(self) -> str:
        """The GenAI semantic conventions' provider name of this endpoint."""
        return "azure.ai.openai" if self.azure is not None else "openai"

    @property
    def server_address(self) -> str:
        """The endpoint's host, for traces (never its key)."""
        return urlsplit(self.azure.endpoint if self.azure else self.base_url or "").hostname or ""

    async def chat(self, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """POST /chat/completions (Azure: /openai/deployments/{deployment}/chat/completions): the
        answer as JSON, read up to `max_answer_bytes`, everything within `timeout_s`."""
        return await self._request("post", "/chat/completions", body, timeout_s)

    async def model_ids(self, timeout_s: float) -> list[str]:
        """The models the endpoint lists (GET /models), for /readyz."""
        answer = await self._request("get", "/models", None, timeout_s)
        data = answer.get("data")
        return [str(m.get("id")) for m in data if isinstance(m, dict)] if isinstance(data, list) else []

    async def _request(
        self, method: str, path: str, body: dict[str, Any] | None, timeout_s: float
    ) -> dict[str, Any]:
        sdk = self.sdk_for_this_loop()
        timeout_s = max(0.001, timeout_s)
        options: Any = {"timeout": timeout_s}
        try:
            # The SDK's timeouts are per read on aiohttp; the call's whole time is bounded here.
            async with asyncio.timeout(timeout_s):
                if method == "post":
                    resp = await sdk.post(path, cast_to=httpx2.Response, body=body, options=options)
                else:
                    resp = await sdk.get(path, cast_to=httpx2.Response, options=options)
        except TimeoutError as exc:
            raise ModelTimeout(f"no answer within {timeout_s:.1f} s") from exc
        except _AnswerTooLarge as exc:
            raise ModelBadResponse(str(exc)) from exc
        except openai.APIStatusError as exc:
            text = exc.response.content[:300].decode("utf-8", "replace")
            raise ModelHTTPError(exc.status_code, text, exc.response.headers.get("retry-after")) from exc
        except openai.APIConnectionError as exc:
            cause = _root_cause(exc)
            if isinstance(cause, TimeoutError):
                raise ModelTimeout(f"no answer within {timeout_s:.1f} s") from exc
            # Not APITimeoutError alone: the aiohttp backend maps a refused connection to a timeout.
            raise ModelUnreachable(f"{type(cause).__name__}: {cause}") from exc
        try:
            answer = json.loads(resp.content)
        except ValueError as exc:
            raise ModelBadResponse(f"the answer is not JSON: {resp.content[:100]!r}") from exc
        if not isinstance(answer, dict):
            raise ModelBadResponse("the answer is not a JSON object")
        return answer

    def sdk_for_this_loop(self) -> AsyncOpenAI:
        """The SDK client of the running loop, made on its first call there."""
        loop = asyncio.get_running_loop()
        if self._sdk is None or self._loop is not loop:
            self._drop_client()
            self._sdk = self._make_client()
            self._loop = loop
        return self._sdk

    def _make_client(self) -> AsyncOpenAI:
        async def bound(response: httpx2.Response) -> None:
            response.stream = _BoundedStream(response.stream, self.max_answer_bytes)  # type: ignore[arg-type]

        # identity: the size bound is on the bytes as sent; a compressed answer could expand past it.
        http = DefaultAioHttpClient(event_hooks={"response": [bound]})
        common: dict[str, Any] = {
            "api_key": self.api_key,
            "max_retries": 0,
            "http_client": http,
            "default_headers": {"accept-encoding": "identity"},
        }
        if self.azure is not None:
            return AsyncAzureOpenAI(
                azure_endpoint=self.azure.endpoint,
                api_version=self.azure.api_version,
                azure_deployment=self.azure.deployment,
                **common,
            )
        return AsyncOpenAI(base_url=self.base_url, **common)

    def _drop_client(self) -> None:
        """Forget the client of a loop that is gone; its sockets are closed, not awaited."""
        sdk, self._sdk = self._sdk, None
        if sdk is None:
            return
        session = getattr(getattr(sdk._client, "_transport", None), "client", None)  # noqa: SLF001
        connector = getattr(session, "connector", None)
        if session is None or session.closed or connector is None:
            return
        session.detach()
        with contextlib.suppress(Exception):
            connector._close()  # noqa: SLF001 - the sync half of close(), no loop needed

    async def aclose(self) -> None:
        sdk = self._sdk
        if sdk is None:
            return
        if self._loop is asyncio.get_running_loop():
            self._sdk = None
            await sdk.close()
        else:
            self._drop_client()
