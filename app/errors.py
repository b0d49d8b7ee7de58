"""Errors a caller can fix; the API turns each into a 4xx JSON body naming the field."""

from __future__ import annotations


class RequestError(Exception):
    def __init__(self, code: str, message: str, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status
