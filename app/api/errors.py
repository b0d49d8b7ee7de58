"""Errors as JSON that names the field: `{"error": {"code", "message", "field"}}`, never a stack trace."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.schemas import ErrorBody

_DESCRIPTIONS = {
    400: "the body is not valid JSON",
    401: "COPYDESK_API_KEYS is set and no valid `Authorization: Bearer <key>` was sent",
    403: "COPYDESK_API_KEYS is unset and the caller is not on loopback; `forbidden_role`: the client "
    "lacks the role this route needs (COPYDESK_API_ROLES)",
    404: "an ID names nothing (or another client's record): `unknown_sku`, `unknown_offer`, "
    "`unknown_generation`, `unknown_library_entry`",
    409: "`idempotency_conflict` (the request_id came before with another body), `offer_expired`, "
    "`offer_not_applicable` (the offer does not cover these SKUs), `library_state` (a decision the "
    "entry's status does not allow), `edit_fails_checks` (an edited variant fails a check today)",
    413: "the body is larger than the largest valid request",
    422: "a field breaks the schema: `invalid_field`, `missing_field`, `unknown_field`, `unknown_journey`",
    429: "too many requests from this client",
    500: "a fault of copydesk; it was logged",
    502: "`commerce_malformed`: the request asked `on_commerce_unavailable: fail` and the commerce API's "
    "answer for the named field broke its contract",
    503: "`database_unavailable`: the database is away (restarting), no copy is sent without its audit "
    "record; `commerce_unavailable`: the request asked `on_commerce_unavailable: fail` and the commerce "
    "API could not be reached. Retry after `Retry-After` seconds",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of the error statuses a route returns."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS[s]} for s in statuses}


# Kept for callers that document every error status at once.
ERROR_RESPONSES = error_responses(400, 401, 403, 404, 409, 413, 422, 429, 500)

# A malformed ID is the caller's error just as an unknown one is: the same code and status.
_ID_FIELDS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"^skus\[\d+\]$"), "unknown_sku", "no such SKU"),
    (re.compile(r"^offer_id$"), "unknown_offer", "no such offer"),
    (re.compile(r"^generation_id$"), "unknown_generation", "no such generation"),
)
_CLOSED_SETS = {"journey": "unknown_journey"}


def error(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"code": code, "message": message, "field": field}},
        headers=dict(headers) if headers else None,
    )


def field_path(loc: Sequence[Any]) -> str | None:
    """('body', 'skus', 0) -> 'skus[0]'; ('body', 'audience', 'segment') -> 'audience.segment';
    ('path', 'generation_id') -> 'generation_id'."""
    parts = list(loc[1:] if loc and loc[0] in ("body", "path", "query") else loc)
    out = ""
    for p in parts:
        if isinstance(p, str) and "[" in p:  # a union member's tag ("literal['auto']"), not a field
            continue
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or None


def validation_error(exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0]
    kind, loc = first.get("type", ""), tuple(first.get("loc", ()))
    if kind == "json_invalid":
        return error(400, "invalid_json", "the request body is not valid JSON", "body")
    top_level_of_a_list = len(loc) == 2 and loc[0] == "body" and isinstance(loc[1], int)
    field = "body" if top_level_of_a_list else field_path(loc) or "body"
    if kind == "missing":
        return error(422, "missing_field", f"{field} is required", field)
    if kind == "extra_forbidden":
        return error(422, "unknown_field", f"{field} is not a field of this request", field)
    for pattern, code, what in _ID_FIELDS:
        if pattern.match(field):
            return error(404, code, f"{field}: {what} (malformed ID)", field)
    msg = _readable(first)
    if field in _CLOSED_SETS and kind in ("literal_error", "string_pattern_mismatch", "string_too_long"):
        return error(422, _CLOSED_SETS[field], f"{field}: {msg}", field)
    return error(422, "invalid_field", f"{field}: {msg}", field)


def _readable(err: Mapping[str, Any]) -> str:
    """pydantic's message, with the control-character pattern said in words."""
    if err.get("type") == "string_pattern_mismatch" and "\\x00" in str(err.get("ctx", {}).get("pattern")):
        return "control characters are not allowed"
    return str(err.get("msg", "invalid value"))
