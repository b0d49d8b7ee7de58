"""What the service knows about products beyond price and stock: facts (and later, reviews).

The knowledge base is not the authority on what exists; the commerce API is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.commerce.catalog import Catalog


@dataclass(frozen=True)
class ProductKnowledge:
    sku: str
    name: str
    facts: list[str]


class KnowledgeBase(Protocol):
    def product(self, sku: str, locale: str) -> ProductKnowledge | None: ...

    def size(self) -> int: ...


class CatalogKnowledge:
    """Product facts read straight from knowledge/products/*.yaml."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def product(self, sku: str, locale: str) -> ProductKnowledge | None:
        p = self.catalog.products.get(sku)
        if p is None:
            return None
        return ProductKnowledge(sku, p.names.get(locale, sku), list(p.facts.get(locale, [])))

    def size(self) -> int:
        return sum(len(f) for p in self.catalog.products.values() for f in p.facts.values())
