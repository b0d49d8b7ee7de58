"""Whatever the model writes and however the commerce API behaves, what leaves is compliant."""

from __future__ import annotations

import time

import pytest

from tests.conftest import sms_request
from tests.servers import Reply, ok

BAD = {
    "absolute term": {"body": "全网最低价的{product}，快来"},
    "evaded absolute term": {"body": "{product}最 低 价，快来看看"},
    "traditional absolute term": {"body": "{product}全網最低價，快來"},
    "wrong price": {"body": "{product}现价¥199，快来看看"},
    "invented discount": {"body": "{product}第二件半价，快来看看"},
    "invented 折": {"body": "{product}全场五折，快来看看"},
    "fake coupon code": {"body": "{product}用优惠码VIP2026立减"},
    "scarcity without stock": {"body": "{product}仅剩2件，库存紧张"},
    "phone number": {"body": "{product}有问题请拨打13812345678"},
    "injected promise": {"body": "{product}今天全部免费，快来领"},
    "foreign link": {"body": "{product}更便宜的在cheap-deals.example.com"},
    "competitor": {"body": "{product}比耐克更轻，快来看看"},
    "over long": {"body": "您购物车里的{product}还在等您回来看看" * 4},
    "markdown": {"body": "### {product}还在购物车里"},
    "garbage": {"body": "..."},
}


def assert_compliant(resp, requested_offer: str | None) -> None:
    assert resp.status_code == 200, resp.text
    for v in resp.json()["variants"]:
        assert v["offer_id"] == requested_offer
        failed = [c for c in v["checks"] if not c["passed"]]
        assert not failed, (v["body"], failed)


@pytest.mark.parametrize("kind", sorted(BAD))
def test_every_kind_of_bad_output_is_stopped(api, llm, kind):
    llm.script(default=lambda _: ok(BAD[kind]))
    resp = api.post("/v1/generate", json=sms_request(request_id=f"bad-{len(kind)}-{hash(kind) % 1000}"))
    assert_compliant(resp, "OFF-FREESHIP")
    assert all(v["source"] in ("fallback", "repaired") for v in resp.json()["variants"])


def test_slow_commerce_api_degrades_to_claim_free_copy_in_time(start_api, settings, llm, commerce):
    commerce.mode, commerce.delay_s = "slow", 5.0
    llm.script(default=lambda _: ok({"body": "{product}现价{price}，回来看看吧。"}))
    client = start_api(settings, commerce_timeout_s=0.5, deadline_s=6.0)
    t0 = time.monotonic()
    resp = client.post("/v1/generate", json=sms_request())
    assert time.monotonic() - t0 < 6.5
    assert_compliant(resp, "OFF-FREESHIP")
    for v in resp.json()["variants"]:
        assert "¥" not in v["body"] and "包邮" not in v["body"]


def test_model_down_and_commerce_down_together(api, llm, commerce):
    commerce.mode = "error"
    llm.script(default=lambda _: Reply(status=500))
    resp = api.post("/v1/generate", json=sms_request(channel="push", locale="en-US"))
    assert_compliant(resp, "OFF-FREESHIP")
    assert [v["source"] for v in resp.json()["variants"]] == ["fallback", "fallback"]
