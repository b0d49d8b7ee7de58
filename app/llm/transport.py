"""The HTTP round trip to an OpenAI-compatible endpoint, on aiohttp: a chat completion costs about
0.15 ms of CPU here against 0.5 ms with httpx and 1.1 ms through the openai SDK (benchmarks/
model_call_bench.py), and one model call is in every variant of every request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import aiohttp


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


def proxy_for(url: str) -> str | None:
    """The HTTP(S)_PROXY the environment sets for this URL, NO_PROXY honoured (as httpx does)."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


async def _read_up_to(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The body until its end or `limit` bytes: one `read(n)` returns only what has arrived."""
    raw = bytearray()
    while len(raw) < limit and (chunk := await stream.read(limit - len(raw))):
        raw += chunk
    return bytes(raw)


class ModelTransport:
    """One keep-alive connection pool per event loop (an aiohttp session belongs to the loop that
    made it; the CLI and the tests run more than one loop in a process)."""

    def __init__(
        self, base_url: str, api_key: str, *, max_connections: int = 1000, max_answer_bytes: int = 1 << 20
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
        self.max_connections = max_connections
        self.max_answer_bytes = max_answer_bytes  # a chat answer is a few KB; a broken server's isn't
        self.proxy = proxy_for(self.base_url)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def post_json(self, path: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        return await self._request("POST", path, timeout_s, json.dumps(body).encode())

    async def get_json(self, path: str, timeout_s: float) -> dict[str, Any]:
        return await self._request("GET", path, timeout_s, None)

    async def _request(self, method: str, path: str, timeout_s: float, data: bytes | None) -> dict[str, Any]:
        session = self._session_for_this_loop()
        try:
            async with session.request(
                method,
                self.base_url + path,
                data=data,
                headers=self.headers,
                proxy=self.proxy,
                timeout=aiohttp.ClientTimeout(total=max(0.001, timeout_s)),
            ) as resp:
                raw = await _read_up_to(resp.content, self.max_answer_bytes + 1)
                if len(raw) > self.max_answer_bytes:
                    raise ModelBadResponse(f"the answer is over {self.max_answer_bytes} bytes")
                if resp.content_length is not None and len(raw) < resp.content_length:
                    raise ModelUnreachable(f"closed after {len(raw)} of {resp.content_length} bytes")
                if resp.status >= 400:
                    text = raw[:300].decode("utf-8", "replace")
                    raise ModelHTTPError(resp.status, text, resp.headers.get("retry-after"))
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutError subclasses
            raise ModelTimeout(f"no answer within {timeout_s:.1f} s") from exc
        except aiohttp.ClientError as exc:
            raise ModelUnreachable(f"{type(exc).__name__}: {exc}") from exc
        try:
            answer = json.loads(raw)
        except ValueError as exc:
            raise ModelBadResponse(f"the answer is not JSON: {raw[:100]!r}") from exc
        if not isinstance(answer, dict):
            raise ModelBadResponse("the answer is not a JSON object")
        return answer

    def _session_for_this_loop(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            self._drop_session()
            connector = aiohttp.TCPConnector(limit=self.max_connections)
            # trust_env=False: aiohttp would look up the proxy variables and ~/.netrc on every call
            # (a third of a millisecond); the proxy is looked up once instead, in __init__.
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
            self._loop = loop
        return self._session

    def _drop_session(self) -> None:
        """Forget a session whose loop is gone; its sockets are closed, not awaited."""
        session, self._session = self._session, None
        if session is None or session.closed:
            return
        connector = session.connector
        session.detach()
        if connector is not None:
            with contextlib.suppress(Exception):
                connector._close()  # noqa: SLF001 - the sync half of close(), no loop needed

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is None or session.closed:
            return
        if self._loop is asyncio.get_running_loop():
            await session.close()
        else:
            self._session = session
            self._drop_session()
