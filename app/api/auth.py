"""Who may call: a key from COPYDESK_API_KEYS as a bearer token, or without keys loopback only."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from app.api.errors import error
from app.config import Settings, is_loopback


def refuse(request: Request, settings: Settings) -> JSONResponse | None:
    """The error for a caller that may not use /v1/, or None to serve it."""
    if settings.api_keys:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        if token not in settings.api_keys:
            return error(401, "unauthorized", "send Authorization: Bearer <key>", "Authorization")
    elif not is_loopback(request.client.host if request.client else None):
        return error(403, "forbidden", "without COPYDESK_API_KEYS only loopback clients are served")
    return None
