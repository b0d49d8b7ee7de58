"""Summaries, the results JSON, the baseline comparison, and a self-contained HTML report."""

from __future__ import annotations

import difflib
import json
import re
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from app.evals.runner import CaseRun
from app.previews import CSS as PREVIEW_CSS
from app.previews import bars as _bars
from app.previews import esc as _e
from app.previews import render as _render

# Where report_gate.with_gate_section puts the gate's verdict: after the summary, before the copy.
GATE_SLOT = "<!--gate-->"


def _pct(values: list[float], q: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100)[q - 1]


def _score(runs: list[CaseRun]) -> float:
    """Share of all assertions that held: moves when a case gets better or worse without flipping."""
    held = sum(a.passed for r in runs for a in r.assertions)
    total = sum(len(r.assertions) or 1 for r in runs)  # a run that errored counts as one failure
    return round(held / max(1, total), 4)


def summarise(runs: list[CaseRun], prices: dict[str, float]) -> dict[str, Any]:
    variants = [v for r in runs if r.response for v in r.response["variants"]]
    sources = [v["source"] for v in variants]
    n = max(1, len(variants))
    prompt = sum(r.tokens[0] for r in runs)
    completion = sum(r.tokens[1] for r in runs)
    cost = (prompt * prices.get("input", 0) + completion * prices.get("output", 0)) / 1_000_000
    latencies = [r.latency_ms for r in runs]
    return {
        "cases": len(runs),
        "pass_rate": sum(r.passed for r in runs) / max(1, len(runs)),
        "assertion_score": _score(runs),
        "first_try_compliance": sources.count("llm") / n,
        "repair_rate": sources.count("repaired") / n,
        "fallback_rate": sources.count("fallback") / n,
        "latency_ms_p50": round(_pct(latencies, 50), 1),
        "latency_ms_p95": round(_pct(latencies, 95), 1),
        "tokens_per_message": round((prompt + completion) / n, 1),
        "cost_per_1000_messages": round(cost / n * 1000, 4),
    }


def by_group(runs: list[CaseRun], prices: dict[str, float]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[CaseRun]] = defaultdict(list)
    for r in runs:
        groups[f"{r.case.request['channel']} · {r.case.request['locale']}"].append(r)
    return {k: summarise(v, prices) for k, v in sorted(groups.items())}


def results_json(runs: list[CaseRun], summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": summary,
        "cases": [
            {
                "id": r.case.id,
                "repeat": r.repeat,
                "passed": r.passed,
                "error": r.error,
                "latency_ms": round(r.latency_ms, 1),
                "tokens": list(r.tokens),
                "assertions": [a.__dict__ for a in r.assertions],
                "response": r.response,
            }
            for r in runs
        ],
    }


def baseline_of(runs: list[CaseRun]) -> dict[str, Any]:
    """What the committed baseline keeps: per case, pass or fail and the variants' text."""
    out: dict[str, Any] = {}
    for r in runs:
        if r.repeat:
            continue
        variants = (r.response or {}).get("variants", [])
        out[r.case.id] = {
            "passed": r.passed,
            "assertions": [sum(a.passed for a in r.assertions), len(r.assertions) or 1],
            "variants": [{k: v[k] for k in ("tone", "source", "title", "body", "cta")} for v in variants],
        }
    return {"cases": out}


def compare(runs: list[CaseRun], baseline: dict[str, Any]) -> dict[str, Any]:
    old = baseline.get("cases", {})
    now = {r.case.id: r for r in runs if r.repeat == 0}
    common = [c for c in now if c in old]
    scored = [c for c in common if "assertions" in old[c]]  # baselines written before scores had none
    return {
        "newly_failing": [c for c in common if old[c]["passed"] and not now[c].passed],
        "newly_passing": [c for c in common if not old[c]["passed"] and now[c].passed],
        "new_cases": [c for c in now if c not in old],
        "baseline_pass_rate": sum(old[c]["passed"] for c in common) / len(common) if common else None,
        "pass_rate": sum(now[c].passed for c in common) / len(common) if common else None,
        "baseline_score": _ratio([old[c]["assertions"] for c in scored]) if scored else None,
        "score": _score([now[c] for c in scored]) if scored else None,
        "flaky": flaky_cases(runs),
    }


