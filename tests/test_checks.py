"""The minimal checks count the way channels count and reject what they should."""

from __future__ import annotations

from app.assemble import assemble
from app.channels import measure
from app.checks import CheckContext, default_checks, run_checks
from app.config import REPO_ROOT
from app.content import load_content
from app.trade import TradeFacts

CONTENT = load_content(REPO_ROOT)


def check(channel: str, locale: str, fields: dict[str, str], values: dict[str, str] | None = None):
    spec = CONTENT.channels[channel]
    ctx = CheckContext(spec, locale, TradeFacts([], None, True), values or {})
    copy = assemble(fields, spec, locale, ctx.values)
    return copy, {r.name: r for r in run_checks(default_checks(), copy, ctx)}


def test_sms_counts_utf16_with_signature_and_opt_out():
    assert measure("跑鞋🏃", "utf16") == 4  # an emoji is two UTF-16 units
    budget = 70 - len("【鹿米】") - len("拒收请回复R")
    copy, res = check("sms", "zh-CN", {"body": "好" * budget})
    assert res["channel_limits"].passed and measure(copy.fields["body"], "utf16") == 70
    copy, res = check("sms", "zh-CN", {"body": "好" * (budget - 1) + "🏃"})
    assert not res["channel_limits"].passed
    assert "71 UTF-16 units" in res["channel_limits"].detail


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
