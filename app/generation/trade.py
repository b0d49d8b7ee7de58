"""Trade facts for one request from the commerce API (the only source of a price, stock or offer),
and the placeholder values they yield."""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from app.commerce.client import (
    Answer,
    CommerceClient,
    CommerceMalformed,
    CommerceNotFound,
    CommerceUnavailable,
)
from app.commerce.facts import ProductFacts, TradeFacts, Verification
from app.commerce.models import Offer
from app.errors import RequestError
from app.kb.interface import KnowledgeBase
from app.placeholders import printable_name
from app.schemas import CheckedAgainst, GenerateRequest, OfferChecked, SkuChecked

log = logging.getLogger(__name__)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class TradeResolver:
    """Prices and stock per SKU and the request's offer, each verified or not; unknown IDs are the
    caller's error. A fact the commerce API could not give is left out (no claim can rest on it),
    or, when the request says `on_commerce_unavailable: fail`, the request fails."""

    def __init__(
        self, commerce: CommerceClient, knowledge: KnowledgeBase, retry_after_s: float = 10.0
    ) -> None:
        self.commerce = commerce
        self.knowledge = knowledge
        self.retry_after_s = retry_after_s

    async def resolve(self, req: GenerateRequest) -> TradeFacts:
        asked = [self.commerce.sku_answer(s) for s in req.skus]
        if req.offer_id:
            asked.append(self.commerce.offer_answer(req.offer_id))
        answers = await asyncio.gather(*asked, return_exceptions=True)
        sku_answers, offer_answer = answers[: len(req.skus)], answers[len(req.skus) :]
        for i, (sku_id, answer) in enumerate(zip(req.skus, sku_answers, strict=True)):
            if isinstance(answer, CommerceNotFound):
                raise RequestError("unknown_sku", f"SKU {sku_id} does not exist", f"skus[{i}]", 404)
        offer, offer_check = None, None
        if offer_answer:
            offer, offer_check = self._offer(req, offer_answer[0])
        known_facts = self._known(req)  # in memory since issue 14: a thread hop would cost more
        products = [
            self._product(req, sku_id, answer, known)
            for sku_id, answer, known in zip(req.skus, sku_answers, known_facts, strict=True)
        ]
        checks = [p.verification for p in products] + ([offer_check] if offer_check else [])
        if req.on_commerce_unavailable == "fail":
            self._refuse_unverified(req, sku_answers + offer_answer)
        if not all(c is not None and c.verified for c in checks):
            unverified = [c.status for c in checks if c is not None and not c.verified]
            log.warning("%s: %d trade facts unverified (%s); no claim rests on them",
                        req.request_id, len(unverified), ", ".join(sorted(set(unverified))))  # fmt: skip
        return TradeFacts(
            products=products,
            offer=offer,
            commerce_available=all(c is not None and c.verified for c in checks),
            offer_id=req.offer_id,
            offer_verification=offer_check,
        )

    def _known(self, req: GenerateRequest) -> list:
        return [self.knowledge.product(s, req.locale) for s in req.skus]

    def _product(self, req: GenerateRequest, sku_id: str, answer: object, known) -> ProductFacts:
        base = ProductFacts(
            sku=sku_id,
            name=known.name if known else None,
            facts=known.facts if known else [],
            fact_ids=known.fact_ids if known else [],
            category=known.category if known else "",
            verification=_unverified(answer),
        )
        if not isinstance(answer, Answer):
            return base
        sku = answer.value
        return replace(
            base,
            name=sku.display_name(req.locale),  # the commerce API is the authority
            price=sku.price,
            list_price=sku.list_price,
            stock=sku.stock,
            verification=Verification("verified", answer.as_of),
        )

    def _offer(self, req: GenerateRequest, answer: object) -> tuple[Offer | None, Verification]:
        if isinstance(answer, CommerceNotFound):
            raise RequestError("unknown_offer", f"offer {req.offer_id} does not exist", "offer_id", 404)
        if not isinstance(answer, Answer):
            return None, _unverified(answer)
        offer: Offer = answer.value
        if offer.expires_at <= datetime.now(UTC):
            raise RequestError("offer_expired", f"offer {req.offer_id} has expired", "offer_id", 409)
        if not offer.applies_to(req.skus):
            raise RequestError(
                "offer_not_applicable", f"offer {offer.offer_id} does not cover these SKUs", "offer_id", 409
            )
        return offer, Verification("verified", answer.as_of)

    def _refuse_unverified(self, req: GenerateRequest, answers: list) -> None:
        """`fail`: no copy unless every fact was verified; the journey engine retries later."""
        names = [f"skus[{i}]" for i in range(len(req.skus))] + ["offer_id"]
        for name, answer in zip(names, answers, strict=False):
            if isinstance(answer, CommerceUnavailable):
                wait = answer.retry_after_s if answer.retry_after_s is not None else self.retry_after_s
                raise RequestError(
                    "commerce_unavailable",
                    f"the commerce API could not be reached for {name}: {answer}",
                    name,
                    503,
                    headers={"Retry-After": str(max(1, math.ceil(min(wait, MAX_RETRY_AFTER_S))))},
                )
            if isinstance(answer, CommerceMalformed):
                raise RequestError(
                    "commerce_malformed",
                    f"the commerce API's answer for {name} broke the contract at `{answer.field}`: "
                    f"{answer.problem}",
                    name,
                    502,
                )
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(answer, CommerceNotFound):
                raise answer