def _ratio(pairs: list[list[int]]) -> float:
    return round(sum(p for p, _ in pairs) / max(1, sum(t for _, t in pairs)), 4)


def flaky_cases(runs: list[CaseRun]) -> dict[str, str]:
    """Cases whose repeats disagree, as 'passed k of n'."""
    outcomes: dict[str, list[bool]] = defaultdict(list)
    for r in runs:
        outcomes[r.case.id].append(r.passed)
    return {c: f"passed {sum(o)} of {len(o)}" for c, o in outcomes.items() if 0 < sum(o) < len(o)}


# -- HTML ----------------------------------------------------------------------------------------
# The previews are shared with the library's review page (app/previews.py); the rest is the report's.
CSS = PREVIEW_CSS + (Path(__file__).parent / "report.css").read_text(encoding="utf-8")


_TOKENS = re.compile(r"[A-Za-z0-9'’]+|\s+|.", re.S)


def _diff(old: str, new: str) -> str:
    """The baseline's text with the struck words marked, then the new text with the added words
    marked: two readable lines (interleaved edits are unreadable in Chinese). Word by word for
    Latin text, character by character for Chinese."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    was, now = [], []
    for op, a1, a2, b1, b2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            was.append(_e("".join(a[a1:a2])))
            now.append(_e("".join(b[b1:b2])))
            continue
        if a2 > a1:
            was.append(f"<del>{_e(''.join(a[a1:a2]))}</del>")
        if b2 > b1:
            now.append(f"<ins>{_e(''.join(b[b1:b2]))}</ins>")
    return f'<div class="was">was: {"".join(was)}</div><div class="now">now: {"".join(now)}</div>'


def _attempts(attempts: list[dict], reason: str) -> str:
    """Why the variant has its source, and each model answer with what it broke."""
    if not attempts:
        return f'<div class="meta why">{_e(reason)}</div>' if reason else ""
    items = []
    for i, a in enumerate(attempts, 1):
        if "deterministic_repair" in a:
            cut = " | ".join(str(v) for v in a["deterministic_repair"].values())
            broke = a.get("violations") or []
            head = f"cut at a clause boundary{' — still failed' if broke else ' — passed'}"
            raw = cut
        else:
            raw = a["raw"] if isinstance(a.get("raw"), str) else "\n".join(a.get("raw") or [])
            broke = a.get("violations") or ([a["error"]] if a.get("error") else [])
            head = f"answer {i}" + (" — passed every check" if not broke else "")
        bad = "".join(f"<li>{_e(v)}</li>" for v in broke)
        items.append(
            f"<li><b>{_e(head)}</b><pre>{_e(raw)}</pre>{f'<ul class=bad>{bad}</ul>' if bad else ''}</li>"
        )
    return (
        f'<details class="attempts"><summary>{_e(reason or "model attempts")}</summary>'
        f"<ol>{''.join(items)}</ol></details>"
    )


def _text(v: dict) -> str:
    """Title, body and button label as one line, for the baseline diff."""
    return " | ".join(v[f] for f in ("title", "body", "cta") if v.get(f))


def _table(rows: dict[str, dict[str, Any]]) -> str:
    cols = ["cases", "pass_rate", "assertion_score", "first_try_compliance", "repair_rate", "fallback_rate",
            "latency_ms_p50", "latency_ms_p95", "tokens_per_message", "cost_per_1000_messages"]  # fmt: skip
    head = "".join(f"<th>{_e(c.replace('_', ' '))}</th>" for c in cols)
    body = ""
    for name, s in rows.items():
        cells = "".join(
            f"<td>{s[c]:.0%}</td>"
            if c.endswith(("rate", "score")) or c == "first_try_compliance"
            else f"<td>{_e(s[c])}</td>"
            for c in cols
        )
        body += f"<tr><td>{_e(name)}</td>{cells}</tr>"
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def render_html(
    runs: list[CaseRun], summary: dict, groups: dict, diff: dict, baseline: dict, channels: dict, model: str
) -> str:
    old = baseline.get("cases", {})
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>copydesk eval</title><style>{CSS}</style></head><body>"
    ]
    parts.append(
        f"<header><h1>copydesk eval · {_e(model)}</h1><div>{summary['cases']} runs · pass rate {summary['pass_rate']:.0%} · <a href='performance.html' style='color:inherit'>performance per arm</a> (copydesk report performance)</div></header><main>"
    )
    parts.append("<h2>Summary</h2>" + _table({"all": summary, **groups}))
    if diff.get("baseline_pass_rate") is not None:
        parts.append(
            f"<p>Against the baseline: pass rate {diff['baseline_pass_rate']:.0%} → {diff['pass_rate']:.0%}; "
            f"newly failing: <b class='fail'>{_e(', '.join(diff['newly_failing']) or 'none')}</b>; "
            f"newly passing: <b class='pass'>{_e(', '.join(diff['newly_passing']) or 'none')}</b>"
            + (
                f"; assertions held {diff['baseline_score']:.0%} → {diff['score']:.0%}"
                if diff.get("score") is not None
                else ""
            )
            + "</p>"
        )
    parts.append(GATE_SLOT)  # the gate's one line, when there is a gate (report_gate.py)
    if diff.get("flaky"):
        items = "".join(f"<li><a href='#{_e(c)}'>{_e(c)}</a>: {_e(t)}</li>" for c, t in diff["flaky"].items())
        parts.append(f"<h3>Flaky across repeats</h3><ul>{items}</ul>")
    for r in sorted(runs, key=lambda r: (r.passed, r.case.id, r.repeat)):
        req = r.case.request
        spec = channels[req["channel"]]
        failing = [a for a in r.assertions if not a.passed]
        status = '<b class="pass">pass</b>' if r.passed else '<b class="fail">fail</b>'
        if failing:
            status += " · " + ", ".join(f'<span class="fail">{_e(a.name)}</span>' for a in failing)
        parts.append(f'<section class="case" id="{_e(r.case.id)}"><h2>{status} · {_e(r.case.id)}'
                     f'{" · repeat " + str(r.repeat) if r.repeat else ""}</h2>'
                     f'<div class="meta">{_e(r.case.description)} · {r.latency_ms:.0f} ms · tokens {r.tokens[0]}+{r.tokens[1]}</div>')  # fmt: skip
        if r.error:
            parts.append(f'<div class="fail">{_e(r.error)}</div></section>')
            continue
        parts.append("".join(f'<div class="failed">{_e(a.name)}: {_e(a.detail)}</div>' for a in failing))
        parts.append("<div>" + "".join(
            f'<span class="badge{"" if a.passed else " bad"}" title="{_e(a.detail)}">{_e(a.name)}</span>' for a in r.assertions
        ) + "</div><div class='variants'>")  # fmt: skip
        before = {v["tone"]: v for v in old.get(r.case.id, {}).get("variants", [])}
        for i, v in enumerate(r.response["variants"]):
            tried = r.attempts[i] if i < len(r.attempts) else []
            badges = "".join(
                f'<span class="badge{"" if c["passed"] else " bad"}" title="{_e(c["detail"])}">{_e(c["name"])}</span>'
                for c in v["checks"]
            )
            was = before.get(v["tone"])
            change = ""
            if was and _text(was) != _text(v):
                change = f'<div class="meta diff">changed since baseline:{_diff(_text(was), _text(v))}</div>'
            how = f" ({_e(v['repair'])})" if v.get("repair") else ""
            parts.append(f'<div class="variant"><div class="meta">{_e(v["variant_id"][-1])} · {_e(v["tone"])} · '
                         f'<b>{_e(v["source"])}</b>{how}</div>{_render(v, spec, req["locale"])}{_bars(v, spec, req["locale"])}'
                         f"<div>{badges}</div>{_attempts(tried, v.get('source_reason', ''))}{change}</div>")  # fmt: skip
        parts.append("</div>")
        if r.snippets:
            items = "".join(f"<li><code>{_e(i)}</code> {_e(t)}</li>" for i, t in r.snippets.items())
            parts.append(
                f'<details><summary>facts and reviews the copy drew on</summary><ul class="snip">{items}</ul></details>'
            )
        parts.append("</section>")
    parts.append("</main></body></html>")
    return "".join(parts)


def write(out_dir: Path, results: dict, page: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))
    (out_dir / "report.html").write_text(page)
    return out_dir / "results.json", out_dir / "report.html"
