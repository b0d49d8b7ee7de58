"""Errors as JSON that names the field: `{"error": {"code", "message", "field"}}`, never a stack trace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.schemas import ErrorBody

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 409, 422, 500)
}


def error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"code": code, "message": message, "field": field}}
    )


def field_path(loc: Sequence[Any]) -> str | None:
    """('body', 'skus', 0) -> 'skus[0]'; ('body', 'audience', 'segment') -> 'audience.segment'."""
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or None


def validation_error(exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0]
    kind, loc = first.get("type", ""), first.get("loc", ())
    if kind == "json_invalid":
        return error(400, "invalid_json", "the request body is not valid JSON", "body")
    field = field_path(loc) if not (len(loc) == 2 and isinstance(loc[1], int)) else "body"
    if kind == "extra_forbidden":
        return error(422, "unknown_field", f"{field} is not a field of this request", field)
    if kind == "missing":
        return error(422, "missing_field", f"{field} is required", field)
    msg = first.get("msg", "invalid value")
    return error(422, "invalid_field", f"{field or 'body'}: {msg}", field or "body")
