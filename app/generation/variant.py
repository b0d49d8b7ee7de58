"""One variant's draft loop: ask the model, check, cut or re-ask with the violations named, and
fall back to checked template copy when the model cannot produce a passing answer in time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, create_model

from app.channels import ChannelSpec
from app.generation.assemble import assemble
from app.generation.repair import repair
from app.guardrails import Check, CheckContext, CheckResult, Copy, run_checks
from app.guardrails.link_policy import LinkPolicy
from app.llm.admission import ModelShed
from app.llm.client import LLMClient, LLMFailed
from app.llm.deadline import Deadline
from app.observability import telemetry, tracing

log = logging.getLogger(__name__)

# Time kept back from the model so that fallback copy still goes out inside the deadline.
FALLBACK_RESERVE_S = 0.25
# A field of the model's answer is read up to this many times its budget: what lies beyond can
# never be sent (a cut keeps a head within the limit), and a broken server's megabyte would cost
# the checks seconds on the event loop. The raw answer is kept whole in the audit record.
READ_BUDGETS = 4


@cache
def draft_model(channel: str, budgets: tuple[tuple[str, int], ...]) -> type[BaseModel]:
    """The model's output schema: only the channel's text fields, never an ID it could alter.

    Each field's budget goes into the JSON schema as `maxLength` for providers that constrain
    decoding by it; it is not validated here, so that an over-long answer from a provider that
    ignores it still reaches the deterministic cut at a clause boundary."""
    return create_model(  # type: ignore[call-overload]
        f"{channel.capitalize()}Copy",
        __config__=ConfigDict(extra="ignore"),
        **{f: (str, Field(json_schema_extra={"maxLength": n})) for f, n in budgets},
    )


def field_budgets(spec: ChannelSpec, locale: str) -> tuple[tuple[str, int], ...]:
    """Characters each field may take in the model's answer (the SMS body less its wrapper)."""
    return tuple(
        (f, spec.body_budget(locale) if f == "body" else spec.limit(f, locale)) for f in spec.fields()
    )


def bounded(template: dict[str, str], budgets: tuple[tuple[str, int], ...]) -> dict[str, str]:
    """The answer's fields, each cut to READ_BUDGETS times its budget."""
    limit = dict(budgets)
    return {
        f: t[: limit[f] * READ_BUDGETS] if f in limit and isinstance(t, str) else t
        for f, t in template.items()
    }


@dataclass
class VariantResult:
    tone: str
    copy: Copy
    checks: list[CheckResult]
    source: str
    raw_outputs: list[str] = field(default_factory=list)
    attempts: list[dict] = field(default_factory=list)  # each model answer and what it broke
    seconds: float = 0.0
    reason: str = ""  # why this source: the checks that failed on the model's attempts
    repair: str | None = None  # "cut" (deterministic) or "reask", for source "repaired"
    library_id: str | None = None  # for source "library": the approved entry it was filled from


def prompt_text(messages: list[dict]) -> str:
    """The rendered prompt as one text, what the prompt-echo check compares the copy with."""
    return "\n".join(str(m.get("content", "")) for m in messages)


def failed_checks(results: list[VariantResult]) -> list[str]:
    """The names of the checks the model's answers failed, over every attempt of these variants."""
    names = {v.split(":", 1)[0] for r in results for a in r.attempts for v in a.get("violations", ())}
    return sorted(names)


def variant_attributes(result: VariantResult) -> dict:
    """A variant's outcome for its span: where its copy came from, after how many answers."""
    return {
        "copydesk.variant.source": result.source,
        "copydesk.variant.repair": result.repair,
        "copydesk.variant.rounds": sum(1 for a in result.attempts if "raw" in a),
        "copydesk.checks.failed": failed_checks([result]),
    }


class _Budget(Deadline):
    """A deadline for one model call: the request's remaining time less the fallback reserve."""


