"""The customer's name in what the service stores: replaced by its placeholder `{name}` before
anything is written (audit records, replays kept without a key), and filled again from a retry's
own request when a stored answer is replayed.

The name is the one piece of personal data the service puts into copy on purpose; phones,
e-mails and ID numbers never reach copy (the PII check) and are redacted by the PII detector
wherever free text is stored."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from app.placeholders import printable_name

PLACEHOLDER = "{name}"


@dataclass(frozen=True)
class Personal:
    """The forms of one request's name that may appear in stored text, and the form copy uses."""

    names: tuple[str, ...] = ()  # longest first, so a longer form is masked before a part of it
    filled: str | None = None  # what {name} became in the copy

    @classmethod
    def of(cls, name: str | None, max_chars: int) -> Personal:
        if not name:
            return cls()
        filled = printable_name(name, max_chars)
        forms = {name, name.strip()}
        if filled:
            forms |= {filled, filled[:1].upper() + filled[1:]}  # a sentence may capitalise it
        return cls(tuple(sorted((f for f in forms if f), key=len, reverse=True)), filled)

    def mask(self, text: str) -> str:
        for form in self.names:
            if form in text:
                text = text.replace(form, PLACEHOLDER)
        return text

    def mask_json(self, text: str) -> str:
        """`mask` on JSON text: each form as JSON writes it inside a string."""
        for form in self.names:
            escaped = json.dumps(form, ensure_ascii=False)[1:-1]
            if escaped in text:
                text = text.replace(escaped, PLACEHOLDER)
        return text

    def unmask_json(self, text: str) -> str:
        """A masked answer with the name filled again (the retry carries the same name)."""
        if self.filled is None or PLACEHOLDER not in text:
            return text
        return text.replace(PLACEHOLDER, json.dumps(self.filled, ensure_ascii=False)[1:-1])

    def mask_tree(self, value: Any, keep: frozenset[str] = frozenset(), key: str | None = None) -> Any:
        """Every string in a JSON-like value masked, except under the keys of `keep` (IDs)."""
        if isinstance(value, str):
            return value if key in keep or not self.names else self.mask(value)
        if isinstance(value, dict):
            return {k: self.mask_tree(v, keep, k) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_tree(v, keep, key) for v in value]
        return value
