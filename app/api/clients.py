"""Named clients and their limits: which key called (its name goes to logs, metrics and the
audit), a token-bucket rate limit and a cap on requests in flight per client, 429 + Retry-After.

Limits are per process: `serve --workers N` gives each worker 1/N of each limit, so one instance
enforces about the configured figures; several instances each enforce their own.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import JSONResponse

from app.api.auth import bearer, client_of
from app.api.errors import error
from app.config import Settings
from app.observability import telemetry

LOCAL = "local"  # the client name without keys (loopback callers)


@dataclass
class Bucket:
    """Tokens refill at `rate` per second up to `burst`; a request takes one."""

    rate: float
    burst: float
    tokens: float = field(default=-1.0)
    stamp: float = field(default_factory=time.monotonic)

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one will be there."""
        now = time.monotonic()
        if self.tokens < 0:
            self.tokens = self.burst
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class ClientLimits:
    def __init__(self, settings: Settings) -> None:
        share = max(1, settings.workers)
        self.by_key = settings.clients_by_key
        self.rate = settings.client_rate_per_s / share
        self.burst = max(1.0, (settings.client_burst or settings.client_rate_per_s) / share)
        self.cap = math.ceil(settings.client_concurrency / share) if settings.client_concurrency else 0
        self.buckets: dict[str, Bucket] = {}
        self.in_flight: dict[str, int] = {}

    def name(self, request: Request) -> str:
        return client_of(bearer(request), self.by_key) or LOCAL

    def refuse(self, client: str) -> JSONResponse | None:
        """A 429 naming the limit, or None (and the request counted in flight)."""
        if self.cap and self.in_flight.get(client, 0) >= self.cap:
            return self._too_many(client, "concurrency", 1.0, f"{self.cap} requests in flight")
        if self.rate > 0:
            bucket = self.buckets.setdefault(client, Bucket(self.rate, self.burst))
            wait = bucket.take()
            if wait:
                return self._too_many(client, "rate", wait, f"{self.rate:g} requests/s")
        self.in_flight[client] = self.in_flight.get(client, 0) + 1
        return None

    def release(self, client: str) -> None:
        self.in_flight[client] = self.in_flight.get(client, 1) - 1

    @staticmethod
    def _too_many(client: str, limit: str, wait_s: float, what: str) -> JSONResponse:
        telemetry.REFUSED.labels(client, limit).inc()
        resp = error(429, "too_many_requests", f"client {client} is over its limit of {what}")
        resp.headers["Retry-After"] = str(max(1, math.ceil(wait_s)))
        return resp
