"""One request end to end: trade facts, knowledge, prompt, then each variant's draft loop in
parallel, and the response; every generation lands in the audit log whatever happens."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import replace
from datetime import date

from app.commerce.client import CommerceClient
from app.commerce.facts import TradeFacts
from app.content import Content
from app.errors import RequestError
from app.generation.allocation import (
    Plan,
    allocation_out,
    arm_of,
    plan_variants,
    variant_rows,
    weigh_variants,
)
from app.generation.audit_record import write_audit
from app.generation.fallback import fallback_copies
from app.generation.inputs import grounding, prompt_input, scrubbed_audience, snippet_ids
from app.generation.journeys import choose_journey
from app.generation.library_steps import LibrarySteps
from app.generation.prompts import PromptBook
from app.generation.trade import TradeResolver, checked_against, placeholder_values
from app.generation.variant import VariantDrafter, VariantResult, failed_checks
from app.guardrails import Check, CheckContext, timed_checks
from app.guardrails.link_policy import LinkPolicy
from app.guardrails.pii_detector import PiiDetector
from app.kb.interface import KnowledgeBase
from app.learning import Learning
from app.library.library import Library
from app.llm.client import LLMClient
from app.llm.deadline import Deadline
from app.observability import request_context, telemetry, tracing
from app.personal import Personal
from app.schemas import CheckOut, GenerateRequest, GenerateResponse, KnowledgeUsed, VariantOut
from app.store.audit import AuditLog
from app.store.database import run_for
from app.store.ids import random_hex

log = logging.getLogger(__name__)


class Generator:
    """Orchestrates a request; each stage's work lives in its own module."""

    def __init__(
        self,
        content: Content,
        prompts: PromptBook,
        llm: LLMClient,
        commerce: CommerceClient,
        knowledge: KnowledgeBase,
        checks: list[Check],
        *,
        deadline_s: float,
        max_repairs: int,
        pii: PiiDetector,
        audit: AuditLog | None = None,
        links: LinkPolicy | None = None,
        learning: Learning | None = None,
        library: Library | None = None,
        commerce_retry_after_s: float = 10.0,
    ) -> None:
        self.content = content
        self.prompts = prompts
        self.llm = llm
        self.commerce = commerce
        self.knowledge = knowledge
        self.checks = checks
        self.deadline_s = deadline_s
        self.pii = pii
        self.audit = audit
        # Weights and auto tones; without a database every split is equal (CLI, evals).
        self.learning = learning or Learning.load(None, content.root)
        self.trade = TradeResolver(commerce, knowledge, commerce_retry_after_s)
        self.drafter = VariantDrafter(llm, checks, max_repairs=max_repairs, links=links)
        self.library = LibrarySteps(library, self.drafter, content.journeys)

    async def generate(self, req: GenerateRequest) -> GenerateResponse:
        """Generate in a span of its own (its stages are the children), and record it."""
        with tracing.span("generate", tracing.request_attributes(req)) as span:
            resp = await self._generate_recorded(req)
            tracing.annotate(span, tracing.response_attributes(resp))
            return resp

    async def _generate_recorded(self, req: GenerateRequest) -> GenerateResponse:
        """Generate, and record the generation in the audit log whatever happens on the way."""
        self._check_names(req)
        generation_id = "gen_" + random_hex(20)
        request_context.generation_id.set(generation_id)
        trace: dict = {"timings_ms": {}}
        started = time.perf_counter()
        created_at = time.time()
        audit = {
            "model": self.llm.model,
            "prompt_version": self.prompts.version(req.channel, req.locale),
            "trace": trace,
            "started": started,
        }
        audience: dict | None = None
        try:
            # Once per request, for prompt and audit: microseconds for a usual audience, on the
            # loop; a few ms for the largest the schema allows, in a thread.
            if _audience_chars(req) <= INLINE_SCRUB_CHARS:
                audience = self.scrubbed_audience(req)
            else:
                audience = await asyncio.to_thread(self.scrubbed_audience, req)
            resp = await self._generate(req, generation_id, trace, audience)
        except RequestError:
            raise  # the caller's mistake, not a generation
        except Exception as exc:
            trace.pop("plan", None)
            error = f"{type(exc).__name__}: {exc}"
            await self._record(req, audience, generation_id, "error", audit, error=error)
            raise
        telemetry.observe_stages(trace["timings_ms"])
        plan: Plan = trace.pop("plan")  # not for the audit record: its context and weights are there
        response = resp.model_dump(mode="json")
        await self._record(req, audience, generation_id, "ok", audit, response=response)
        await self._remember(resp, plan, created_at)
        return resp

    async def _remember(self, resp: GenerateResponse, plan: Plan, created_at: float) -> None:
        """The variants' rows, for /v1/events to find them with their context and arm."""
        client = request_context.client.get() or "local"
        rows = variant_rows(resp, plan.context, client, created_at, resp.allocation.hold_out > 0)
        try:
            await run_for(self.learning.db, self.learning.record_variants, rows)
        except Exception:
            log.exception("could not record the variants of %s", resp.generation_id)

    async def _record(self, *args, **kwargs) -> None:
        if self.audit is None:  # nothing to write to: no database call
            self._audit(*args, **kwargs)
        else:
            await run_for(self.audit.db, self._audit, *args, **kwargs)

    def _audit(
        self,
        req: GenerateRequest,
        audience: dict | None,
        generation_id: str,
        status: str,
        audit: dict,
        **extra,
    ) -> None:
        """The database write (and PII redaction, if the request failed before it): off the loop."""
        audience = audience if audience is not None else self.scrubbed_audience(req)
        personal = Personal.of(req.audience.name, int(self.content.formats["name_max_chars"]))
        write_audit(
            self.audit,
            req,
            audience,
            generation_id,
            status,
            pii=self.pii,
            personal=personal,
            **audit,
            **extra,
        )

    def _check_names(self, req: GenerateRequest) -> None:
        """The API's schema enumerates channels and journeys; the CLI's and the evals' do not."""
        if req.channel not in self.content.channels:
            known = ", ".join(sorted(self.content.channels))
            raise RequestError("invalid_field", f"channel must be one of: {known}", "channel")
        if req.journey not in self.content.journeys:
            known = ", ".join(sorted(self.content.journeys))
            raise RequestError("unknown_journey", f"journey must be one of: {known}", "journey")

    async def resolve_trade(self, req: GenerateRequest) -> TradeFacts:
        return await self.trade.resolve(req)

    def scrubbed_audience(self, req: GenerateRequest) -> dict:
        return scrubbed_audience(req, self.pii)

    async def _generate(
        self, req: GenerateRequest, generation_id: str, trace: dict, audience: dict
    ) -> GenerateResponse:
        deadline = Deadline(self.deadline_s)
        timings = trace["timings_ms"]
        mark = time.perf_counter()
        with tracing.span("trade_facts") as span:
            trade = await self.trade.resolve(req)
            tracing.annotate(span, {"copydesk.commerce.available": trade.commerce_available})
        trace["commerce_available"] = trade.commerce_available
        trace["checked_against"] = checked = checked_against(trade).model_dump(mode="json")
        timings["trade"] = _ms(mark)
        journey = choose_journey(self.content.journeys, req.journey, trade)
        if journey.note:
            trace["journey"] = journey.note
            req = req.model_copy(update={"journey": journey.name})
        spec = self.content.channels[req.channel]
        values = placeholder_values(trade, req.locale, self.content.formats, req.audience.name)
        ctx = CheckContext(channel=spec, locale=req.locale, trade=trade, values=values, journey=req.journey)
        prompt_version = self.prompts.version(req.channel, req.locale)
        mark = time.perf_counter()
        learning = self.learning
        plan = await run_for(learning.db, plan_variants, learning, self.content, req, prompt_version)
        timings["allocation"] = _ms(mark)
        trace["plan"] = plan  # taken out again before the audit record is written
        trace["context"] = plan.context.as_dict()
        tones = plan.tones

        # Checked fallback copy only when a variant needs it: most requests never do.
        fallbacks = functools.cache(
            lambda: fallback_copies(self.content, self.checks, ctx, req.journey, req.variants)
        )
        mark = time.perf_counter()
        args = (req.skus, req.locale, req.channel, audience.get("cs_topic"), req.journey,
                audience["interests"], date.today())  # fmt: skip
        with tracing.span("retrieval") as span:
            evidence, knowledge = await self._reviews(req, args)
            tracing.annotate(span, {"copydesk.reviews.count": len(evidence)})
        trace["knowledge"] = knowledge.model_dump(mode="json")
        timings["retrieval"] = _ms(mark)
        trace["snippet_ids"] = ids = snippet_ids(trade, evidence)
        if gap := getattr(evidence, "language_gap", None):  # answered only in the other locale
            trace["review_language_gap"] = gap.as_record()
        ctx = replace(ctx, grounding=grounding(trade, req.locale), reviews=tuple(e.text for e in evidence))
        placeholders = [n for n in self.content.placeholders if n in values]

        def renderer(tone: str):
            return lambda violations: self.prompts.render(
                prompt_input(req, audience, trade, placeholders, tone, evidence, violations)
            )

        mark = time.perf_counter()
        mode = self.library.mode(req)
        with timed_checks() as checks_ms:
            # Approved library variants first (no model call), then what is still missing.
            served = await self.library.serve(req, mode, ctx, functools.partial(_variant_id, generation_id))
            k = len(served.results)
            rest = _missing_tones(tones, [r.tone for r in served.results], req.variants - k)
            drafts = [
                self.drafter.draft(
                    ctx,
                    tone,
                    renderer(tone),
                    lambda i=i: fallbacks()[i],
                    deadline,
                    _variant_id(generation_id, i),
                )  # fmt: skip
                if mode != "approved_only"
                else _unapproved(fallbacks()[i], tone)
                for i, tone in enumerate(rest, start=k)
            ]
            # One variant: awaited in this task (no task to create and schedule); more: side by side.
            fresh = (
                [] if not drafts else [await drafts[0]] if len(drafts) == 1 else await asyncio.gather(*drafts)
            )
            results = [*served.results, *fresh]
        timings["variants"] = _ms(mark)
        if mode != "fresh":
            trace["library"] = {"mode": mode, "served": [r.library_id for r in served.results],
                                "skipped": served.skipped}  # fmt: skip
        timings["checks_cpu"] = round(checks_ms[0], 2)  # every check run: attempts, cuts, fallback
        if tracing.enabled():
            tracing.annotate_current({"copydesk.checks.failed": failed_checks(results)})
        for r in results:
            telemetry.VARIANTS.labels(r.source, req.channel).inc()
        trace["variants"] = [
            {"tone": r.tone, "source": r.source, "attempts": r.attempts, "ms": round(r.seconds * 1000, 1)}
            for r in results
        ]
        prompt_version = self.prompts.version(req.channel, req.locale)
        kept = await self.library.after(
            req, results, ctx, trade, evidence, generation_id, functools.partial(_variant_id, generation_id),
            prompt_version=prompt_version, model=self.llm.model,
        )  # fmt: skip
        if kept:
            trace.setdefault("library", {"mode": mode}).update(kept)
        variants = [_variant_out(generation_id, i, req, r, journey.note) for i, r in enumerate(results)]
        mark = time.perf_counter()
        arms = [arm_of(r.library_id, r.tone, prompt_version) for r in results]
        allocation = await run_for(learning.db, weigh_variants, learning, plan.context, arms)
        timings["allocation"] = round(timings["allocation"] + _ms(mark), 1)
        for v, weight in zip(variants, allocation.weights, strict=True):
            v.weight = weight
        plan.allocation = allocation
        return GenerateResponse(
            generation_id=generation_id,
            request_id=req.request_id,
            model=self.llm.model,
            prompt_version=prompt_version,
            snippet_ids=ids,
            checked_against=checked,
            knowledge=knowledge,
            variants=variants,
            allocation=allocation_out(allocation, generation_id),
        )

    async def _reviews(self, req: GenerateRequest, args: tuple) -> tuple[list, KnowledgeUsed]:
        """Review snippets for the prompt, or none, and why: with the knowledge server away the copy
        is written from the product facts the service holds."""
        if not self.knowledge.reviews_available():
            return [], KnowledgeUsed(reviews="unavailable", detail="the knowledge server does not answer")
        try:
            if self.knowledge.searches_in_memory(req.skus, req.locale):  # ~0.3 ms, 2.5 on a new query
                evidence = self.knowledge.reviews(*args)
            else:  # the Chroma index, maybe over the network
                evidence = await asyncio.to_thread(self.knowledge.reviews, *args)
        except Exception as exc:  # noqa: BLE001 - the server went away mid-query
            log.warning("review snippets unavailable: %s", exc)
            return [], KnowledgeUsed(reviews="unavailable", detail=f"retrieval failed: {type(exc).__name__}")
        return evidence, KnowledgeUsed(reviews="used" if evidence else "none")


