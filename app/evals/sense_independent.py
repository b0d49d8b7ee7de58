"""Sendable copy nobody here wrote (evals/sense/independent/: real shop advertising and brand
e-mail lines from public sources) through the checks that can judge it: form and the sense checks
but on_topic, which cannot: the messages sell other shops' goods, not our product. Lengths,
claims and words are other checks' business.
    python -m app.evals.sense_independent [--show]"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.content import read_yaml
from app.evals.sense_set import SET_DIR, Outcome, evaluate

JUDGED = ("form", "prompt_echo", "meta_text", "fluency", "reads_as_copy")  # "is it a message" checks
# Each message is judged as the body of an SMS for one of our products, against the prompt that
# request would render; journeys and SKUs take turns so the prompts differ.
_JOURNEYS = ("welcome", "cart_abandon", "price_drop", "winback", "coupon_expiring", "low_stock")
_SKUS = {"zh-CN": ("SKU-1001", "SKU-2001", "SKU-3001", "SKU-4001", "SKU-5001")}


def file_samples(path: Path, split: str = "independent") -> list[dict]:
    """The messages of one file, each as the body of an SMS for one of our products."""
    doc = read_yaml(path)
    locale = doc["locale"]
    skus = _SKUS.get(locale, ("SKU-1001",))
    return [
        {
            "id": f"{path.stem}#{m['n']}",
            "origin": "independent",
            "prompt": None,
            "channel": "sms",
            "locale": locale,
            "journey": _JOURNEYS[i % len(_JOURNEYS)],
            "sku": skus[i % len(skus)],
            "fields": {"body": m["text"]},
            "label": "sendable",
            "split": split,
        }
        for i, m in enumerate(doc["messages"])
    ]


def samples(folder: Path = SET_DIR / "independent") -> list[dict]:
    return [s for path in sorted(folder.glob("*.yaml")) for s in file_samples(path)]


def blocked(outcome: Outcome) -> list[str]:
    return [name for name in outcome.any_failed if name in JUDGED]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--show", action="store_true", help="list each blocked message and why")
    args = ap.parse_args()
    figures = evaluate(samples(), {}, splits=("independent",))
    good = figures.good
    hits = [o for o in good if blocked(o)]
    share = len(hits) / len(good) if good else 0.0
    print(f"independent sendable copy: {len(good)} messages")
    print(f"  blocked by {' / '.join(JUDGED)}: {len(hits)}/{len(good)} ({share:.1%})")
    for name in JUDGED:
        print(f"  {name:13} blocks {sum(1 for o in good if name in blocked(o))}")
    for source in sorted({o.sample["id"].split("#")[0] for o in good}):
        part = [o for o in good if o.sample["id"].startswith(source + "#")]
        print(f"  {source}: {sum(1 for o in part if blocked(o))}/{len(part)} blocked")
    if args.show:
        for o in hits:
            detail = "; ".join(r.detail for r in o.results if r.name in blocked(o))
            print(f"  BLOCKED {o.sample['id']}: {o.sample['fields']['body']} -- {detail}")


if __name__ == "__main__":
    main()
