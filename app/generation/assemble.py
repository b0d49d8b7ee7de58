"""Turns model or fallback fields into the copy a customer receives: filled, SMS-wrapped."""

from __future__ import annotations

import re

from app.channels import ChannelSpec
from app.guardrails.base import Copy
from app.placeholders import fill

_SPACES = re.compile(r"[ \t]+")
# A lower-case letter that starts the text or a sentence (after . ! ? and space or a line break).
_SENTENCE_START = re.compile(r"(^|[.!?]\s+|\n\s*)([a-z])")


def _tidy(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _without_wrapper(body: str, prefix: str, suffix: str) -> str:
    """The model sometimes writes the signature or opt-out itself; the service adds them once."""
    for part in (prefix.strip(), suffix.strip()):
        if part:
            body = body.replace(part, "")
    return _tidy(body)


def sentence_case(text: str) -> str:
    """Capitalise each sentence's first letter: a filled value ("a free gift over ¥150") may open one."""
    return _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), text)


def assemble(
    template: dict[str, str],
    spec: ChannelSpec,
    locale: str,
    values: dict[str, str],
    *,
    sentences: bool = False,
) -> Copy:
    """`sentences`: start every sentence with a capital (template copy, where values open sentences)."""
    template = {f: _tidy(v) for f, v in template.items()}
    fields = {f: fill(v, values) for f, v in template.items()}
    if sentences:
        fields = {f: sentence_case(v) for f, v in fields.items()}
    prefix, suffix = spec.wrapper(locale)
    if "body" in fields and (prefix or suffix):
        fields["body"] = spec.wrap(_without_wrapper(fields["body"], prefix, suffix), locale)
    return Copy(fields=fields, template=template)
