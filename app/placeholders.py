"""Placeholders ({price}, {offer_code}, ...) in copy: finding and filling them; the values come from
generation/trade.py (trusted sources only)."""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders_in(text: str) -> list[str]:
    return PLACEHOLDER.findall(text)


def fill(text: str, values: dict[str, str]) -> str:
    """Replace known placeholders; unknown ones stay visible so a check can reject them."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
