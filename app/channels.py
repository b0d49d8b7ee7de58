"""Channel specs from guardrails/channels.yaml, and length measured the way each channel counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FIELDS = ("title", "body", "cta")


def measure(text: str, count: str) -> int:
    """Length as the channel bills it: code points, UTF-16 code units, or (`sms`) GSM-7 septets
    when every character is GSM-7, else UCS-2 (UTF-16) units."""
    if count == "utf16":
        return len(text.encode("utf-16-le")) // 2
    if count == "sms":
        return sms_segments(text)[1]
    return len(text)


@dataclass(frozen=True)
class SentenceClose:
    """Policy for closing the body's last sentence (guardrails/channels.yaml)."""

    mark: dict[str, str]
    ends: dict[str, str]
    closers: str = ""
    dangling: str = ""

    def close(self, body: str, locale: str) -> str:
        """`…回来看看吧` -> `…回来看看吧。`; `…看看吧，` -> `…看看吧。`; an ended sentence unchanged."""
        mark, ends = self.mark.get(locale, ""), self.ends.get(locale, "")
        text = body.rstrip()
        if not mark or not text:
            return body
        core = text.rstrip(self.closers)
        if core and core[-1] in ends:
            return text
        stripped = text.rstrip(self.dangling)
        return (stripped or text) + mark


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    labels: dict[str, str]
    count: str
    line_breaks: bool
    limits: dict[str, dict[str, int]]  # field -> locale -> max length
    signature: dict[str, str]
    opt_out: dict[str, str]
    # Stricter per-vendor limits (push), field -> max length; shown in the eval report, not enforced.
    vendors: dict[str, dict[str, int]] = field(default_factory=dict)
    # SMS: the units one segment holds per encoding (GSM-7 160, UCS-2 70); caps the body limit.
    single_segment: dict[str, int] = field(default_factory=dict)
    # How a body that does not end a sentence is closed before the opt-out (close_before_opt_out).
    closing: SentenceClose | None = None

    def fields(self) -> tuple[str, ...]:
        return tuple(f for f in FIELDS if f in self.limits)

    def limit(self, field: str, locale: str) -> int:
        return self.limits[field][locale]

    def limit_for(self, field: str, locale: str, text: str) -> int:
        """The limit `text` is held to: for SMS also what one segment of its encoding holds."""
        limit = self.limit(field, locale)
        if self.count == "sms" and field == "body" and self.single_segment:
            limit = min(limit, self.single_segment[sms_segments(text)[0]])
        return limit

    def fits(self, field: str, locale: str, text: str) -> bool:
        return self.measure(text) <= self.limit_for(field, locale, text)

    def unit(self, text: str = "") -> str:
        if self.count == "sms":
            return "GSM-7 septets" if sms_segments(text)[0] == "GSM-7" else "UCS-2 units"
        return "UTF-16 units" if self.count == "utf16" else "characters"

    def label(self, locale: str) -> str:
        return self.labels.get(locale) or self.name

    def wrapper(self, locale: str) -> tuple[str, str]:
        """Text the channel adds around the body (SMS signature and opt-out)."""
        return self.signature.get(locale, ""), self.opt_out.get(locale, "")

    def wrap(self, body: str, locale: str) -> str:
        """The body as sent: signature, the body (its sentence closed before an opt-out), opt-out."""
        prefix, suffix = self.wrapper(locale)
        if suffix and self.closing is not None:
            body = self.closing.close(body, locale)
        return prefix + body + suffix

    def body_budget(self, locale: str) -> int:
        """Room left for the body once what the channel adds is counted: the wrapper, and the mark
        that may close the body's last sentence."""
        prefix, suffix = self.wrapper(locale)
        mark = self.closing.mark.get(locale, "") if suffix and self.closing is not None else ""
        return self.limit("body", locale) - measure(prefix + mark + suffix, self.count)

    def measure(self, text: str) -> int:
        return measure(text, self.count)


def _per_locale(value: Any, locales: tuple[str, ...]) -> dict[str, Any]:
    if isinstance(value, dict):
        missing = [loc for loc in locales if loc not in value]
        if missing:
            raise ValueError(f"missing locales {missing} in {value!r}")
        return dict(value)
    return {loc: value for loc in locales}


def _closing(raw: Any, locales: tuple[str, ...]) -> SentenceClose | None:
    if not raw:
        return None
    return SentenceClose(
        mark=_per_locale(raw["mark"], locales),
        ends=_per_locale(raw["ends"], locales),
        closers=str(raw.get("closers", "")),
        dangling=str(raw.get("dangling", "")),
    )


def parse_channels(raw: dict[str, Any], locales: tuple[str, ...]) -> dict[str, ChannelSpec]:
    specs: dict[str, ChannelSpec] = {}
    for name, data in raw.items():
        limits = {
            f: {loc: int(v) for loc, v in _per_locale(lim, locales).items()}
            for f, lim in (data.get("fields") or {}).items()
            if lim is not None
        }
        if "body" not in limits:
            raise ValueError(f"channel {name}: a body limit is required")
        specs[name] = ChannelSpec(
            name=name,
            labels=_per_locale(data.get("label", name), locales),
            count=data.get("count", "chars"),
            line_breaks=bool(data.get("line_breaks", True)),
            limits=limits,
            signature=_per_locale(data.get("signature", ""), locales),
            opt_out=_per_locale(data.get("opt_out", ""), locales),
            vendors={
                vendor: {f: int(v) for f, v in lims.items() if f in FIELDS}
                for vendor, lims in (data.get("vendors") or {}).items()
            },
            single_segment={enc: int(n) for enc, n in (data.get("single_segment") or {}).items()},
            closing=_closing(data.get("close_before_opt_out"), locales),
        )
    return specs


# GSM 03.38: the basic set costs one septet, the extension set two; anything else forces UCS-2.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = "^{}\\[~]|€\f"


def sms_segments(text: str) -> tuple[str, int, int]:
    """(encoding, length in its units, segments): GSM-7 160 single / 153 per part,
    UCS-2 70 single / 67 per part."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text):
        size = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        return "GSM-7", size, 1 if size <= 160 else -(-size // 153)
    size = measure(text, "utf16")
    return "UCS-2", size, 1 if size <= 70 else -(-size // 67)
