"""What the calling client may do (COPYDESK_API_ROLES): generate, review, audit. Routes ask here
rather than reading keys, so a new role or a new route is one line."""

from __future__ import annotations

from app.config import Settings
from app.errors import RequestError
from app.observability import request_context


def client() -> str:
    """The calling client's name, as the Guard set it (`local` without keys)."""
    return request_context.client.get() or "local"


def has(settings: Settings, role: str) -> bool:
    return role in settings.roles_of(request_context.client.get())


def require(settings: Settings, role: str) -> None:
    """403 `forbidden_role` unless the caller holds `role`."""
    if not has(settings, role):
        raise RequestError("forbidden_role", f"client {client()} lacks the {role!r} role", None, status=403)


def reads_everything(settings: Settings) -> bool:
    """The auditor role reads across clients; everyone else sees only what it created."""
    return has(settings, "audit")
