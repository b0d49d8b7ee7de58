"""HTTP client for the commerce API: short timeouts, bounded retries, a short TTL cache."""

from __future__ import annotations

import re
import time
from typing import TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from app.commerce.models import Offer, Sku
from app.observability import telemetry
from app.schemas import ID_MAX, ID_PATTERN

_ID = re.compile(ID_PATTERN)

T = TypeVar("T", bound=BaseModel)


class CommerceNotFound(Exception):
    """The commerce API says the SKU or offer does not exist."""


class CommerceUnavailable(Exception):
    """The commerce API could not be reached or answered garbage; facts are unknown."""


class _Transient(Exception):
    pass


class TTLCache:
    """A dict whose entries expire; trade facts may be a few seconds stale, never minutes."""

    def __init__(self, ttl_s: float, max_items: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_items = max_items
        self._items: dict[str, tuple[float, object]] = {}

    def get(self, key: str) -> object | None:
        hit = self._items.get(key)
        if hit is None:
            return None
        stamp, value = hit
        if time.monotonic() - stamp > self.ttl_s:
            del self._items[key]
            return None
        return value

    def put(self, key: str, value: object) -> None:
        if len(self._items) >= self.max_items:
            self._items.pop(next(iter(self._items)))
        self._items[key] = (time.monotonic(), value)


class CommerceClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        cache_ttl_s: float = 30.0,
        attempts: int = 2,
    ) -> None:
        self.http = http
        self.cache = TTLCache(cache_ttl_s)
        self.attempts = attempts

    async def sku(self, sku: str) -> Sku:
        found = await self._get(_path("skus", sku), Sku)
        if found.sku != sku:
            raise CommerceUnavailable(f"asked for SKU {sku!r}, the commerce API answered {found.sku!r}")
        return found

    async def offer(self, offer_id: str) -> Offer:
        found = await self._get(_path("offers", offer_id), Offer)
        if found.offer_id != offer_id:
            raise CommerceUnavailable(
                f"asked for offer {offer_id!r}, the commerce API answered {found.offer_id!r}"
            )
        return found

    async def ping(self) -> bool:
        """Reachable means any answer that is not a server error."""
        try:
            resp = await self.http.get("/skus/__readyz__")
        except httpx.HTTPError:
            return False
        return resp.status_code < 500

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _get(self, path: str | CommerceNotFound, model: type[T]) -> T:
        if isinstance(path, CommerceNotFound):
            raise path
        cached = self.cache.get(path)
        if cached is not None:
            telemetry.COMMERCE_CACHE_HITS.inc()
            if isinstance(cached, CommerceNotFound):
                raise cached
            return cached  # type: ignore[return-value]
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.attempts),
                wait=wait_exponential(multiplier=0.05, max=0.3),
                retry=retry_if_exception_type(_Transient),
                reraise=True,
            ):
                with attempt:
                    value = await self._fetch(path, model)
        except _Transient as exc:
            raise CommerceUnavailable(str(exc)) from exc
        self.cache.put(path, value)
        if isinstance(value, CommerceNotFound):
            raise value
        return value

    async def _fetch(self, path: str, model: type[T]) -> T | CommerceNotFound:
        try:
            resp = await self.http.get(path)
        except httpx.HTTPError as exc:
            telemetry.COMMERCE_CALLS.labels("unreachable").inc()
            raise _Transient(f"GET {path}: {type(exc).__name__}") from exc
        telemetry.COMMERCE_CALLS.labels(str(resp.status_code)).inc()
        if resp.status_code in (400, 404, 410, 422):  # what an API says of an ID it does not know
            return CommerceNotFound(path)
        if resp.status_code >= 500 or resp.status_code == 429:
            raise _Transient(f"GET {path}: HTTP {resp.status_code}")
        if resp.status_code != 200:
            raise CommerceUnavailable(f"GET {path}: HTTP {resp.status_code}")
        try:
            return model.model_validate(resp.json())
        except (ValueError, ValidationError) as exc:
            raise CommerceUnavailable(f"GET {path}: malformed answer") from exc


def _path(collection: str, item_id: str) -> str | CommerceNotFound:
    """`/skus/SKU-1001`; an ID that is not one plain path segment is unknown without asking, and
    even a valid one is percent-encoded so that nothing in it can change the URL's meaning."""
    if len(item_id) > ID_MAX or not _ID.fullmatch(item_id):
        return CommerceNotFound(f"malformed ID {item_id!r}")
    return f"/{collection}/{quote(item_id, safe='')}"
