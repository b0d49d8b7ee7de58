"""Optional model-graded assertions: a judge model scores relevance, tone and brand voice,
several times per variant, so a flaky grade shows as spread rather than as a verdict."""

from __future__ import annotations

import asyncio
import os
import statistics
from pathlib import Path

from jinja2 import Template
from pydantic import BaseModel, ConfigDict, Field

from app.evals.assertions import Assertion
from app.llm.client import LLMClient, LLMFailed
from app.llm.deadline import Deadline
from app.llm.transport import ModelTransport


class Grade(BaseModel):
    model_config = ConfigDict(extra="ignore")

    relevance: int = Field(ge=1, le=5)
    tone: int = Field(ge=1, le=5)
    brand_voice: int = Field(ge=1, le=5)
    reason: str = ""


class Judge:
    def __init__(self, llm: LLMClient, template: str, config: dict) -> None:
        self.llm = llm
        self.template = Template(template)
        self.repeats = int(config.get("repeats", 3))
        self.min_score = float(config.get("min_score", 3))
        self.flaky_spread = float(config.get("flaky_spread", 1))
        self.criteria = list(config.get("criteria", ["relevance", "tone", "brand_voice"]))

    @classmethod
    def from_env(cls, evals_dir: Path, config: dict, env=os.environ) -> Judge | None:
        url = env.get("COPYDESK_JUDGE_BASE_URL")
        if not url:
            return None
        transport = ModelTransport(url, env.get("COPYDESK_JUDGE_API_KEY") or "none")
        model = env.get("COPYDESK_JUDGE_MODEL") or "judge"
        json_mode = env.get("COPYDESK_JUDGE_JSON_MODE") or "json_schema"
        llm = LLMClient(transport, model, json_mode=json_mode, temperature=0.3)
        return cls(llm, (evals_dir / "judge.j2").read_text(encoding="utf-8"), config.get("judge", {}))

    async def grade(self, variant: dict, context: dict) -> list[Assertion]:
        prompt = self.template.render(**context, tone=variant["tone"], title=variant["title"],
                                      body=variant["body"], cta=variant["cta"])  # fmt: skip
        messages = [{"role": "user", "content": prompt}]

        async def once() -> Grade | None:
            try:
                done = await self.llm.complete(messages, Grade, Deadline(60), max_tokens=200)
                return done.parsed  # type: ignore[return-value]
            except LLMFailed:
                return None

        grades = [g for g in await asyncio.gather(*(once() for _ in range(self.repeats))) if g is not None]
        label = variant["variant_id"][-1]
        if not grades:
            return [Assertion(f"judge {label}", False, "the judge gave no usable answer")]
        out = []
        for criterion in self.criteria:
            scores = [getattr(g, criterion) for g in grades]
            mean, spread = statistics.fmean(scores), max(scores) - min(scores)
            flaky = ", flaky" if spread > self.flaky_spread else ""
            detail = f"mean {mean:.1f} of {scores} (spread {spread}{flaky}); {grades[0].reason}"
            out.append(Assertion(f"judge {label} {criterion}", mean >= self.min_score, detail))
        return out
