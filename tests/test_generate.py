"""POST /v1/generate against a scripted model and the real reference commerce server."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from app.channels import measure
from app.config import REPO_ROOT
from app.content import load_content
from tests.conftest import sms_request
from tests.servers import Reply, ok, prompt_text

GOOD_SMS = "{name}，您购物车里的{product}还在等您，{offer}。"
SIG, OPT_OUT = "【鹿米】", "拒收请回复R"


def by_tone(replies: dict[str, Reply], locale: str):
    """A default responder that answers each variant by the tone its prompt describes."""
    tones = {t.name: t.description[locale] for t in load_content(REPO_ROOT).tones}

    def respond(body: dict) -> Reply:
        text = prompt_text(body)
        for tone, reply in replies.items():
            if tones[tone] in text:
                return reply
        return Reply(status=500, content="unexpected prompt")

    return respond


def test_good_output_is_filled_wrapped_and_locked(api, llm):
    llm.script(default=lambda _: ok({"body": GOOD_SMS, "offer_id": "OFF-HACKED"}))
    resp = api.post("/v1/generate", json=sms_request())
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["request_id"] == "cart-123-sms"
    assert data["model"] == "scripted"
    assert len(data["prompt_version"]) == 12
    variants = data["variants"]
    assert [v["tone"] for v in variants] == ["rational", "emotional"]
    assert len({v["variant_id"] for v in variants}) == 2
    for v in variants:
        assert v["source"] == "llm"
        assert v["offer_id"] == "OFF-FREESHIP"  # the model's own offer_id is ignored
        assert v["title"] is None and v["cta"] is None
        assert v["body"] == SIG + "张伟，您购物车里的轻云缓震跑鞋还在等您，满99元包邮。" + OPT_OUT
        assert measure(v["body"], "utf16") <= 70
        assert all(c["passed"] for c in v["checks"])
        assert {c["name"] for c in v["checks"]} >= {"schema", "placeholders", "channel_limits"}


def test_the_model_sees_no_name_no_code_and_no_id_fields(api, llm):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    api.post("/v1/generate", json=sms_request(variants=1)).raise_for_status()
    call = llm.calls[0]
    text = prompt_text(call)
    assert "张伟" not in text  # the name is a placeholder the service fills
    assert "LUMISHIP" not in text  # the offer code too
    assert "{offer_code}" in text and "{name}" in text
    fmt = call["response_format"]
    assert fmt["type"] == "json_schema"
    schema = fmt["json_schema"]["schema"]
    assert set(schema["properties"]) == {"body"}
    assert schema["required"] == ["body"]
    assert schema["additionalProperties"] is False  # what strict providers require
    # The body's room once 【鹿米】, 拒收请回复R and the 。 that may close the body are counted:
    # 70 - 4 - 6 - 1.
    assert schema["properties"]["body"]["maxLength"] == 59


def test_push_fields_and_prices(api, llm):
    llm.script(default=lambda _: ok({"title": "Still thinking?", "body": "{product} is now {price}."}))
    body = sms_request(channel="push", locale="en-US", journey="price_drop", offer_id=None, variants=1)
    resp = api.post("/v1/generate", json=body)
    assert resp.status_code == 200, resp.text
    (v,) = resp.json()["variants"]
    assert v["title"] == "Still thinking?"
    assert v["body"] == "CloudLite Cushion Runner is now ¥399."
    assert v["offer_id"] is None
    call = llm.calls[0]
    props = call["response_format"]["json_schema"]["schema"]["properties"]
    assert {f: p["maxLength"] for f, p in props.items()} == {"title": 24, "body": 80}
    assert "{offer}" not in prompt_text(call)  # no offer: no offer placeholders offered


def test_over_long_output_is_cut_at_a_clause_before_asking_again(api, llm):
    clauses = [
        "{name}",
        "您购物车里的{product}还在等您",
        "鞋面透气轻薄",
        "中底柔软回弹",
        "跑起来很轻松",
        "日常慢跑和十公里训练都合适",
    ]
    llm.script(ok({"body": "，".join([*clauses, "欢迎随时回来看看哦"])}))
    resp = api.post("/v1/generate", json=sms_request(variants=1, offer_id=None))
    (v,) = resp.json()["variants"]
    assert v["source"] == "repaired"
    assert len(llm.calls) == 1  # no second call: a deterministic cut was enough
    kept = "，".join(clauses).replace("{name}", "张伟").replace("{product}", "轻云缓震跑鞋")
    assert v["body"] == SIG + kept + "。" + OPT_OUT
    assert measure(v["body"], "utf16") <= 70


def test_over_long_output_that_cannot_be_cut_is_re_asked_with_the_violation_named(api, llm):
    one_clause = "您购物车里的{product}还在等您回来看看" * 4
    llm.script(ok({"body": one_clause}), ok({"body": GOOD_SMS}))
    resp = api.post("/v1/generate", json=sms_request(variants=1))
    (v,) = resp.json()["variants"]
    assert v["source"] == "repaired"
    assert measure(v["body"], "utf16") <= 70
    second_prompt = prompt_text(llm.calls[1])
    assert "over the limit of 70" in second_prompt


def test_output_that_stays_over_the_limit_falls_back(api, llm):
    llm.script(default=lambda _: ok({"body": "超长的短信内容" * 20}))
    resp = api.post("/v1/generate", json=sms_request(variants=2))
    variants = resp.json()["variants"]
    assert [v["source"] for v in variants] == ["fallback", "fallback"]
    assert variants[0]["body"] != variants[1]["body"]  # distinct fallback copy for A and B
    for v in variants:
        assert v["body"].startswith(SIG) and v["body"].endswith(OPT_OUT)
        assert measure(v["body"], "utf16") <= 70
        assert all(c["passed"] for c in v["checks"])
        assert v["offer_id"] == "OFF-FREESHIP"


def test_invalid_json_is_retried(api, llm):
    llm.script(Reply(content='{"body": "unterminated'), ok({"body": GOOD_SMS}))
    (v,) = api.post("/v1/generate", json=sms_request(variants=1)).json()["variants"]
    assert v["source"] == "llm"
    assert len(llm.calls) == 2


def test_server_errors_and_rate_limits_are_retried(api, llm):
    llm.script(Reply(status=500), Reply(status=429), ok({"body": GOOD_SMS}))
    (v,) = api.post("/v1/generate", json=sms_request(variants=1)).json()["variants"]
    assert v["source"] == "llm"
    assert len(llm.calls) == 3


def test_retry_after_is_honoured(api, llm):
    llm.script(Reply(status=429, retry_after="1"), ok({"body": GOOD_SMS}))
    (v,) = api.post("/v1/generate", json=sms_request(variants=1)).json()["variants"]
    assert v["source"] == "llm"
    assert llm.call_times[1] - llm.call_times[0] >= 0.95  # backoff alone would have waited < 0.5 s


def test_a_retry_after_past_the_deadline_falls_back_at_once(api, llm):
    llm.script(default=lambda _: Reply(status=429, retry_after="120"))
    t0 = time.monotonic()
    (v,) = api.post("/v1/generate", json=sms_request(variants=1)).json()["variants"]
    assert v["source"] == "fallback"
    assert len(llm.calls) == 1 and time.monotonic() - t0 < 3.0  # no waiting out a deadline it cannot meet


def test_a_model_that_keeps_failing_gets_fallback(api, llm):
    llm.script(default=lambda _: Reply(status=503))
    resp = api.post("/v1/generate", json=sms_request())
    assert resp.status_code == 200
    assert [v["source"] for v in resp.json()["variants"]] == ["fallback", "fallback"]


def test_a_stalled_model_gets_fallback_within_the_deadline(start_api, settings, llm):
    llm.script(default=lambda _: Reply(content=json.dumps({"body": GOOD_SMS}), stall_s=30))
    client = start_api(settings, deadline_s=2.0)
    t0 = time.monotonic()
    resp = client.post("/v1/generate", json=sms_request())
    elapsed = time.monotonic() - t0
    assert resp.status_code == 200
    assert [v["source"] for v in resp.json()["variants"]] == ["fallback", "fallback"]
    assert elapsed < 3.0, f"took {elapsed:.1f}s with a 2s deadline"


def test_json_object_mode_puts_the_schema_in_the_prompt(start_api, settings, llm):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    client = start_api(settings, llm_json_mode="json_object")
    client.post("/v1/generate", json=sms_request(variants=1)).raise_for_status()
    call = llm.calls[0]
    assert call["response_format"] == {"type": "json_object"}
    assert '"required": ["body"]' in call["messages"][0]["content"]


def test_variants_get_distinct_tones_and_their_own_copy(api, llm):
    llm.script(
        default=by_tone(
            {
                "rational": ok({"body": "{product}中底轻弹，跑起来更省力。"}),
                "emotional": ok({"body": "下一次晨跑，让{product}陪您出发。"}),
                "playful": ok({"body": "{product}想您了，回来看看它吧。"}),
                "concise": ok({"body": "{product}在购物车里等您。"}),
            },
            "zh-CN",
        )
    )
    resp = api.post("/v1/generate", json=sms_request(variants=4, locale="zh-CN"))
    variants = resp.json()["variants"]
    assert [v["tone"] for v in variants] == ["rational", "emotional", "playful", "concise"]
    assert len({v["body"] for v in variants}) == 4
    assert all(v["source"] == "llm" for v in variants)


def test_an_unusable_placeholder_is_rejected(api, llm):
    llm.script(default=lambda _: ok({"body": "{product}现价{price}，优惠码{coupon}。"}))
    (v,) = api.post("/v1/generate", json=sms_request(variants=1)).json()["variants"]
    assert v["source"] == "fallback"
    assert "{" not in v["body"]


def test_commerce_down_gives_claim_free_copy(api, llm, commerce):
    commerce.mode = "error"
    llm.script(default=lambda _: ok({"body": "{product}现价{price}，{offer}。"}))
    resp = api.post("/v1/generate", json=sms_request())
    assert resp.status_code == 200, resp.text
    for v in resp.json()["variants"]:
        assert v["source"] == "fallback"  # {price} and {offer} cannot be filled without the source
        assert "¥" not in v["body"] and "包邮" not in v["body"]
        assert v["offer_id"] == "OFF-FREESHIP"
    assert "{price}" not in llm.calls[0]["messages"][1]["content"]  # not offered to the model


def test_trade_facts_are_cached_briefly(api, llm, commerce):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    api.post("/v1/generate", json=sms_request(request_id="a", variants=1)).raise_for_status()
    api.post("/v1/generate", json=sms_request(request_id="b", variants=1)).raise_for_status()
    assert commerce.requests.count("/skus/SKU-1001") == 1


def test_same_request_id_replays_and_a_changed_body_conflicts(api, llm):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    first = api.post("/v1/generate", json=sms_request(variants=1))
    again = api.post("/v1/generate", json=sms_request(variants=1))
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replay") == "true"
    assert len(llm.calls) == 1
    changed = api.post("/v1/generate", json=sms_request(variants=2))
    assert changed.status_code == 409
    assert changed.json()["error"]["field"] == "request_id"


def test_every_channel_and_locale(api, llm):
    llm.script(
        default=lambda _: ok(
            {"title": "好物在等您", "body": "{product}在等您，回来看看吧。", "cta": "去看看"}
        )
    )
    for channel in ("sms", "push", "email", "wechat", "inapp"):
        for locale in ("zh-CN", "en-US"):
            body = sms_request(request_id=f"{channel}-{locale}", channel=channel, locale=locale)
            resp = api.post("/v1/generate", json=body)
            assert resp.status_code == 200, (channel, locale, resp.text)
            for v in resp.json()["variants"]:
                assert all(c["passed"] for c in v["checks"]), (channel, locale, v)


def test_personal_data_in_the_request_never_reaches_the_model(api, llm):
    llm.script(default=lambda _: ok({"body": GOOD_SMS}))
    audience = {
        "cs_topic": "尺码问题，回电13812345678或fan@example.com",
        "interests": ["running 4111 1111 1111 1111"],
        "name": "张伟",
    }
    resp = api.post("/v1/generate", json=sms_request(variants=1, audience=audience))
    assert resp.status_code == 200, resp.text
    prompt = prompt_text(llm.calls[0])
    for secret in ("13812345678", "fan@example.com", "4111", "张伟"):
        assert secret not in prompt
    assert "[已隐藏]" in prompt


def test_model_copy_with_personal_data_falls_back(api, llm):
    llm.script(default=lambda _: ok({"body": "有问题请拨打13812345678咨询{product}"}))
    (v,) = api.post("/v1/generate", json=sms_request(variants=1)).json()["variants"]
    assert v["source"] == "fallback"
    assert "13812345678" not in v["body"]


def test_every_generation_is_audited(api, llm):
    too_long = "您购物车里的{product}还在等您回来看看" * 4
    llm.script(ok({"body": too_long}), ok({"body": GOOD_SMS}))
    audience = {"name": "张伟", "cs_topic": "回电13812345678"}
    resp = api.post("/v1/generate", json=sms_request(variants=1, audience=audience)).json()
    record = api.get(f"/v1/generations/{resp['generation_id']}").json()
    assert record["status"] == "ok"
    assert record["request"]["audience"]["name"] == "[name]"
    assert "13812345678" not in json.dumps(record, ensure_ascii=False)
    (variant,) = record["variants"]
    assert variant["source"] == "repaired"
    first, second = variant["attempts"]
    assert first["raw"] == json.dumps({"body": too_long}, ensure_ascii=False)
    assert any("over the limit" in v for v in first["violations"]) and second["violations"] == []
    # The copy as sent, with the name as its placeholder: nothing personal in the audit.
    assert record["response"]["variants"][0]["body"] == resp["variants"][0]["body"].replace("张伟", "{name}")
    assert "张伟" in resp["variants"][0]["body"] and "张伟" not in json.dumps(record, ensure_ascii=False)
    assert record["snippet_ids"] == resp["snippet_ids"]
    assert {"trade", "retrieval", "variants", "total"} <= set(record["timings_ms"])
    missing = api.get("/v1/generations/gen_nope")
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "generation_id"


def test_a_failing_model_is_audited_too(api, llm):
    llm.script(default=lambda _: Reply(status=503))
    resp = api.post("/v1/generate", json=sms_request(variants=1)).json()
    record = api.get(f"/v1/generations/{resp['generation_id']}").json()
    (variant,) = record["variants"]
    assert variant["source"] == "fallback" and "error" in variant["attempts"][0]


def test_links_are_allowed_only_to_our_domains_and_get_tracking(api, llm):
    def email(link: str) -> Reply:
        return ok(
            {
                "title": "{product}还在购物车里",
                "body": f"您好，{{product}}还在购物车里，详情见{link}",
                "cta": "去看看",
            }
        )

    llm.script(email("cheap-deals.example.com/shoes"), email("https://lumi.example.cn/c"))
    resp = api.post("/v1/generate", json=sms_request(channel="email", variants=1, offer_id=None)).json()
    (v,) = resp["variants"]
    record = api.get(f"/v1/generations/{resp['generation_id']}").json()
    assert v["source"] == "repaired", record["variants"][0]["attempts"]
    first = llm.calls[1]["messages"][1]["content"]
    assert "cheap-deals.example.com, not allowed" in first  # the re-ask names the violation
    assert v["body"].endswith(
        f"https://lumi.example.cn/c?utm_source=copydesk&utm_medium=email&utm_content={v['variant_id']}"
    )


def test_an_answer_cut_off_at_max_tokens_is_not_asked_again(api, llm):
    llm.script(default=lambda _: Reply(content='{"body": "跑鞋跑鞋跑鞋', finish_reason="length"))
    (v,) = api.post("/v1/generate", json=sms_request(variants=1)).json()["variants"]
    assert v["source"] == "fallback"
    assert len(llm.calls) == 1


@pytest.mark.parametrize(
    ("locale", "answer", "sent"),
    [
        ("zh-CN", "您挑好的{product}还在购物车里，回来看看吧", "还在购物车里，回来看看吧。拒收请回复R"),
        (
            "en-US",
            "Your {product} is still in your cart, come back soon",
            "come back soon. Reply STOP to opt out",
        ),
    ],
)
def test_a_model_body_without_a_full_stop_is_not_glued_to_the_opt_out(api, llm, locale, answer, sent):
    llm.script(default=lambda _: ok({"body": answer}))
    resp = api.post("/v1/generate", json=sms_request(locale=locale, offer_id=None, variants=1))
    (v,) = resp.json()["variants"]
    assert v["source"] == "llm", v["source_reason"]
    assert v["body"].endswith(sent)
    limits = next(c for c in v["checks"] if c["name"] == "channel_limits")["detail"]
    if locale == "zh-CN":
        assert f"body {measure(v['body'], 'utf16')}/70" in limits  # the 。 is counted


def test_fallback_copy_without_a_full_stop_is_closed_before_the_opt_out(start_api, settings, llm, tmp_path):
    root = tmp_path / "content"
    for part in ("prompts", "guardrails", "knowledge", "evals"):
        shutil.copytree(REPO_ROOT / part, root / part)
    fallback = root / "prompts" / "fallback" / "sms.yaml"
    fallback.write_text(fallback.read_text().replace('。"\n', '"\n').replace('."\n', '"\n'))
    assert '您挑好的{product}还在购物车里，有空回来完成下单吧"' in fallback.read_text()
    llm.script(default=lambda _: Reply(status=500))
    api = start_api(settings, content_dir=root, llm_attempts=1)
    for locale, opt_out in (("zh-CN", "。拒收请回复R"), ("en-US", ". Reply STOP to opt out")):
        resp = api.post("/v1/generate", json=sms_request(request_id=locale, locale=locale, variants=2))
        for v in resp.json()["variants"]:
            assert v["source"] == "fallback"
            assert v["body"].endswith(opt_out), v["body"]
            assert not v["body"].endswith("。" + opt_out) and not v["body"].endswith(".." + opt_out[1:])
