"""Issue 11's table, one test per input: what a journey engine may send that once got a 500, a
stall, copy about another product, or a control character in the SMS."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import pytest

from app.api import create_app
from app.commerce.client import CommerceClient, CommerceMalformed, CommerceNotFound
from app.placeholders import printable_name
from tests.conftest import sms_request
from tests.servers import ThreadedServer, ok

GOOD_SMS = "{name}，您购物车里的{product}还在等您，{offer}。"


def error_of(resp: httpx.Response) -> dict:
    assert resp.headers["content-type"].startswith("application/json"), resp.text
    return resp.json()["error"]


def raw_post(api: httpx.Client, body: dict) -> httpx.Response:
    """JSON with \\u escapes kept as sent (a lone surrogate survives json.dumps with ensure_ascii)."""
    data = json.dumps(body, ensure_ascii=True).encode()
    return api.post("/v1/generate", content=data, headers={"content-type": "application/json"})


def test_a_megabyte_of_interests_is_refused_before_any_work(api, llm):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    body = sms_request(audience={"interests": ["跑步" * 500_000]})
    started = time.perf_counter()
    resp = api.post("/v1/generate", json=body)
    assert resp.status_code == 413
    assert error_of(resp)["field"] == "body"
    assert time.perf_counter() - started < 2
    assert llm.calls == []


def test_an_interest_longer_than_the_schema_allows_names_the_item(api, llm):
    resp = api.post("/v1/generate", json=sms_request(audience={"interests": ["ok", "x" * 101]}))
    assert resp.status_code == 422
    assert error_of(resp)["field"] == "audience.interests[1]"


def test_a_lone_surrogate_is_a_422_naming_the_field(api, llm):
    resp = raw_post(api, sms_request(audience={"interests": ["run\ud800ning"]}))
    assert resp.status_code == 422, resp.text
    assert error_of(resp) | {"message": ""} == {
        "code": "invalid_field",
        "message": "",
        "field": "audience.interests[0]",
    }


@pytest.mark.parametrize(
    ("sku", "field_index"),
    [
        ("SKU-9999/../SKU-1002", 0),
        ("SKU-1001?x=1", 0),
        ("SKU-1001/", 0),
        ("../offers/OFF-FREESHIP", 0),
        ("SKU-1001\x04", 0),
        ("SKU-1001#x", 0),
        ("SKU%2F1002", 0),
        ("..", 0),
    ],
)
def test_a_malformed_sku_is_unknown_and_never_another_product(api, llm, commerce, sku, field_index):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    resp = api.post("/v1/generate", json=sms_request(skus=[sku]))
    assert resp.status_code == 404, resp.text
    assert (error_of(resp)["code"], error_of(resp)["field"]) == ("unknown_sku", f"skus[{field_index}]")
    assert llm.calls == []
    assert not any(p.startswith("/skus/SKU-100") or p.startswith("/offers") for p in commerce.requests)


@pytest.mark.parametrize("offer", ["../skus/SKU-1001", "OFF-FREESHIP?x=1", "OFF-FREESHIP/", "OFF\x00"])
def test_a_malformed_offer_is_unknown(api, llm, offer):
    resp = api.post("/v1/generate", json=sms_request(offer_id=offer))
    assert resp.status_code == 404, resp.text
    assert (error_of(resp)["code"], error_of(resp)["field"]) == ("unknown_offer", "offer_id")


def test_the_commerce_client_escapes_and_checks_what_it_gets(commerce):
    """Below the API's schema (the CLI, the evals), the client itself keeps IDs out of the URL."""

    async def run() -> None:
        client = CommerceClient(httpx.AsyncClient(base_url=commerce.url, timeout=1), attempts=1)
        try:
            for bad in ("SKU-9999/../SKU-1002", "SKU-1001?x=1", "SKU-1001/", "\x04", "", "a" * 65):
                with pytest.raises(CommerceNotFound):
                    await client.sku(bad)
            assert commerce.requests == []  # refused without asking
            assert (await client.sku("SKU-1002")).sku == "SKU-1002"
        finally:
            await client.aclose()

    asyncio.run(run())


def test_an_answer_about_another_product_is_not_trusted():
    """A commerce API that answers for a different SKU than asked broke the contract: that fact is
    unknown (malformed, naming the field), never another product's price, and not an outage."""
    from fastapi import FastAPI

    wrong = FastAPI()

    @wrong.get("/skus/{sku}")
    def sku(sku: str) -> dict:
        return {"sku": "SKU-1002", "name": "x", "price": 1, "list_price": 1, "currency": "CNY", "stock": 1}

    async def run() -> None:
        http = httpx.AsyncClient(base_url="http://commerce", transport=httpx.ASGITransport(app=wrong))
        client = CommerceClient(http, attempts=1)
        try:
            with pytest.raises(CommerceMalformed) as caught:
                await client.sku("SKU-1001")
            assert caught.value.field == "sku"
        finally:
            await client.aclose()

    asyncio.run(run())


