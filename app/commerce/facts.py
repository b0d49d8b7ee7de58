"""What the source of truth says for one request: each SKU's price and stock, and the offer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from app.commerce.models import Offer

Status = Literal["verified", "unavailable", "malformed"]


@dataclass(frozen=True)
class Verification:
    """Whether one fact (a SKU's price and stock, or the offer) came from the commerce API, and when:
    `unavailable` (no answer), `malformed` (an answer outside the contract; `field` says where)."""

    status: Status
    as_of: datetime | None = None
    field: str | None = None

    @property
    def verified(self) -> bool:
        return self.status == "verified"


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
    verification: Verification | None = None  # None: built outside a request (evals, tests)


@dataclass(frozen=True)
class TradeFacts:
    products: list[ProductFacts]
    offer: Offer | None
    commerce_available: bool  # every fact asked for was verified
    offer_id: str | None = None  # the offer asked for, verified or not
    offer_verification: Verification | None = None  # None: no offer asked for
