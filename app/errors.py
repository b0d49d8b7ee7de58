"""Errors a caller can fix (or retry: a 502/503 of the commerce API when the request asked to fail);
the API turns each into a JSON body naming the field."""

from __future__ import annotations


class RequestError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        field: str | None = None,
        status: int = 422,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.headers = headers  # e.g. Retry-After of a 503
        self.code = code
        self.message = message
        self.field = field
        self.status = status
