"""The review page copywriters use, served by the service and working offline (no CDN, no
framework): a shell that logs in with a reviewer key, and the queue rendered here, each variant
as the customer would see it today (the eval report's previews), its facts and reviews, its
checks, how often it was served, and approve / reject / retire / edit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.channels import ChannelSpec
from app.previews import CSS as PREVIEW_CSS
from app.previews import bars, esc, render


@dataclass(frozen=True)
class Preview:
    fields: dict[str, str] | None  # filled with today's facts; None when today's facts refuse it
    checks: list[tuple[str, bool, str]]
    problem: str | None


PAGE_CSS = """
body{font:14px/1.45 -apple-system,"PingFang SC","Noto Sans CJK SC",sans-serif;margin:0;background:#f4f5f7;color:#1f2328}
header{background:#1f2a44;color:#fff;padding:14px 24px;display:flex;gap:16px;align-items:center;flex-wrap:wrap}
header h1{margin:0;font-size:18px}
header input,header select{padding:4px 6px}
main{padding:16px 24px}
.entry{background:#fff;border-radius:10px;margin:14px 0;padding:12px 16px;box-shadow:0 1px 3px #0002;display:flex;gap:20px;flex-wrap:wrap}
.entry .look{width:320px}
.entry .about{flex:1;min-width:300px}
.status{font-weight:600}
.flag{color:#9a6700}
.actions button{margin:4px 6px 0 0}
textarea{width:100%;min-height:60px}
#message{padding:6px 24px;min-height:1.5em}
.fail{color:#cf222e}
"""

SCRIPT = """
const $ = (s) => document.querySelector(s);
function headers() {
  const key = sessionStorage.getItem('copydesk-key') || '';
  const h = {'content-type': 'application/json'};
  if (key) h['authorization'] = 'Bearer ' + key;
  return h;
}
function say(text, bad) { const m = $('#message'); m.textContent = text; m.className = bad ? 'fail' : ''; }
async function load() {
  const status = $('#filter').value;
  const r = await fetch('/v1/library-queue.html?status=' + encodeURIComponent(status), {headers: headers()});
  if (!r.ok) { say('could not load the queue: ' + r.status + ' ' + (await r.text()), true); return; }
  $('#queue').innerHTML = await r.text();
}
async function post(path, body) {
  const r = await fetch(path, {method: 'POST', headers: headers(), body: JSON.stringify(body)});
  const data = await r.json().catch(() => ({}));
  if (!r.ok) { say((data.error && data.error.message) || ('failed: ' + r.status), true); return null; }
  return data;
}
async function decide(id, action) {
  const reviewer = $('#reviewer').value.trim();
  if (!reviewer) { say('enter your name as reviewer first', true); return; }
  const note = (document.querySelector('[data-note="' + id + '"]') || {}).value || '';
  const done = await post('/v1/library/' + id + '/' + action, {reviewer, note});
  if (done) { say(id + ': ' + (done.status || ('spot checks read: ' + done.closed.length))); await load(); }
}
async function edit(id) {
  const reviewer = $('#reviewer').value.trim();
  if (!reviewer) { say('enter your name as reviewer first', true); return; }
  const body = {reviewer, note: 'edited on the review page'};
  document.querySelectorAll('[data-edit="' + id + '"]').forEach((t) => { body[t.dataset.field] = t.value; });
  const made = await post('/v1/library/' + id + '/edit', body);
  if (made) { say('new variant ' + made.library_id + ' passed every check and waits for review'); await load(); }
}
document.addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-action]');
  if (!b) return;
  if (b.dataset.action === 'edit') edit(b.dataset.id); else decide(b.dataset.id, b.dataset.action);
});
$('#login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sessionStorage.setItem('copydesk-key', $('#key').value.trim());
  say('signed in'); load();
});
$('#filter').addEventListener('change', load);
"""


def shell() -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>copydesk library review</title>"
        f"<style>{PREVIEW_CSS}{PAGE_CSS}</style></head><body>"
        "<header><h1>copydesk · library review</h1>"
        "<form id='login'><input id='key' type='password' placeholder='API key (empty on loopback)' autocomplete='off'>"
        " <button id='signin' type='submit'>Sign in</button></form>"
        "<label>reviewer <input id='reviewer' placeholder='your name'></label>"
        "<label>show <select id='filter'><option value='pending'>pending</option><option value='approved'>approved</option>"
        "<option value='rejected'>rejected</option><option value='retired'>retired</option></select></label>"
        "</header><div id='message'></div><main id='queue'><p>Sign in to see the queue.</p></main>"
        f"<script>{SCRIPT}</script></body></html>"
    )


def _context(e: dict[str, Any]) -> str:
    c = e["context"]
    parts = [c["journey"], c["channel"], c["locale"], ", ".join(c["skus"]), c["offer_id"] or "no offer",
             c["segment"] or "any segment", f"tone {e['tone']}"]  # fmt: skip
    return " · ".join(esc(p) for p in parts)


def card(e: dict[str, Any], preview: Preview, spec: ChannelSpec, can_review: bool) -> str:
    lid, locale = e["library_id"], e["context"]["locale"]
    if preview.fields is not None:
        shown = {f: preview.fields.get(f) for f in ("title", "body", "cta")}
        look = render(shown, spec, locale) + bars(shown, spec, locale)
    else:
        look = f"<div class='fail'>cannot be filled today: {esc(preview.problem)}</div>"
    badges = "".join(
        f'<span class="badge{"" if ok else " bad"}" title="{esc(detail)}">{esc(name)}</span>'
        for name, ok, detail in preview.checks
    )
    failing = [f"{name}: {detail}" for name, ok, detail in preview.checks if not ok]
    flag = f"<div class='flag'>flagged: {esc(e['flag_reason'])}</div>" if e["flagged"] else ""
    snippets = "".join(f"<li><code>{esc(i)}</code> {esc(t)}</li>" for i, t in e["snippets"].items())
    edits = "".join(
        f"<label>{esc(f)}<textarea data-edit='{esc(lid)}' data-field='{esc(f)}'>{esc(e['template'].get(f, ''))}</textarea></label>"
        for f in spec.fields()
    )
    actions = ""
    if can_review:
        buttons = [(a, a) for a in ("approve", "reject", "retire") if _allowed(a, e["status"])] + [
            ("edit", "save edit")
        ]
        actions = (
            f"<input data-note='{esc(lid)}' placeholder='note'> <div class='actions'>"
            + "".join(
                f"<button data-action='{a}' data-id='{esc(lid)}'>{esc(label)}</button>"
                for a, label in buttons
            )
            + "</div>"
        )
    lineage = f" · edited from {esc(e['parent_id'])}" if e["parent_id"] else ""
    outcomes = e.get("outcomes") or {}
    sent = outcomes.get("sent", 0)
    performance = (
        "<div class='meta perf'>outcomes: " + " · ".join(f"{esc(k)} {n}" for k, n in sorted(outcomes.items()))
        + "".join(f" · {k} rate {outcomes.get(k, 0) / sent:.1%}" for k in ("clicked", "converted") if sent)
        + "</div>"
        if outcomes else "<div class='meta perf'>no outcomes posted yet</div>"
    )  # fmt: skip
    spots = e.get("spot_checks") or []
    spot_html = ""
    if spots:
        items = "".join(f"<li>{esc(' | '.join(v for v in s['copy'].values() if v))}</li>" for s in spots)
        button = (
            f"<button data-action='spot-checked' data-id='{esc(lid)}'>mark read</button>"
            if can_review
            else ""
        )
        spot_html = f"<div class='spots'><b>sent, to spot-check ({len(spots)})</b><ul class='meta'>{items}</ul>{button}</div>"
    return (
        f"<section class='entry' id='{esc(lid)}' data-status='{esc(e['status'])}'>"
        f"<div class='look'>{look}<div>{badges}</div>"
        + (f"<div class='fail'>fails today: {esc('; '.join(failing))}</div>" if failing else "")
        + "</div><div class='about'>"
        f"<div><span class='status'>{esc(e['status'])}</span> · <code>{esc(lid)}</code>{lineage}</div>"
        f"<div class='meta'>{_context(e)}</div>"
        f"<div class='meta'>{esc(e['source'])} · {esc(e['model'])} · prompt {esc(e['prompt_version'])} · "
        f"served {e['served']} · near-duplicates linked {e['duplicates']}</div>{performance}{flag}{spot_html}"
        f"<details><summary>facts and reviews it drew on</summary><ul class='meta'>{snippets}</ul></details>"
        f"<details><summary>edit the template</summary>{edits}</details>{actions}</div></section>"
    )


def _allowed(action: str, status: str) -> bool:
    from app.library.review import DECISIONS

    return status in DECISIONS[action][1]


def queue(cards: list[str], total: int, status: str | None) -> str:
    head = f"<p class='meta'>{total} {esc(status or '')} variant{'s' if total != 1 else ''}</p>"
    return head + ("".join(cards) if cards else "<p>Nothing to review.</p>")
