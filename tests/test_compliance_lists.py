"""Word lists with provenance, domain scoping by product category, evasion-proof matching, PII in
any grouping, and the independent reference set's CI floors (issue 10)."""

from __future__ import annotations

import json

import pytest
from stdnum.cn import ric

from app.commerce.facts import ProductFacts, TradeFacts
from app.config import REPO_ROOT
from app.content import load_content, read_yaml
from app.evals.guardrail_refset import REFERENCE, below_targets
from app.evals.guardrail_refset import evaluate as evaluate_reference
from app.guardrails import CheckContext, Copy
from app.guardrails.pii_detector import PiiDetector
from app.guardrails.words import SensitiveWordCheck
from tests.conftest import sms_request
from tests.servers import ok

WORDS = REPO_ROOT / "guardrails" / "words"
CHECK = SensitiveWordCheck(WORDS)
CHANNEL = load_content(REPO_ROOT).channels["inapp"]


def run(text: str, category: str = "kitchen", locale: str = "zh-CN"):
    ctx = CheckContext(
        CHANNEL, locale, TradeFacts([ProductFacts("SKU-X", None, category=category)], None, True), {}
    )
    return CHECK.run(Copy({"body": text}, {"body": text}), ctx)


def test_every_list_names_category_source_and_license_for_each_term():
    for path in sorted(WORDS.glob("*.yaml")):
        raw = read_yaml(path)
        assert raw.get("category"), path.name
        sources = raw.get("sources") or {}
        assert sources and all(s.get("ref") and s.get("license") for s in sources.values()), path.name
        for item in [*raw.get("terms", []), *raw.get("patterns", [])]:
            keys = item.get("src")
            keys = [keys] if isinstance(keys, str) else keys
            assert keys and all(k in sources for k in keys), (path.name, item)


def test_domain_terms_apply_only_to_products_of_that_domain():
    for text in ("这口锅安全又耐用，为您推荐", "热销款炒锅，欢迎试用"):
        assert run(text, "kitchen").passed, text
        medical = run(text, "otc_medicine")
        assert not medical.passed and "medical only" in medical.detail, text
    assert run("医学护肤级的清洁，回来看看", "kitchen").passed
    assert "cosmetics_claims" in run("医学护肤级的清洁，回来看看", "skincare").detail
    assert not run("这口锅最安全", "kitchen").passed  # 最 + adjective is general


@pytest.mark.parametrize(
    "text",
    [
        "全网最\u200b低价",
        "最🔥佳跑鞋",
        "销量第1的炒锅",
        "ＴＯＰ１好锅",
        "TOP 1 好锅",
        "冠軍同款",
        "國家級工藝",
        "千金难求的好锅",
        "国宴专用炒锅",
        "佩戴可辟邪",
        "一盒见效",
        "点 击 领 奖",
    ],
)
def test_chinese_claims_are_caught_through_evasions(text):
    assert not run(text).passed, text


@pytest.mark.parametrize(
    "text",
    [
        "The №1 pan",
        "The N°1 pan",
        "Our #1 pick",
        "gua\u200branteed to last",
        "eco\u2014friendly packaging",
        "risk\u2013free trial",
        "guаrаnteed fit",  # Cyrillic а
        "I n s t a n t   r e s u l t s",
        "cu-re for back pain",
        "clini🔥cally proven",
        "The world\u2019s best pan",
        "Unlike other brands, ours lasts",
        "Double your money",
    ],
)
def test_english_claims_are_caught_through_evasions(text):
    assert not run(text, locale="en-US").passed, text


@pytest.mark.parametrize(
    "text",
    [
        "您的第一单包邮",
        "第一批炒锅已发货",
        "第一季度新品上架",
        "每月第一个周六会员日",
        "我们的第一家门店本周六开业",
        "首次下单立减运费",
        "最近上新，最新款式",
        "开封后最佳赏味期为7天",
        "第一百位顾客有礼",
        "翻到第一页查看尺码表",
        "有线输出最高20瓦",
    ],
)
def test_ordinal_time_and_fact_uses_pass(text):
    assert run(text).passed, (text, run(text).detail)


@pytest.mark.parametrize(
    "text",
    [
        "All the best from the team",
        "Your first order ships free",
        "Treat yourself this weekend",
        "Step #1: pick your size",
        "We can't guarantee delivery before Friday",
    ],
)
def test_english_look_alikes_pass(text):
    assert run(text, locale="en-US").passed, text


def test_a_hit_names_term_category_list_and_source():
    detail = run("千金难求的好锅").detail
    assert "“千金难求”" in detail and "urgency_scarcity" in detail and "words/urgency_zh.yaml" in detail
    assert "source: 《广告法》违禁词 list" in detail
    detail = run("这口锅口碑第1").detail
    assert "patterns.yaml#diyi" in detail and "source:" in detail


def test_pii_in_any_grouping():
    detector = PiiDetector(REPO_ROOT / "guardrails" / "pii.yaml")
    body = "11010519491231002"
    rid = body + ric.calc_check_digit(body + "0")  # check digit by python-stdnum, not by our code
    for text in (
        f"身份证 {rid[:6]} {rid[6:14]} {rid[14:]} 已登记",
        f"身份证{rid[:6]}-{rid[6:14]}-{rid[14:]}",
        "电话 +86 138 1234 5678",
        "电话0086-138-1234-5678",
        "(+86)13812345678",
        "电话 138 123 456 78",
        "座机 010-6552 9988",
    ):
        assert detector.find(text), text
    for text in ("订单号 2026112312345678", "验证码 482913", "SKU-1001 已补货", "合计¥1299.00"):
        assert not detector.find(text), text


def test_reference_set_meets_its_floors():
    root = REPO_ROOT
    report = evaluate_reference(root)
    assert not below_targets(report, read_yaml(root / REFERENCE / "targets.yaml"))
    sources = {c.source for c in report.recall.values()}
    assert {"adlimit", "xhs", "nurise", "faker"} <= sources
    assert any(c.held_out for c in report.recall.values())


def test_domain_scoping_reaches_the_audit(api, llm):
    """The product's category comes from the knowledge base: 医学护肤 is a cosmetics claim for a
    serum, and the audit names the term, list and source; 安全 / 推荐 pass for running shoes."""
    llm.script(
        ok({"body": "{product}医学护肤，回来看看吧。"}), ok({"body": "{product}在购物车里等您，回来看看吧。"})
    )
    resp = api.post(
        "/v1/generate",
        json=sms_request(request_id="serum-domain", skus=["SKU-3001"], offer_id=None, variants=1),
    ).json()
    record = api.get(f"/v1/generations/{resp['generation_id']}").json()
    violations = json.dumps(record["variants"][0]["attempts"][0]["violations"], ensure_ascii=False)
    assert "医学护肤" in violations and "domain_cosmetics_zh.yaml" in violations and "source:" in violations
    llm.script(default=lambda _: ok({"body": "{product}安全舒适，为您推荐，回来看看吧。"}))
    (v,) = api.post("/v1/generate", json=sms_request(request_id="shoe-safe", variants=1)).json()["variants"]
    assert v["source"] == "llm", v
