"""Runs eval cases through the real pipeline: concurrency, repeat-N, assertions, tokens, and the
checks on every model answer (before repair or fallback) from the generation's audit record."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.errors import RequestError
from app.evals.assertions import Assertion, assert_case
from app.evals.cases import EvalCase
from app.evals.judge import Judge
from app.evals.recording import CURRENT_RUN
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
    answers: list[Assertion] = field(default_factory=list)  # each check on each model answer

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
    repeats: dict[str, int] | None = None,
) -> list[CaseRun]:
    """`repeats` overrides `repeat` per case ID (a replay runs what was recorded)."""
    gate = asyncio.Semaphore(concurrency)
    stamp = str(int(time.time()))

    async def one(case: EvalCase, r: int) -> CaseRun:
        async with gate:
            run = CaseRun(case, r)
            CURRENT_RUN.set((case.id, r))
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
                record = service.generator.audit.get(resp.generation_id) if service.generator.audit else None
                run.tokens = _tokens(record)
                run.attempts = [v.get("attempts", []) for v in (record or {}).get("variants", [])]
                run.answers = answer_checks(record, [c.name for c in service.generator.checks])
                run.snippets = _snippet_texts(service, resp.snippet_ids)
            if on_done:
                on_done(run)
            return run

    counts = {c.id: (repeats or {}).get(c.id, repeat) for c in cases}
    return list(await asyncio.gather(*(one(c, r) for c in cases for r in range(counts[c.id]))))


def _judge_context(service: Service, case: EvalCase, values: dict[str, str]) -> dict[str, str]:
    req, content = case.request, service.content
    return {
        "brand": content.brand["name"][req["locale"]],
        "voice": content.brand["voice"][req["locale"]],
        "situation": content.journeys[req["journey"]][req["locale"]],
        "product": values.get("product", ", ".join(req["skus"])),
        "channel": content.channels[req["channel"]].label(req["locale"]),
    }


def _tokens(record: dict | None) -> tuple[int, int]:
    prompt = completion = 0
    for variant in (record or {}).get("variants", []):
        for attempt in variant.get("attempts", []):
            p, c = attempt.get("tokens", (0, 0))
            prompt, completion = prompt + p, completion + c
    return prompt, completion


def answer_checks(record: dict | None, checks: list[str]) -> list[Assertion]:
    """Each check on each answer the model gave (a cut is not an answer); an answer that did not
    parse fails "model answers · parsed". Timeouts say nothing about the answers and are left out."""
    out: list[Assertion] = []
    for variant in (record or {}).get("variants", []):
        tone = variant.get("tone", "?")
        answers = [a for a in variant.get("attempts", []) if "deterministic_repair" not in a]
        for i, attempt in enumerate(answers):
            where = f"{tone} #{i + 1}"
            if "error" in attempt:
                if any(e in attempt["error"] for e in ("InvalidOutput", "Truncated")):
                    out.append(Assertion("model answers · parsed", False, f"{where}: {attempt['error']}"))
                continue
            out.append(Assertion("model answers · parsed", True, where))
            broken = {v.split(":", 1)[0] for v in attempt.get("violations", [])}
            out += [Assertion(f"model answers · {c}", c not in broken, where) for c in checks]
    return out


def _snippet_texts(service: Service, ids: list[str]) -> dict[str, str]:
    kb = service.knowledge
    position = getattr(kb, "position", {})
    snippets = getattr(kb, "snippets", [])
    return {i: snippets[position[i]].text for i in ids if i in position}
