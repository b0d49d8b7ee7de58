"""Who and what the current request is (request_id, generation_id, client), carried by contextvars
so logs, metrics and the audit log can name them without threading them through every call."""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
generation_id: ContextVar[str | None] = ContextVar("generation_id", default=None)
client: ContextVar[str | None] = ContextVar("client", default=None)


def current() -> dict[str, str]:
    """The fields set for this request, for a log line or an audit record."""
    fields = {"request_id": request_id.get(), "generation_id": generation_id.get(), "client": client.get()}
    return {k: v for k, v in fields.items() if v is not None}
