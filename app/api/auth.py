"""Who may call: a key from COPYDESK_API_KEYS as a bearer token, or without keys loopback only.

Keys are compared in constant time against every configured key, so the time a refusal takes
says nothing about how much of a key was right."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import JSONResponse

from app.api.errors import error
from app.config import Settings, is_loopback


def bearer(request: Request) -> str:
    """The token of `Authorization: Bearer …`, or '' without one."""
    auth = request.headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else ""


def matches(token: str, key: str) -> bool:
    """Constant time for keys of any content (compare_digest on str takes ASCII only)."""
    return hmac.compare_digest(token.encode("utf-8", "surrogatepass"), key.encode("utf-8", "surrogatepass"))


def client_of(token: str, clients_by_key: Mapping[str, str]) -> str | None:
    """The client whose key `token` is, comparing with every key (no early exit), or None."""
    found = None
    for key, name in clients_by_key.items():
        if matches(token, key) and found is None:
            found = name
    return found


def refuse(request: Request, settings: Settings) -> JSONResponse | None:
    """The error for a caller that may not use /v1/, or None to serve it."""
    if settings.api_keys:
        if client_of(bearer(request), settings.clients_by_key) is None:
            return error(401, "unauthorized", "send Authorization: Bearer <key>", "Authorization")
    elif not is_loopback(request.client.host if request.client else None):
        return error(403, "forbidden", "without COPYDESK_API_KEYS only loopback clients are served")
    return None
