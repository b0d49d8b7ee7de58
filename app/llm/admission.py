"""Admission to the model, from outside the call: a limit on calls in flight (the embedded
server's slots, or COPYDESK_LLM_CONCURRENCY for a remote model), a wait estimated from the queue
and the recent call times, and fallback at once when a call could not be answered inside its
deadline — because of the queue, or because the provider asked (429) to wait beyond it."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import statistics
import time
from collections import deque
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from app.llm.client import LLMFailed
from app.llm.deadline import Deadline
from app.observability import telemetry

log = logging.getLogger(__name__)

RECENT_CALLS = 20  # the estimate's memory: the median of the last calls' durations
RECHECK_S = 0.25  # a queued call re-estimates at least this often (the calls ahead of it age)


class ModelShed(LLMFailed):
    """No call made: the model could not answer inside the deadline. `reason`: `overload` (the
    queue) or `rate_limited` (the provider's Retry-After)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, [])
        self.reason = reason


def provider_wait_s(exc: BaseException | None) -> float | None:
    """Seconds a 429 in `exc`'s chain asked us to wait, whatever client raised it (this package's
    transport keeps `status` and `retry_after`; the openai SDK `status_code` and `response`)."""
    seen = 0
    while exc is not None and seen < 8:
        status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
        if status == 429:
            value = getattr(exc, "retry_after", None)
            headers = getattr(getattr(exc, "response", None), "headers", None)
            if not value and headers is not None:
                value = headers.get("retry-after")
            return _seconds(value)
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _seconds(value: Any) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        return max(0.0, (parsedate_to_datetime(str(value)) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


class Admission:
    """Calls in flight up to `limit` (0: no limit); the others queue, first come first served."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._running: dict[object, float] = {}  # call -> its start (monotonic)
        self._queue: deque[object] = deque()
        self._durations: deque[float] = deque(maxlen=RECENT_CALLS)
        self._changed = asyncio.Event()
        self._provider_free_at = 0.0  # monotonic time a provider's Retry-After runs out

    # -- the estimate ------------------------------------------------------------------------------
    def typical_call_s(self, now: float) -> float | None:
        """The median of the recent calls; before any finished, how long the oldest one has run
        (a lower bound); None when nothing is known."""
        if self._durations:
            return statistics.median(self._durations)
        if self._running:
            return now - min(self._running.values())
        return None

    def estimated_wait_s(self, ahead: int, now: float | None = None) -> float | None:
        """How long a call with `ahead` queued calls before it waits for a slot."""
        now = time.monotonic() if now is None else now
        typical = self.typical_call_s(now)
        if typical is None:
            return None
        free = [max(0.0, typical - (now - started)) for started in self._running.values()]
        free += [0.0] * max(0, self.limit - len(free))
        heapq.heapify(free)
        for _ in range(ahead):  # each call ahead takes the first free slot for a typical call
            heapq.heappush(free, heapq.heappop(free) + typical)
        return free[0]

    def _refuse_if_late(self, ahead: int, budget: Deadline) -> None:
        now = time.monotonic()
        wait = self.estimated_wait_s(ahead, now)
        typical = self.typical_call_s(now)
        if wait is None or typical is None:
            return
        if wait + typical > budget.remaining():
            raise self._shed(
                "overload",
                f"the model is busy: {ahead} calls queued ahead, about {wait:.1f} s of wait and "
                f"{typical:.1f} s per call, beyond the {budget.remaining():.1f} s left",
            )

    def _shed(self, reason: str, message: str) -> ModelShed:
        telemetry.MODEL_SHED.labels(reason).inc()
        log.info("fallback at once (%s): %s", reason, message)
        return ModelShed(message, reason)

    # -- slots -------------------------------------------------------------------------------------
    async def _acquire(self, call: object, budget: Deadline) -> None:
        waiting = self._provider_free_at - time.monotonic()
        if waiting > budget.remaining():
            raise self._shed(
                "rate_limited",
                f"the provider asked to wait {waiting:.0f} s more (429 Retry-After), "
                f"beyond the {budget.remaining():.1f} s left",
            )
        if self.limit <= 0 or (len(self._running) < self.limit and not self._queue):
            self._running[call] = time.monotonic()
            return
        self._queue.append(call)
        try:
            while True:
                if self._queue[0] is call and len(self._running) < self.limit:
                    self._queue.popleft()
                    self._running[call] = time.monotonic()
                    return
                self._refuse_if_late(self._queue.index(call), budget)
                changed = self._changed
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), RECHECK_S)
        except BaseException:
            if call in self._queue:
                self._queue.remove(call)
                self._notify()
            raise

    def _release(self, call: object, seconds: float | None) -> None:
        self._running.pop(call, None)
        if seconds is not None:
            self._durations.append(seconds)
        self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def run(self, call_model, budget: Deadline):
        """`await call_model()` once admitted; a 429 whose Retry-After outlasts the deadline makes
        this and the next calls fall back at once until it runs out."""
        call = object()
        await self._acquire(call, budget)
        started = time.monotonic()
        seconds: float | None = None
        try:
            result = await call_model()
            seconds = time.monotonic() - started
            return result
        except LLMFailed as exc:
            seconds = time.monotonic() - started
            wait = provider_wait_s(exc)
            if wait is not None and wait > budget.remaining():
                self._provider_free_at = max(self._provider_free_at, time.monotonic() + wait)
                seconds = None  # a refusal says nothing about how long the model takes
                raise self._shed(
                    "rate_limited",
                    f"the provider answered 429 with Retry-After {wait:.0f} s, beyond the deadline",
                ) from exc
            raise
        finally:
            self._release(call, seconds)


class AdmittedLLM:
    """The model client with admission in front of each `complete`; everything else passes through."""

    def __init__(self, llm: Any, admission: Admission) -> None:
        self.llm = llm
        self.admission = admission

    def __getattr__(self, name: str) -> Any:
        return getattr(self.llm, name)

    async def complete(self, messages, output, deadline: Deadline, **kwargs):
        return await self.admission.run(
            lambda: self.llm.complete(messages, output, deadline, **kwargs), deadline
        )