MAX_RETRY_AFTER_S = 300  # a commerce API asking for longer is still worth asking again in 5 min


def _unverified(answer: object) -> Verification | None:
    """What went wrong with a fact; an unexpected exception is copydesk's fault and propagates."""
    if isinstance(answer, Answer):
        return None
    if isinstance(answer, CommerceMalformed):
        return Verification("malformed", field=answer.field)
    if isinstance(answer, CommerceUnavailable):
        return Verification("unavailable")
    if isinstance(answer, BaseException):
        raise answer
    return Verification("unavailable")


def checked_against(trade: TradeFacts) -> CheckedAgainst:
    """The response's account of what was verified, and when."""
    skus = []
    for p in trade.products:
        v = p.verification or Verification("unavailable")
        skus.append(
            SkuChecked(
                sku=p.sku,
                price_verified=v.verified and p.price is not None,
                stock_verified=v.verified and p.stock is not None,
                status=v.status,
                as_of=v.as_of,
                field=v.field,
            )
        )
    offer = None
    if trade.offer_id is not None:
        v = trade.offer_verification or Verification("unavailable")
        offer = OfferChecked(
            offer_id=trade.offer_id, verified=v.verified, status=v.status, as_of=v.as_of, field=v.field
        )
    return CheckedAgainst(all_verified=trade.commerce_available, skus=skus, offer=offer)


def amount(value: float) -> str:
    """399.0 -> '399', 12.5 -> '12.50'."""
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def _zhe(percent_off: float) -> str:
    """Chinese discount notation: 15% off is 8.5折, 20% off is 8折."""
    tenths = (100 - percent_off) / 10
    return str(int(tenths)) if float(tenths).is_integer() else f"{tenths:g}"


def offer_summary(offer: Offer, locale: str, formats: dict[str, Any]) -> str:
    key = offer.type + ("_min_spend" if offer.min_spend > 0 else "")
    template = formats["offer"][key][locale]
    return template.format(
        value=amount(offer.value), min_spend=amount(offer.min_spend), zhe=_zhe(offer.value)
    )


def format_date(offer: Offer, locale: str, formats: dict[str, Any], now: datetime | None = None) -> str:
    """The offer's end date; with its year when that is not this year (6月30日 of next year is not
    this June)."""
    d = offer.expires_at
    this_year = (now or datetime.now(d.tzinfo or UTC)).year
    form = formats["date"] if d.year == this_year else formats.get("date_other_year", formats["date"])
    return form[locale].format(month=d.month, day=d.day, month_abbr=MONTHS[d.month - 1], year=d.year)


def placeholder_values(
    trade: TradeFacts, locale: str, formats: dict[str, Any], customer_name: str | None
) -> dict[str, str]:
    """Values from trusted sources only; a placeholder without a value is not offered to the model."""
    values: dict[str, str] = {}
    money = formats["money"][locale]
    name = printable_name(customer_name, int(formats["name_max_chars"])) if customer_name else None
    if name:
        values["name"] = name
    main = trade.products[0] if trade.products else None
    if main and main.name:
        values["product"] = main.name
    if main and main.price is not None:
        values["price"] = money.format(amount=amount(main.price))
        if main.list_price is not None and main.list_price > main.price:
            values["list_price"] = money.format(amount=amount(main.list_price))
    if trade.offer is not None:
        values["offer"] = offer_summary(trade.offer, locale, formats)
        values["offer_code"] = trade.offer.code
        values["expires"] = format_date(trade.offer, locale, formats)
    return values
