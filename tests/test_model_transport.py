"""The model call's HTTP layer against real servers on 127.0.0.1: the scripted OpenAI-compatible
model, and a raw socket server for answers no framework would send."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest
from pydantic import BaseModel

from app.llm.client import LLMClient, LLMFailed, _retryable, retry_after_s
from app.llm.deadline import Deadline
from app.llm.transport import (
    ModelBadResponse,
    ModelHTTPError,
    ModelTimeout,
    ModelTransport,
    ModelUnreachable,
)
from tests.servers import Reply, free_port, ok


class Body(BaseModel):
    body: str


class RawServer:
    """Answers every connection with the same bytes, then closes it."""

    def __init__(self, answer: bytes, pause_at: int | None = None) -> None:
        self.answer = answer
        self.pause_at = pause_at  # send this many bytes, wait, then the rest (a body in pieces)
        self.received: list[bytes] = []  # the start of each request
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.received.append(conn.recv(65536))
                cut = self.pause_at or len(self.answer)
                conn.sendall(self.answer[:cut])
                time.sleep(0.1 if self.pause_at else 0)
                conn.sendall(self.answer[cut:])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def call(transport: ModelTransport, timeout_s: float = 5.0) -> dict:
    async def once() -> dict:
        try:
            return await transport.chat({"model": "m", "messages": []}, timeout_s)
        finally:
            await transport.aclose()

    return asyncio.run(once())


def test_an_answer_is_read_and_the_key_is_sent(llm):
    llm.script(ok({"body": "x"}))
    answer = call(ModelTransport(llm.url, "sk-test"))
    assert answer["choices"][0]["message"]["content"] == '{"body": "x"}'
    assert llm.calls[0]["model"] == "m"


def test_error_statuses_say_whether_a_retry_may_help(llm):
    llm.script(Reply(status=429, retry_after="7"), Reply(status=503), Reply(status=400))
    errors = []
    for _ in range(3):
        with pytest.raises(ModelHTTPError) as caught:
            call(ModelTransport(llm.url, "k"))
        errors.append(caught.value)
    assert [(e.status, e.retryable) for e in errors] == [(429, True), (503, True), (400, False)]
    assert retry_after_s(errors[0]) == 7.0 and retry_after_s(errors[1]) is None
    assert [_retryable(e) for e in errors] == [True, True, False]


def test_a_body_that_is_not_json_is_a_bad_response():
    server = RawServer(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot json!")
    with pytest.raises(ModelBadResponse):
        call(ModelTransport(server.url, "k"))


def test_an_answer_over_the_size_bound_is_refused_not_buffered():
    body = b"{" + b" " * 5000 + b"}"
    head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
    server = RawServer(head + body)
    with pytest.raises(ModelBadResponse, match="over 4096 bytes"):
        call(ModelTransport(server.url, "k", max_answer_bytes=4096))
    assert call(ModelTransport(server.url, "k", max_answer_bytes=8192)) == {}


def test_an_error_answer_over_the_size_bound_is_refused_too():
    """The SDK reads an error's body to build its exception: that read is bounded as well."""
    body = b'{"error": "' + b"x" * 5000 + b'"}'
    head = f"HTTP/1.1 500 Oops\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
    server = RawServer(head + body)
    with pytest.raises(ModelBadResponse, match="over 4096 bytes"):
        call(ModelTransport(server.url, "k", max_answer_bytes=4096))
    with pytest.raises(ModelHTTPError, match="HTTP 500"):
        call(ModelTransport(server.url, "k", max_answer_bytes=8192))


def test_an_answer_that_arrives_in_pieces_is_read_to_its_end():
    body = json.dumps({"choices": [{"message": {"content": "x" * 300_000}}]}).encode()
    head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
    server = RawServer(head + body, pause_at=len(head) + 1000)
    assert call(ModelTransport(server.url, "k"))["choices"][0]["message"]["content"] == "x" * 300_000


def test_a_connection_closed_mid_answer_is_unreachable_and_retryable():
    server = RawServer(b'HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{"choices"')
    with pytest.raises(ModelUnreachable) as caught:
        call(ModelTransport(server.url, "k"))
    assert _retryable(caught.value)


def test_nothing_listening_is_unreachable():
    with pytest.raises(ModelUnreachable):
        call(ModelTransport(f"http://127.0.0.1:{free_port()}/v1", "k"))


def test_a_stalled_answer_times_out(llm):
    llm.script(Reply(content="{}", stall_s=5))
    with pytest.raises(ModelTimeout):
        call(ModelTransport(llm.url, "k"), timeout_s=0.3)


def test_one_transport_serves_successive_event_loops(llm):
    """The CLI and evals run asyncio.run more than once; a session of a closed loop is not reused."""
    transport = ModelTransport(llm.url, "k")
    llm.script(default=lambda _: ok({"body": "好"}))

    async def once() -> str:
        return (await transport.chat({"messages": []}, 5))["model"]

    assert asyncio.run(once()) == asyncio.run(once()) == "scripted"
    asyncio.run(transport.aclose())


def test_retries_end_in_llm_failed_with_every_raw_answer(llm):
    llm.script(ok({"wrong": 1}), Reply(status=500), ok({"wrong": 2}))
    client = LLMClient(ModelTransport(llm.url, "k"), "m", attempts=3)

    async def run() -> None:
        try:
            await client.complete([{"role": "user", "content": "hi"}], Body, Deadline(20))
        finally:
            await client.transport.aclose()

    with pytest.raises(LLMFailed) as caught:
        asyncio.run(run())
    assert caught.value.raw_outputs == ['{"wrong": 1}', '{"wrong": 2}']
    assert len(llm.calls) == 3


def test_the_proxy_comes_from_the_environment_and_no_proxy_is_honoured(monkeypatch, llm):
    body = b'{"proxied": true}'
    proxy = RawServer(b"HTTP/1.1 200 OK\r\ncontent-length: 17\r\nconnection: close\r\n\r\n" + body)
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    assert call(ModelTransport("http://models.internal:8000/v1", "k")) == {"proxied": True}
    assert proxy.received[0].startswith(b"POST http://models.internal:8000/v1/chat/completions ")
    llm.script(ok({"body": "x"}))
    assert call(ModelTransport(llm.url, "k"))["model"] == "m"  # 127.0.0.1: straight to the model
    assert len(proxy.received) == 1 and len(llm.calls) == 1
