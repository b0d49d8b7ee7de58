"""The report's gate section, kept apart from report.py: what the gate could see (per assertion
kind), the replay's verdict, recorded answers marked stale and the rendered-prompt diff per case."""

from __future__ import annotations

import difflib
import html

from app.evals.gate import Verdict, evidence_table
from app.evals.replay_gate import ReplayVerdict


def _e(text: object) -> str:
    return html.escape("" if text is None else str(text))


def prompt_diff(old: list[dict[str, str]], new: list[dict[str, str]]) -> str:
    """Line diff of two rendered prompts (system and user), as the copywriter's change reads."""
    a = [f"[{m['role']}] {line}" for m in old for line in m["content"].splitlines()]
    b = [f"[{m['role']}] {line}" for m in new for line in m["content"].splitlines()]
    return "\n".join(difflib.unified_diff(a, b, "recorded with", "renders now", n=1, lineterm=""))


def _diff_html(diff: str) -> str:
    rows = []
    for line in diff.splitlines():
        cls = "add" if line.startswith("+") and not line.startswith("+++") else ""
        cls = "del" if line.startswith("-") and not line.startswith("---") else cls
        rows.append(f'<span class="{cls}">{_e(line)}</span>' if cls else _e(line))
    return "<pre class='pdiff'>" + "\n".join(rows) + "</pre>"


def gate_section(
    verdict: Verdict | None,
    replay: ReplayVerdict | None = None,
    recorded_prompts: dict[str, dict] | None = None,
    current_prompts: dict[str, dict] | None = None,
) -> str:
    style = (
        "<style>.pdiff{white-space:pre-wrap;font-size:12px;background:#f6f6f6;padding:6px}"
        ".pdiff .add{background:#dfd}.pdiff .del{background:#fdd}.stale{color:#a60;font-weight:bold}</style>"
    )
    parts = [style, "<section class='case' id='gate'><h2>Gate</h2>"]
    if verdict is not None:
        parts.append(f"<p>Verdict: <b>{_e(verdict.status)}</b></p>")
        rows = "".join(
            f"<tr>{''.join(f'<td>{_e(c)}</td>' for c in row)}</tr>" for row in evidence_table(verdict)
        )
        parts.append(
            "<table><tr><th>assertion kind (✗ dropped, ? run too small)</th><th>baseline</th><th>now</th>"
            f"<th>p</th><th>smallest detectable drop</th></tr>{rows}</table>"
        )
        parts += [f"<p class='fail'>{_e(r)}</p>" for r in verdict.reasons()]
        parts += [f"<p class='stale'>not enough evidence: {_e(b)}</p>" for b in verdict.blind]
    if replay is not None:
        parts.append(
            f"<p>Replay of recorded answers: <b>{_e(replay.status)}</b> ({replay.replayed} runs)</p>"
        )
        parts += [f"<p class='fail'>{_e(r)}</p>" for r in replay.reasons()]
        for case, tones in sorted(replay.stale.items()):
            parts.append(
                f"<h3 class='stale' id='stale-{_e(case)}'>stale: <a href='#{_e(case)}'>{_e(case)}</a></h3>"
            )
            for tone in tones:
                old = (recorded_prompts or {}).get(case, {}).get(tone)
                new = (current_prompts or {}).get(case, {}).get(tone)
                if old and new:
                    parts.append(f"<div class='meta'>{_e(tone)}</div>{_diff_html(prompt_diff(old, new))}")
    parts.append("</section>")
    return "".join(parts)


def with_gate_section(page: str, section: str) -> str:
    """Put the section at the top of the report's main part."""
    return page.replace("<main>", "<main>" + section, 1) if "<main>" in page else page + section
