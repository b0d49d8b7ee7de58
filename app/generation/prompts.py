"""Renders the Jinja2 prompt templates in prompts/ and versions them by content hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from app.content import Content


@dataclass(frozen=True)
class PromptInput:
    channel: str
    locale: str
    journey: str
    tone: str
    audience: dict[str, Any]
    products: list[dict[str, Any]]
    offer_terms: str | None
    reviews: list[str]
    placeholders: list[str]
    violations: list[str]


class PromptBook:
    def __init__(self, content: Content) -> None:
        self.content = content
        self.root = content.prompts_dir
        self.env = Environment(
            loader=FileSystemLoader(str(self.root)),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            trim_blocks=False,
            # Read once, like prompt_version (hashed once per channel and locale): a template edited
            # under a running service must not change its copy without changing its version.
            # (It also spares a stat() of every template on every render.)
            auto_reload=False,
        )
        self._versions: dict[tuple[str, str], str] = {}

    def files(self, channel: str, locale: str) -> list[Path]:
        """Every file that shapes a request's prompt or its fallback copy."""
        names = [
            f"system.{locale}.j2",
            f"base.{locale}.j2",
            f"channels/{channel}.{locale}.j2",
            "tones.yaml",
            "journeys.yaml",
            "placeholders.yaml",
            f"fallback/{channel}.yaml",
        ]
        return [self.root / n for n in names]

    def version(self, channel: str, locale: str) -> str:
        key = (channel, locale)
        if key not in self._versions:
            digest = hashlib.sha256()
            for path in self.files(channel, locale):
                digest.update(path.relative_to(self.root).as_posix().encode())
                digest.update(path.read_bytes())
            self._versions[key] = digest.hexdigest()[:12]
        return self._versions[key]

    def render(self, p: PromptInput) -> list[dict[str, str]]:
        c = self.content
        spec = c.channels[p.channel]
        tone = next(t for t in c.tones if t.name == p.tone)
        limits = {f: spec.limit(f, p.locale) for f in spec.fields()}
        limits["body"] = spec.body_budget(p.locale)
        signature, opt_out = spec.wrapper(p.locale)
        example = "{" + ", ".join(f'"{f}": "..."' for f in spec.fields()) + "}"
        system = self.env.get_template(f"system.{p.locale}.j2").render(
            brand={"name": c.brand["name"], "voice": c.brand["voice"]}
        )
        user = self.env.get_template(f"channels/{p.channel}.{p.locale}.j2").render(
            channel_label=spec.label(p.locale),
            journey_text=c.journeys[p.journey][p.locale],
            audience=p.audience,
            tone_name=tone.name,
            tone_text=tone.description[p.locale],
            products=p.products,
            offer_terms=p.offer_terms,
            reviews=p.reviews,
            placeholders=[
                {"name": n, "text": c.placeholders[n].description[p.locale]} for n in p.placeholders
            ],
            limits=limits,
            sms={"signature": signature.strip(), "opt_out": opt_out.strip()},
            violations=p.violations,
            json_example=example,
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]
