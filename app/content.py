"""Loads the plain-file policy and copy (guardrails/, prompts/, knowledge/) into typed objects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from app.channels import ChannelSpec, parse_channels

LOCALES = ("zh-CN", "en-US")


@dataclass(frozen=True)
class Tone:
    name: str
    description: dict[str, str]


@dataclass(frozen=True)
class PlaceholderSpec:
    name: str
    source: str
    description: dict[str, str]


@dataclass(frozen=True)
class FallbackCandidate:
    fields: dict[str, str]
    journeys: tuple[str, ...]


@dataclass(frozen=True)
class Content:
    """Everything copywriters and compliance edit, loaded once at start."""

    root: Path
    channels: dict[str, ChannelSpec]
    tones: list[Tone]
    journeys: dict[str, dict[str, str]]
    placeholders: dict[str, PlaceholderSpec]
    formats: dict[str, Any]
    brand: dict[str, Any]
    fallbacks: dict[str, dict[str, list[FallbackCandidate]]]  # channel -> locale -> candidates

    @property
    def prompts_dir(self) -> Path:
        return self.root / "prompts"

    @property
    def knowledge_dir(self) -> Path:
        return self.root / "knowledge"


def read_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _fallbacks(folder: Path, channels: dict[str, ChannelSpec]) -> dict:
    out: dict[str, dict[str, list[FallbackCandidate]]] = {}
    for name, spec in channels.items():
        raw = read_yaml(folder / f"{name}.yaml")
        out[name] = {}
        for loc in LOCALES:
            items = raw.get(loc) or []
            if not items:
                raise ValueError(f"prompts/fallback/{name}.yaml has no candidates for {loc}")
            out[name][loc] = [
                FallbackCandidate(
                    fields={f: str(item[f]) for f in spec.fields() if f in item},
                    journeys=tuple(item.get("journeys") or ()),
                )
                for item in items
            ]
    return out


def load_content(root: Path) -> Content:
    channels = parse_channels(read_yaml(root / "guardrails" / "channels.yaml"), LOCALES)
    ph_raw = read_yaml(root / "prompts" / "placeholders.yaml")
    return Content(
        root=root,
        channels=channels,
        tones=[Tone(t["name"], t["description"]) for t in read_yaml(root / "prompts" / "tones.yaml")],
        journeys=read_yaml(root / "prompts" / "journeys.yaml"),
        placeholders={
            n: PlaceholderSpec(n, d["source"], d["description"]) for n, d in ph_raw["placeholders"].items()
        },
        formats=ph_raw["formats"],
        brand=read_yaml(root / "knowledge" / "brand.yaml"),
        fallbacks=_fallbacks(root / "prompts" / "fallback", channels),
    )
