"""Runs every check over the labelled corpus in evals/guardrails/: recall per violation class,
false-positive rate per check on clean samples, and what all checks cost per variant."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.commerce.catalog import Catalog, load_catalog
from app.commerce.facts import ProductFacts, TradeFacts
from app.content import Content, load_content, read_yaml
from app.generation.assemble import assemble
from app.generation.trade import placeholder_values
from app.guardrails import CheckContext, default_checks, run_checks


@dataclass
class ClassScore:
    name: str
    samples: int = 0
    caught: int = 0
    missed: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.caught / self.samples if self.samples else 1.0


@dataclass
class Report:
    classes: dict[str, ClassScore]
    clean: int
    false_positives: dict[str, list[str]]  # check -> clean sample IDs it flagged
    flagged_clean: list[str]
    check_ms: list[float]

    @property
    def false_positive_rate(self) -> float:
        return len(self.flagged_clean) / self.clean if self.clean else 0.0

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.check_ms, n=100)[q - 1]


def trade_for(sample: dict, catalog: Catalog, locale: str) -> TradeFacts:
    product = catalog.products[sample["sku"]]
    offer = catalog.offers.get(sample["offer_id"]) if sample.get("offer_id") else None
    if sample.get("commerce", "up") == "down":
        return TradeFacts([ProductFacts(product.sku.sku, product.names.get(locale))], None, False)
    facts = ProductFacts(
        sku=product.sku.sku,
        name=product.sku.display_name(locale),
        facts=product.facts.get(locale, []),
        price=product.sku.price,
        list_price=product.sku.list_price,
        stock=sample.get("stock", product.sku.stock),
    )
    return TradeFacts([facts], offer, True)


def evaluate(root: Path, corpus: Path | None = None) -> Report:
    """`corpus` defaults to evals/guardrails/corpus.yaml; any file of the same form works."""
    content: Content = load_content(root)
    catalog = load_catalog(root / "knowledge")
    checks = default_checks(root / "guardrails")
    samples = read_yaml(corpus or root / "evals" / "guardrails" / "corpus.yaml")["samples"]
    classes: dict[str, ClassScore] = {}
    false_positives: dict[str, list[str]] = {}
    flagged_clean: list[str] = []
    clean = 0
    timings: list[float] = []
    for s in samples:
        spec = content.channels[s["channel"]]
        trade = trade_for(s, catalog, s["locale"])
        values = placeholder_values(trade, s["locale"], content.formats, s.get("name"))
        ctx = CheckContext(channel=spec, locale=s["locale"], trade=trade, values=values)
        started = time.perf_counter()
        copy = assemble(s["fields"], spec, s["locale"], values)
        results = {r.name: r for r in run_checks(checks, copy, ctx)}
        timings.append((time.perf_counter() - started) * 1000)
        expected = s.get("expect") or []
        if not expected:
            clean += 1
            fired = [name for name, r in results.items() if not r.passed]
            for name in fired:
                false_positives.setdefault(name, []).append(f"{s['id']}: {results[name].detail}")
            if fired:
                flagged_clean.append(s["id"])
        for cls in expected:
            score = classes.setdefault(cls, ClassScore(cls))
            score.samples += 1
            if cls in results and not results[cls].passed:
                score.caught += 1
            else:
                score.missed.append(s["id"])
    return Report(classes, clean, false_positives, flagged_clean, timings)
