"""Train the reads_as_copy classifier (app/guardrails/sense/classifier.py): logistic regression on
the copy's bag of subwords, junk against sendable copy, from the labelled set in evals/sense/.

What trains it is policy (`reads_as_copy.train_on` in guardrails/sense.yaml): the calibration and
heldout splits (real answers of the embedded model and hand-written copy), hand-written sendable
copy written for training, real English shop lines and the first draw of real Chinese shop SMS.
Never the test split, the blind split, the second Chinese draw or the English brand set: those
measure it. The threshold is set so that at most `max_good_blocked` of the sendable training copy
is blocked when each fold is scored by a model that did not see it (5-fold cross-validation).
Deterministic: the same data gives the same file.
    python -m app.evals.sense_train [--check]"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from app.config import REPO_ROOT
from app.content import read_yaml
from app.evals.sense_independent import file_samples
from app.evals.sense_set import SET_DIR, judged, load_set
from app.guardrails.sense.classifier import FEATURES, features

POLICY = REPO_ROOT / "guardrails" / "sense.yaml"
NUMBERS = ("weights", "bias", "threshold")  # fitted: compared within a tolerance, the rest exactly
MEASURES = ("test", "blind")  # splits that must never train it


def training_samples(policy_path: Path = POLICY, folder: Path = SET_DIR) -> list[dict]:
    train_on = read_yaml(policy_path)["reads_as_copy"]["train_on"]
    if set(train_on["splits"]) & set(MEASURES):
        raise ValueError(f"reads_as_copy.train_on names a measuring split: {train_on['splits']}")
    samples, _ = load_set(folder)
    chosen = [s for s in samples if s["split"] in train_on["splits"]]
    for name in train_on.get("samples", []):
        for i, s in enumerate(read_yaml(folder / name)["samples"]):
            chosen.append({**s, "id": f"train#{i}", "origin": "hand", "split": "train"})
    for name in train_on.get("messages", []):
        chosen += file_samples(folder / name, split=name.split("/")[0] if "/" in name else "train")
    return chosen


def matrix(samples: list[dict], prompts: dict, max_chars: int) -> tuple[np.ndarray, np.ndarray]:
    rows, labels = [], []
    for s, copy, ctx in judged(samples, prompts):
        rows.append(features(copy, ctx, max_chars))
        labels.append(0.0 if s["label"] == "sendable" else 1.0)
    return np.asarray(rows, dtype=np.float64), np.asarray(labels)


def fit(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method, each class weighing half."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    weight = np.where(y == 1, n / (2 * y.sum()), n / (2 * (n - y.sum())))
    penalty = l2 * np.r_[np.ones(d), 0.0]  # the bias is not penalised
    w = np.zeros(d + 1)
    for _ in range(100):
        p = 1 / (1 + np.exp(-(xb @ w)))
        grad = xb.T @ (weight * (p - y)) + penalty * w
        hess = (xb * (weight * p * (1 - p))[:, None]).T @ xb + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def cross_scores(x: np.ndarray, y: np.ndarray, l2: float, folds: int = 5) -> np.ndarray:
    """Each sample scored by a model trained on the other folds (folds fixed by position)."""
    fold = np.arange(len(y)) % folds
    out = np.zeros(len(y))
    for k in range(folds):
        w, b = fit(x[fold != k], y[fold != k], l2)
        out[fold == k] = x[fold == k] @ w + b
    return out


def threshold_for(good_scores: np.ndarray, max_blocked: float) -> float:
    """The lowest score that blocks at most `max_blocked` of the sendable copy."""
    ranked = np.sort(good_scores)[::-1]
    allowed = math.floor(max_blocked * len(ranked))
    return float(ranked[allowed]) if allowed < len(ranked) else float(ranked[-1])


def train(policy_path: Path = POLICY) -> dict:
    policy = read_yaml(policy_path)["reads_as_copy"]
    samples = training_samples(policy_path)
    _, prompts = load_set()
    x, y = matrix(samples, prompts, int(policy["max_field_chars"]))
    l2 = float(policy["l2"])
    cv = cross_scores(x, y, l2)
    threshold = threshold_for(cv[y == 0], float(policy["max_good_blocked"]))
    w, b = fit(x, y, l2)
    sources: dict[str, int] = {}
    for s in samples:
        key = f"{s['split']} {s['label']}"
        sources[key] = sources.get(key, 0) + 1
    return {
        "features": FEATURES,
        "trained_on": dict(sorted(sources.items())),
        "l2": l2,
        "cross_validated": {
            "sendable_blocked": int((cv[y == 0] > threshold).sum()),
            "sendable": int((y == 0).sum()),
            "junk_caught": int((cv[y == 1] > threshold).sum()),
            "junk": int((y == 1).sum()),
        },
        "threshold": round(threshold, 4),
        "bias": round(b, 6),
        "weights": [round(float(v), 6) for v in w],
    }


def model_path(policy_path: Path = POLICY) -> Path:
    return policy_path.parent / read_yaml(policy_path)["reads_as_copy"]["model"]


def stale(policy_path: Path = POLICY) -> str | None:
    """Why the committed weights are not what the labelled set and the policy give, or None."""
    path = model_path(policy_path)
    if not path.exists():
        return f"{path} is missing: run python -m app.evals.sense_train"
    committed, fresh = json.loads(path.read_text()), train(policy_path)
    exact = [k for k in fresh if k not in NUMBERS]
    # Another machine's BLAS may differ in the last digits of the fitted numbers.
    same = all(committed.get(k) == fresh[k] for k in exact) and all(
        np.allclose(committed[k], fresh[k], atol=1e-3) for k in NUMBERS
    )
    return None if same else f"{path} differs from what the labelled set gives: retrain (sense_train)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="fail if the weights are not what the data gives")
    args = ap.parse_args()
    if args.check:
        raise SystemExit(stale())
    out = model_path()
    model = train()
    cv = model["cross_validated"]
    print(f"trained on {model['trained_on']}")
    print(f"cross-validated: sendable blocked {cv['sendable_blocked']}/{cv['sendable']}, "
          f"junk caught {cv['junk_caught']}/{cv['junk']}; threshold {model['threshold']}")  # fmt: skip
    out.write_text(json.dumps(model, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
