# ruff: noqa: E501  (copy samples read best on one line each)
"""Sense checks (is the copy copy?), stock-aware journeys, fallback wording and 'say why', on the
real checks, the real prompt templates and the HTTP API over a scripted model."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from app.commerce.facts import ProductFacts, TradeFacts
from app.commerce.models import Offer
from app.config import REPO_ROOT
from app.content import load_content
from app.errors import RequestError
from app.generation.assemble import assemble, sentence_case
from app.generation.fallback import fallback_copies
from app.generation.journeys import choose_journey
from app.generation.prompts import PromptBook, PromptInput
from app.generation.trade import format_date, placeholder_values
from app.guardrails import CheckContext, default_checks, run_checks
from tests.conftest import sms_request
from tests.servers import ok

CONTENT = load_content(REPO_ROOT)
CHECKS = default_checks()
SENSE = {"prompt_echo", "meta_text", "on_topic", "fluency", "reads_as_copy"}
NAMES = {"zh-CN": "轻云缓震跑鞋", "en-US": "CloudLite Cushion Runner"}
FACTS = {"zh-CN": ["鞋面为工程网布，透气轻薄。"], "en-US": ["Engineered mesh upper, light and breathable."]}


def _ctx(channel: str, locale: str, journey: str = "cart_abandon", prompt: str | None = None) -> CheckContext:
    product = ProductFacts("SKU-1001", NAMES[locale], FACTS[locale], price=399, list_price=499, stock=5)
    trade = TradeFacts([product], None, True)
    values = placeholder_values(trade, locale, CONTENT.formats, None)
    if prompt is None:
        messages = PromptBook(CONTENT).render(
            PromptInput(
                channel=channel, locale=locale, journey=journey, tone="rational",
                audience={"segment": "hot", "interests": ["running"], "price_sensitivity": None,
                          "cs_topic": None},
                products=[{"name": product.name, "facts": product.facts}], offer_terms=None,
                reviews=[], placeholders=["product", "price"], violations=[],
            )
        )  # fmt: skip
        prompt = "\n".join(m["content"] for m in messages)
    grounding = (product.name, *product.facts)
    return CheckContext(CONTENT.channels[channel], locale, trade, values, prompt, grounding, journey)


def failing(channel: str, locale: str, fields: dict[str, str], **kw) -> set[str]:
    ctx = _ctx(channel, locale, **kw)
    return {
        r.name
        for r in run_checks(CHECKS, assemble(fields, ctx.channel, locale, ctx.values), ctx)
        if not r.passed
    }


@pytest.mark.parametrize(
    ("channel", "locale", "fields", "expected"),
    [  # the examples, from the embedded model
        ("email", "en-US", {"title": "Lumi-lamb-de-dj", "cta": "<custom_button_image",
         "body": "Situation: The customer left this product in cart without checkout. Gently remind them "
                 "to finish order, and offer exclusive deal 3 days ago."}, {"meta_text", "prompt_echo"}),
        ("push", "en-US", {"title": "Tweet", "body": "This is a post with [insert title] - 30+ characters."},
         {"meta_text", "on_topic"}),
        ("push", "zh-CN", {"title": "与高意向用户", "body": "不超过24个字，一句话，10位行。"}, {"meta_text", "prompt_echo"}),
        ("sms", "zh-CN", {"body": "中意向用户；兴趣，从上空无针行开。"}, {"meta_text", "on_topic"}),
        ("sms", "zh-CN", {"body": "【鹿米】！中他现在还有漂秃，八十三人不住说。拒收请回复R"}, {"on_topic"}),
        ("push", "zh-CN", {"title": "瓶花漂秃省", "body": "沉哨百七月，玩场中技巧关煴，鸟美范食。"}, {"fluency", "on_topic"}),
        ("inapp", "en-US", {"title": "Product Details", "body": "Product Review", "cta": "Product Review"},
         {"meta_text"}),
        ("sms", "en-US", {"body": "Sure! Here is a short SMS for the customer about their cart:"}, {"meta_text"}),
        ("push", "en-US", {"title": "Breaking news", "body": "The city council voted to extend the bus line."},
         {"on_topic"}),
        # a journey word (order, 价格, 下单) alone does not make it about our product: its meaning must be near
        ("push", "en-US", {"title": "Order up!", "body": "Our chef's new ramen order comes with a free egg tonight."},
         {"on_topic"}),
        ("push", "zh-CN", {"title": "周末去爬山", "body": "山顶的风景很美，记得带上水和零食，下单前看看天气。"}, {"on_topic"}),
        # talk to a seller, not to a customer who buys
        ("sms", "en-US", {"body": "Sell your item to our store today and get paid fast."}, {"meta_text"}),
        ("email", "en-US", {"title": "Seller's Guide", "body": "How to sell more this season: ten ideas.",
                            "cta": "Read"}, {"meta_text"}),
        # a slot in brackets, also in Chinese; the customer as a writer's target
        ("sms", "zh-CN", {"body": "[产品名称]还在购物车里，快来下单。"}, {"meta_text"}),
        ("sms", "zh-CN", {"body": "目标客户是跑步爱好者，提醒他下单。"}, {"meta_text"}),
        # the smoke eval's recorded answers: "the product" instead of its name; a body that only names
        ("push", "en-US", {"title": "Pack It In", "body": "Pack It In: Quickly and efficiently use the product to enhance your daily life."}, {"meta_text"}),
        ("push", "en-US", {"title": "New in", "body": "The product is a great choice for dry skin."}, {"meta_text"}),
        ("push", "en-US", {"title": "Just for you", "body": "CloudLite Cushion Runner"}, {"meta_text"}),
        ("sms", "en-US", {"body": "Lumi {product}"}, {"meta_text"}),
        ("sms", "zh-CN", {"body": "鹿米 轻云缓震跑鞋！"}, {"meta_text"}),
        # a body that stops on a word no sentence ends on
        ("push", "en-US", {"title": "Hurry", "body": "Your CloudLite Cushion Runner is still in your cart and"}, {"form"}),
        ("sms", "zh-CN", {"body": "您购物车里的轻云缓震跑鞋还在等您，鞋面透气和"}, {"form"}),
    ],
)  # fmt: skip
def test_junk_fails_the_sense_check_that_names_its_fault(channel, locale, fields, expected):
    assert expected <= failing(channel, locale, fields)


@pytest.mark.parametrize(
    ("channel", "locale", "fields"),
    [
        ("sms", "zh-CN", {"body": "{name}，您购物车里的{product}还在等您，记得来下单哦。"}),
        ("push", "zh-CN", {"title": "跑鞋还在等你", "body": "透气网面跑鞋还在购物车里，记得完成下单哦。"}),
        ("push", "zh-CN", {"title": "还差一步", "body": "新老用户都能用的优惠，购物车里的跑鞋别忘了。"}),
        ("sms", "en-US", {"body": "Hi {name}, your {product} is still in your cart. Come back and finish your order."}),
        ("push", "en-US", {"title": "Still thinking?", "body": "Those breathable mesh runners are still in your cart."}),
        ("push", "en-US", {"title": "Loved by runners", "body": "Our customers love how light these runners feel."}),
        # naming only the journey, near in meaning to it (on_topic asks the sentence encoder)
        ("push", "en-US", {"title": "Still deciding?", "body": "Your picks are still in your cart. Finish your order any time."}),
        ("push", "zh-CN", {"title": "还在犹豫吗", "body": "您挑好的宝贝还在购物车里，随时回来完成下单。"}),
        ("sms", "en-US", {"body": "Our tees sell out fast. Your {product} is still in your cart."}),
        # real shop copy: 客户 addressing the public, an emoji code of Chinese messaging in brackets
        ("sms", "zh-CN", {"body": "感谢新老客户的支持，{product}现价{price}，欢迎回来看看[微笑]"}),
        # the product's name as a title, a product page, the name with something said about it
        ("push", "en-US", {"title": "CloudLite Cushion Runner", "body": "Still in your cart. See the product page for sizes."}),
        ("push", "zh-CN", {"title": "轻云缓震跑鞋", "body": "轻云缓震跑鞋还在购物车里，记得完成下单哦。"}),
        ("sms", "en-US", {"body": "{product}: now {price}, only this week."}),
        # real shop punctuation: an ellipsis inside or at the end; a title ending on "in"; "the" of the facts
        ("sms", "zh-CN", {"body": "{product}现价{price}，透气轻薄，欢迎光临......"}),
        ("push", "en-US", {"title": "You're in", "body": "The clock’s ticking: the CloudLite in your cart is light and breathable."}),
    ],
)  # fmt: skip
def test_good_copy_passes_every_sense_check(channel, locale, fields):
    assert not failing(channel, locale, fields) & SENSE


def test_echo_is_judged_against_the_prompt_that_produced_the_copy():
    """Not a fixed list: whatever the rendered prompt instructed is what the copy must not repeat."""
    body = "Always mention the blue umbrella festival in every single sentence you write."
    prompt = f"Write one SMS message.\nRule: {body}\nAnswer with JSON."
    assert "prompt_echo" in failing("sms", "en-US", {"body": body}, prompt=prompt)
    assert "prompt_echo" not in failing("sms", "en-US", {"body": body})  # another prompt: no echo
    # What the copy may quote (the product's facts, in the prompt too) is not an echo.
    quoted = "Engineered mesh upper, light and breathable. Your runners are still in your cart."
    assert "prompt_echo" not in failing("sms", "en-US", {"body": quoted})


def test_template_copy_without_a_prompt_is_not_judged_for_echo_or_topic():
    ctx = _ctx("sms", "en-US", prompt="")
    copy = assemble({"body": "Your picks are waiting for you."}, ctx.channel, "en-US", ctx.values)
    results = {r.name: r for r in run_checks(CHECKS, copy, ctx)}
    assert results["prompt_echo"].passed and results["on_topic"].passed


def test_stock_zero_switches_purchase_journeys_and_data_can_refuse():
    empty = TradeFacts([ProductFacts("SKU-3002", "防晒乳", stock=0)], None, True)
    stocked = TradeFacts([ProductFacts("SKU-3002", "防晒乳", stock=3)], None, True)
    assert choose_journey(CONTENT.journeys, "cart_abandon", empty).name == "sold_out"
    assert "stock 0" in choose_journey(CONTENT.journeys, "cart_abandon", empty).note
    assert choose_journey(CONTENT.journeys, "cart_abandon", stocked).name == "cart_abandon"
    assert choose_journey(CONTENT.journeys, "cs_followup", empty).name == "cs_followup"  # no rule
    refusing = {"cart_abandon": {"when_out_of_stock": "refuse", "en-US": "x", "zh-CN": "x"}}
    with pytest.raises(RequestError) as exc:
        choose_journey(refusing, "cart_abandon", empty)
    assert (exc.value.status, exc.value.code, exc.value.field) == (409, "out_of_stock", "skus[0]")


def test_a_sold_out_sku_gets_sold_out_copy_through_the_api(api, llm):
    llm.script(default=lambda _: ok({"body": "{product}还在购物车里，快来下单吧！"}))
    resp = api.post("/v1/generate", json=sms_request(skus=["SKU-3002"], offer_id=None, variants=1))
    assert resp.status_code == 200, resp.text
    variant = resp.json()["variants"][0]
    assert "cart_abandon became sold_out" in variant["source_reason"]
    prompt = llm.calls[0]["messages"][-1]["content"]
    assert CONTENT.journeys["sold_out"]["zh-CN"] in prompt
    assert CONTENT.journeys["cart_abandon"]["zh-CN"] not in prompt


def test_garbage_cut_to_fit_is_not_repaired_and_the_variant_says_why(api, llm):
    junk = "中意向用户；兴趣，从上空无针行开。" * 4  # too long and meta: a cut is still junk
    llm.script(default=lambda _: ok({"body": junk}))
    variants = api.post("/v1/generate", json=sms_request(variants=1)).json()["variants"]
    assert variants[0]["source"] == "fallback" and variants[0]["repair"] is None
    assert "meta_text" in variants[0]["source_reason"] and "answer 1 failed" in variants[0]["source_reason"]


def test_a_good_but_long_answer_is_cut_and_says_so(api, llm):
    long = "{name}，您购物车里的{product}还在等您，{offer}。鞋面透气轻薄，日常慢跑很合适，尺码偏窄建议大半码，欢迎回来完成下单。"
    llm.script(default=lambda _: ok({"body": long}))
    v = api.post("/v1/generate", json=sms_request(variants=1)).json()["variants"][0]
    assert (v["source"], v["repair"]) == ("repaired", "cut"), v
    assert "channel_limits" in v["source_reason"]


def test_first_answer_passing_says_so(api, llm):
    llm.script(default=lambda _: ok({"body": "{name}，您购物车里的{product}还在等您，{offer}。"}))
    v = api.post("/v1/generate", json=sms_request(variants=1)).json()["variants"][0]
    assert v["source"] == "llm" and v["repair"] is None and "first answer" in v["source_reason"]


def test_fallback_sentence_case_year_and_old_and_new_price():
    assert sentence_case("CloudLite is in your cart. a free gift until Feb 28.") == (
        "CloudLite is in your cart. A free gift until Feb 28."
    )
    offer = Offer(offer_id="O", type="gift", value=39, min_spend=150, code="GIFT1",
                  expires_at=datetime(2027, 2, 28, tzinfo=UTC), skus=[], terms="")  # fmt: skip
    assert (
        format_date(offer, "zh-CN", CONTENT.formats, now=datetime(2026, 11, 23, tzinfo=UTC))
        == "2027年2月28日"
    )
    assert (
        format_date(offer, "en-US", CONTENT.formats, now=datetime(2026, 11, 23, tzinfo=UTC)) == "Feb 28, 2027"
    )
    assert format_date(offer, "en-US", CONTENT.formats, now=datetime(2027, 1, 5, tzinfo=UTC)) == "Feb 28"
    for locale, spec in ((loc, CONTENT.channels[ch]) for loc in ("zh-CN", "en-US") for ch in ("sms", "push")):
        product = ProductFacts("SKU-1001", NAMES[locale], [], price=399, list_price=499, stock=5)
        trade = TradeFacts([product], None, True)
        values = placeholder_values(trade, locale, CONTENT.formats, None)
        ctx = CheckContext(spec, locale, trade, values, journey="price_drop")
        (copy, _), _b = fallback_copies(CONTENT, CHECKS, ctx, "price_drop", 2)
        text = " ".join(copy.fields.values())
        assert "¥399" in text and "¥499" in text, text


def test_the_meaning_floor_is_what_fails_journey_word_only_copy():
    """The same off-topic copy passes on_topic when the floor is off: the encoder, not a word list, judges it."""
    from dataclasses import replace

    from app.guardrails.sense import OnTopicCheck, SensePolicy

    topic = SensePolicy.load(REPO_ROOT / "guardrails" / "sense.yaml").topic
    ctx = _ctx("push", "en-US")
    copy = assemble({"title": "Order up!", "body": "Our chef's new ramen order comes with a free egg tonight."},
                    ctx.channel, "en-US", ctx.values)  # fmt: skip
    result = OnTopicCheck(topic).run(copy, ctx)
    assert not result.passed and "similarity" in result.detail
    assert OnTopicCheck(replace(topic, min_similarity={})).run(copy, ctx).passed


def test_sense_set_keeps_the_heldout_split_out_of_the_gate():
    from app.evals.sense_set import GATED_SPLITS, evaluate

    base = {
        "origin": "hand",
        "prompt": None,
        "channel": "sms",
        "locale": "en-US",
        "journey": "cart_abandon",
        "sku": "SKU-1001",
        "fields": {"body": "Situation: the customer left the cart."},
        "label": "junk",
    }
    samples = [{**base, "id": "a", "split": "test"}, {**base, "id": "b", "split": "heldout"}]
    assert [o.sample["id"] for o in evaluate(samples, {}, splits=GATED_SPLITS).junk] == ["a"]
    assert len(evaluate(samples, {}).junk) == 2


def test_independent_shop_copy_is_judged_without_on_topic():
    from app.evals.sense_independent import JUDGED, blocked, samples
    from app.evals.sense_set import evaluate

    messages = samples()
    assert len(messages) >= 150 and "on_topic" not in JUDGED
    first_draw = [m for m in messages if m["id"].startswith("zh_shop_sms#")][:12]
    figures = evaluate(first_draw, {}, splits=("independent",))
    assert len(figures.good) == 12 and not [o for o in figures.good if blocked(o)]


@pytest.mark.parametrize(
    ("channel", "locale", "fields"),
    [
        # fluent nonsense of the full eval, sharing a word with this product (CloudLite) as it shared
        # one with its own: no rule names its fault
        ("push", "en-US", {"title": "Trip to the CloudLite: F1", "body": "The CloudLite: F1"}),
        # a story about the product instead of a message, the model's diary (held-out answers' kinds)
        ("email", "en-US", {"title": "The CloudLite Story", "body": "This is a CloudLite that has never been sold out yet, a story of a runner who took a chance on our brand.", "cta": "Read the story"}),
        ("sms", "en-US", {"body": "Tonight, I've been using the CloudLite. Sitting in front of a screen, I was inspired by the design."}),
    ],
)  # fmt: skip
def test_the_classifier_catches_fluent_nonsense_that_passes_the_rules(channel, locale, fields):
    assert failing(channel, locale, fields) & SENSE == {"reads_as_copy"}, fields


def test_classifier_weights_are_tied_to_their_features_and_to_the_labelled_set(tmp_path):
    import json
    import shutil

    from app.evals.sense_train import model_path, stale, training_samples
    from app.guardrails.sense.classifier import CopyClassifier

    model = json.loads(model_path().read_text())
    (tmp_path / "other.json").write_text(json.dumps({**model, "features": "another-encoder/v9"}))
    with pytest.raises(ValueError, match="another-encoder"):
        CopyClassifier.load(tmp_path / "other.json")
    shutil.copy(REPO_ROOT / "guardrails" / "sense.yaml", tmp_path / "sense.yaml")
    (tmp_path / model_path().name).write_text(json.dumps({**model, "threshold": model["threshold"] + 0.5}))
    assert "differs from what the labelled set gives" in stale(tmp_path / "sense.yaml")
    # the splits that measure it can never train it
    policy = (
        (tmp_path / "sense.yaml")
        .read_text()
        .replace("splits: [calibration, heldout]", "splits: [calibration, blind]")
    )
    (tmp_path / "sense.yaml").write_text(policy)
    with pytest.raises(ValueError, match="measuring split"):
        training_samples(tmp_path / "sense.yaml")


def test_the_audit_record_says_what_the_checks_of_a_request_cost(api, llm):
    """Every check run of the request (first answers, the re-ask, fallback candidates) is summed."""
    llm.script(default=lambda _: ok({"body": "{name}，您购物车里的{product}还在等您，{offer}。"}))
    api.post("/v1/generate", json=sms_request(request_id="cost-0", variants=2))  # caches warm
    first = api.post("/v1/generate", json=sms_request(request_id="cost-1", variants=2)).json()
    llm.script(
        default=lambda _: ok({"body": "中意向用户；兴趣，从上空无针行开。"})
    )  # re-asked, then fallback
    second = api.post("/v1/generate", json=sms_request(request_id="cost-2", variants=2)).json()
    costs = []
    for resp in (first, second):
        timings = api.get(f"/v1/generations/{resp['generation_id']}").json()["timings_ms"]
        assert 0 < timings["checks_cpu"] < timings["variants"] + 1, timings
        costs.append(timings["checks_cpu"])
    assert [v["source"] for v in second["variants"]] == ["fallback", "fallback"]
    assert costs[1] > costs[0]  # two answers per variant and the fallback candidates were checked


def test_the_classifier_reads_an_over_long_field_only_up_to_its_bound():
    """A broken model's megabyte of text costs what its head costs, and is judged on it."""
    check = next(c for c in CHECKS if c.name == "reads_as_copy")
    ctx = _ctx("sms", "en-US")
    head = "Your CloudLite Cushion Runner is still in your cart \x00\x07\u202e. " * 40
    huge = head + "zz " * 400_000
    bound = check.max_field_chars
    assert len(head) > bound
    short, long = (
        check.run(assemble({"body": b}, ctx.channel, "en-US", ctx.values), ctx) for b in (head, huge)
    )
    assert short.detail == long.detail and short.passed == long.passed


def test_a_near_megabyte_answer_is_read_only_up_to_four_budgets(api, llm):
    """A broken model server's huge field (under the transport's 1 MB cap) costs the checks what
    its head costs; what goes out is fallback or a cut within the limit; the raw answer is kept."""
    huge = "{name}，您购物车里的{product}还在等您，\x07鞋面透气轻薄。" + "哈" * 300_000
    llm.script(default=lambda _: ok({"body": huge}))
    resp = api.post("/v1/generate", json=sms_request(request_id="huge-1", variants=1))
    assert resp.status_code == 200, resp.text[:300]
    variant = resp.json()["variants"][0]
    assert variant["source"] in ("fallback", "repaired")
    record = api.get(f"/v1/generations/{resp.json()['generation_id']}").json()
    first = record["variants"][0]["attempts"][0]
    assert len(first["raw"]) > 300_000
    measured = re.search(r"body is (\d+) .*limit of (\d+)", " ".join(first["violations"]))
    assert measured and int(measured.group(1)) <= 4 * int(measured.group(2)), first["violations"]
