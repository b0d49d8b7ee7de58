"""Erasure on request, for the audit role: `DELETE /v1/requests/{request_id}` removes what one
request stored (audit records, its idempotency entry and what later stages keep for it);
`GET /v1/deletions` lists the recorded purges and erasures (never the deleted data)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from app.api import roles
from app.api.errors import error_responses
from app.config import Settings
from app.store.retention import deletions, erase

REQUEST_ID = r"^[A-Za-z0-9._:\-]+$"  # as GenerateRequest.request_id


def erasure_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["audit"])

    @router.delete("/v1/requests/{request_id}", responses=error_responses(401, 403, 422, 429, 500))
    async def erase_request(
        request: Request,
        request_id: Annotated[str, Path(min_length=1, max_length=128, pattern=REQUEST_ID)],
        client: Annotated[
            str | None,
            Query(max_length=128, description="only this client's request (default: every client's)"),
        ] = None,
    ) -> dict[str, Any]:
        """Erase everything stored for a request_id; recorded in the deletions log with who asked.
        Answers what was deleted per table (zeros when nothing was stored)."""
        roles.require(settings, "audit")
        db = request.app.state.claims.db
        done = await asyncio.to_thread(erase, db, request_id, f"client:{roles.client()}", client=client)
        return done.as_dict()

    @router.get("/v1/deletions", responses=error_responses(401, 403, 422, 429, 500))
    async def list_deletions(
        request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[dict[str, Any]]:
        """The latest purges and erasures, newest first: when, by whom, what (counts per table)."""
        roles.require(settings, "audit")
        return await asyncio.to_thread(deletions, request.app.state.claims.db, limit)

    return router
