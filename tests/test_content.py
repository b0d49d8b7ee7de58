"""The plain files copywriters edit: every template renders, every fallback list always fits."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from app.commerce.facts import ProductFacts, TradeFacts
from app.commerce.models import Offer
from app.config import REPO_ROOT
from app.content import LOCALES, load_content
from app.generation.fallback import fallback_copies
from app.generation.prompts import PromptBook, PromptInput
from app.generation.trade import placeholder_values
from app.guardrails import CheckContext, default_checks

CONTENT = load_content(REPO_ROOT)
LONG_OFFER = Offer(
    offer_id="OFF-X", type="percent_off", value=15, min_spend=199, code="LONGCODE2026",
    expires_at=datetime(2027, 12, 31, tzinfo=UTC), skus=[], terms="",
)  # fmt: skip


def trade(name: str | None, with_prices: bool) -> TradeFacts:
    product = ProductFacts(
        sku="SKU-1",
        name=name,
        price=1299.5 if with_prices else None,
        list_price=1599 if with_prices else None,
    )
    return TradeFacts([product], LONG_OFFER if with_prices else None, commerce_available=with_prices)


@pytest.mark.parametrize("channel", sorted(CONTENT.channels))
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("journey", sorted(CONTENT.journeys))
def test_fallback_always_fits(channel, locale, journey):
    """Even with the longest names, or with nothing known at all, fallback copy passes every check."""
    spec = CONTENT.channels[channel]
    checks = default_checks()
    for facts, name in ((trade("超长商品名称" * 6, True), "欧阳娜娜娜娜"), (trade(None, False), None)):
        values = placeholder_values(facts, locale, CONTENT.formats, name)
        ctx = CheckContext(channel=spec, locale=locale, trade=facts, values=values)
        copies = fallback_copies(CONTENT, checks, ctx, journey, 4)
        assert len(copies) == 4
        for copy, results in copies:
            assert all(r.passed for r in results), (copy, results)


DEMO_NAMES = {"zh-CN": "轻云缓震跑鞋", "en-US": "CloudLite Cushion Runner"}
SHORT_OFFER = Offer(
    offer_id="OFF-S", type="amount_off", value=20, min_spend=199, code="SAVE20",
    expires_at=datetime(2027, 6, 30, tzinfo=UTC), skus=[], terms="",
)  # fmt: skip


@pytest.mark.parametrize("channel", sorted(CONTENT.channels))
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("customer", ["张伟", None])
def test_fallback_is_specific_and_varied(channel, locale, customer):
    """For a catalog product, fallback A and B differ and name the product or the offer, name or not."""
    spec, checks = CONTENT.channels[channel], default_checks()
    product = ProductFacts(sku="SKU-1001", name=DEMO_NAMES[locale], price=399, list_price=459, stock=6)
    facts = TradeFacts([product], SHORT_OFFER, commerce_available=True)
    values = placeholder_values(facts, locale, CONTENT.formats, customer)
    ctx = CheckContext(channel=spec, locale=locale, trade=facts, values=values)
    sold_out = replace(ctx, trade=replace(facts, products=[replace(product, stock=0)]), journey="sold_out")
    for journey in CONTENT.journeys:
        jctx = sold_out if journey == "sold_out" else replace(ctx, journey=journey)
        (a, _), (b, _) = fallback_copies(CONTENT, checks, jctx, journey, 2)
        assert a.fields != b.fields, (journey, a.fields)
        text = " ".join(a.fields.values())
        wanted = [values["product"], values["offer"]] + ([values["price"]] if journey == "price_drop" else [])
        fits = [v for v in wanted if len(v) <= spec.limit("body", locale) / 2]  # leaves room for words
        assert not fits or any(v in text for v in fits), (journey, text)
        assert "{" not in text and "[{" not in "".join(a.template.values()), (journey, text)
        if customer is None:
            assert not text.startswith(("，", ",")) and "Hi ," not in text, (journey, text)


@pytest.mark.parametrize("channel", sorted(CONTENT.channels))
@pytest.mark.parametrize("locale", LOCALES)
def test_every_prompt_renders(channel, locale):
    book = PromptBook(CONTENT)
    for journey in CONTENT.journeys:
        messages = book.render(
            PromptInput(
                channel=channel, locale=locale, journey=journey, tone="rational",
                audience={"segment": "hot", "interests": ["running"], "price_sensitivity": "high",
                          "cs_topic": "sizing"},
                products=[{"name": "CloudLite", "facts": ["light"]}], offer_terms="terms",
                reviews=[], placeholders=["product", "price"], violations=["body is too long"],
            )
        )  # fmt: skip
        system, user = messages[0]["content"], messages[1]["content"]
        assert "鹿米" in system or "Lumi" in system
        assert CONTENT.journeys[journey][locale] in user
        assert "{price}" in user and "{offer}" not in user
        assert "body is too long" in user
        for field in CONTENT.channels[channel].fields():
            assert f'"{field}"' in user


def test_prompt_version_follows_the_templates(tmp_path):
    root = tmp_path / "content"
    for part in ("prompts", "guardrails", "knowledge"):
        shutil.copytree(REPO_ROOT / part, root / part)
    before = PromptBook(load_content(root)).version("sms", "zh-CN")
    assert before == PromptBook(CONTENT).version("sms", "zh-CN")
    assert before != PromptBook(CONTENT).version("sms", "en-US")
    (root / "prompts" / "channels" / "sms.zh-CN.j2").write_text("{% extends 'base.zh-CN.j2' %}\n")
    after = PromptBook(load_content(root)).version("sms", "zh-CN")
    assert after != before
    assert PromptBook(load_content(root)).version("push", "zh-CN") == PromptBook(CONTENT).version(
        "push", "zh-CN"
    )
