"""Trade facts for one request from the commerce API (the only source of a price, stock or offer),
and the placeholder values they yield."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from app.commerce.client import CommerceClient, CommerceNotFound, CommerceUnavailable
from app.commerce.facts import ProductFacts, TradeFacts
from app.commerce.models import Offer
from app.errors import RequestError
from app.kb.interface import KnowledgeBase
from app.placeholders import printable_name
from app.schemas import GenerateRequest

log = logging.getLogger(__name__)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class TradeResolver:
    """Prices and stock per SKU and the request's offer; unknown IDs are the caller's error."""

    def __init__(self, commerce: CommerceClient, knowledge: KnowledgeBase) -> None:
        self.commerce = commerce
        self.knowledge = knowledge

    async def resolve(self, req: GenerateRequest) -> TradeFacts:
        try:
            skus = await asyncio.gather(*(self.commerce.sku(s) for s in req.skus), return_exceptions=True)
            offer = await self._offer(req) if req.offer_id else None
        except CommerceUnavailable:
            return await asyncio.to_thread(self._without_commerce, req)
        known_facts = self._known(req)  # in memory since issue 14: a thread hop would cost more
        products = []
        for i, (sku_id, sku) in enumerate(zip(req.skus, skus, strict=True)):
            if isinstance(sku, CommerceNotFound):
                raise RequestError("unknown_sku", f"SKU {sku_id} does not exist", f"skus[{i}]", 404)
            if isinstance(sku, CommerceUnavailable):
                return await asyncio.to_thread(self._without_commerce, req)
            if isinstance(sku, BaseException):
                raise sku
            known = known_facts[i]
            products.append(
                ProductFacts(
                    sku=sku_id,
                    name=sku.display_name(req.locale),  # the commerce API is the authority
                    facts=known.facts if known else [],
                    fact_ids=known.fact_ids if known else [],
                    price=sku.price,
                    list_price=sku.list_price,
                    stock=sku.stock,
                    category=known.category if known else "",
                )
            )
        if offer is not None and not offer.applies_to(req.skus):
            raise RequestError(
                "offer_not_applicable", f"offer {offer.offer_id} does not cover these SKUs", "offer_id", 409
            )
        return TradeFacts(products=products, offer=offer, commerce_available=True)

    def _known(self, req: GenerateRequest) -> list:
        return [self.knowledge.product(s, req.locale) for s in req.skus]

    async def _offer(self, req: GenerateRequest) -> Offer:
        try:
            offer = await self.commerce.offer(req.offer_id or "")
        except CommerceNotFound as exc:
            raise RequestError(
                "unknown_offer", f"offer {req.offer_id} does not exist", "offer_id", 404
            ) from exc
        if offer.expires_at <= datetime.now(UTC):
            raise RequestError("offer_expired", f"offer {req.offer_id} has expired", "offer_id", 409)
        return offer

    def _without_commerce(self, req: GenerateRequest) -> TradeFacts:
        """Commerce API down: no number or offer can be verified, so the copy makes no trade claim."""
        log.warning("commerce API unavailable for %s; generating claim-free copy", req.request_id)
        products = []
        for sku_id in req.skus:
            known = self.knowledge.product(sku_id, req.locale)
            products.append(
                ProductFacts(
                    sku=sku_id,
                    name=known.name if known else None,
                    facts=known.facts if known else [],
                    category=known.category if known else "",
                )
            )
        return TradeFacts(products=products, offer=None, commerce_available=False)


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
