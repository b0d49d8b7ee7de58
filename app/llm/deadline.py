"""A per-request time budget that every step draws from."""

from __future__ import annotations

import time


class DeadlineExceeded(Exception):
    """The request's time budget is spent."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0.0
