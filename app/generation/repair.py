"""Deterministic repair of copy that breaks only the channel's limits: LLMs count badly, so a
text that is too long is cut at a clause boundary, and a line break in a single-line channel
becomes a comma or space, before the model is asked again."""

from __future__ import annotations

import re

from app.channels import ChannelSpec
from app.placeholders import fill

_CLAUSE = re.compile(r"[^，。！？；,.!?;]+[，。！？；,.!?;]?")
_END = {"zh-CN": "。", "en-US": "."}


def _single_line(text: str, locale: str) -> str:
    sep = "，" if locale == "zh-CN" else " "
    return re.sub(r"\s*[\r\n]+\s*", sep, text).strip()


def _fits(spec: ChannelSpec, field: str, locale: str, text: str, values: dict[str, str]) -> bool:
    filled = fill(text, values)
    if field == "body":
        filled = spec.wrap(filled, locale)
    return spec.fits(field, locale, filled)


def trim(text: str, spec: ChannelSpec, field: str, locale: str, values: dict[str, str]) -> str | None:
    """The longest run of leading clauses that fits, ended with a full stop; None if none does."""
    clauses = _CLAUSE.findall(text)
    for n in range(len(clauses), 0, -1):
        candidate = "".join(clauses[:n]).rstrip("，,；; ")
        if candidate and candidate[-1] not in "。！？.!?":
            candidate += _END.get(locale, ".")
        if _fits(spec, field, locale, candidate, values):
            return candidate
    return None


def repair(
    template: dict[str, str], spec: ChannelSpec, locale: str, values: dict[str, str]
) -> dict[str, str] | None:
    """The template made to fit the channel, or None when cutting cannot make it fit."""
    fixed = dict(template)
    for field, text in template.items():
        if field not in spec.limits:
            continue
        if not spec.line_breaks:
            text = _single_line(text, locale)
        if not _fits(spec, field, locale, text, values):
            cut = trim(text, spec, field, locale, values)
            if cut is None:
                return None
            text = cut
        fixed[field] = text
    return fixed if fixed != template else None
