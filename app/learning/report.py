"""`copydesk report performance`: one self-contained HTML page (inline CSS and SVG, no script, no
network) per database: for each context its arms' rates with 95 % intervals, sends over time,
weights over time, and what the allocation changed and why."""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from app.learning.performance import Filters, performance
from app.learning.policy import AllocationPolicy
from app.learning.store import LearningStore

COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04")
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1f2937;background:#f8fafc}
header{background:#111827;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
main{padding:8px 24px 40px}section.context{background:#fff;border:1px solid #e5e7eb;border-radius:8px;
padding:12px 16px;margin:16px 0}h2{font-size:16px;margin:4px 0 8px}h3{font-size:13px;margin:12px 0 4px;
color:#4b5563;text-transform:uppercase;letter-spacing:.04em}.charts{display:flex;flex-wrap:wrap;gap:16px}
table{border-collapse:collapse;font-size:12px}td,th{border-bottom:1px solid #e5e7eb;padding:3px 8px;text-align:left}
.flag{color:#b91c1c;font-weight:600}.muted{color:#6b7280}svg text{font:11px system-ui,sans-serif}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.2f} %"


def rates_chart(arms: list[dict], goal: str, colours: dict[str, str]) -> str:
    """Each arm's goal rate as a bar with its 95 % interval as a whisker."""
    row, left, width = 30, 190, 360
    rated = [(a, a["rates"].get(goal)) for a in arms]
    top = max([r["high"] for _, r in rated if r] + [0.001])
    scale = width / (top * 1.1)
    height = row * len(arms) + 24
    parts = [f'<svg class="rates" role="img" aria-label="{_e(goal)} rate per arm" width="{left + width + 90}" '
             f'height="{height}" viewBox="0 0 {left + width + 90} {height}">']  # fmt: skip
    for i, (arm, r) in enumerate(rated):
        y = 8 + i * row
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{_e(arm["arm"][:28])}</text>')
        if r is None:
            parts.append(f'<text x="{left + 4}" y="{y + 14}" class="muted">no sends</text>')
            continue
        colour = colours[arm["arm"]]
        parts.append(f'<rect class="bar" x="{left}" y="{y + 3}" width="{r["rate"] * scale:.1f}" height="16" '
                     f'fill="{colour}" opacity=".75"><title>{_pct(r["rate"])}</title></rect>')  # fmt: skip
        lo, hi = left + r["low"] * scale, left + r["high"] * scale
        parts.append(f'<line class="interval" x1="{lo:.1f}" x2="{hi:.1f}" y1="{y + 11}" y2="{y + 11}" '
                     f'stroke="#111827" stroke-width="1.5"/>')  # fmt: skip
        for x in (lo, hi):
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 5}" y2="{y + 17}" stroke="#111827"/>')
        parts.append(f'<text x="{left + width + 6}" y="{y + 14}">{_pct(r["rate"])}</text>')
    axis = height - 8
    parts.append(f'<line x1="{left}" x2="{left + width}" y1="{axis}" y2="{axis}" stroke="#9ca3af"/>')
    parts.append(
        f'<text x="{left + width}" y="{axis - 2}" text-anchor="end" class="muted">{_pct(top * 1.1)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def lines_chart(label: str, css: str, series: dict[str, list[tuple[float, float]]], colours: dict[str, str],
                y_max: float | None = None, steps: bool = False) -> str:  # fmt: skip
    """One line per arm over time (x: Unix seconds or day index), for sends and weights."""
    w, h, pad = 420, 170, 34
    points = [p for s in series.values() for p in s]
    if not points:
        return f'<svg class="{css}" width="{w}" height="40"><text x="4" y="20" class="muted">no {_e(label)} yet</text></svg>'
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    top = y_max if y_max is not None else max(p[1] for p in points) or 1.0
    span = (x1 - x0) or 1.0

    def xy(x: float, y: float) -> str:
        return f"{pad + (x - x0) / span * (w - 2 * pad):.1f},{h - pad - y / top * (h - 2 * pad):.1f}"

    parts = [f'<svg class="{css}" role="img" aria-label="{_e(label)}" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
             f'<line x1="{pad}" x2="{w - pad}" y1="{h - pad}" y2="{h - pad}" stroke="#9ca3af"/>',
             f'<line x1="{pad}" x2="{pad}" y1="{pad}" y2="{h - pad}" stroke="#9ca3af"/>',
             f'<text x="{pad - 4}" y="{pad + 4}" text-anchor="end" class="muted">{top:g}</text>']  # fmt: skip
    for arm, pts in series.items():
        pts = sorted(pts)
        if steps:  # weights hold until the next change
            held = []
            for (xa, ya), (xb, _) in zip(pts, pts[1:], strict=False):
                held += [(xa, ya), (xb, ya)]
            pts = held + pts[-1:]
        coords = " ".join(xy(x, y) for x, y in pts)
        parts.append(f'<polyline fill="none" stroke="{colours[arm]}" stroke-width="2" points="{coords}">'
                     f"<title>{_e(arm)}</title></polyline>")  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def render(store: LearningStore, policy: AllocationPolicy, filters: Filters | None = None) -> str:
    """The page for every client's contexts (the CLI reads the database as an operator)."""
    filters = filters or Filters()
    data = performance(store, policy, None, filters)
    daily: dict[tuple, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for c, j, ch, lo, s, arm, day, kind, n, _ in store.daily(None, filters.stored(), filters.since_day):
        if kind == "sent":
            daily[(c, j, ch, lo, s)][arm][day] = int(n)
    log: dict[tuple[str, str], list] = defaultdict(list)
    for c, key, at, version, decision, reason in store.allocation_log(None):
        log[(c, key)].append((at, version, decision, reason))
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>copydesk performance</title>"
             f"<style>{CSS}</style></head><body><header><h1>copydesk performance</h1>"
             f"<div>goal: {_e(data['goal'])} · policy {_e(data['policy_version'])} · {len(data['contexts'])} "
             f"contexts · {now}</div></header><main>"]  # fmt: skip
    if not data["contexts"]:
        parts.append("<p class='muted'>No outcome events yet: post them to <code>POST /v1/events</code>.</p>")
    for ctx in data["contexts"]:
        parts.append(_context_section(ctx, data["goal"], daily, log, policy))
    parts.append("</main></body></html>")
    return "".join(parts)


def _context_section(ctx: dict, goal: str, daily: dict, log: dict, policy: AllocationPolicy) -> str:
    segment = ctx["segment"] or ""
    key = "/".join((ctx["journey"], ctx["channel"], ctx["locale"], ctx["segment"] or "*"))
    arms = ctx["arms"]
    names = [a["arm"] for a in arms]
    history = log.get((ctx["client"], key), [])
    for _, _, decision, _ in history:
        names += [a for a in decision.get("arms", []) if a not in names]
    colours = {a: COLOURS[i % len(COLOURS)] for i, a in enumerate(names)}
    sends = daily.get((ctx["client"], ctx["journey"], ctx["channel"], ctx["locale"], segment), {})
    days = sorted({d for per in sends.values() for d in per})
    send_series = {a: [(float(days.index(d)), float(n)) for d, n in per.items()] for a, per in sends.items()
                   if a in colours}  # fmt: skip
    weight_series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for at, _, decision, _ in history:
        for arm, w in zip(decision.get("arms", []), decision.get("weights", []), strict=False):
            weight_series[arm].append((at, w))
    legend = " ".join(f'<span style="color:{colours[a]}">■</span> {_e(a)}' for a in names)
    title = f"{ctx['journey']} · {ctx['channel']} · {ctx['locale']} · {ctx['segment'] or 'no segment'}"
    out = [f'<section class="context"><h2>{_e(title)} <span class="muted">· client {_e(ctx["client"])} · '
           f'{ctx["baseline"]["sends"]} sends</span></h2><div>{legend}</div><div class="charts">'
           f'<div><h3>{_e(goal)} rate per send, 95 % interval</h3>{rates_chart(arms, goal, colours)}</div>'
           f'<div><h3>sends per day</h3>{lines_chart("sends", "sends", send_series, colours)}</div>'
           f'<div><h3>weights over time</h3>{lines_chart("weights", "weights", weight_series, colours, 1.0, True)}'
           "</div></div>"]  # fmt: skip
    out.append("<h3>arms</h3><table><tr><th>arm</th><th>sends</th><th>clicked</th><th>converted</th>"
               "<th>unsubscribed</th><th>P(best)</th><th>weight</th><th>guard</th></tr>")  # fmt: skip
    for a in arms:
        r = {k: (v or {}).get("rate") for k, v in a["rates"].items()}
        flagged = [k for k, g in a["guard"].items()  # the guard's own probability, per event type
                   if k in policy.guard and (g["p_above_baseline"] or 0) >= policy.guard[k].probability]  # fmt: skip
        weight = "–" if a["weight"] is None else f"{a['weight']:.2f}"
        guard = _e(", ".join(k + " above baseline" for k in flagged))
        out.append(f"<tr><td>{_e(a['arm'])}</td><td>{a['counts']['sent']}</td><td>{_pct(r['clicked'])}</td>"
                   f"<td>{_pct(r['converted'])}</td><td>{_pct(r['unsubscribed'])}</td>"
                   f"<td>{a['p_best']:.2f}</td><td>{weight}</td><td class='flag'>{guard}</td></tr>")  # fmt: skip
    out.append("</table>")
    if ctx["hold_out"] and ctx["hold_out"]["uplift"]:
        u = ctx["hold_out"]["uplift"]
        out.append(f"<p>Hold-out: {ctx['hold_out']['sends']} held out; uplift of the arms over it "
                   f"{_pct(u['difference'])} (95 %: {_pct(u['low'])} to {_pct(u['high'])}).</p>")  # fmt: skip
    if history:
        out.append("<h3>what the allocation changed and why</h3><table><tr><th>when (UTC)</th><th>weights</th>"
                   "<th>why</th></tr>")  # fmt: skip
        for at, version, decision, reason in history[-30:]:
            when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")
            ws = ", ".join(f"{_e(a)} {w:.2f}" for a, w in zip(decision.get("arms", []), decision.get("weights", []),
                                                                strict=False))  # fmt: skip
            out.append(
                f"<tr><td>{when}</td><td>{ws}</td><td>{_e(reason)} <span class='muted'>({_e(version)})</span></td></tr>"
            )
        out.append("</table>")
    out.append("</section>")
    return "".join(out)
