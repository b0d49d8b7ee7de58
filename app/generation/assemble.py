"""Turns model or fallback fields into the copy a customer receives: filled, SMS-wrapped."""

from __future__ import annotations

import re

from app.channels import ChannelSpec
from app.guardrails.base import Copy
from app.placeholders import fill

_SPACES = re.compile(r"[ \t]+")


def _tidy(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _without_wrapper(body: str, prefix: str, suffix: str) -> str:
    """The model sometimes writes the signature or opt-out itself; the service adds them once."""
    for part in (prefix.strip(), suffix.strip()):
        if part:
            body = body.replace(part, "")
    return _tidy(body)


def assemble(template: dict[str, str], spec: ChannelSpec, locale: str, values: dict[str, str]) -> Copy:
    template = {f: _tidy(v) for f, v in template.items()}
    fields = {f: fill(v, values) for f, v in template.items()}
    prefix, suffix = spec.wrapper(locale)
    if "body" in fields and (prefix or suffix):
        fields["body"] = prefix + _without_wrapper(fields["body"], prefix, suffix) + suffix
    return Copy(fields=fields, template=template)
