"""Eval cases: a generation request plus what good copy must show, one YAML file each."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from app.content import read_yaml
from app.schemas import GenerateRequest


class Expect(BaseModel):
    no_violations: bool = True
    not_fallback: bool = True
    offer_untouched: bool = True
    mentions_any: list[str] = Field(default_factory=list)  # placeholders or words; one must appear
    must_not_mention: list[str] = Field(default_factory=list)
    max_chars: dict[str, int] = Field(default_factory=dict)  # field -> budget
    tone_markers: dict[str, list[str]] = Field(default_factory=dict)  # tone -> one of these must appear


class EvalCase(BaseModel):
    id: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    request: dict
    expect: Expect = Field(default_factory=Expect)

    def generate_request(self, run_id: str) -> GenerateRequest:
        # Fresh unless the case says otherwise: an eval measures the model and the prompts, never
        # copy a reviewer approved into the library of the data dir it runs on.
        return GenerateRequest.model_validate(
            {"request_id": f"eval-{self.id}-{run_id}"[:128], "mode": "fresh", **self.request}
        )


def load_cases(folder: Path, pattern: str | None = None, tags: list[str] | None = None) -> list[EvalCase]:
    cases = [EvalCase.model_validate(read_yaml(p)) for p in sorted(folder.glob("*.yaml"))]
    if pattern:
        cases = [c for c in cases if pattern in c.id]
    if tags:
        cases = [c for c in cases if set(tags) <= set(c.tags)]
    return cases