class VariantDrafter:
    """Runs the draft → check → repair → fallback loop for one variant at a time."""

    def __init__(
        self, llm: LLMClient, checks: list[Check], *, max_repairs: int, links: LinkPolicy | None
    ) -> None:
        self.llm = llm
        self.checks = checks
        self.max_repairs = max_repairs
        self.links = links

    async def draft(
        self,
        ctx: CheckContext,
        tone: str,
        render: Callable[[list[str]], list[dict]],
        fallback: Callable[[], tuple[Copy, list[CheckResult]]],
        deadline: Deadline,
        variant_id: str,
    ) -> VariantResult:
        """The draft loop in a span of its own: its model calls and checks are the children."""
        with tracing.span("variant", {"copydesk.variant.tone": tone}) as span:
            result = await self._draft(ctx, tone, render, fallback, deadline, variant_id)
            tracing.annotate(span, variant_attributes(result))
            return result

    async def _draft(
        self,
        ctx: CheckContext,
        tone: str,
        render: Callable[[list[str]], list[dict]],
        fallback: Callable[[], tuple[Copy, list[CheckResult]]],
        deadline: Deadline,
        variant_id: str,
    ) -> VariantResult:
        """`render(violations)` gives the messages of an attempt (none named on the first)."""
        spec = ctx.channel
        budgets = field_budgets(spec, ctx.locale)
        output = draft_model(spec.name, budgets)
        violations: list[str] = []
        raws: list[str] = []
        attempts: list[dict] = []
        why: list[str] = []  # what went wrong on each attempt, for the variant's source_reason
        started = time.perf_counter()

        def result(
            copy: Copy, checks: list[CheckResult], source: str, reason: str, how=None
        ) -> VariantResult:
            elapsed = time.perf_counter() - started
            return VariantResult(tone, copy, checks, source, raws, attempts, elapsed, reason, how)

        for attempt in range(1 + self.max_repairs):
            budget = deadline.remaining() - FALLBACK_RESERVE_S
            if budget <= 0.1:
                why.append("no time left for the model")
                break
            messages = render(violations)
            # Echo is judged against this attempt's own prompt; the violations it quotes are not
            # instructions the copy could echo.
            actx = replace(ctx, prompt=prompt_text(messages), grounding=(*ctx.grounding, *violations))
            try:
                async with asyncio.timeout(budget):
                    done = await self.llm.complete(
                        messages, output, _Budget(budget), max_tokens=self.max_tokens(ctx)
                    )
            except ModelShed as exc:  # no call made: the model could not answer in time
                attempts.append({"raw": [], "error": str(exc), "shed": exc.reason})
                why.append(f"fallback at once, {exc.reason}: {exc}")
                break
            except (LLMFailed, TimeoutError) as exc:
                raws += getattr(exc, "raw_outputs", [])
                attempts.append({"raw": getattr(exc, "raw_outputs", []), "error": str(exc) or "deadline"})
                why.append(f"the model gave no usable answer ({str(exc) or 'deadline'})")
                log.info("variant %s: model failed: %s", tone, exc)
                break
            raws.append(done.raw)
            template = bounded(done.parsed.model_dump(), budgets)
            copy, last_checks = self.check(template, actx, variant_id)  # ~1 ms: on the loop, no thread hop
            violations = [f"{r.name}: {r.detail}" for r in last_checks if not r.passed]
            attempts.append(
                {
                    "raw": done.raw,
                    "attempts": done.attempts,
                    "tokens": [done.prompt_tokens, done.completion_tokens],
                    "violations": violations,
                }
            )
            if not violations:
                if attempt == 0:
                    return result(copy, last_checks, "llm", "the model's first answer passed every check")
                reason = f"re-asked after {'; '.join(why)}"
                return result(copy, last_checks, "repaired", reason, "reask")
            failing = [r.name for r in last_checks if not r.passed]
            why.append(f"answer {attempt + 1} failed {', '.join(failing)}")
            if set(failing) <= {"channel_limits"}:
                fixed = repair(template, spec, ctx.locale, ctx.values)  # cut before re-asking
                if fixed is not None:
                    copy, checks = self.check(fixed, actx, variant_id)
                    if all(r.passed for r in checks):
                        attempts.append({"deterministic_repair": fixed})
                        reason = f"cut at a clause boundary to fit: {'; '.join(why)}"
                        return result(copy, checks, "repaired", reason, "cut")
                    cut_failing = [f"{r.name}: {r.detail}" for r in checks if not r.passed]
                    attempts.append({"deterministic_repair": fixed, "violations": cut_failing})
                    why.append("its cut failed " + ", ".join(r.name for r in checks if not r.passed))
        copy, checks = fallback()
        reason = "template copy: " + "; ".join(why) if why else "template copy"
        return result(copy, checks, "fallback", reason)

    def check(
        self, template: dict[str, str], ctx: CheckContext, variant_id: str
    ) -> tuple[Copy, list[CheckResult]]:
        copy = assemble(template, ctx.channel, ctx.locale, ctx.values)
        if self.links is not None:  # tracking parameters go on before the limits are checked
            fields = {f: self.links.tag(t, ctx.channel.name, variant_id) for f, t in copy.fields.items()}
            copy = replace(copy, fields=fields)
        started = time.perf_counter()
        with tracing.span("checks") as span:
            results = run_checks(self.checks, copy, ctx)
            tracing.annotate(span, {"copydesk.checks.failed": [r.name for r in results if not r.passed]})
        telemetry.STAGE_SECONDS.labels("checks").observe(time.perf_counter() - started)
        for r in results:
            if not r.passed:
                telemetry.CHECK_FAILURES.labels(r.name).inc()
        return copy, results

    @staticmethod
    def max_tokens(ctx: CheckContext) -> int:
        total = sum(ctx.channel.limit(f, ctx.locale) for f in ctx.channel.fields())
        # Enough for the copy and its JSON (SmolLM2 spends ~2 tokens per Chinese character), not
        # enough for a small model to ramble for half a minute; below 200 answers get cut.
        return max(200, min(800, int(total * 1.5)))
