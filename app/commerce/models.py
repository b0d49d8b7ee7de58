"""Trade facts as the commerce API returns them (design notes, "Commerce API")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Sku(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sku: str
    name: str | dict[str, str]
    price: float
    list_price: float
    currency: str
    stock: int

    def display_name(self, locale: str) -> str:
        if isinstance(self.name, dict):
            return self.name.get(locale) or next(iter(self.name.values()))
        return self.name


class Offer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    offer_id: str
    type: Literal["percent_off", "amount_off", "free_shipping", "gift"]
    value: float
    min_spend: float
    code: str
    expires_at: datetime
    # Empty, null or missing: every product (the contract; many commerce systems write null).
    skus: list[str] | None = None
    terms: str | dict[str, str]

    def terms_for(self, locale: str) -> str:
        if isinstance(self.terms, dict):
            return self.terms.get(locale) or next(iter(self.terms.values()), "")
        return self.terms

    def applies_to(self, skus: list[str]) -> bool:
        return not self.skus or any(s in self.skus for s in skus)
