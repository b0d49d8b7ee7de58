"""Build evals/sense/labelled.yaml and prompts.json from the collected model answers
(collected/raw_calls.jsonl + raw_prompts.json, see collect.py), their labels (labels.yaml) and
the hand-written samples (hand.yaml). Each sample goes to the calibration or the test part by a
hash of its text (about half each); hand-written junk goes to the test part only.

A second collection with another seed (collected_heldout/, labelled blind in
labels_heldout.yaml) is the `heldout` split: measured once blind, then (stop 18) training data of
the reads_as_copy classifier. A third (collected_blind/, seed 53, labels_blind.yaml) is the `blind`
split: labelled by reading before any check ran on it, never trained or tuned on. An answer
whose fields already occur in an earlier collection is left out of a later one.

    python evals/sense/build.py            # writes labelled.yaml and prompts.json
    python evals/sense/build.py --unlabelled   # prints the answers that still need a label
    python evals/sense/build.py --unlabelled --heldout   # ... of the held-out collection
    python evals/sense/build.py --unlabelled --blind     # ... of the blind collection
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import yaml

HERE = Path(__file__).parent
REASK_MARKS = ("Your previous answer was rejected", "你上一次的回答未通过检查")


def _id(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:10]


def _split(key: str) -> str:
    return "test" if int(hashlib.sha1(key.encode()).hexdigest(), 16) % 2 else "calibration"


COLLECTIONS = {
    "collected": "labels.yaml",
    "collected_heldout": "labels_heldout.yaml",
    "collected_blind": "labels_blind.yaml",
}


def collected(folder: str = "collected") -> list[dict]:
    """Model answers with their request, deduplicated on (prompt, fields)."""
    if not (HERE / folder / "raw_calls.jsonl").exists():
        return []
    prompts = json.loads((HERE / folder / "raw_prompts.json").read_text())
    out, seen = [], set()
    for line in (HERE / folder / "raw_calls.jsonl").read_text().splitlines():
        call = json.loads(line)
        if "fields" not in call:
            continue  # no parsable answer: nothing the checks would see
        fields = {k: v for k, v in call["fields"].items() if v is not None}
        key = json.dumps([call["prompt"], fields], ensure_ascii=False, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        req = call["request"]
        out.append(
            {
                "id": "m" + _id(key),
                "origin": "model",
                "channel": req["channel"],
                "locale": req["locale"],
                "journey": req["journey"],
                "sku": req["skus"][0],
                "offer_id": req.get("offer_id"),
                "prompt": call["prompt"],
                "reask": any(mark in m["content"] for m in prompts[call["prompt"]] for mark in REASK_MARKS),
                "fields": fields,
            }
        )
    return out


def _labels(name: str) -> dict[str, str]:
    return (yaml.safe_load((HERE / name).read_text()) or {}) if (HERE / name).exists() else {}


def _fields_key(fields: dict) -> str:
    return json.dumps({k: v for k, v in fields.items() if v}, ensure_ascii=False, sort_keys=True)


def heldout() -> list[dict]:
    """The second collection's answers that the first collection never produced."""
    known = {_fields_key(s["fields"]) for s in collected()}
    return [s for s in collected("collected_heldout") if _fields_key(s["fields"]) not in known]


def blind() -> list[dict]:
    """The third collection's answers that neither earlier collection produced."""
    known = {_fields_key(s["fields"]) for s in collected() + collected("collected_heldout")}
    return [s for s in collected("collected_blind") if _fields_key(s["fields"]) not in known]


def _labelled(answers: list[dict], labels: dict[str, str], split) -> list[dict]:
    """The answers that have a label, with label, why and split (`split(id)`) filled in."""
    out = []
    for s in answers:
        if s["id"] in labels:
            label = labels[s["id"]]
            s["label"], s["why"] = ("sendable", None) if label == "ok" else ("junk", label)
            s["split"] = split(s["id"])
            out.append(s)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--unlabelled", action="store_true")
    ap.add_argument("--heldout", action="store_true", help="with --unlabelled: the held-out collection")
    ap.add_argument("--blind", action="store_true", help="with --unlabelled: the blind collection")
    args = ap.parse_args()
    labels = _labels("labels.yaml")
    held_labels = _labels("labels_heldout.yaml")
    model = collected()
    if args.unlabelled:
        if args.heldout:
            model, labels = heldout(), held_labels
        if args.blind:
            model, labels = blind(), _labels("labels_blind.yaml")
        for s in model:
            if s["id"] not in labels:
                print(
                    s["id"],
                    s["channel"],
                    s["locale"],
                    s["journey"],
                    json.dumps(s["fields"], ensure_ascii=False),
                )
        return
    samples = [
        *_labelled(model, labels, _split),
        *_labelled(heldout(), held_labels, lambda _id: "heldout"),
        *_labelled(blind(), _labels("labels_blind.yaml"), lambda _id: "blind"),
    ]
    for i, s in enumerate(yaml.safe_load((HERE / "hand.yaml").read_text())["samples"]):
        key = json.dumps(s["fields"], ensure_ascii=False, sort_keys=True)
        s = {"id": f"h{i:03d}", "origin": "hand", "prompt": None, **s}
        s["split"] = "test" if s["label"] == "junk" else _split(key)
        samples.append(s)
    raw_prompts = {}
    for folder in COLLECTIONS:
        if (HERE / folder / "raw_prompts.json").exists():
            raw_prompts.update(json.loads((HERE / folder / "raw_prompts.json").read_text()))
    used = {s["prompt"] for s in samples if s.get("prompt")}
    (HERE / "prompts.json").write_text(
        json.dumps({k: raw_prompts[k] for k in sorted(used)}, ensure_ascii=False, indent=0)
    )
    head = "# Generated by evals/sense/build.py from collected/, labels.yaml and hand.yaml; do not edit.\n"
    body = yaml.safe_dump({"samples": samples}, allow_unicode=True, sort_keys=False, width=120)
    (HERE / "labelled.yaml").write_text(head + body)
    counts: dict[tuple, int] = {}
    for s in samples:
        key = (s["split"], s["origin"], s["label"])
        counts[key] = counts.get(key, 0) + 1
    for key in sorted(counts):
        print(*key, counts[key])


if __name__ == "__main__":
    main()
