"""Structured output from an OpenAI-compatible endpoint, with retries (tenacity) inside a deadline."""

from __future__ import annotations

import functools
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from app.llm.deadline import Deadline
from app.llm.transport import ModelCallError, ModelHTTPError, ModelTransport
from app.observability import telemetry, tracing

T = TypeVar("T", bound=BaseModel)


class InvalidOutput(Exception):
    """The model answered, but not with JSON matching the schema."""

    def __init__(self, message: str, raw: str) -> None:
        super().__init__(message)
        self.raw = raw


class Truncated(Exception):
    """The answer ran into max_tokens: asking the same again only repeats the ramble."""

    def __init__(self, raw: str) -> None:
        super().__init__("the answer was cut off at max_tokens")
        self.raw = raw


class LLMFailed(Exception):
    """No usable answer within the attempts and the deadline."""

    def __init__(self, message: str, raw_outputs: list[str]) -> None:
        super().__init__(message)
        self.raw_outputs = raw_outputs


@dataclass(frozen=True)
class Completion:
    parsed: BaseModel
    raw: str
    attempts: int
    prompt_tokens: int
    completion_tokens: int


def _retryable(exc: BaseException) -> bool:
    """A malformed answer, a timeout, a dropped connection, 429 and 5xx: asking again may help."""
    return isinstance(exc, InvalidOutput) or (isinstance(exc, ModelCallError) and exc.retryable)


def retry_after_s(exc: BaseException | None) -> float | None:
    """Seconds a 429 / 503 asked us to wait (Retry-After as seconds or an HTTP date), if it said."""
    value = exc.retry_after if isinstance(exc, ModelHTTPError) else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def backoff_s(retry: int) -> float:
    """Before retry n (1, 2, …): 0.2 s doubling, up to 1 s of jitter on top, 2 s at most."""
    return min(2.0, 0.2 * 2 ** (retry - 1) + random.uniform(0.0, 1.0))


def wait_s(state: RetryCallState) -> float:
    """tenacity's wait: the backoff, or the provider's Retry-After when that is longer."""
    failure = state.outcome.exception() if state.outcome else None
    return max(backoff_s(state.attempt_number), retry_after_s(failure) or 0.0)


# A retry is not started unless its wait and this much of a call fit in the deadline.
MIN_CALL_S = 0.3


class _NoTimeLeft(Exception):
    """The deadline is spent before an attempt could start."""


def response_format(mode: str, name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The request's response_format: the standard json_schema (OpenAI, vLLM, Ollama, llama.cpp
    and so the embedded model), or plain json_object with the schema in the prompt."""
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
    return {"type": "json_object"}


@functools.cache
def output_schema(output: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema asked for, built once per output model: its fields, nothing else (strict
    providers require `additionalProperties: false`), each field's `maxLength` where it sets one."""
    return {**output.model_json_schema(), "additionalProperties": False}


def parse_output(raw: str, model: type[T]) -> T:
    try:
        # Some grammars let raw newlines into strings; strict=False accepts them.
        data = json.loads(raw, strict=False)
    except json.JSONDecodeError as exc:
        raise InvalidOutput(f"not JSON: {exc.msg}", raw) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidOutput(f"JSON does not match the schema: {exc.errors()[0]['msg']}", raw) from exc


def _read_answer(answer: dict[str, Any]) -> tuple[str, str | None, int, int]:
    """Content, finish reason and token counts of a chat completion; what a server left out is
    empty (an answer without choices then fails as output that does not parse)."""
    choices = answer.get("choices") or [{}]
    first = choices[0] if isinstance(choices[0], dict) else {}
    message = first.get("message") or {}
    content = message.get("content") if isinstance(message, dict) else None
    usage = answer.get("usage") or {}
    if not isinstance(usage, dict):
        usage = {}
    return (
        content if isinstance(content, str) else "",
        first.get("finish_reason"),
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
    )


