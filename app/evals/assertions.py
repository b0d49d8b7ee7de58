"""Deterministic assertions on one case's response."""

from __future__ import annotations

from dataclasses import dataclass

from app.evals.cases import EvalCase
from app.placeholders import fill


@dataclass(frozen=True)
class Assertion:
    name: str
    passed: bool
    detail: str


def assert_case(case: EvalCase, response: dict, values: dict[str, str]) -> list[Assertion]:
    e = case.expect
    variants = response["variants"]
    out: list[Assertion] = []

    def add(name: str, failures: list[str], ok: str = "ok") -> None:
        out.append(Assertion(name, not failures, "; ".join(failures) or ok))

    if e.no_violations:
        add(
            "no violations",
            [f"{v['variant_id'][-1]}: {c['name']}" for v in variants for c in v["checks"] if not c["passed"]],
        )
    if e.not_fallback:
        add(
            "not fallback",
            [f"{v['variant_id'][-1]} is fallback" for v in variants if v["source"] == "fallback"],
        )
    if e.offer_untouched:
        wanted = case.request.get("offer_id")
        add(
            "offer untouched",
            [f"{v['variant_id'][-1]}: {v['offer_id']}" for v in variants if v["offer_id"] != wanted],
        )
    text = {v["variant_id"]: " ".join(filter(None, (v["title"], v["body"], v["cta"]))) for v in variants}
    if e.mentions_any:
        wanted = [fill(m, values) for m in e.mentions_any if "{" not in fill(m, values)]
        misses = [
            f"{vid[-1]} mentions none of {wanted}"
            for vid, t in text.items()
            if wanted and not any(w.lower() in t.lower() for w in wanted)
        ]
        add("mentions the product or offer", misses)
    if e.must_not_mention:
        hits = [
            f"{vid[-1]} mentions “{w}”"
            for vid, t in text.items()
            for w in e.must_not_mention
            if w.lower() in t.lower()
        ]
        add("must not mention", hits)
    for field, budget in e.max_chars.items():
        add(
            f"{field} ≤ {budget}",
            [
                f"{v['variant_id'][-1]}: {len(v[field] or '')}"
                for v in variants
                if len(v[field] or "") > budget
            ],
        )
    for tone, markers in e.tone_markers.items():
        misses = [
            f"{v['variant_id'][-1]} ({tone}) has none of {markers}"
            for v in variants
            if v["tone"] == tone and not any(m.lower() in text[v["variant_id"]].lower() for m in markers)
        ]
        add(f"{tone} tone markers", misses)
    return out
