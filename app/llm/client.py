"""Structured output from an OpenAI-compatible endpoint, with retries inside a deadline."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import openai
from openai import AsyncOpenAI
from openai._base_client import make_request_options
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from app.llm.deadline import Deadline, DeadlineExceeded
from app.observability import telemetry

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
    if isinstance(exc, InvalidOutput | openai.APITimeoutError | openai.APIConnectionError):
        return True
    if isinstance(exc, openai.RateLimitError):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def retry_after_s(exc: BaseException | None) -> float | None:
    """Seconds a 429 / 503 asked us to wait (Retry-After as seconds or an HTTP date), if it said."""
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
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


_BACKOFF = wait_exponential_jitter(multiplier=0.2, max=2.0)


def _wait_within(deadline: Deadline, reserve_s: float):
    """Backoff, or the provider's Retry-After when longer; give up now if that outlasts the deadline."""

    def wait(state: RetryCallState) -> float:
        asked = retry_after_s(state.outcome.exception() if state.outcome else None)
        seconds = max(_BACKOFF(state), asked or 0.0)
        if seconds + reserve_s > deadline.remaining():
            raise DeadlineExceeded()
        return seconds

    return wait


def response_format(mode: str, name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The request's response_format: the standard json_schema (OpenAI, vLLM, Ollama, llama.cpp
    and so the embedded model), or plain json_object with the schema in the prompt."""
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
    return {"type": "json_object"}


def request_options(timeout: float) -> Any:
    """The per-call options `chat.completions.create` would pass (the bearer key, the timeout)."""
    try:
        return make_request_options(timeout=timeout, security={"bearer_auth": True})
    except TypeError:  # openai releases before per-request security options
        return make_request_options(timeout=timeout)


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


class LLMClient:
    def __init__(
        self,
        client: AsyncOpenAI,
        model: str,
        *,
        json_mode: str = "json_schema",
        attempts: int = 3,
        call_timeout_s: float = 20.0,
        temperature: float = 0.7,
    ) -> None:
        self.client = client
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
        raws: list[str] = []
        tries = 0
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.attempts),
                wait=_wait_within(deadline, reserve_s=0.3),
                retry=retry_if_exception(_retryable),
                reraise=True,
            ):
                with attempt:
                    tries += 1
                    self._check_time(deadline, 0.05)
                    if tries > 1:
                        telemetry.MODEL_RETRIES.inc()
                    started = time.perf_counter()
                    try:
                        # client.post, not chat.completions.create: the same request, without the
                        # SDK's recursive transform of the params (~1/5 of a request's CPU here).
                        body = {
                            "model": self.model,
                            "messages": messages,
                            "response_format": response_format(self.json_mode, output.__name__, schema),
                            "max_tokens": max_tokens,
                            "temperature": self.temperature,
                        }
                        resp = await self.client.post(
                            "/chat/completions",
                            body=body,
                            cast_to=ChatCompletion,
                            options=request_options(min(self.call_timeout_s, deadline.remaining())),
                        )
                    except Exception as exc:
                        telemetry.MODEL_CALLS.labels("error").inc()
                        telemetry.MODEL_ERRORS.labels(type(exc).__name__).inc()
                        raise
                    finally:
                        telemetry.STAGE_SECONDS.labels("model").observe(time.perf_counter() - started)
                    telemetry.MODEL_CALLS.labels("ok").inc()
                    if resp.usage:
                        telemetry.MODEL_TOKENS.labels("prompt").inc(resp.usage.prompt_tokens or 0)
                        telemetry.MODEL_TOKENS.labels("completion").inc(resp.usage.completion_tokens or 0)
                    raw = (resp.choices[0].message.content or "") if resp.choices else ""
                    raws.append(raw)
                    if resp.choices and resp.choices[0].finish_reason == "length":
                        raise Truncated(raw)
                    parsed = parse_output(raw, output)
                    usage = resp.usage
                    return Completion(
                        parsed=parsed,
                        raw=raw,
                        attempts=tries,
                        prompt_tokens=usage.prompt_tokens if usage else 0,
                        completion_tokens=usage.completion_tokens if usage else 0,
                    )
        except DeadlineExceeded as exc:
            raise LLMFailed("deadline reached before the model answered", raws) from exc
        except (InvalidOutput, Truncated, openai.OpenAIError) as exc:
            raise LLMFailed(f"{type(exc).__name__}: {exc}", raws) from exc
        raise LLMFailed("no attempt was made", raws)  # pragma: no cover - loop always runs

    def _with_schema_hint(self, messages: list[dict[str, str]], schema: dict) -> list[dict[str, str]]:
        """Providers without schema support see the schema in the system prompt instead."""
        if self.json_mode != "json_object":
            return messages
        hint = "\nReply with one JSON object matching this JSON Schema:\n" + json.dumps(schema)
        first, *rest = messages
        return [{**first, "content": first["content"] + hint}, *rest]

    @staticmethod
    def _check_time(deadline: Deadline, needed_s: float) -> None:
        if deadline.remaining() < needed_s:
            raise DeadlineExceeded()
