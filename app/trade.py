"""Trade facts for one request, resolved from the commerce API, and the placeholder values they yield."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app.commerce.models import Offer

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class ProductFacts:
    """One SKU as the prompt and the checks see it; price fields are None when unverified."""

    sku: str
    name: str | None
    facts: list[str] = field(default_factory=list)
    fact_ids: list[str] = field(default_factory=list)
    price: float | None = None
    list_price: float | None = None
    stock: int | None = None


@dataclass(frozen=True)
class TradeFacts:
    products: list[ProductFacts]
    offer: Offer | None
    commerce_available: bool


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


def format_date(offer: Offer, locale: str, formats: dict[str, Any]) -> str:
    d = offer.expires_at
    return formats["date"][locale].format(month=d.month, day=d.day, month_abbr=MONTHS[d.month - 1])


def placeholder_values(
    trade: TradeFacts, locale: str, formats: dict[str, Any], customer_name: str | None
) -> dict[str, str]:
    """Values from trusted sources only; a placeholder without a value is not offered to the model."""
    values: dict[str, str] = {}
    money = formats["money"][locale]
    if customer_name:
        values["name"] = customer_name
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


def placeholders_in(text: str) -> list[str]:
    return PLACEHOLDER.findall(text)


def fill(text: str, values: dict[str, str]) -> str:
    """Replace known placeholders; unknown ones stay visible so a check can reject them."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
