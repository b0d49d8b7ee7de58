"""The deterministic layers of the gate, run without a model: every case's fallback copy against
the case's own assertions, every case's rendered prompts, the guardrail corpus, and the sense
checks' labelled set when there is one. A failure here is a fact, not a sample."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.config import Settings
from app.content import read_yaml
from app.evals.cases import EvalCase
from app.evals.recording import CURRENT_TONE, Book, ToneTagging
from app.evals.runner import CaseRun, run_cases
from app.generation.trade import placeholder_values
from app.llm.client import LLMFailed

# A base URL nothing listens on: the service is built as for a remote model, which is never called.
NO_MODEL_URL = "http://127.0.0.1:9/v1"
_UNRENDERED = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}|\bNone\b|\bUndefined\b")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass
class Layer:
    name: str
    checked: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (stable key, detail)
    note: str = ""
    known: list[str] = field(default_factory=list)  # keys listed in the known-failures file

    @property
    def new(self) -> list[tuple[str, str]]:
        return [(k, d) for k, d in self.failures if k not in self.known]


def apply_known(layers: list[Layer], known: dict[str, list[str]]) -> list[str]:
    """Mark failures the known-failures file accepts; returns its entries that no longer fail."""
    fixed = []
    for layer in layers:
        listed = known.get(layer.name) or []
        keys = {k for k, _ in layer.failures}
        layer.known = [k for k in listed if k in keys]
        fixed += [f"{layer.name}: {k}" for k in listed if k not in keys]
    return fixed


class NoModel:
    """Keeps the prompts it is asked and answers nothing, so every variant is fallback copy."""

    model = "none (deterministic layers)"

    def __init__(self) -> None:
        self.book = Book()

    async def complete(self, messages, output, deadline, *, max_tokens: int = 300):  # noqa: ANN001
        from app.evals.recording import CURRENT_RUN

        run, tone = CURRENT_RUN.get(), CURRENT_TONE.get()
        if run and tone:
            self.book.add(run[0], run[1], tone, {}, messages)
        raise LLMFailed("deterministic layers: no model", [])


def fallback_layer(runs: list[CaseRun]) -> Layer:
    """Fallback copy must meet everything the case asks of copy, except not being fallback."""
    layer = Layer("fallback copy meets each case's assertions")
    for r in runs:
        layer.checked += 1
        if r.error:
            layer.failures.append((f"{r.case.id}: error", r.error))
        layer.failures += [
            (f"{r.case.id}: {a.name}", a.detail)
            for a in r.assertions
            if not a.passed and a.name != "not fallback"
        ]
    return layer


def prompt_problems(messages: list[dict[str, str]], expect: dict[str, Any]) -> list[str]:
    """What is wrong with one rendered prompt, against what the request says it must carry."""
    system, user = messages[0]["content"], messages[-1]["content"]
    both = system + "\n" + user
    out = [f"unrendered {m!r}" for m in sorted(set(_UNRENDERED.findall(both)))]
    offered = set(_PLACEHOLDER.findall(user))
    out += [f"placeholder {{{p}}} not offered" for p in expect["placeholders"] if p not in offered]
    out += [
        f"placeholder {{{p}}} offered but cannot be filled"
        for p in sorted(offered - set(expect["placeholders"]))
    ]
    out += [f"{f} limit {n} missing" for f, n in expect["limits"].items() if str(n) not in user]
    for what, text in (("tone", expect["tone"]), ("journey", expect["journey"]), ("brand", expect["brand"])):
        if text not in both:
            out.append(f"{what} text missing")
    out += [
        f"{what} leaked into the prompt"
        for what, value in expect["secrets"].items()
        if value and value in both
    ]
    return out


async def _expectations(service, case: EvalCase, tone: str) -> dict[str, Any]:
    req = case.generate_request("static")
    content, trade = service.content, await service.generator.resolve_trade(req)
    values = placeholder_values(trade, req.locale, content.formats, req.audience.name)
    spec = content.channels[req.channel]
    limits = {f: spec.limit(f, req.locale) for f in spec.fields()}
    limits["body"] = spec.body_budget(req.locale)
    undeclared = sorted(set(values) - set(content.placeholders))
    return {
        "placeholders": [n for n in content.placeholders if n in values],
        "undeclared": undeclared,
        "limits": limits,
        "tone": next(t.description[req.locale] for t in content.tones if t.name == tone),
        "journey": content.journeys[req.journey][req.locale],
        "brand": content.brand["name"][req.locale],
        "secrets": {"customer name": values.get("name"), "offer code": values.get("offer_code")},
    }


async def prompt_layer(service, cases: list[EvalCase], book: Book) -> Layer:
    layer = Layer("every case's prompts render whole")
    for case in cases:
        tones = book.prompts.get(case.id, {})
        if not tones:
            layer.failures.append((f"{case.id}: no prompt", "no prompt was rendered"))
        for tone, messages in tones.items():
            layer.checked += 1
            expect = await _expectations(service, case, tone)
            problems = prompt_problems(messages, expect)
            problems += [
                f"placeholder {{{p}}} filled but not in placeholders.yaml" for p in expect["undeclared"]
            ]
            layer.failures += [(f"{case.id}/{tone}: {p}", p) for p in problems]
    return layer


def corpus_layer(root: Path, corpus: str, targets: str, name: str) -> Layer:
    """Every check over a labelled corpus against its targets (recall per class, false positives)."""
    from app.evals.guardrail_corpus import evaluate

    layer = Layer(name)
    if not (root / corpus).exists():
        layer.note = f"skipped: no {corpus} yet"
        return layer
    report = evaluate(root, root / corpus)
    goal = read_yaml(root / targets)
    layer.checked = sum(c.samples for c in report.classes.values()) + report.clean
    layer.failures += [
        (f"{c.name} recall", f"{c.recall:.1%} < {goal['min_recall']:.0%} (missed {', '.join(c.missed[:5])})")
        for c in report.classes.values()
        if c.recall < goal["min_recall"]
    ]
    if report.false_positive_rate > goal["max_false_positive_rate"]:
        layer.failures.append((
            "false positives",
            f"{report.false_positive_rate:.1%} > {goal['max_false_positive_rate']:.0%} "
            f"({', '.join(report.flagged_clean[:5])})",
        ))  # fmt: skip
    return layer


def sense_layer(root: Path, limits: dict[str, float]) -> Layer:
    """The sense checks on their labelled set (issue 12): junk must not pass every check, and
    sendable copy must not be blocked, beyond the configured shares."""
    layer = Layer("sense checks' labelled set meets its targets")
    if not (root / "evals" / "sense" / "labelled.yaml").exists():
        layer.note = "skipped: no evals/sense/labelled.yaml"
        return layer
    from app.evals.sense_set import GATED_SPLITS, evaluate, load_set

    figures = evaluate(*load_set(root / "evals" / "sense"), splits=GATED_SPLITS)
    layer.checked = len(figures.junk) + len(figures.good)
    for key, part, whole, limit in (
        ("junk returned", figures.junk_returned, figures.junk, limits.get("max_junk_returned", 0.0)),
        ("sendable blocked", figures.good_blocked, figures.good, limits.get("max_sendable_blocked", 0.0)),
    ):
        share = len(part) / len(whole) if whole else 0.0
        if share > limit:
            ids = ", ".join(o.sample["id"] for o in part[:5])
            layer.failures.append((key, f"{len(part)}/{len(whole)} ({share:.1%}) > {limit:.0%}: {ids}"))
    from app.evals.sense_train import stale

    if why := stale():
        layer.failures.append(("reads_as_copy weights", why))
    return layer


def run_static_gate(settings: Settings, cases: list[EvalCase], config: dict[str, Any]) -> list[Layer]:
    """All layers; the service is built without a model and every model call fails at once."""
    from app.generation.service import build_service

    layers_config = config.get("static_gate", {})
    root = settings.content_dir

    async def go() -> tuple[Layer, Layer]:
        service = await asyncio.to_thread(build_service, replace(settings, llm_base_url=NO_MODEL_URL))
        try:
            no_model = NoModel()
            service.generator.drafter.llm = no_model
            service.generator.drafter = ToneTagging(service.generator.drafter)  # type: ignore[assignment]
            runs = await run_cases(service, cases, concurrency=4)
            return fallback_layer(runs), await prompt_layer(service, cases, no_model.book)
        finally:
            await service.aclose()

    layers = list(asyncio.run(go()))
    for name, spec in layers_config.get("corpora", {}).items():
        layers.append(corpus_layer(root, spec["corpus"], spec["targets"], name))
    if "sense_set" in layers_config:
        layers.append(sense_layer(root, layers_config["sense_set"]))
    return layers


def known_path(root: Path, config: dict[str, Any]) -> Path:
    return root / config.get("static_gate", {}).get("known_failures", "evals/static_known.yaml")


def write_known(path: Path, layers: list[Layer]) -> None:
    """Accept today's failures deliberately (like --update-baseline): the gate then fails on new ones."""
    import yaml

    header = (
        "# Failures of the deterministic layers accepted on purpose (copydesk eval --static\n"
        "# --update-known). The gate fails on any failure not listed here; fix the content and\n"
        "# delete its line. Keys: '<case>: <assertion>' or '<case>/<tone>: <problem>'.\n"
    )
    data = {layer.name: sorted({k for k, _ in layer.failures}) for layer in layers if layer.failures}
    path.write_text(header + yaml.safe_dump(data, allow_unicode=True, sort_keys=True), encoding="utf-8")
