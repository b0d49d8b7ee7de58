"""The library's policy, read from prompts/library.yaml: what is kept, what is a near-duplicate,
how approved copy shares traffic, how much served copy a person spot-checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.content import read_yaml

MODES = ("fresh", "library", "approved_only")


@dataclass(frozen=True)
class LibraryPolicy:
    keep_sources: frozenset[str]
    ngram: int
    duplicate_threshold: float
    exploration_share: float
    warmup_serves: int
    spot_default: float
    spot_by_journey: dict[str, float]
    preview_name: dict[str, str]
    page_size: int
    page_size_max: int

    @classmethod
    def load(cls, path: Path) -> LibraryPolicy:
        raw = read_yaml(path)
        near = raw["near_duplicate"]
        if near.get("measure") != "char_ngram_jaccard":
            raise ValueError(f"{path}: near_duplicate.measure must be char_ngram_jaccard")
        spot = raw["spot_check"]
        return cls(
            keep_sources=frozenset(raw["keep_sources"]),
            ngram=int(near["n"]),
            duplicate_threshold=float(near["threshold"]),
            exploration_share=float(raw["allocation"]["exploration_share"]),
            warmup_serves=int(raw["allocation"]["warmup_serves"]),
            spot_default=float(spot["default"]),
            spot_by_journey={k: float(v) for k, v in (spot.get("journeys") or {}).items()},
            preview_name=dict(raw["preview_name"]),
            page_size=int(raw["page_size"]),
            page_size_max=int(raw["page_size_max"]),
        )

    def spot_share(self, journey: str) -> float:
        return self.spot_by_journey.get(journey, self.spot_default)


def default_mode(journeys: dict[str, dict], journey: str) -> str:
    """The journey's `mode` in prompts/journeys.yaml, else fresh."""
    mode = (journeys.get(journey) or {}).get("mode", "fresh")
    if mode not in MODES:
        raise ValueError(f"prompts/journeys.yaml: {journey}.mode must be one of {', '.join(MODES)}")
    return str(mode)
