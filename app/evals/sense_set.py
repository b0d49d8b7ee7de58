"""The sense checks on the labelled set in evals/sense/: real model answers and hand-written copy,
each labelled sendable or junk by the rules in evals/sense/README.md. Reports, per split, the
share of junk that every check lets through (returned as model copy) and of sendable copy the
sense checks block. Splits: calibration (thresholds are chosen on it), test, heldout (a second
collection, measured once blind, now training data of reads_as_copy) and blind (a third,
labelled by reading before any check ran on it; never trained or tuned on).
    python -m app.evals.sense_set [--split heldout] [--show]"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from app.commerce.catalog import load_catalog
from app.config import REPO_ROOT
from app.content import Content, load_content, read_yaml
from app.evals.guardrail_corpus import trade_for
from app.generation.assemble import assemble
from app.generation.inputs import FACTS_PER_PRODUCT
from app.generation.prompts import PromptBook, PromptInput
from app.generation.trade import placeholder_values
from app.guardrails import CheckContext, CheckResult, default_checks, run_checks

SENSE = ("prompt_echo", "meta_text", "on_topic", "fluency", "reads_as_copy")
SPLITS = ("calibration", "test", "heldout", "blind")
GATED_SPLITS = ("calibration", "test")  # the static gate's; heldout and blind stay out of it
SET_DIR = REPO_ROOT / "evals" / "sense"
_AUDIENCE = {"segment": "warm", "interests": [], "price_sensitivity": None, "cs_topic": None}
_REVIEW = re.compile(r"<review>(.*?)</review>", re.S)


@dataclass
class Outcome:
    sample: dict
    results: list[CheckResult]

    @property
    def sense_failed(self) -> list[str]:
        return [r.name for r in self.results if not r.passed and r.name in SENSE]

    @property
    def any_failed(self) -> list[str]:
        return [r.name for r in self.results if not r.passed]


@dataclass
class Figures:
    junk: list[Outcome] = field(default_factory=list)
    good: list[Outcome] = field(default_factory=list)

    @property
    def junk_returned(self) -> list[Outcome]:
        """Junk that passes every check: it would leave the service as model copy."""
        return [o for o in self.junk if not o.any_failed]

    @property
    def good_blocked(self) -> list[Outcome]:
        """Sendable copy a sense check blocks (other checks judge length, claims, words)."""
        return [o for o in self.good if o.sense_failed]


def load_set(folder: Path = SET_DIR) -> tuple[list[dict], dict[str, list[dict]]]:
    samples = read_yaml(folder / "labelled.yaml")["samples"]
    prompts = json.loads((folder / "prompts.json").read_text())
    return samples, prompts


def _prompt_for(sample: dict, content: Content, book: PromptBook, trade, values) -> str:
    """A hand-written sample is judged against the prompt the request would have rendered."""
    p = trade.products[0]
    messages = book.render(
        PromptInput(
            channel=sample["channel"], locale=sample["locale"], journey=sample["journey"],
            tone=content.tones[0].name, audience=_AUDIENCE,
            products=[{"name": p.name, "facts": p.facts[:FACTS_PER_PRODUCT]}],
            offer_terms=trade.offer.terms_for(sample["locale"]) if trade.offer else None,
            reviews=[], placeholders=[n for n in content.placeholders if n in values], violations=[],
        )
    )  # fmt: skip
    return "\n".join(m["content"] for m in messages)


def judged(samples: list[dict], prompts: dict[str, list[dict]], content: Content | None = None):
    """Each sample as the checks see it: (sample, the copy as assembled, its check context), with
    the prompt that produced it (a hand-written sample: the prompt its request would render)."""
    content = content or load_content(REPO_ROOT)
    catalog = load_catalog(REPO_ROOT / "knowledge")
    book = PromptBook(content)
    for s in samples:
        locale, spec = s["locale"], content.channels[s["channel"]]
        trade = trade_for(s, catalog, locale)
        values = placeholder_values(trade, locale, content.formats, s.get("name"))
        if s.get("prompt"):
            prompt = "\n".join(m["content"] for m in prompts[s["prompt"]])
        else:
            prompt = _prompt_for(s, content, book, trade, values)
        p = trade.products[0]
        grounding = tuple(t for t in (p.name, *p.facts) if t)
        if trade.offer is not None:
            grounding += (trade.offer.terms_for(locale),)
        reviews = tuple(r.strip() for r in _REVIEW.findall(prompt))
        ctx = CheckContext(spec, locale, trade, values, prompt, grounding, s["journey"], reviews)
        fields = {f: s["fields"].get(f) or "" for f in spec.fields()}
        yield s, assemble(fields, spec, locale, values), ctx


def evaluate(
    samples: list[dict],
    prompts: dict[str, list[dict]],
    split: str | None = None,
    splits: tuple[str, ...] = SPLITS,
) -> Figures:
    checks = default_checks(REPO_ROOT / "guardrails")
    figures = Figures()
    chosen = [s for s in samples if s["split"] in splits and (not split or s["split"] == split)]
    for s, copy, ctx in judged(chosen, prompts):
        outcome = Outcome(s, run_checks(checks, copy, ctx))
        (figures.good if s["label"] == "sendable" else figures.junk).append(outcome)
    return figures


def _share(part: list, whole: list) -> str:
    return f"{len(part)}/{len(whole)} ({len(part) / len(whole):.1%})" if whole else "0/0"


def summary(figures: Figures, title: str) -> list[str]:
    model_junk = [o for o in figures.junk if o.sample["origin"] == "model"]
    model_good = [o for o in figures.good if o.sample["origin"] == "model"]
    lines = [
        f"{title}: {len(figures.junk)} junk, {len(figures.good)} sendable "
        f"({len(model_junk)} / {len(model_good)} from the model)",
        f"  junk returned as model copy (passes every check): {_share(figures.junk_returned, figures.junk)}"
        f"; model answers only {_share([o for o in figures.junk_returned if o in model_junk], model_junk)}",
        f"  sendable copy blocked by a sense check: {_share(figures.good_blocked, figures.good)}"
        f"; model answers only {_share([o for o in figures.good_blocked if o in model_good], model_good)}",
    ]
    for name in SENSE:
        caught = [o for o in figures.junk if name in o.sense_failed]
        blocked = [o for o in figures.good if name in o.sense_failed]
        lines.append(
            f"  {name:12} catches {_share(caught, figures.junk)} of junk, blocks {len(blocked)} sendable"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--split", choices=SPLITS, help="one split (default: each)")
    ap.add_argument("--show", action="store_true", help="list each miss and each block")
    args = ap.parse_args()
    samples, prompts = load_set()
    present = {s["split"] for s in samples}
    for split in [args.split] if args.split else [s for s in SPLITS if s in present]:
        figures = evaluate(samples, prompts, split)
        print("\n".join(summary(figures, split)))
        if args.show:
            for o in figures.junk_returned:
                print(f"  MISSED junk {o.sample['id']} ({o.sample.get('why')}): {o.sample['fields']}")
            for o in figures.good_blocked:
                detail = "; ".join(r.detail for r in o.results if r.name in o.sense_failed)
                print(f"  BLOCKED {o.sample['id']}: {o.sample['fields']} -- {detail}")


if __name__ == "__main__":
    main()
