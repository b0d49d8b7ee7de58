"""The demo catalog in knowledge/: products (one YAML file each) and offers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.commerce.models import Offer, Sku
from app.content import read_yaml


@dataclass(frozen=True)
class Product:
    sku: Sku
    category: str
    names: dict[str, str]
    facts: dict[str, list[str]]


@dataclass(frozen=True)
class Catalog:
    products: dict[str, Product]
    offers: dict[str, Offer]


def load_catalog(knowledge_dir: Path) -> Catalog:
    products: dict[str, Product] = {}
    for path in sorted((knowledge_dir / "products").glob("*.yaml")):
        raw = read_yaml(path)
        sku = Sku(
            sku=raw["sku"],
            name=raw["name"],
            price=raw["price"],
            list_price=raw["list_price"],
            currency=raw.get("currency", "CNY"),
            stock=raw["stock"],
        )
        products[sku.sku] = Product(sku, raw.get("category", ""), raw["name"], raw.get("facts", {}))
    offers_raw = read_yaml(knowledge_dir / "offers.yaml")["offers"]
    offers = {o["offer_id"]: Offer.model_validate(o) for o in offers_raw}
    return Catalog(products=products, offers=offers)