INLINE_SCRUB_CHARS = 300  # at most ~0.8 ms of PII analysis (0.08 ms without look-alikes); the largest ~3 ms


def _audience_chars(req: GenerateRequest) -> int:
    a = req.audience
    return len(a.name or "") + len(a.cs_topic or "") + sum(len(i) for i in a.interests)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


async def _unapproved(fallback: tuple, tone: str) -> VariantResult:
    """approved_only: no approved variant left for this slot, so checked fallback copy."""
    copy, checks = fallback
    return VariantResult(
        tone,
        copy,
        checks,
        "fallback",
        reason="approved_only: no approved library variant passed today's checks",
    )


def _missing_tones(tones: list[str], served: list[str], n: int) -> list[str]:
    """Tones for the variants the library did not fill: those not served yet first."""
    order = [t for t in tones if t not in served] + [t for t in tones if t in served]
    return (order * (n // max(1, len(order)) + 1))[:n] if n > 0 else []


def _variant_id(generation_id: str, index: int) -> str:
    return f"{generation_id}-{chr(ord('A') + index)}"


def _variant_out(generation_id: str, i: int, req: GenerateRequest, r: VariantResult, note: str) -> VariantOut:
    return VariantOut(
        variant_id=_variant_id(generation_id, i),
        tone=r.tone,
        offer_id=req.offer_id,
        title=r.copy.fields.get("title"),
        body=r.copy.fields["body"],
        cta=r.copy.fields.get("cta"),
        disclaimers=list(r.copy.disclaimers),
        source=r.source,  # type: ignore[arg-type]
        checks=[CheckOut(name=c.name, passed=c.passed, detail=c.detail) for c in r.checks],
        source_reason=f"{note}; {r.reason}" if note else r.reason,
        repair=r.repair,  # type: ignore[arg-type]
        library_id=r.library_id,
        weight=0.0,  # set from the allocation
    )
