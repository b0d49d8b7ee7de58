"""Each variant as the customer sees it (an SMS bubble, a push notification with where each vendor
cuts it, an e-mail with subject and preheader, a WeChat template card, an in-app card), and how
much of each field's limit it uses: shared by the eval report and the library's review page."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from app.channels import ChannelSpec

CSS = (Path(__file__).parent / "previews.css").read_text(encoding="utf-8")


def esc(text: Any) -> str:
    return html.escape("" if text is None else str(text))


def render(v: dict, spec: ChannelSpec, locale: str) -> str:
    title, body, cta = v["title"] or "", v["body"], v["cta"] or ""
    if spec.name == "sms":
        return f'<div class="sms">{esc(body)}</div>'
    if spec.name == "push":
        limit = spec.limit("title", locale)
        shown = title if len(title) <= limit else title[:limit] + "…"
        return (f'<div class="push"><div class="t">{esc(shown)}</div><div>{esc(body)}</div></div>'
                f"{vendor_cuts(title, body, spec)}")  # fmt: skip
    if spec.name == "email":
        pre = body.replace("\n", " ")[:60]
        return (f'<div class="email"><div class="subj">{esc(title)}</div><div class="pre">{esc(pre)}…</div>'
                f'<div class="b">{esc(body)}</div><div class="b"><span class="btn">{esc(cta)}</span></div></div>')  # fmt: skip
    if spec.name == "wechat":
        return (f'<div class="wechat"><b>{esc(title)}</b><div class="row"><span>内容</span><span>{esc(body)}</span></div>'
                f'<div class="meta">详情 ›</div></div>')  # fmt: skip
    return f'<div class="inapp"><b>{esc(title)}</b><div>{esc(body)}</div><span class="btn">{esc(cta)}</span></div>'


def vendor_cuts(title: str, body: str, spec: ChannelSpec) -> str:
    """Where a stricter push vendor (guardrails/channels.yaml) would cut this notification."""
    cuts = []
    for vendor, limits in spec.vendors.items():
        for name, text in (("title", title), ("body", body)):
            limit = limits.get(name)
            if limit is not None and len(text) > limit:
                cuts.append(f"{vendor} cuts the {name} at {limit}: {esc(text[:limit])}…")
    if not cuts:
        return (
            f'<div class="meta">fits every vendor ({esc(", ".join(spec.vendors))})</div>'
            if spec.vendors
            else ""
        )
    return "".join(f'<div class="meta cut">{c}</div>' for c in cuts)


def bars(v: dict, spec: ChannelSpec, locale: str) -> str:
    out = []
    for f in spec.fields():
        used, limit = spec.measure(v[f] or ""), spec.limit_for(f, locale, v[f] or "")
        width = min(100, round(100 * used / limit))
        cls = ' class="over"' if used > limit else ""
        out.append(
            f'<div class="meta">{f} {used}/{limit}</div><div class="bar"><i{cls} style="width:{width}%"></i></div>'
        )
    return "".join(out)
