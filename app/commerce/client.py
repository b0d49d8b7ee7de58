"""HTTP client for the commerce API: short timeouts, bounded retries, a short TTL cache."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar
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

log = logging.getLogger(__name__)


class CommerceNotFound(Exception):
    """The commerce API says the SKU or offer does not exist."""


class CommerceUnavailable(Exception):
    """The commerce API could not be reached, or answered with a server error; facts are unknown.
    `retry_after_s`: what the API's own Retry-After said, when it sent one."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class CommerceMalformed(Exception):
    """The commerce API answered, but not in the contract's shape: this one fact is unknown. Not an
    outage: the API is up, and every other fact it gave is still good. `field` names what broke."""

    def __init__(self, path: str, field: str, problem: str) -> None:
        super().__init__(f"GET {path}: malformed {field}: {problem}")
        self.path = path
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A fact and when the commerce API gave it (a cached fact keeps the time it was fetched)."""

    value: T
    as_of: datetime


class _Transient(Exception):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


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
        return (await self.sku_answer(sku)).value

    async def offer(self, offer_id: str) -> Offer:
        return (await self.offer_answer(offer_id)).value

    async def sku_answer(self, sku: str) -> Answer[Sku]:
        """The SKU and when it was fetched; CommerceNotFound, CommerceUnavailable, CommerceMalformed."""
        return await self._get(_path("skus", sku), Sku, ("sku", sku))

    async def offer_answer(self, offer_id: str) -> Answer[Offer]:
        return await self._get(_path("offers", offer_id), Offer, ("offer_id", offer_id))

    async def ping(self) -> bool:
        """Reachable means any answer that is not a server error."""
        try:
            resp = await self.http.get("/skus/__readyz__")
        except httpx.HTTPError:
            return False
        return resp.status_code < 500

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _get(self, path: str | CommerceNotFound, model: type[T], key: tuple[str, str]) -> Answer[T]:
        """`key`: the answer's identifying field and the value it must have (the ID asked for)."""
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
            raise CommerceUnavailable(str(exc), exc.retry_after_s) from exc
        except CommerceMalformed as exc:
            _malformed(exc, model)
            raise
        if isinstance(value, CommerceNotFound):
            self.cache.put(path, value)
            raise value
        field, wanted = key
        if getattr(value, field) != wanted:
            exc = CommerceMalformed(path, field, f"asked for {wanted!r}, answered {getattr(value, field)!r}")
            _malformed(exc, model)
            raise exc
        answer = Answer(value, datetime.now(UTC))
        self.cache.put(path, answer)
        return answer

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
            raise _Transient(f"GET {path}: HTTP {resp.status_code}", _retry_after(resp))
        if resp.status_code != 200:
            raise CommerceUnavailable(f"GET {path}: HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError as exc:
            raise CommerceMalformed(path, "body", "not JSON") from exc
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = first.get("loc") or ("body",)
            raise CommerceMalformed(path, str(loc[0]), first.get("msg", "invalid")) from exc


def _malformed(exc: CommerceMalformed, model: type[BaseModel]) -> None:
    """Logged with the field and counted by resource and field (both bounded: the contract's names)."""
    resource = model.__name__.lower()
    field = exc.field if exc.field in model.model_fields else "body"
    log.warning("commerce API broke the contract: %s", exc)
    telemetry.COMMERCE_MALFORMED.labels(resource, field).inc()


def _retry_after(resp: httpx.Response) -> float | None:
    """The API's Retry-After in seconds, when it sent one as a number."""
    try:
        return max(0.0, float(resp.headers.get("retry-after", "")))
    except ValueError:
        return None


def _path(collection: str, item_id: str) -> str | CommerceNotFound:
    """`/skus/SKU-1001`; an ID that is not one plain path segment is unknown without asking, and
    even a valid one is percent-encoded so that nothing in it can change the URL's meaning."""
    if len(item_id) > ID_MAX or not _ID.fullmatch(item_id):
        return CommerceNotFound(f"malformed ID {item_id!r}")
    return f"/{collection}/{quote(item_id, safe='')}"