class LLMClient:
    def __init__(
        self,
        transport: ModelTransport,
        model: str,
        *,
        json_mode: str = "json_schema",
        attempts: int = 3,
        call_timeout_s: float = 20.0,
        temperature: float = 0.7,
    ) -> None:
        self.transport = transport
        self.model = model
        self.json_mode = json_mode
        self.attempts = attempts
        self.call_timeout_s = call_timeout_s
        self.temperature = temperature

    async def complete(
        self,
        messages: list[dict[str, str]],
        output: type[T],
        deadline: Deadline,
        *,
        max_tokens: int = 300,
    ) -> Completion:
        """Ask until the answer parses as `output`, the attempts run out or the deadline passes."""
        schema = output_schema(output)
        messages = self._with_schema_hint(messages, schema)
        body = {
            "model": self.model,
            "messages": messages,
            "response_format": response_format(self.json_mode, output.__name__, schema),
            "max_tokens": max_tokens,
            "temperature": self.temperature,
        }
        raws: list[str] = []
        if self.attempts < 1:
            raise LLMFailed("no attempt was made", raws)
        out_of_time = False

        def stop(state: RetryCallState) -> bool:
            """After the attempts, or when the wait (backoff or Retry-After) would pass the deadline."""
            nonlocal out_of_time
            if state.attempt_number >= self.attempts:
                return True
            out_of_time = state.upcoming_sleep + MIN_CALL_S > deadline.remaining()
            return out_of_time

        retrying = AsyncRetrying(
            stop=stop,
            wait=wait_s,
            retry=retry_if_exception(_retryable),
            before_sleep=lambda _: telemetry.MODEL_RETRIES.inc(),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if deadline.remaining() < 0.05:
                        raise _NoTimeLeft
                    return await self._ask(body, output, deadline, attempt.retry_state.attempt_number, raws)
        except _NoTimeLeft as exc:
            raise LLMFailed("deadline reached before the model answered", raws) from exc.__context__
        except (InvalidOutput, Truncated, ModelCallError) as exc:
            if out_of_time:
                raise LLMFailed("deadline reached before the model answered", raws) from exc
            raise LLMFailed(f"{type(exc).__name__}: {exc}", raws) from exc
        raise AssertionError("tenacity ends with an answer or an exception")

    async def _ask(
        self, body: dict[str, Any], output: type[T], deadline: Deadline, attempt: int, raws: list[str]
    ) -> Completion:
        """One call, in a span of its own; its raw answer joins `raws` whether or not it parses."""
        with tracing.model_call(
            provider=self.transport.provider,
            model=self.model,
            max_tokens=body["max_tokens"],
            temperature=self.temperature,
            server=self.transport.server_address,
            attempt=attempt,
        ) as span:
            started = time.perf_counter()
            try:
                timeout_s = min(self.call_timeout_s, deadline.remaining())
                answer = await self.transport.chat(body, timeout_s)
            except Exception as exc:
                telemetry.MODEL_CALLS.labels("error").inc()
                telemetry.MODEL_ERRORS.labels(type(exc).__name__).inc()
                if isinstance(exc, ModelHTTPError):
                    tracing.mark_error(span, str(exc.status))
                raise
            finally:
                telemetry.STAGE_SECONDS.labels("model").observe(time.perf_counter() - started)
            telemetry.MODEL_CALLS.labels("ok").inc()
            raw, finish_reason, prompt_tokens, completion_tokens = _read_answer(answer)
            tracing.model_answer(span, answer, finish_reason, (prompt_tokens, completion_tokens))
            telemetry.MODEL_TOKENS.labels("prompt").inc(prompt_tokens)
            telemetry.MODEL_TOKENS.labels("completion").inc(completion_tokens)
            raws.append(raw)
            if finish_reason == "length":
                raise Truncated(raw)
            return Completion(
                parsed=parse_output(raw, output),
                raw=raw,
                attempts=attempt,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )

    def _with_schema_hint(self, messages: list[dict[str, str]], schema: dict) -> list[dict[str, str]]:
        """Providers without schema support see the schema in the system prompt instead."""
        if self.json_mode != "json_object":
            return messages
        hint = "\nReply with one JSON object matching this JSON Schema:\n" + json.dumps(schema)
        first, *rest = messages
        return [{**first, "content": first["content"] + hint}, *rest]
