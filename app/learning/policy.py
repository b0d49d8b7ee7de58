"""The allocation policy as data (guardrails/allocation.yaml), with a version: a hash of the file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

GOALS = ("clicked", "converted")


@dataclass(frozen=True)
class GuardRule:
    probability: float
    min_sends: int
    ceiling: float | None = None


@dataclass(frozen=True)
class AllocationPolicy:
    version: str
    goal: str = "converted"
    floor: float = 0.02
    max_step: float = 0.10
    hold_out: float = 0.0
    draws: int = 2000
    normal_from: float = 20.0
    min_strength: float = 2.0
    max_strength: float = 500.0
    default_strength: float = 100.0
    min_parent_sends: int = 50
    guard: dict[str, GuardRule] = field(default_factory=dict)
    clock_skew_s: float = 300.0
    update_interval_s: float = 5.0

    @classmethod
    def load(cls, path: Path) -> AllocationPolicy:
        raw_bytes = path.read_bytes()
        raw = yaml.safe_load(raw_bytes) or {}
        return cls.from_dict(raw, "alloc-" + hashlib.sha256(raw_bytes).hexdigest()[:12])

    @classmethod
    def from_dict(cls, raw: dict, version: str) -> AllocationPolicy:
        prior = raw.get("prior") or {}
        guard = {
            name: GuardRule(float(r["probability"]), int(r.get("min_sends", 0)), _opt(r.get("ceiling")))
            for name, r in (raw.get("guard") or {}).items()
        }
        policy = cls(
            version=version,
            goal=str(raw.get("goal", "converted")),
            floor=float(raw.get("floor", 0.02)),
            max_step=float(raw.get("max_step", 0.10)),
            hold_out=float(raw.get("hold_out", 0.0)),
            draws=int(raw.get("draws", 2000)),
            normal_from=float(raw.get("normal_from", 20)),
            min_strength=float(prior.get("min_strength", 2)),
            max_strength=float(prior.get("max_strength", 500)),
            default_strength=float(prior.get("default_strength", 100)),
            min_parent_sends=int(prior.get("min_parent_sends", 50)),
            guard=guard,
            clock_skew_s=float((raw.get("events") or {}).get("clock_skew_s", 300)),
            update_interval_s=float(raw.get("update_interval_s", 5)),
        )
        policy.validate()
        return policy

    def validate(self) -> None:
        if self.goal not in GOALS:
            raise ValueError(f"allocation.yaml: goal must be one of {', '.join(GOALS)}, got {self.goal!r}")
        if not 0 <= self.floor < 1 or not 0 < self.max_step <= 1 or not 0 <= self.hold_out < 1:
            raise ValueError("allocation.yaml: floor and hold_out in [0, 1), max_step in (0, 1]")
        if self.update_interval_s < 0:
            raise ValueError("allocation.yaml: update_interval_s must be at least 0")
        if self.normal_from < 0:
            raise ValueError("allocation.yaml: normal_from must be at least 0")
        if self.draws < 100:
            raise ValueError("allocation.yaml: draws must be at least 100")
        unknown = set(self.guard) - {"unsubscribed", "complained"}
        if unknown:
            raise ValueError(f"allocation.yaml: guard on unknown event {sorted(unknown)[0]!r}")


def _opt(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
