"""One request end to end: trade facts, knowledge, prompt, model, checks, repair, fallback."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import cache

from pydantic import BaseModel, ConfigDict, create_model

from app.assemble import assemble
from app.audit import AuditLog
from app.checks import Check, CheckContext, CheckResult, Copy, run_checks
from app.commerce.client import CommerceClient, CommerceNotFound, CommerceUnavailable
from app.commerce.models import Offer
from app.content import Content
from app.errors import RequestError
from app.fallback import fallback_copies
from app.knowledge import Evidence, KnowledgeBase
from app.links import LinkPolicy
from app.llm.client import LLMClient, LLMFailed
from app.llm.deadline import Deadline
from app.pii import PiiDetector
from app.prompts import PromptBook, PromptInput
from app.repair import repair
from app.schemas import CheckOut, GenerateRequest, GenerateResponse, VariantOut
from app.trade import ProductFacts, TradeFacts, placeholder_values

log = logging.getLogger(__name__)

# Time kept back from the model so that fallback copy still goes out inside the deadline.
FALLBACK_RESERVE_S = 0.25
# Product facts per SKU in a prompt: a small model reads ~190 tokens/s here.
FACTS_PER_PRODUCT = 3


@cache
def draft_model(channel: str, fields: tuple[str, ...]) -> type[BaseModel]:
    """The model's output schema: only the channel's text fields, never an ID it could alter."""
    return create_model(  # type: ignore[call-overload]
        f"{channel.capitalize()}Copy",
        __config__=ConfigDict(extra="ignore"),
        **{f: (str, ...) for f in fields},
    )


@dataclass
class VariantResult:
    tone: str
    copy: Copy
    checks: list[CheckResult]
    source: str
    raw_outputs: list[str] = field(default_factory=list)
    attempts: list[dict] = field(default_factory=list)  # each model answer and what it broke
    seconds: float = 0.0


class Generator:
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
    ) -> None:
        self.content = content
        self.prompts = prompts
        self.llm = llm
        self.commerce = commerce
        self.knowledge = knowledge
        self.checks = checks
        self.deadline_s = deadline_s
        self.max_repairs = max_repairs
        self.pii = pii
        self.audit = audit
        self.links = links

    async def generate(self, req: GenerateRequest) -> GenerateResponse:
        """Generate, and record the generation in the audit log whatever happens on the way."""
        generation_id = "gen_" + uuid.uuid4().hex[:20]
        trace: dict = {"timings_ms": {}}
        started = time.perf_counter()
        try:
            resp = await self._generate(req, generation_id, trace)
        except RequestError:
            raise  # the caller's mistake, not a generation
        except Exception as exc:
            self._audit(req, generation_id, "error", trace, started, error=f"{type(exc).__name__}: {exc}")
            raise
        self._audit(req, generation_id, "ok", trace, started, response=resp.model_dump(mode="json"))
        return resp

    def _audit(self, req: GenerateRequest, generation_id: str, status: str, trace: dict, started: float,
               **extra) -> None:  # fmt: skip
        if self.audit is None:
            return
        trace["timings_ms"]["total"] = round((time.perf_counter() - started) * 1000, 1)
        request = req.model_dump(mode="json")
        request["audience"] = {**self.scrubbed_audience(req), "name": "[name]" if req.audience.name else None}
        record = {
            "generation_id": generation_id,
            "status": status,
            "request": request,
            "model": self.llm.model,
            "prompt_version": self.prompts.version(req.channel, req.locale),
            **trace,
            **extra,
        }
        try:
            self.audit.record(generation_id, req.request_id, status, record)
        except Exception:  # the audit log failing must not cost the caller the copy
            log.exception("could not write the audit record of %s", generation_id)

    async def _generate(self, req: GenerateRequest, generation_id: str, trace: dict) -> GenerateResponse:
        deadline = Deadline(self.deadline_s)
        timings = trace["timings_ms"]
        mark = time.perf_counter()
        if req.journey not in self.content.journeys:
            known = ", ".join(sorted(self.content.journeys))
            raise RequestError("unknown_journey", f"journey must be one of: {known}", "journey")
        trade = await self.resolve_trade(req)
        trace["commerce_available"] = trade.commerce_available
        timings["trade"] = round((time.perf_counter() - mark) * 1000, 1)
        spec = self.content.channels[req.channel]
        values = placeholder_values(trade, req.locale, self.content.formats, req.audience.name)
        ctx = CheckContext(channel=spec, locale=req.locale, trade=trade, values=values)
        tones = [t.name for t in self.content.tones][: req.variants]

        fallbacks = fallback_copies(self.content, self.checks, ctx, req.journey, req.variants)
        audience = self.scrubbed_audience(req)
        mark = time.perf_counter()
        evidence = await asyncio.to_thread(
            self.knowledge.reviews,
            req.skus,
            req.locale,
            req.channel,
            audience.get("cs_topic"),
            req.journey,
            audience["interests"],
            date.today(),
        )
        timings["retrieval"] = round((time.perf_counter() - mark) * 1000, 1)
        snippet_ids = [f for p in trade.products for f in p.fact_ids[:FACTS_PER_PRODUCT]] + [
            e.id for e in evidence
        ]
        trace["snippet_ids"] = snippet_ids
        mark = time.perf_counter()
        results = await asyncio.gather(
            *(
                self._variant(
                    req, trade, ctx, tone, evidence, fallbacks[i], deadline, _variant_id(generation_id, i)
                )
                for i, tone in enumerate(tones)
            )
        )
        timings["variants"] = round((time.perf_counter() - mark) * 1000, 1)
        trace["variants"] = [
            {"tone": r.tone, "source": r.source, "attempts": r.attempts, "ms": round(r.seconds * 1000, 1)}
            for r in results
        ]
        return GenerateResponse(
            generation_id=generation_id,
            request_id=req.request_id,
            model=self.llm.model,
            prompt_version=self.prompts.version(req.channel, req.locale),
            snippet_ids=snippet_ids,
            variants=[self._variant_out(generation_id, i, req, r) for i, r in enumerate(results)],
        )

    async def resolve_trade(self, req: GenerateRequest) -> TradeFacts:
        """Prices, stock and the offer from the commerce API; unknown IDs are the caller's error."""
        try:
            skus = await asyncio.gather(*(self.commerce.sku(s) for s in req.skus), return_exceptions=True)
            offer = await self._offer(req) if req.offer_id else None
        except CommerceUnavailable:
            return self._trade_without_commerce(req)
        products = []
        for i, (sku_id, sku) in enumerate(zip(req.skus, skus, strict=True)):
            if isinstance(sku, CommerceNotFound):
                raise RequestError("unknown_sku", f"SKU {sku_id} does not exist", f"skus[{i}]")
            if isinstance(sku, CommerceUnavailable):
                return self._trade_without_commerce(req)
            if isinstance(sku, BaseException):
                raise sku
            known = self.knowledge.product(sku_id, req.locale)
            products.append(
                ProductFacts(
                    sku=sku_id,
                    name=sku.display_name(req.locale),  # the commerce API is the authority
                    facts=known.facts if known else [],
                    fact_ids=known.fact_ids if known else [],
                    price=sku.price,
                    list_price=sku.list_price,
                    stock=sku.stock,
                )
            )
        if offer is not None and not offer.applies_to(req.skus):
            raise RequestError(
                "offer_not_applicable", f"offer {offer.offer_id} does not cover these SKUs", "offer_id"
            )
        return TradeFacts(products=products, offer=offer, commerce_available=True)

    async def _offer(self, req: GenerateRequest) -> Offer:
        try:
            offer = await self.commerce.offer(req.offer_id or "")
        except CommerceNotFound as exc:
            raise RequestError("unknown_offer", f"offer {req.offer_id} does not exist", "offer_id") from exc
        if offer.expires_at <= datetime.now(UTC):
            raise RequestError("offer_expired", f"offer {req.offer_id} has expired", "offer_id")
        return offer

    def _trade_without_commerce(self, req: GenerateRequest) -> TradeFacts:
        """Commerce API down: no number or offer can be verified, so the copy makes no trade claim."""
        log.warning("commerce API unavailable for %s; generating claim-free copy", req.request_id)
        products = []
        for sku_id in req.skus:
            known = self.knowledge.product(sku_id, req.locale)
            products.append(
                ProductFacts(
                    sku=sku_id, name=known.name if known else None, facts=known.facts if known else []
                )
            )
        return TradeFacts(products=products, offer=None, commerce_available=False)

    async def _variant(
        self,
        req: GenerateRequest,
        trade: TradeFacts,
        ctx: CheckContext,
        tone: str,
        evidence: list[Evidence],
        fallback: tuple[Copy, list[CheckResult]],
        deadline: Deadline,
        variant_id: str,
    ) -> VariantResult:
        spec = ctx.channel
        output = draft_model(spec.name, spec.fields())
        violations: list[str] = []
        raws: list[str] = []
        attempts: list[dict] = []
        last_checks: list[CheckResult] = []
        started = time.perf_counter()
        for attempt in range(1 + self.max_repairs):
            budget = deadline.remaining() - FALLBACK_RESERVE_S
            if budget <= 0.1:
                break
            messages = self.prompts.render(self._prompt_input(req, trade, ctx, tone, evidence, violations))
            try:
                async with asyncio.timeout(budget):
                    done = await self.llm.complete(
                        messages, output, _Budget(budget), max_tokens=self._max_tokens(ctx)
                    )
            except (LLMFailed, TimeoutError) as exc:
                raws += getattr(exc, "raw_outputs", [])
                attempts.append({"raw": getattr(exc, "raw_outputs", []), "error": str(exc) or "deadline"})
                log.info("variant %s: model failed: %s", tone, exc)
                break
            raws.append(done.raw)
            template = done.parsed.model_dump()
            copy, last_checks = self._check(template, ctx, variant_id)
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
                source = "llm" if attempt == 0 else "repaired"
                elapsed = time.perf_counter() - started
                return VariantResult(tone, copy, last_checks, source, raws, attempts, elapsed)
            if {r.name for r in last_checks if not r.passed} <= {"channel_limits"}:
                fixed = repair(template, spec, req.locale, ctx.values)  # cut before re-asking
                if fixed is not None:
                    copy, checks = self._check(fixed, ctx, variant_id)
                    if all(r.passed for r in checks):
                        attempts.append({"deterministic_repair": fixed})
                        elapsed = time.perf_counter() - started
                        return VariantResult(tone, copy, checks, "repaired", raws, attempts, elapsed)
        copy, checks = fallback
        return VariantResult(tone, copy, checks, "fallback", raws, attempts, time.perf_counter() - started)

    def _check(
        self, template: dict[str, str], ctx: CheckContext, variant_id: str
    ) -> tuple[Copy, list[CheckResult]]:
        copy = assemble(template, ctx.channel, ctx.locale, ctx.values)
        if self.links is not None:  # tracking parameters go on before the limits are checked
            fields = {f: self.links.tag(t, ctx.channel.name, variant_id) for f, t in copy.fields.items()}
            copy = replace(copy, fields=fields)
        return copy, run_checks(self.checks, copy, ctx)

    def _prompt_input(
        self,
        req: GenerateRequest,
        trade: TradeFacts,
        ctx: CheckContext,
        tone: str,
        evidence: list[Evidence],
        violations: list[str],
    ) -> PromptInput:
        audience = self.scrubbed_audience(req)
        return PromptInput(
            channel=req.channel,
            locale=req.locale,
            journey=req.journey,
            tone=tone,
            audience=audience,
            products=[
                {"name": p.name or p.sku, "facts": p.facts[:FACTS_PER_PRODUCT]} for p in trade.products
            ],
            offer_terms=trade.offer.terms_for(req.locale) if trade.offer else None,
            reviews=[e.text for e in evidence],
            placeholders=[n for n in self.content.placeholders if n in ctx.values],
            violations=violations,
        )

    def scrubbed_audience(self, req: GenerateRequest) -> dict:
        """Free text from the request with personal data redacted; the name never goes in."""
        audience = req.audience.model_dump(exclude={"name"})
        if audience.get("cs_topic"):
            audience["cs_topic"] = self.pii.redact(audience["cs_topic"], req.locale)[0]
        audience["interests"] = [self.pii.redact(i, req.locale)[0] for i in audience.get("interests", [])]
        return audience

    @staticmethod
    def _max_tokens(ctx: CheckContext) -> int:
        total = sum(ctx.channel.limit(f, ctx.locale) for f in ctx.channel.fields())
        # Enough for the copy and its JSON (SmolLM2 spends ~2 tokens per Chinese character), not
        # enough for a small model to ramble for half a minute; below 200 answers get cut.
        return max(200, min(800, int(total * 1.5)))

    @staticmethod
    def _variant_out(generation_id: str, i: int, req: GenerateRequest, r: VariantResult) -> VariantOut:
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
        )


def _variant_id(generation_id: str, index: int) -> str:
    return f"{generation_id}-{chr(ord('A') + index)}"


class _Budget(Deadline):
    """A deadline for one model call: the request's remaining time less the fallback reserve."""
