"""The minimal checks count the way channels count and reject what they should."""

from __future__ import annotations

import pytest

from app.channels import measure, sms_segments
from app.commerce.facts import TradeFacts
from app.config import REPO_ROOT
from app.content import load_content
from app.generation.assemble import assemble
from app.guardrails import CheckContext, default_checks, run_checks

CONTENT = load_content(REPO_ROOT)


def check(channel: str, locale: str, fields: dict[str, str], values: dict[str, str] | None = None):
    spec = CONTENT.channels[channel]
    ctx = CheckContext(spec, locale, TradeFacts([], None, True), values or {})
    copy = assemble(fields, spec, locale, ctx.values)
    return copy, {r.name: r for r in run_checks(default_checks(), copy, ctx)}


def test_sms_counts_utf16_with_signature_and_opt_out():
    assert measure("跑鞋🏃", "utf16") == 4  # an emoji is two UTF-16 units
    budget = 70 - len("【鹿米】") - len("。拒收请回复R")  # the full stop that closes the body counts
    copy, res = check("sms", "zh-CN", {"body": "好" * budget})
    assert res["channel_limits"].passed and measure(copy.fields["body"], "utf16") == 70
    copy, res = check("sms", "zh-CN", {"body": "好" * (budget - 1) + "🏃"})
    assert not res["channel_limits"].passed
    assert "71 UCS-2 units" in res["channel_limits"].detail


def test_english_sms_gets_one_gsm7_segment_of_160_and_falls_to_70_with_one_ucs2_character():
    # "[" and "]" cost two septets each; the full stop closes the body before the opt-out.
    wrapper = sms_segments("[Lumi] . Reply STOP to opt out")[1]
    body = ("Your running shoes are still in your cart. " * 4)[: 160 - wrapper - 2].strip()
    body = body + "x" * (160 - wrapper - len(body))
    copy, res = check("sms", "en-US", {"body": body})
    assert sms_segments(copy.fields["body"]) == ("GSM-7", 160, 1)
    assert res["channel_limits"].passed, res["channel_limits"].detail
    assert "1 segment (GSM-7, 160)" in res["channel_limits"].detail
    copy, res = check("sms", "en-US", {"body": body[:-1] + "’"})  # a curly quote is not GSM-7
    assert not res["channel_limits"].passed
    assert "158 UCS-2 units" in res["channel_limits"].detail and "limit of 70" in res["channel_limits"].detail
    _, res = check("sms", "en-US", {"body": body + "{"})  # an extension character costs two
    assert (
        "162 GSM-7 septets" in res["channel_limits"].detail and "limit of 160" in res["channel_limits"].detail
    )


def test_chinese_sms_stays_at_70():
    budget = 70 - len("【鹿米】") - len("拒收请回复R")
    _, res = check("sms", "zh-CN", {"body": "好" * (budget + 1)})
    assert not res["channel_limits"].passed and "limit of 70" in res["channel_limits"].detail


def test_sms_signature_written_by_the_model_is_not_doubled():
    copy, res = check("sms", "zh-CN", {"body": "【鹿米】跑鞋还在购物车里。拒收请回复R"})
    assert copy.fields["body"] == "【鹿米】跑鞋还在购物车里。拒收请回复R"


def test_push_title_limit_and_line_breaks():
    _, res = check("push", "en-US", {"title": "x" * 25, "body": "Your cart\nis waiting"})
    detail = res["channel_limits"].detail
    assert not res["channel_limits"].passed
    assert "title is 25 characters, over the limit of 24" in detail
    assert "line break" in detail


def test_missing_and_empty_fields():
    _, res = check("email", "en-US", {"title": "Hello there", "body": "..."})
    assert not res["schema"].passed
    assert "body has no words" in res["schema"].detail and "cta is empty" in res["schema"].detail


def test_placeholders_must_be_fillable():
    _, res = check("sms", "en-US", {"body": "Now {price} with {coupon}"}, {"price": "¥1"})
    assert not res["placeholders"].passed
    assert "{coupon}" in res["placeholders"].detail and "{price}" not in res["placeholders"].detail


