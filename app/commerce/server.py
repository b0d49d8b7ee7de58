"""Reference implementation of the commerce API over the demo catalog."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from app.commerce.catalog import Catalog


def _not_found(kind: str, key: str) -> JSONResponse:
    return JSONResponse(
        status_code=404, content={"error": {"code": f"unknown_{kind}", "message": f"no {kind} {key}"}}
    )


def create_commerce_app(catalog: Catalog) -> FastAPI:
    app = FastAPI(title="copydesk reference commerce API", version="1")

    @app.get("/skus/{sku}")
    def get_sku(sku: str):
        product = catalog.products.get(sku)
        if product is None:
            return _not_found("sku", sku)
        return product.sku.model_dump()

    @app.get("/offers/{offer_id}")
    def get_offer(offer_id: str):
        offer = catalog.offers.get(offer_id)
        if offer is None:
            return _not_found("offer", offer_id)
        return offer.model_dump(mode="json")

    return app
