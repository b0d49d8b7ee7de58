"""Runs the word and PII checks over the independent reference set (evals/guardrails/reference/,
built from public lists and third-party generators, not by the hands that wrote the checks): recall
by source and category, false positives on clean look-alikes, held-out lists reported apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.commerce.facts import ProductFacts, TradeFacts
from app.content import load_content, read_yaml
from app.guardrails import CheckContext, Copy, default_checks

REFERENCE = Path("evals") / "guardrails" / "reference"


@dataclass
class Cell:
    """One source x category: how many samples, how many the check got right."""

    source: str
    category: str
    held_out: bool
    samples: int = 0
    right: int = 0
    wrong: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.right / self.samples if self.samples else 1.0


@dataclass
class RefReport:
    recall: dict[tuple[str, str], Cell]  # violations: right = caught
    clean: dict[tuple[str, str], Cell]  # look-alikes: right = passed
    skipped: list[dict]

    def total(self, cells: dict[tuple[str, str], Cell], held_out: bool | None = None) -> tuple[int, int]:
        chosen = [c for c in cells.values() if held_out is None or c.held_out == held_out]
        return sum(c.right for c in chosen), sum(c.samples for c in chosen)

    @property
    def false_positive_rate(self) -> float:
        passed, n = self.total(self.clean)
        return (n - passed) / n if n else 0.0

    def by_category(self, held_out: bool = False) -> dict[str, tuple[int, int]]:
        """Recall per category over the lists the checks may draw on (or the held-out ones)."""
        out: dict[str, tuple[int, int]] = {}
        for c in self.recall.values():
            if c.held_out == held_out:
                right, n = out.get(c.category, (0, 0))
                out[c.category] = (right + c.right, n + c.samples)
        return out


def evaluate(root: Path) -> RefReport:
    content = load_content(root)
    checks = {c.name: c for c in default_checks(root / "guardrails")}
    raw = read_yaml(root / REFERENCE / "reference.yaml")
    spec = content.channels["inapp"]
    recall: dict[tuple[str, str], Cell] = {}
    clean: dict[tuple[str, str], Cell] = {}
    for s in raw["samples"]:
        product = ProductFacts(sku="REF", name=None, category=s.get("product_category", ""))
        ctx = CheckContext(spec, s["locale"], TradeFacts([product], None, True), {})
        copy = Copy(fields={"body": s["text"]}, template={"body": s["text"]})
        result = checks[s["check"]].run(copy, ctx)
        violation = s["kind"] == "violation"
        cells = recall if violation else clean
        key = (s["source"], s["category"])
        cell = cells.setdefault(key, Cell(s["source"], s["category"], bool(s.get("held_out"))))
        cell.samples += 1
        if result.passed != violation:
            cell.right += 1
        else:
            cell.wrong.append(f"{s['id']} [{s.get('evasion', '')}] {s['text']!r} {result.detail}")
    return RefReport(recall, clean, raw.get("skipped_terms", []))


def below_targets(report: RefReport, targets: dict) -> list[str]:
    """What fails CI: a category under min_recall on the lists the checks may draw on, or too many
    clean look-alikes flagged. Held-out lists are reported, not gated."""
    problems = [
        f"{cat} recall {right}/{n}"
        for cat, (right, n) in report.by_category(held_out=False).items()
        if n and right / n < targets["min_recall"]
    ]
    if report.false_positive_rate > targets["max_false_positive_rate"]:
        problems.append(f"false positives {report.false_positive_rate:.1%}")
    return problems