def test_form_rejects_filler_markdown_and_the_wrong_language():
    def form(channel: str, locale: str, fields: dict[str, str]):
        _, res = check(channel, locale, fields, {"name": "张伟", "product": "轻云缓震跑鞋"})
        return res["form"]

    assert form("sms", "en-US", {"body": "Hi {name}, your running shoes are waiting."}).passed
    assert form("sms", "zh-CN", {"body": "{name}，您的跑鞋还在购物车里。"}).passed
    assert "too short" in form("sms", "en-US", {"body": "Lumi"}).detail
    assert (
        "markdown heading"
        in form("push", "en-US", {"title": "Hello", "body": "### Product Overview now"}).detail
    )
    assert "ellipsis" in form("push", "zh-CN", {"title": "感性", "body": "...您好，欢迎回来看看"}).detail
    assert "not written in zh-CN" in form("sms", "zh-CN", {"body": "Your shoes are waiting for you"}).detail
    assert "not written in en-US" in form("sms", "en-US", {"body": "您的跑鞋还在购物车里等您哦"}).detail
    assert "mangled placeholder" in form("sms", "zh-CN", {"body": "[name]，您的跑鞋还在购物车里等您"}).detail
    made_up = {"title": "Your new product", "body": "[your_customers_product] (you can now choose your own)"}
    assert "made up" in form("push", "en-US", made_up).detail
    assert (
        "made up"
        in form(
            "push", "en-US", {"title": "Your offer", "body": "Use [Coupon Code] today at checkout"}
        ).detail
    )
    assert form(
        "push", "en-US", {"title": "Your plan", "body": "Reply [Y] to confirm your running plan"}
    ).passed


def test_sensitive_words_defeat_evasion_and_respect_context():
    def words(locale: str, body: str):
        _, res = check("push", locale, {"title": "新品上架" if locale == "zh-CN" else "New in", "body": body})
        return res["sensitive_words"]

    for body in ("全网最低价，快来", "最 低 价哦", "最*低*价哦", "全網最低價", "行业第一的跑鞋"):
        hit = words("zh-CN", body)
        assert not hit.passed and "absolute_terms" in hit.detail and "words/absolute_zh.yaml" in hit.detail, (
            body
        )
    for body in ("This is the #1 running shoe", "ＮＯ．１ choice for runners", "g u a r a n t e e d to fit"):
        assert not words("en-US", body).passed, body
    assert "competitor_names" in words("zh-CN", "比Nike更轻的跑鞋").detail
    for body in ("你的第一双跑鞋已备好", "最近上新，最新款式", "分期零利息"):
        assert words("zh-CN", body).passed, body
    for body in (
        "Your first order ships free",
        "Secure checkout in one tap",
        "The best way to start running",
    ):
        assert words("en-US", body).passed, body


def _claims(text: str, offer_type: str = "amount_off", stock: int = 128, up: bool = True) -> list[str]:
    from datetime import UTC, datetime

    from app.commerce.facts import ProductFacts
    from app.commerce.models import Offer
    from app.guardrails.claims import TradeClaimCheck

    value = {"amount_off": 20, "percent_off": 15}[offer_type]
    offer = Offer(
        offer_id="OFF-X", type=offer_type, value=value, min_spend=199, code="SAVE20",
        expires_at=datetime(2027, 3, 31, 23, 59, tzinfo=UTC), skus=[], terms="",
    )  # fmt: skip
    product = ProductFacts(
        "SKU-1",
        "跑鞋",
        ["SPF50 PA++++", "约30分钟充至50%"],
        price=399 if up else None,
        list_price=499 if up else None,
        stock=stock if up else None,
    )
    ctx = CheckContext(CONTENT.channels["push"], "zh-CN", TradeFacts([product], offer, up), {})
    return TradeClaimCheck(REPO_ROOT / "guardrails" / "claims.yaml").problems(text, ctx)


def test_true_trade_claims_pass():
    for text in (
        "现价¥399，原价499元",
        "满199减20，优惠码SAVE20，3月31日前有效",
        "立减20元",
        "save $20 now",
        "SPF50，约30分钟充至50%",
    ):
        assert _claims(text) == [], text
    for text in ("八五折", "85折", "8.5折", "15% off with SAVE20", "满199元享8.5折"):
        assert _claims(text, "percent_off") == [], text
    assert _claims("仅剩3件，库存紧张", stock=3) == []


def test_false_trade_claims_fail():
    for text, offer_type, stock in [
        ("满199减30", "amount_off", 128),
        ("5折起", "percent_off", 128),
        ("20% off today", "percent_off", 128),
        ("第二件半价", "amount_off", 128),
        ("仅剩3件", "amount_off", 128),
        ("库存紧张", "amount_off", 128),
        ("selling fast", "amount_off", 50),
        ("现货速发", "amount_off", 0),
        ("优惠码FREE100", "amount_off", 128),
        ("今晚截止", "amount_off", 128),
        ("Nov 30 only", "amount_off", 128),
        ("现价¥299", "amount_off", 128),
    ]:
        assert _claims(text, offer_type, stock), text


