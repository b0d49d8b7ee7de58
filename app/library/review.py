"""Reviewers' decisions: which status each decision leads to, from which statuses it may be taken.
Rejected and retired are final: such a variant is never served again (an edit makes a new one)."""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import RequestError

# decision -> (resulting status, statuses it may be taken from)
DECISIONS: dict[str, tuple[str, frozenset[str]]] = {
    "approve": ("approved", frozenset({"pending", "approved"})),  # again: clears a flag
    "reject": ("rejected", frozenset({"pending", "approved"})),
    "retire": ("retired", frozenset({"approved", "pending"})),
}


@dataclass(frozen=True)
class Transition:
    action: str
    before: str
    after: str


def transition(action: str, status: str, library_id: str) -> Transition:
    """The move, or 409 `library_state` naming why (a final status, an unknown decision)."""
    if action not in DECISIONS:
        raise RequestError(
            "unknown_decision", f"decision must be one of {', '.join(DECISIONS)}", "decision", 404
        )
    after, allowed = DECISIONS[action]
    if status not in allowed:
        raise RequestError(
            "library_state", f"{library_id} is {status}; it cannot be {after} now", "library_id", status=409
        )
    return Transition(action, status, after)
