"""Runs eval cases through the real pipeline: concurrency, repeat-N, assertions, tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.errors import RequestError
from app.evals.assertions import Assertion, assert_case
from app.evals.cases import EvalCase
from app.evals.judge import Judge
from app.generation.service import Service
from app.generation.trade import placeholder_values


@dataclass
class CaseRun:
    case: EvalCase
    repeat: int
    response: dict | None = None
    error: str | None = None
    latency_ms: float = 0.0
    assertions: list[Assertion] = field(default_factory=list)
    tokens: tuple[int, int] = (0, 0)
    snippets: dict[str, str] = field(default_factory=dict)
    attempts: list[list[dict]] = field(default_factory=list)  # per variant: each model answer, what it broke

    @property
    def passed(self) -> bool:
        return self.error is None and all(a.passed for a in self.assertions)


async def run_cases(
    service: Service,
    cases: list[EvalCase],
    *,
    concurrency: int = 2,
    repeat: int = 1,
    on_done: Callable[[CaseRun], None] | None = None,
    judge: Judge | None = None,
) -> list[CaseRun]:
    gate = asyncio.Semaphore(concurrency)
    stamp = str(int(time.time()))

    async def one(case: EvalCase, r: int) -> CaseRun:
        async with gate:
            run = CaseRun(case, r)
            req = case.generate_request(f"{stamp}-{r}")
            started = time.perf_counter()
            try:
                resp = await service.generator.generate(req)
            except RequestError as exc:
                run.error = f"{exc.code}: {exc.message} ({exc.field})"
            except Exception as exc:  # noqa: BLE001 - one broken case must not sink the report
                run.error = f"{type(exc).__name__}: {exc}"
            run.latency_ms = (time.perf_counter() - started) * 1000
            if run.error is None:
                run.response = resp.model_dump(mode="json")
                trade = await service.generator.resolve_trade(req)
                values = placeholder_values(trade, req.locale, service.content.formats, req.audience.name)
                run.assertions = assert_case(case, run.response, values)
                if judge is not None:
                    context = _judge_context(service, case, values)
                    for variant in run.response["variants"]:
                        run.assertions += await judge.grade(variant, context)
                run.tokens = _tokens(service, resp.generation_id)
                run.attempts = _attempts(service, resp.generation_id)
                run.snippets = _snippet_texts(service, resp.snippet_ids)
            if on_done:
                on_done(run)
            return run

    return list(await asyncio.gather(*(one(c, r) for c in cases for r in range(repeat))))


def _judge_context(service: Service, case: EvalCase, values: dict[str, str]) -> dict[str, str]:
    req, content = case.request, service.content
    return {
        "brand": content.brand["name"][req["locale"]],
        "voice": content.brand["voice"][req["locale"]],
        "situation": content.journeys[req["journey"]][req["locale"]],
        "product": values.get("product", ", ".join(req["skus"])),
        "channel": content.channels[req["channel"]].label(req["locale"]),
    }


def _tokens(service: Service, generation_id: str) -> tuple[int, int]:
    record = service.generator.audit.get(generation_id) if service.generator.audit else None
    prompt = completion = 0
    for variant in (record or {}).get("variants", []):
        for attempt in variant.get("attempts", []):
            p, c = attempt.get("tokens", (0, 0))
            prompt, completion = prompt + p, completion + c
    return prompt, completion


def _attempts(service: Service, generation_id: str) -> list[list[dict]]:
    record = service.generator.audit.get(generation_id) if service.generator.audit else None
    return [v.get("attempts", []) for v in (record or {}).get("variants", [])]


def _snippet_texts(service: Service, ids: list[str]) -> dict[str, str]:
    kb = service.knowledge
    position = getattr(kb, "position", {})
    snippets = getattr(kb, "snippets", [])
    return {i: snippets[position[i]].text for i in ids if i in position}
