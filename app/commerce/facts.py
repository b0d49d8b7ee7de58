"""What the source of truth says for one request: each SKU's price and stock, and the offer."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.commerce.models import Offer


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
    category: str = ""  # catalog category: which domain word lists apply (guardrails/domains.yaml)


@dataclass(frozen=True)
class TradeFacts:
    products: list[ProductFacts]
    offer: Offer | None
    commerce_available: bool
