"""One generation per (client, request_id) across workers and instances: claim it in the database,
keep the claim alive while generating, store the answer; a concurrent retry waits and gets that
answer. The answer is stored sealed under the replay key, or without one with the customer's name
replaced by its placeholder, filled again from the retry's own request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel

from app.api.errors import error
from app.personal import Personal
from app.store.claims import RequestClaims
from app.store.database import DatabaseUnavailable, run_for
from app.store.replays import PREFIX as SEALED
from app.store.replays import ReplaySeal

log = logging.getLogger(__name__)

POLL_S = (0.05, 0.5)  # a waiter looks again after 50 ms, backing off to 500 ms


async def _call(claims: RequestClaims, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await run_for(claims.db, fn, *args, **kwargs)


def stored_form(body: str, seal: ReplaySeal, personal: Personal, client: str, request_id: str) -> str:
    """What the database keeps of an answer for its replays."""
    if seal.encrypts:
        return seal.seal(body, client=client, request_id=request_id)
    return personal.mask_json(body)


def replayed(stored: str, seal: ReplaySeal, personal: Personal, client: str, request_id: str) -> str | None:
    """The answer again from what was kept, or None when it cannot be opened (a retired key)."""
    if stored.startswith(SEALED):
        return seal.open(stored, client=client, request_id=request_id)
    return personal.unmask_json(stored)


async def answer_once(
    claims: RequestClaims,
    request_id: str,
    digest: str,
    generate: Callable[[], Awaitable[BaseModel]],
    *,
    client: str,
    seal: ReplaySeal,
    personal: Personal,
    max_wait_s: float,
) -> Response:
    """The stored answer (a replay), a 409 for a changed body, or a fresh generation by us."""
    give_up = time.monotonic() + max_wait_s
    poll = POLL_S[0]
    while True:
        claim = await _call(claims, claims.claim, request_id, digest, client=client)
        if claim.outcome == "conflict":
            return error(
                409,
                "idempotency_conflict",
                f"request_id {request_id} was used before with a different body",
                "request_id",
            )
        if claim.outcome == "done":
            text = replayed(claim.response_json or "null", seal, personal, client, request_id)
            if text is not None:
                return _json(text, {"Idempotent-Replay": "true"})
            log.warning("the stored answer to %s does not open (a retired key): generating again", request_id)
            await _call(claims, claims.forget, request_id, client)
            continue
        if claim.outcome == "claimed":
            break
        if time.monotonic() > give_up:
            resp = error(
                409, "request_in_progress", f"request_id {request_id} is still being generated", "request_id"
            )
            resp.headers["Retry-After"] = str(max(1, round(claims.lease_s)))
            return resp
        await asyncio.sleep(min(poll, max(0.01, (claim.lease_until or 0) - time.time() + 0.01)))
        poll = min(POLL_S[1], poll * 2)

    owner = claim.owner or ""
    heartbeat = asyncio.create_task(_keep_alive(claims, request_id, owner))
    try:
        resp = await generate()
    except DatabaseUnavailable:  # releasing would wait for the database on the loop: the lease runs out
        heartbeat.cancel()
        raise
    except BaseException:
        heartbeat.cancel()
        with contextlib.suppress(Exception):
            claims.release(request_id, owner)  # sync: must run even while being cancelled
        raise
    heartbeat.cancel()
    body = resp.model_dump_json()  # once, for the replay store and the reply alike
    kept = stored_form(body, seal, personal, client, request_id)
    try:
        if not await _call(claims, claims.complete, request_id, owner, kept):
            log.warning("request %s was taken over while generating; this answer is not stored", request_id)
    except DatabaseUnavailable:  # the copy has its audit record: it may go; a retry generates again
        log.warning("request %s: the database went away before its answer was stored for replays", request_id)
    return _json(body)


def _json(body: str, headers: dict[str, str] | None = None) -> Response:
    return Response(body, media_type="application/json", headers=headers)


async def _keep_alive(claims: RequestClaims, request_id: str, owner: str) -> None:
    """Renew the lease at a third of its length, so two missed beats still keep the claim."""
    while True:
        await asyncio.sleep(claims.lease_s / 3)
        try:
            if not await _call(claims, claims.renew, request_id, owner):
                return
        except Exception:  # noqa: BLE001 - a database hiccup: the next beat tries again
            log.warning("could not renew the claim on %s", request_id, exc_info=True)
