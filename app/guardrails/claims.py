"""Trade claims against the source of truth: every amount, discount, date, code and stock claim
in the copy must agree with the live price, stock and offer; with the commerce API down, none
may appear at all."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.content import read_yaml
from app.guardrails.base import CheckContext, CheckResult, Copy, failed, passed
from app.guardrails.link_policy import without_links

# Why a claim fails when some trade fact was not verified (the response's checked_against says which).
UNVERIFIED = "the commerce API could not verify every trade fact: no claim on an unverified one"
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def zhe_value(raw: str) -> float:
    """八五折 / 85折 / 8.5折 → 8.5; 五折 / 5折 → 5."""
    if raw[0] in _DIGITS:
        digits = "".join(str(_DIGITS[c]) for c in raw)
        return float(digits) / (10 if len(digits) == 2 else 1)
    value = float(raw)
    return value / 10 if value >= 10 else value


def _same(a: float, b: float | None) -> bool:
    return b is not None and abs(a - b) < 0.005


class TradeClaimCheck:
    name = "trade_claims"

    def __init__(self, policy_path: Path, now=lambda: datetime.now(UTC)) -> None:
        raw = read_yaml(policy_path)
        self.scarcity_max = int(raw["scarcity_max_stock"])
        self.deadline_window = timedelta(hours=float(raw["deadline_window_hours"]))
        self.patterns = {
            kind: [re.compile(p, re.IGNORECASE if kind != "code" else 0) for p in raw[kind]]
            for kind in raw
            if isinstance(raw[kind], list)
        }
        self.now = now

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        problems: list[str] = []
        for field, text in copy.texts():
            problems += [f"{field}: {p}" for p in self.problems(without_links(text), ctx)]
        return failed(self.name, problems) if problems else passed(self.name)

    def _find(self, kind: str, text: str):
        for pattern in self.patterns.get(kind, []):
            yield from pattern.finditer(text)

    def problems(self, original: str, ctx: CheckContext) -> list[str]:
        text = unicodedata.normalize("NFKC", original)
        trade, offer = ctx.trade, ctx.trade.offer
        down = not trade.commerce_available
        prices = {v for p in trade.products for v in (p.price, p.list_price) if v is not None}
        offer_amounts = set()
        if offer is not None:
            offer_amounts = {offer.min_spend} | (
                {offer.value} if offer.type in ("amount_off", "gift") else set()
            )
        facts = " ".join(f"{p.name or ''} {' '.join(p.facts)}" for p in trade.products)
        out: list[str] = []

        def claim(what: str) -> None:
            out.append(f"{what} ({UNVERIFIED})" if down else what)

        covered: list[tuple[int, int]] = []
        for m in self._find("spend_threshold", text):
            covered.append(m.span())
            spend = float(m.group("min_spend"))
            value = m.groupdict().get("value")
            if offer is None or not _same(spend, offer.min_spend):
                claim(f"“{m.group(0)}” states a minimum spend the offer does not have")
            elif value is not None and not (offer.type == "amount_off" and _same(float(value), offer.value)):
                claim(f"“{m.group(0)}” states a discount the offer does not give")
        for m in self._find("amount_off", text):
            covered.append(m.span())
            if offer is None or offer.type != "amount_off" or not _same(float(m.group("value")), offer.value):
                claim(f"“{m.group(0)}” is not the offer's discount")
        for m in self._find("money", text):
            if any(a <= m.start() < b for a, b in covered):
                continue
            amount = float(m.group("amount"))
            if not any(_same(amount, v) for v in prices | offer_amounts):
                claim(f"“{m.group(0)}” matches no price or offer amount")
        percent_ok = {offer.value} if offer is not None and offer.type == "percent_off" else set()
        for m in self._find("percent", text):
            value = float(m.group("percent"))
            if not any(_same(value, v) for v in percent_ok) and m.group(0) not in facts:
                claim(f"“{m.group(0)}” is not the offer's percentage")
        for m in self._find("zhe", text):
            expected = (100 - offer.value) / 10 if offer is not None and offer.type == "percent_off" else None
            if not _same(zhe_value(m.group("zhe")), expected):
                claim(f"“{m.group(0)}” is not the offer's discount")
        for m in self._find("date", text):
            if m.group(0) in facts:
                continue
            month = (
                MONTHS.index(m.group("month_name").lower()[:3]) + 1
                if m.groupdict().get("month_name")
                else int(m.group("month"))
            )
            end = offer.expires_at if offer is not None else None
            if end is None or (month, int(m.group("day"))) != (end.month, end.day):
                claim(f"“{m.group(0)}” is not the offer's end date")
        for m in self._find("relative_deadline", text):
            end = offer.expires_at if offer is not None else None
            if end is None or end - self.now() > self.deadline_window:
                claim(f"“{m.group(0)}” claims a deadline the offer does not have")
        for m in self._find("unsupported_promotion", text):
            claim(f"“{m.group(0)}” promises a promotion the commerce API does not offer")
        stock = min((p.stock for p in trade.products if p.stock is not None), default=None)
        for m in self._find("scarcity_count", text):
            if stock is None or int(m.group("count")) != stock or stock > self.scarcity_max:
                claim(f"“{m.group(0)}” does not match stock ({'unknown' if stock is None else stock})")
        for m in self._find("scarcity", text):
            if stock is None or stock > self.scarcity_max:
                claim(f"“{m.group(0)}” claims scarcity with stock {'unknown' if stock is None else stock}")
        for m in self._find("in_stock", text):
            if stock is None or stock <= 0:
                claim(f"“{m.group(0)}” claims stock that is {'unknown' if stock is None else 'zero'}")
        allowed_codes = {offer.code.upper()} if offer is not None else set()
        for m in self._find("code", text):
            token = (m.groupdict().get("code") or m.group(0)).upper()
            if token not in allowed_codes and token not in facts.upper():
                out.append(f"“{token}” looks like a code that is not the offer's")
        return list(dict.fromkeys(out))