def test_no_trade_claim_survives_a_commerce_outage():
    assert "commerce API could not verify" in _claims("现价¥399", up=False)[0]
    assert _claims("好物在等您，回来看看吧", up=False) == []


def test_pii_in_copy_is_a_violation_and_look_alikes_are_not():
    def pii(body: str):
        _, res = check("push", "zh-CN", {"title": "订单提醒", "body": body})
        return res["pii"]

    for body in ("有问题请拨打13812345678咨询", "身份证11010519491231002X已登记", "联系fan@example.com获取",
                 "卡号4111 1111 1111 1111可用"):  # fmt: skip
        assert not pii(body).passed, body
    for body in ("订单号20261122001234已发货", "SKU-1001将于2026-11-22到货", "身份证号110105194912310021无效",
                 "42.5码刚好，满199减20"):  # fmt: skip
        assert pii(body).passed, body


def test_sms_reports_segments():
    from app.channels import sms_segments

    assert sms_segments("[Lumi] Your shoes are waiting. Reply STOP to opt out") == ("GSM-7", 54, 1)
    assert sms_segments("x" * 161) == ("GSM-7", 161, 2)
    assert sms_segments("好" * 71) == ("UCS-2", 71, 2)
    assert sms_segments("{curly}") == ("GSM-7", 9, 1)  # extension characters cost two
    copy, res = check("sms", "zh-CN", {"body": "跑鞋还在购物车里🏃"})
    assert copy.fields["body"] == "【鹿米】跑鞋还在购物车里🏃。拒收请回复R"
    assert res["channel_limits"].detail == "body 21/70 UCS-2 units, 1 segment (UCS-2, 21)"  # 。 counted


@pytest.mark.parametrize(
    ("locale", "body", "sent"),
    [
        (
            "zh-CN",
            "您挑好的跑鞋还在购物车里，回来看看吧",
            "【鹿米】您挑好的跑鞋还在购物车里，回来看看吧。拒收请回复R",
        ),
        ("zh-CN", "回来看看吧，", "【鹿米】回来看看吧。拒收请回复R"),  # a dangling comma gives way
        ("zh-CN", "回来看看吧！", "【鹿米】回来看看吧！拒收请回复R"),  # already ended: unchanged
        ("zh-CN", "店员说：“码数正好。”", "【鹿米】店员说：“码数正好。”拒收请回复R"),  # ended inside quotes
        ("zh-CN", "回来看看吧拒收请回复R", "【鹿米】回来看看吧。拒收请回复R"),  # the model wrote the opt-out
        ("en-US", "Your shoes are waiting", "[Lumi] Your shoes are waiting. Reply STOP to opt out"),
        ("en-US", "Your shoes are waiting:", "[Lumi] Your shoes are waiting. Reply STOP to opt out"),
        ("en-US", "Still yours?", "[Lumi] Still yours? Reply STOP to opt out"),
        ("en-US", 'They said "perfect fit."', '[Lumi] They said "perfect fit." Reply STOP to opt out'),
    ],
)
def test_the_sms_body_is_a_closed_sentence_before_the_opt_out(locale, body, sent):
    copy, res = check("sms", locale, {"body": body})
    assert copy.fields["body"] == sent
    assert res["channel_limits"].passed


def test_channels_without_an_opt_out_are_not_punctuated():
    copy, _ = check("push", "zh-CN", {"title": "跑鞋到货", "body": "您关注的跑鞋到货了"})
    assert copy.fields["body"] == "您关注的跑鞋到货了"


def test_a_tracking_id_in_a_link_is_not_pii_or_a_claim():
    """Regression: a variant ID whose digits happen to pass Luhn was taken for a card number."""
    body = "您好，详情见https://lumi.example.cn/c?utm_source=copydesk&utm_content=gen_31232224994923a-A"
    _, res = check("email", "zh-CN", {"title": "购物车提醒", "body": body, "cta": "去看看"})
    assert res["pii"].passed and res["trade_claims"].passed and res["links"].passed


def test_form_wants_words_not_codes():
    def form(channel: str, locale: str, fields: dict[str, str]):
        _, res = check(channel, locale, fields, {"price": "$89"})
        return res["form"]

    # Seen from the embedded model as a whole SMS body, every other check green.
    assert "too few words" in form("sms", "en-US", {"body": "Siri-11-00455"}).detail
    assert "too few words" in form("sms", "zh-CN", {"body": "SKU-1001 №2026-11"}).detail
    assert form("wechat", "en-US", {"title": "Price drop", "body": "Now {price}"}).passed
    assert form("sms", "zh-CN", {"body": "限时包邮，快来看看"}).passed
