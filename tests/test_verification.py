"""What the copy was checked against: the response says, per SKU and for the offer, verified or not and
as of when; a request may ask to fail (503 with Retry-After) rather than get claim-free copy; an offer
whose `skus` is null means every product; a malformed answer is its own failure, not an outage.
Every commerce server here is a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client.parser import text_string_to_metric_families

from app.commerce.catalog import Catalog
from app.commerce.client import CommerceClient, CommerceMalformed
from tests.conftest import sms_request
from tests.servers import ThreadedServer, free_port, ok

GOOD_SMS = "{name}，您购物车里的{product}还在等您，{offer}。"


def _shop(catalog: Catalog, *, offer_patch: dict | None = None, sku_patch: dict | None = None) -> FastAPI:
    """The demo catalog over HTTP with some answers rewritten: `offer_patch` / `sku_patch` map an ID to
    the fields to change (None as a value writes JSON null, `...` drops the field), or to raw bytes."""
    app = FastAPI()

    def answer(base: dict, patch: object) -> Response:
        if isinstance(patch, bytes):
            return Response(patch, media_type="application/json")
        body = dict(base)
        for key, value in (patch or {}).items():
            if value is ...:
                body.pop(key, None)
            else:
                body[key] = value
        return JSONResponse(body)

    @app.get("/skus/{sku}")
    def sku(sku: str) -> Response:
        product = catalog.products.get(sku)
        if product is None:
            return JSONResponse({"error": "no such SKU"}, status_code=404)
        return answer(product.sku.model_dump(), (sku_patch or {}).get(sku))

    @app.get("/offers/{offer_id}")
    def offer(offer_id: str) -> Response:
        found = catalog.offers.get(offer_id)
        if found is None:
            return JSONResponse({"error": "no such offer"}, status_code=404)
        return answer(found.model_dump(mode="json"), (offer_patch or {}).get(offer_id))

    return app


def _metric(api: httpx.Client, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(api.get("/metrics").text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def test_the_response_says_what_was_verified_and_when(api, llm):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    before = datetime.now(UTC)
    resp = api.post("/v1/generate", json=sms_request(skus=["SKU-1001", "SKU-1002"], variants=1))
    assert resp.status_code == 200, resp.text
    checked = resp.json()["checked_against"]
    assert checked["all_verified"] is True
    assert [s["sku"] for s in checked["skus"]] == ["SKU-1001", "SKU-1002"]
    for s in checked["skus"] + [checked["offer"]]:
        assert s["status"] == "verified" and s["field"] is None
        as_of = datetime.fromisoformat(s["as_of"])
        assert before - timedelta(seconds=1) <= as_of <= datetime.now(UTC)
    assert all(s["price_verified"] and s["stock_verified"] for s in checked["skus"])
    assert checked["offer"] == {**checked["offer"], "offer_id": "OFF-FREESHIP", "verified": True}
    record = api.get(f"/v1/generations/{resp.json()['generation_id']}").json()
    assert record["checked_against"] == checked  # the audit record keeps it too

    no_offer = api.post("/v1/generate", json=sms_request(request_id="n", offer_id=None, variants=1)).json()
    assert no_offer["checked_against"]["offer"] is None


def test_a_stopped_commerce_server_gives_claim_free_copy_that_says_so(start_api, settings, llm, catalog):
    """The real reference server, stopped between two requests: the second copy states no price or
    offer, and the response and the audit record say nothing was verified."""
    from app.commerce.server import create_commerce_app

    llm.script(default=lambda _: ok({"body": "{product}现价{price}，{offer}。"}))
    shop = ThreadedServer(create_commerce_app(catalog)).start()
    api = start_api(settings, commerce_url=shop.url, commerce_cache_ttl_s=0.0)
    first = api.post("/v1/generate", json=sms_request(request_id="up", variants=1)).json()
    assert first["checked_against"]["all_verified"] is True
    assert "¥" in first["variants"][0]["body"]
    shop.stop()

    resp = api.post("/v1/generate", json=sms_request(request_id="down", variants=1))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    checked = body["checked_against"]
    assert checked["all_verified"] is False
    (sku,) = checked["skus"]
    assert sku == {
        "sku": "SKU-1001",
        "price_verified": False,
        "stock_verified": False,
        "status": "unavailable",
        "as_of": None,
        "field": None,
    }
    assert checked["offer"] == {
        "offer_id": "OFF-FREESHIP",
        "verified": False,
        "status": "unavailable",
        "as_of": None,
        "field": None,
    }
    (v,) = body["variants"]
    assert "¥" not in v["body"] and "包邮" not in v["body"]
    assert v["offer_id"] == "OFF-FREESHIP"
    record = api.get(f"/v1/generations/{body['generation_id']}").json()
    assert record["checked_against"] == checked and record["commerce_available"] is False


def test_cached_facts_keep_the_time_they_were_fetched(start_api, settings, llm, catalog):
    from app.commerce.server import create_commerce_app

    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    with ThreadedServer(create_commerce_app(catalog)) as shop:
        api = start_api(settings, commerce_url=shop.url)
        first = api.post("/v1/generate", json=sms_request(request_id="c1", variants=1)).json()
    # Stopped: the cached answer (TTL 30 s) is still verified, as of when it was fetched.
    second = api.post("/v1/generate", json=sms_request(request_id="c2", variants=1)).json()
    assert second["checked_against"] == first["checked_against"]


def test_fail_mode_answers_503_with_retry_after_then_succeeds_on_retry(api, llm, commerce):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    commerce.mode = "error"
    body = sms_request(variants=1, on_commerce_unavailable="fail")
    resp = api.post("/v1/generate", json=body)
    assert resp.status_code == 503, resp.text
    assert resp.headers["Retry-After"] == "10"  # COPYDESK_COMMERCE_RETRY_AFTER_S's default
    error = resp.json()["error"]
    assert error["code"] == "commerce_unavailable" and error["field"] == "skus[0]"
    assert llm.calls == []  # no model call for copy that will not be sent

    commerce.mode = "ok"  # the journey engine retries with the same request_id later
    again = api.post("/v1/generate", json=body)
    assert again.status_code == 200, again.text
    assert again.json()["checked_against"]["all_verified"] is True


def test_fail_mode_passes_on_the_commerce_apis_retry_after(start_api, settings, llm):
    down = FastAPI()

    @down.get("/{path:path}")
    def busy(path: str) -> Response:
        return JSONResponse({"error": "maintenance"}, status_code=503, headers={"Retry-After": "42"})

    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    with ThreadedServer(down) as shop:
        api = start_api(settings, commerce_url=shop.url, commerce_retry_after_s=7.0)
        fail = api.post("/v1/generate", json=sms_request(request_id="f", on_commerce_unavailable="fail"))
        claim_free = api.post("/v1/generate", json=sms_request(request_id="c", variants=1))
    assert fail.status_code == 503 and fail.headers["Retry-After"] == "42"
    assert claim_free.status_code == 200  # the default, as before: claim-free copy


def test_fail_mode_with_an_unreachable_port_uses_the_configured_retry_after(start_api, settings, llm):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    api = start_api(settings, commerce_url=f"http://127.0.0.1:{free_port()}", commerce_retry_after_s=7.0)
    resp = api.post("/v1/generate", json=sms_request(on_commerce_unavailable="fail"))
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "7"
    assert (
        api.post("/v1/generate", json=sms_request(request_id="x", on_commerce_unavailable="maybe")).json()[
            "error"
        ]["field"]
        == "on_commerce_unavailable"
    )


@pytest.mark.parametrize("skus", [None, ...], ids=["null", "missing"])
def test_an_offer_whose_skus_is_null_or_missing_covers_every_product(start_api, settings, llm, catalog, skus):
    """Many commerce systems write `"skus": null` for "every product"; extra fields are ignored."""
    patch = {"skus": skus, "channel_rules": {"app_only": False}, "created_by": "ops"}
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    with ThreadedServer(_shop(catalog, offer_patch={"OFF-FREESHIP": patch})) as shop:
        api = start_api(settings, commerce_url=shop.url)
        resp = api.post("/v1/generate", json=sms_request(skus=["SKU-2001"], variants=1))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["checked_against"]["offer"]["verified"] is True
    (v,) = body["variants"]
    assert v["source"] == "llm" and "满99元包邮" in v["body"]  # the offer is in the copy, not dropped


def test_a_malformed_answer_is_its_own_failure_not_an_outage(start_api, settings, llm, catalog):
    """One SKU's answer has a price that is not a number: that SKU is unverified (field `price`,
    logged and counted), while the other SKU and the offer are still verified and used."""
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    with ThreadedServer(_shop(catalog, sku_patch={"SKU-1002": {"price": "cheap"}})) as shop:
        api = start_api(settings, commerce_url=shop.url)
        before = _metric(api, "copydesk_commerce_malformed_total", resource="sku", field="price")
        resp = api.post("/v1/generate", json=sms_request(skus=["SKU-1001", "SKU-1002"], variants=1))
        assert resp.status_code == 200, resp.text
        after = _metric(api, "copydesk_commerce_malformed_total", resource="sku", field="price")
        fail = api.post(
            "/v1/generate",
            json=sms_request(request_id="f", skus=["SKU-1001", "SKU-1002"], on_commerce_unavailable="fail"),
        )
    assert after - before == 1
    checked = resp.json()["checked_against"]
    good, bad = checked["skus"]
    assert good["status"] == "verified" and good["price_verified"]
    assert bad["status"] == "malformed" and bad["field"] == "price" and not bad["price_verified"]
    assert checked["offer"]["verified"] is True and checked["all_verified"] is False
    assert "满99元包邮" in resp.json()["variants"][0]["body"]  # the offer was not lost with the SKU
    assert fail.status_code == 502
    assert fail.json()["error"]["code"] == "commerce_malformed" and fail.json()["error"]["field"] == "skus[1]"
    assert "price" in fail.json()["error"]["message"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        (b"<html>502 Bad Gateway</html>", "body"),
        (b"[1, 2, 3]", "body"),
        ({"type": "buy_one_get_nine"}, "type"),
        ({"expires_at": "soon"}, "expires_at"),
        ({"skus": "SKU-1001"}, "skus"),
        ({"offer_id": "OFF-OTHER"}, "offer_id"),  # an answer for another offer
    ],
    ids=["html", "list", "type", "date", "skus-string", "other-id"],
)
def test_the_client_names_the_field_of_a_garbage_answer(catalog, patch, field, caplog):
    with ThreadedServer(_shop(catalog, offer_patch={"OFF-SAVE20": patch})) as shop:

        async def run():
            client = CommerceClient(httpx.AsyncClient(base_url=shop.url, timeout=2), attempts=2)
            try:
                with pytest.raises(CommerceMalformed) as exc:
                    await client.offer("OFF-SAVE20")
                assert (await client.offer("OFF-RUN15")).skus  # the API is not taken for down
                return exc.value
            finally:
                await client.aclose()

        with caplog.at_level("WARNING", logger="app.commerce.client"):
            exc = asyncio.run(run())
    assert exc.field == field
    assert any(f"malformed {field}" in r.getMessage() for r in caplog.records)
