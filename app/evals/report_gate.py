"""The report's gate section, kept apart from report.py: the verdict in one line after the summary;
behind a disclosure, what the gate could see (per assertion kind), the replay's reasons, recorded
answers marked stale and the rendered-prompt diff per case."""

from __future__ import annotations

import difflib
import html

from app.evals.gate import Verdict, evidence_table
from app.evals.replay_gate import ReplayVerdict
from app.evals.report import GATE_SLOT


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
    """The gate's verdict in one line; the statistics behind it in a disclosure, open when it failed."""
    if verdict is None and replay is None:
        return ""
    line, failed, body = [], False, []
    if verdict is not None:
        reasons = verdict.reasons()
        failed = failed or bool(reasons)
        line.append(
            f"Verdict: <b>{_e(verdict.status)}</b>" + (f" ({len(reasons)} reasons)" if reasons else "")
        )
        rows = "".join(
            f"<tr>{''.join(f'<td>{_e(c)}</td>' for c in row)}</tr>" for row in evidence_table(verdict)
        )
        body.append(
            "<table><tr><th>assertion kind (✗ dropped, ? run too small)</th><th>baseline</th><th>now</th>"
            f"<th>p</th><th>smallest detectable drop</th></tr>{rows}</table>"
        )
        body += [f"<p class='fail'>{_e(r)}</p>" for r in reasons]
        body += [f"<p class='stale'>not enough evidence: {_e(b)}</p>" for b in verdict.blind]
    if replay is not None:
        reasons = replay.reasons()
        failed = failed or bool(reasons)
        stale = f", {len(replay.stale)} stale" if replay.stale else ""
        line.append(f"replay of recorded answers: <b>{_e(replay.status)}</b> ({replay.replayed} runs{stale})")
        body += [f"<p class='fail'>{_e(r)}</p>" for r in reasons]
        for case, tones in sorted(replay.stale.items()):
            body.append(
                f"<h3 class='stale' id='stale-{_e(case)}'>stale: <a href='#{_e(case)}'>{_e(case)}</a></h3>"
            )
            for tone in tones:
                old = (recorded_prompts or {}).get(case, {}).get(tone)
                new = (current_prompts or {}).get(case, {}).get(tone)
                if old and new:
                    body.append(f"<div class='meta'>{_e(tone)}</div>{_diff_html(prompt_diff(old, new))}")
    status = "fail" if failed else ""
    return (
        f"<section class='gate' id='gate'><p class='verdict {status}'>Gate · {' · '.join(line)}</p>"
        f"<details{' open' if failed else ''}><summary>the statistics behind the verdict</summary>"
        f"{''.join(body)}</details></section>"
    )


def with_gate_section(page: str, section: str) -> str:
    """Put the gate's line after the summary, before the copy (GATE_SLOT in report.py)."""
    for slot in (GATE_SLOT, "<main>"):
        if slot in page:
            return page.replace(slot, (slot if slot == "<main>" else "") + section, 1)
    return page + section
