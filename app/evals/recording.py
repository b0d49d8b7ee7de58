"""Recorded model answers: a live eval run keeps every answer with the prompt that produced it
(evals/recorded/<case>.json); `--replay` serves them back in place of the model, so checks,
repair, assembly and fallback are judged on real model output without calling one."""

from __future__ import annotations

import asyncio
import hashlib
import json
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from app.llm.client import Completion, LLMFailed, parse_output
from app.llm.deadline import Deadline

# Which case, repeat and variant tone a model call belongs to: set by the runner and the drafter
# wrapper; asyncio copies the context into each variant's task.
CURRENT_RUN: ContextVar[tuple[str, int] | None] = ContextVar("CURRENT_RUN", default=None)
CURRENT_TONE: ContextVar[str | None] = ContextVar("CURRENT_TONE", default=None)


def messages_sha(messages: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(messages, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


class ToneTagging:
    """Wraps the generator's drafter so each model call knows its variant's tone."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def draft(self, ctx, tone, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003 - pass-through
        CURRENT_TONE.set(tone)
        return await self.inner.draft(ctx, tone, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Book:
    """Model calls per case: {case: {repeat: {tone: [call, ...]}}} plus each first prompt."""

    calls: dict[str, dict[int, dict[str, list[dict]]]] = field(default_factory=dict)
    prompts: dict[str, dict[str, list[dict[str, str]]]] = field(default_factory=dict)

    def add(self, case: str, repeat: int, tone: str, call: dict, messages: list[dict[str, str]]) -> None:
        tones = self.calls.setdefault(case, {}).setdefault(repeat, {})
        if not tones.get(tone):
            self.prompts.setdefault(case, {}).setdefault(tone, messages)
        tones.setdefault(tone, []).append(call)


class RecordingLLM:
    """Stands between the drafter and the model and writes down every call."""

    def __init__(self, inner: Any, book: Book) -> None:
        self.inner, self.book, self.model = inner, book, inner.model

    async def complete(
        self,
        messages: list[dict[str, str]],
        output: type[BaseModel],
        deadline: Deadline,
        *,
        max_tokens: int = 300,
    ) -> Completion:
        call: dict[str, Any] = {"sha": messages_sha(messages)}
        try:
            done = await self.inner.complete(messages, output, deadline, max_tokens=max_tokens)
        except LLMFailed as exc:
            call.update(error=str(exc), raws=exc.raw_outputs)
            raise
        except (asyncio.CancelledError, TimeoutError):
            call.update(error="deadline")
            raise
        finally:
            run, tone = CURRENT_RUN.get(), CURRENT_TONE.get()
            if run is not None and tone is not None:
                self.book.add(run[0], run[1], tone, call, messages)
        call.update(raw=done.raw, tokens=[done.prompt_tokens, done.completion_tokens], attempts=done.attempts)
        return done


class ReplayLLM:
    """Answers with the recorded calls, in order, per case, repeat and tone; marks prompts that differ."""

    def __init__(self, recorded: dict[str, dict], model: str = "replay") -> None:
        self.recorded, self.model = recorded, model
        self.used: dict[tuple[str, int, str], int] = {}
        self.stale: dict[str, list[str]] = {}  # case -> tones whose first prompt differs now
        self.prompts = Book()  # what the prompts render to now

    async def complete(
        self,
        messages: list[dict[str, str]],
        output: type[BaseModel],
        deadline: Deadline,
        *,
        max_tokens: int = 300,
    ) -> Completion:
        run, tone = CURRENT_RUN.get(), CURRENT_TONE.get()
        if run is None or tone is None:
            raise LLMFailed("replay: a model call outside an eval case", [])
        case, repeat = run
        key = (case, repeat, tone)
        i = self.used.get(key, 0)
        self.used[key] = i + 1
        self.prompts.add(case, repeat, tone, {}, messages)
        calls = self.recorded.get(case, {}).get("runs", {}).get(str(repeat), {}).get(tone, [])
        if i == 0 and calls and calls[0]["sha"] != messages_sha(messages):
            self.stale.setdefault(case, []).append(tone)
        if i >= len(calls):
            raise LLMFailed("replay: no recorded answer for this attempt", [])
        call = calls[i]
        if call.get("error"):
            raise LLMFailed(f"recorded: {call['error']}", call.get("raws", []))
        p, c = call.get("tokens", [0, 0])
        return Completion(parse_output(call["raw"], output), call["raw"], call.get("attempts", 1), p, c)


def recording_path(folder: Path, case_id: str) -> Path:
    return folder / f"{case_id}.json"


def load_recorded(folder: Path, case_ids: list[str]) -> dict[str, dict]:
    out = {}
    for case in case_ids:
        path = recording_path(folder, case)
        if path.exists():
            out[case] = json.loads(path.read_text(encoding="utf-8"))
    return out


def write_recorded(
    folder: Path, book: Book, outcomes: dict[str, dict[int, dict]], model: str, versions: dict[str, str]
) -> list[Path]:
    """One file per case: the prompt each tone was first asked, every call, and what the run concluded
    (assertions and the checks on each answer), so a replay can tell what changed."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for case, runs in sorted(book.calls.items()):
        data = {
            "case": case,
            "model": model,
            "prompt_version": versions.get(case),
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "prompts": book.prompts.get(case, {}),
            "runs": {str(r): tones for r, tones in sorted(runs.items())},
            "outcomes": {str(r): o for r, o in sorted(outcomes.get(case, {}).items())},
        }
        path = recording_path(folder, case)
        path.write_text(
            json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8"
        )
        written.append(path)
    return written


def accept_outcomes(folder: Path, recorded: dict[str, dict], outcomes: dict[tuple[str, int], dict]) -> int:
    """Deliberately take a replay's outcomes as the new reference (a stricter check, a better
    fallback), keeping the answers and the prompts they answered; like --update-baseline."""
    changed = 0
    for case, data in recorded.items():
        new = {str(r): o for (c, r), o in outcomes.items() if c == case}
        if new and new != data.get("outcomes"):
            data["outcomes"] = {**data.get("outcomes", {}), **new}
            path = recording_path(folder, case)
            path.write_text(
                json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8"
            )
            changed += 1
    return changed
