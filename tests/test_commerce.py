"""The reference commerce server keeps the contract; the client caches, retries and reports outages."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import pytest

from app.commerce.catalog import Catalog, Product
from app.commerce.client import CommerceClient, CommerceNotFound, CommerceUnavailable
from app.commerce.models import Sku
from app.commerce.server import create_commerce_app
from tests.conftest import sms_request
from tests.servers import ThreadedServer, free_port, ok


def test_sku_and_offer_follow_the_contract(commerce):
    sku = httpx.get(f"{commerce.url}/skus/SKU-1002").json()
    assert set(sku) == {"sku", "name", "price", "list_price", "currency", "stock"}
    assert (sku["price"], sku["list_price"], sku["stock"]) == (899, 1099, 6)
    offer = httpx.get(f"{commerce.url}/offers/OFF-SAVE20").json()
    assert set(offer) == {"offer_id", "type", "value", "min_spend", "code", "expires_at", "skus", "terms"}
    assert (offer["type"], offer["value"], offer["min_spend"], offer["code"]) == (
        "amount_off",
        20,
        199,
        "SAVE20",
    )
    assert httpx.get(f"{commerce.url}/skus/SKU-0000").status_code == 404
    assert httpx.get(f"{commerce.url}/offers/OFF-0000").status_code == 404


def _client(url: str) -> CommerceClient:
    return CommerceClient(httpx.AsyncClient(base_url=url, timeout=0.5), cache_ttl_s=30, attempts=2)


def test_client_reads_caches_and_reports_missing(commerce):
    async def run():
        client = _client(commerce.url)
        try:
            sku = await client.sku("SKU-1001")
            again = await client.sku("SKU-1001")
            with pytest.raises(CommerceNotFound):
                await client.sku("SKU-0000")
            return sku, again
        finally:
            await client.aclose()

    sku, again = asyncio.run(run())
    assert sku == again and sku.price == 399
    assert commerce.requests.count("/skus/SKU-1001") == 1


def test_client_retries_then_reports_an_outage(commerce):
    commerce.mode = "error"

    async def run():
        client = _client(commerce.url)
        try:
            await client.sku("SKU-1001")
        finally:
            await client.aclose()

    with pytest.raises(CommerceUnavailable):
        asyncio.run(run())
    assert commerce.requests.count("/skus/SKU-1001") == 2  # one retry


def test_client_reports_a_closed_port_as_an_outage():
    async def run():
        client = _client(f"http://127.0.0.1:{free_port()}")
        try:
            await client.offer("OFF-SAVE20")
        finally:
            await client.aclose()

    with pytest.raises(CommerceUnavailable):
        asyncio.run(run())


def test_a_sku_the_knowledge_base_lacks_still_gets_copy(start_api, settings, llm, catalog: Catalog):
    """The commerce API, not the knowledge base, decides what exists."""
    extra = Product(
        sku=Sku(
            sku="SKU-9999",
            name={"zh-CN": "新品跑袜", "en-US": "New Running Socks"},
            price=39,
            list_price=49,
            currency="CNY",
            stock=10,
        ),
        category="apparel",
        names={},
        facts={},
    )
    bigger = replace(catalog, products={**catalog.products, "SKU-9999": extra})
    llm.script(default=lambda _: ok({"title": "New in", "body": "{product} now {price}."}))
    with ThreadedServer(create_commerce_app(bigger)) as shop:
        client = start_api(settings, commerce_url=shop.url)
        body = sms_request(channel="push", locale="en-US", skus=["SKU-9999"], offer_id=None, variants=1)
        resp = client.post("/v1/generate", json=body)
    assert resp.status_code == 200, resp.text
    (v,) = resp.json()["variants"]
    assert v["body"] == "New Running Socks now ¥39."
    assert "New Running Socks" in llm.calls[0]["messages"][1]["content"]
