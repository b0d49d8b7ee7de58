"""What all the checks cost per two-variant request, for every channel and locale: the two
variants the model wrote (one names only the journey, so on_topic runs the sentence encoder);
the same when a variant needs fallback (every fallback candidate is then checked too); and when
both variants take the encoder path. Prints figures; asserts nothing.
    Run: python benchmarks/checks_bench.py [--without-sense]"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import replace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from app.commerce.catalog import load_catalog  # noqa: E402
from app.config import REPO_ROOT  # noqa: E402
from app.content import LOCALES, load_content  # noqa: E402
from app.evals.guardrail_corpus import trade_for  # noqa: E402
from app.generation.assemble import assemble  # noqa: E402
from app.generation.fallback import fallback_copies  # noqa: E402
from app.generation.inputs import grounding  # noqa: E402
from app.generation.prompts import PromptBook, PromptInput  # noqa: E402
from app.generation.trade import placeholder_values  # noqa: E402
from app.guardrails import CheckContext, default_checks, run_checks  # noqa: E402
from app.guardrails.sense import warm_up  # noqa: E402
from app.guardrails.sense.similarity import clear_text_cache  # noqa: E402

MODEL_COPY = {
    "zh-CN": {
        "title": "好物在等您",
        "body": "{name}，您购物车里的{product}还在等您，{offer}。",
        "cta": "去看看",
    },
    "en-US": {"title": "Still thinking?", "body": "{product} is still in your cart.", "cta": "Take a look"},
}
# The second variant names neither product nor offer, only the journey (cart): on_topic then
# measures its meaning with the sentence encoder, the dearest path.
JOURNEY_COPY = {
    "zh-CN": {"title": "还在犹豫吗", "body": "您挑好的宝贝还在购物车里，随时回来完成下单。", "cta": "去结算"},
    "en-US": {"title": "Still deciding?", "cta": "Go to cart",
              "body": "Your picks are still in your cart. Finish your order any time."},
}  # fmt: skip

KINDS = (
    ("two variants", (MODEL_COPY, JOURNEY_COPY)),
    ("with fallback", (MODEL_COPY, JOURNEY_COPY)),
    ("both on the encoder path", (JOURNEY_COPY, JOURNEY_COPY)),
)


def main(rounds: int = 50, without: frozenset[str] = frozenset()) -> None:
    content = load_content(REPO_ROOT)
    catalog = load_catalog(REPO_ROOT / "knowledge")
    checks = [c for c in default_checks(REPO_ROOT / "guardrails") if c.name not in without]
    # CPU time: what the checks cost, whatever else the machine runs
    cpu: dict[str, list[float]] = {kind: [] for kind, _ in KINDS}
    per_variant: list[float] = []
    warm_up()  # the service loads the dictionaries and the encoder at start, not on a request
    book = PromptBook(content)
    prompts = {
        (spec.name, locale): "\n".join(
            m["content"]
            for m in book.render(
                PromptInput(
                    channel=spec.name, locale=locale, journey="cart_abandon", tone="rational",
                    audience={"segment": "hot", "interests": ["running"], "price_sensitivity": None,
                              "cs_topic": None},
                    products=[{"name": "CloudLite", "facts": ["light"]}], offer_terms=None, reviews=[],
                    placeholders=["product", "price", "offer"], violations=[],
                )
            )
        )
        for spec in content.channels.values()
        for locale in LOCALES
    }  # fmt: skip
    for _ in range(rounds):
        for spec in content.channels.values():
            for locale in LOCALES:
                sample = {"sku": "SKU-1001", "offer_id": "OFF-FREESHIP", "commerce": "up"}
                trade = trade_for(sample, catalog, locale)
                values = placeholder_values(trade, locale, content.formats, "张伟")
                ctx = CheckContext(spec, locale, trade, values, journey="cart_abandon")
                # Model copy is judged with the prompt that produced it (prompt_echo, on_topic).
                mctx = replace(ctx, prompt=prompts[(spec.name, locale)], grounding=grounding(trade, locale))
                for kind, variants in KINDS:
                    start = time.process_time()
                    if kind == "with fallback":
                        fallback_copies(content, checks, ctx, "cart_abandon", 2)
                    for variant in variants:
                        clear_text_cache()  # real copy differs on every variant: encode it every time
                        t = time.perf_counter()
                        fields = {f: variant[locale][f] for f in spec.fields()}
                        run_checks(checks, assemble(fields, spec, locale, values), mctx)
                        per_variant.append((time.perf_counter() - t) * 1000)
                    cpu[kind].append((time.process_time() - start) * 1000)

    def pct(xs: list[float], q: int) -> float:
        return statistics.quantiles(xs, n=100)[q - 1]

    print(f"all checks on one variant: p50 {pct(per_variant, 50):.2f} ms, p95 {pct(per_variant, 95):.2f} ms")
    for kind, xs in cpu.items():
        print(f"all checks of a 2-variant request, {kind}: CPU p50 {pct(xs, 50):.2f} ms, "
              f"p95 {pct(xs, 95):.2f} ms ({len(xs)} requests)")  # fmt: skip


if __name__ == "__main__":
    import sys

    # --without-sense: the same run without the five sense checks, to see their share on a busy machine
    main(
        without=frozenset({"prompt_echo", "meta_text", "on_topic", "fluency", "reads_as_copy"})
        if "--without-sense" in sys.argv
        else frozenset()
    )