def test_a_name_with_nul_and_bel_is_refused(api, llm):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    resp = api.post("/v1/generate", json=sms_request(audience={"name": "Bob\x00\x07"}))
    assert resp.status_code == 422
    assert error_of(resp)["field"] == "audience.name"
    assert error_of(resp)["message"] == "audience.name: control characters are not allowed"


@pytest.mark.parametrize(
    ("name", "in_copy"),
    [
        ("张\u200b伟", "张伟"),  # a zero-width space is dropped
        ("  Anne   Marie ", "Anne Marie"),
        ("Ｊｏｈｎ", "John"),  # full-width letters are letters
        ("{offer_code}", None),  # never a second round of placeholders
        ("13800138000", None),  # a phone number is not a name
        ("<a href=x>", None),
        ("\u202eevil", "evil"),  # a bidi override goes
        ("Maximilian Alexander von Hohenberg", None),  # longer than the placeholder allows
    ],
)
def test_only_a_printable_bounded_name_reaches_the_copy(name, in_copy):
    assert printable_name(name, 20) == in_copy


def test_a_name_that_is_not_a_name_leaves_the_copy(api, llm):
    llm.script(default=lambda _: ok({"body": "{name}，您购物车里的{product}还在等您。"}))
    resp = api.post("/v1/generate", json=sms_request(audience={"name": "{offer_code}"}, variants=1))
    assert resp.status_code == 200, resp.text
    variant = resp.json()["variants"][0]
    assert "{" not in variant["body"] and "LUMISHIP" not in variant["body"]
    assert all(c["passed"] for c in variant["checks"])
    assert "{name}" not in json.dumps(llm.calls[0]["messages"], ensure_ascii=False)  # not offered


def test_an_empty_body_says_the_body_is_required(api):
    resp = api.post("/v1/generate", content=b"", headers={"content-type": "application/json"})
    assert resp.status_code == 422
    assert error_of(resp) == {"code": "missing_field", "message": "body is required", "field": "body"}


@pytest.mark.parametrize(
    "body", [b'{"a": "\xff"}', b"[" * 30_000 + b"]" * 30_000, b'{"variants": 1' + b"0" * 5000 + b"}"]
)
def test_a_body_json_cannot_parse_is_a_400_naming_the_body(api, body):
    resp = api.post("/v1/generate", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 400
    assert (error_of(resp)["code"], error_of(resp)["field"]) == ("invalid_json", "body")


def test_a_wrong_method_gets_405_with_allow(api):
    resp = api.delete("/v1/generate")
    assert resp.status_code == 405
    assert resp.headers["allow"] == "POST"
    assert error_of(resp)["code"] == "method_not_allowed"


def test_an_unknown_or_malformed_generation_is_a_documented_404(api):
    spec = api.get("/openapi.json").json()
    assert "404" in spec["paths"]["/v1/generations/{generation_id}"]["get"]["responses"]
    for gid in ("gen_00000000000000000000", "x" * 65, "../etc"):
        resp = api.get(f"/v1/generations/{gid}")
        assert resp.status_code == 404, (gid, resp.text)
        assert error_of(resp)["code"] in ("unknown_generation", "not_found")


def test_a_type_the_schema_does_not_allow_is_refused(api):
    for change in ({"variants": True}, {"variants": "2"}, {"skus": "SKU-1001"}, {"audience": None}):
        resp = api.post("/v1/generate", json=sms_request(**change))
        assert resp.status_code == 422, (change, resp.text)


def _start(settings, **overrides):
    app = create_app(replace(settings, **overrides))
    server = ThreadedServer(app).start()
    return app, server


def test_a_failing_request_leaves_no_claim_behind(settings, llm):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    app, server = _start(settings)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for i in range(3):
                resp = client.post("/v1/generate", json=sms_request(request_id=f"r{i}", skus=["SKU-0404"]))
                assert resp.status_code == 404
            # Each retry is answered afresh at once: the failed request released its claim.
            retry = client.post("/v1/generate", json=sms_request(request_id="r0", skus=["SKU-0404"]))
            assert retry.status_code == 404 and retry.json()["error"]["code"] == "unknown_sku"
            assert client.post("/v1/generate", json=sms_request(variants=1)).status_code == 200
    finally:
        server.stop()


def test_twenty_concurrent_retries_make_one_generation(settings, llm):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    app, server = _start(settings)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client, ThreadPoolExecutor(20) as pool:
            resps = list(pool.map(lambda _: client.post("/v1/generate", json=sms_request()), range(20)))
        assert {r.status_code for r in resps} == {200}
        assert len({r.json()["generation_id"] for r in resps}) == 1
        assert sum(r.headers.get("Idempotent-Replay") == "true" for r in resps) == 19
        assert len(llm.calls) == 2  # two variants, once
    finally:
        server.stop()
