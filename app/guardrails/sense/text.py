"""How the sense checks see a text: the model's words with our placeholders taken out, split into
units (a Chinese character, a Latin word, a number) so Chinese and English are measured alike."""

from __future__ import annotations

import re

from app.guardrails.base import Copy
from app.placeholders import PLACEHOLDER

UNIT = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[A-Za-z\u00c0-\u024f]+(?:['’][A-Za-z]+)?|\d+(?:[.,]\d+)*")
HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+(?:['’][A-Za-z]+)?")


def bare(text: str) -> str:
    """The text with our {placeholders} replaced by a line break (a boundary no unit crosses)."""
    return PLACEHOLDER.sub("\n", text)


def units(text: str) -> list[str]:
    return [u.lower() for u in UNIT.findall(text)]


def segments(text: str) -> list[list[str]]:
    """Units per stretch of text between placeholders and line breaks (n-grams never span one)."""
    return [u for part in bare(text).split("\n") if (u := units(part))]


def model_texts(copy: Copy) -> list[tuple[str, str]]:
    """The fields as the model wrote them (before filling), by name: what the sense checks judge."""
    return [(f, t) for f, t in copy.template.items() if t and t.strip()]


def filled(fields: list[tuple[str, str]], values: dict[str, str]) -> str:
    """The model's fields as the customer reads them, placeholders filled, one field a line."""
    return "\n".join(PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), t) for _, t in fields)
