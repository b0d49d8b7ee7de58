"""Reading a batch of posted events one by one: each is accepted or rejected with its reason, so
one bad event never fails its batch."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.learning.arms import EVENT_TYPES

EVENT_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
VARIANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FIELDS = ("event_id", "variant_id", "type", "at", "value")
REQUIRED = ("event_id", "variant_id", "type", "at")


@dataclass(frozen=True)
class EventIn:
    index: int
    event_id: str
    variant_id: str
    type: str
    at: float
    value: float | None


@dataclass(frozen=True)
class Rejection:
    index: int
    event_id: str | None
    # missing_field, invalid_field, unknown_field, unknown_type, unknown_variant, in_future, before_generation
    code: str
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "event_id": self.event_id,
            "code": self.code,
            "field": f"events[{self.index}].{self.field}" if self.field else f"events[{self.index}]",
            "message": self.message,
        }


def parse_event(index: int, raw: Any) -> EventIn | Rejection:
    """The event's shape and values, before anything is looked up."""
    if not isinstance(raw, dict):
        return Rejection(index, None, "invalid_field", "", "an event is a JSON object")
    event_id = raw.get("event_id") if isinstance(raw.get("event_id"), str) else None

    def no(code: str, field: str, message: str) -> Rejection:
        return Rejection(index, event_id, code, field, message)

    for name in raw:
        if name not in FIELDS:
            return no("unknown_field", str(name)[:40], f"{str(name)[:40]} is not a field of an event")
    for name in REQUIRED:
        if raw.get(name) is None:
            return no("missing_field", name, f"{name} is required")
    if not isinstance(raw["event_id"], str) or not EVENT_ID.match(raw["event_id"]):
        return no("invalid_field", "event_id", "event_id: 1 to 128 of A-Z a-z 0-9 . _ : -")
    if not isinstance(raw["variant_id"], str) or not VARIANT_ID.match(raw["variant_id"]):
        return no("unknown_variant", "variant_id", "variant_id: no such variant (malformed ID)")
    if not isinstance(raw["type"], str):
        return no("invalid_field", "type", "type must be a string")
    if raw["type"] not in EVENT_TYPES:
        return no("unknown_type", "type", f"type must be one of: {', '.join(EVENT_TYPES)}")
    at = parse_time(raw["at"])
    if at is None:
        return no("invalid_field", "at", "at: an ISO 8601 time with its offset, or Unix seconds")
    value = raw.get("value")
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0
    ):
        return no("invalid_field", "value", "value: a revenue amount, a finite number >= 0")
    amount = None if value is None else float(value)
    return EventIn(index, raw["event_id"], raw["variant_id"], raw["type"], at, amount)


def parse_time(value: Any) -> float | None:
    """Unix seconds, or an ISO 8601 time that says its offset (`Z` or `+08:00`)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) and 0 <= value < 1e11 else None
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None
