"""Bad input gets a 4xx JSON error that names the field; never a 500."""

from __future__ import annotations

import pytest

from tests.conftest import sms_request
from tests.servers import ok


def error_of(resp) -> dict:
    assert resp.headers["content-type"].startswith("application/json")
    return resp.json()["error"]


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"channel": "fax"}, 422, "invalid_field", "channel"),
        ({"locale": "fr-FR"}, 422, "invalid_field", "locale"),
        ({"variants": 5}, 422, "invalid_field", "variants"),
        ({"variants": 0}, 422, "invalid_field", "variants"),
        ({"skus": []}, 422, "invalid_field", "skus"),
        ({"skus": ["SKU-1001", "SKU-NOPE"]}, 404, "unknown_sku", "skus[1]"),
        ({"offer_id": "OFF-NOPE"}, 404, "unknown_offer", "offer_id"),
        ({"offer_id": "OFF-SUMMER25"}, 409, "offer_expired", "offer_id"),
        ({"offer_id": "OFF-GIFT"}, 409, "offer_not_applicable", "offer_id"),
        ({"journey": "birthday_party"}, 422, "unknown_journey", "journey"),
        ({"audience": {"segment": "lukewarm"}}, 422, "invalid_field", "audience.segment"),
        ({"request_id": "has spaces"}, 422, "invalid_field", "request_id"),
        ({"colour": "blue"}, 422, "unknown_field", "colour"),
    ],
)
def test_invalid_requests_name_the_field(api, llm, change, status, code, field):
    llm.script(default=lambda _: ok({"body": "您的跑鞋还在购物车里，回来看看吧。"}))
    resp = api.post("/v1/generate", json=sms_request(**change))
    assert resp.status_code == status, resp.text
    err = error_of(resp)
    assert (err["code"], err["field"]) == (code, field)
    assert err["message"]


def test_missing_field(api):
    body = sms_request()
    del body["skus"]
    resp = api.post("/v1/generate", json=body)
    assert resp.status_code == 422
    assert error_of(resp) == {"code": "missing_field", "message": "skus is required", "field": "skus"}


def test_body_that_is_not_json(api):
    resp = api.post("/v1/generate", content=b"{not json", headers={"content-type": "application/json"})
    assert resp.status_code == 400
    assert error_of(resp)["field"] == "body"


def test_body_that_is_not_an_object(api):
    resp = api.post("/v1/generate", json=["sms"])
    assert resp.status_code == 422
    assert error_of(resp)["field"] == "body"


def test_unknown_route_is_json(api):
    resp = api.get("/v1/nothing-here")
    assert resp.status_code == 404
    assert error_of(resp)["code"] == "not_found"


def test_api_keys_are_required_when_configured(start_api, settings, llm):
    llm.script(default=lambda _: ok({"body": "您的跑鞋还在购物车里，回来看看吧。"}))
    client = start_api(settings, api_keys=frozenset({"k1", "k2"}))
    resp = client.post("/v1/generate", json=sms_request(variants=1))
    assert resp.status_code == 401
    assert error_of(resp)["field"] == "Authorization"
    resp = client.post("/v1/generate", json=sms_request(variants=1), headers={"Authorization": "Bearer k2"})
    assert resp.status_code == 200, resp.text
    assert client.get("/healthz").status_code == 200  # health stays open for probes
