"""Placeholders ({price}, {offer_code}, ...) in copy: finding and filling them; the values come from
generation/trade.py (trusted sources only)."""

from __future__ import annotations

import re
import unicodedata

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders_in(text: str) -> list[str]:
    return PLACEHOLDER.findall(text)


def fill(text: str, values: dict[str, str]) -> str:
    """Replace known placeholders; unknown ones stay visible so a check can reject them."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


_NAME_PUNCTUATION = frozenset("'’-.·・")


def printable_name(raw: str, max_chars: int) -> str | None:
    """The customer's name as it may appear in copy, or None when it is not plainly a name.

    NFKC, invisible format characters (zero-width, bidi controls) removed, whitespace collapsed;
    then only letters, combining marks, single spaces and name punctuation, within `max_chars`."""
    text = "".join(ch for ch in unicodedata.normalize("NFKC", raw) if unicodedata.category(ch) != "Cf")
    text = " ".join(text.split())
    if not text or len(text) > max_chars or not unicodedata.category(text[0]).startswith("L"):
        return None
    for ch in text:
        cat = unicodedata.category(ch)
        if not (cat[0] in "LM" or ch == " " or ch in _NAME_PUNCTUATION):
            return None
    return text
