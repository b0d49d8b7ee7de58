"""A number the model wrote itself must come from somewhere true: the product's names and facts
(235克, 20W) or the live trade facts (price, stock, the offer's terms and dates). The trade-claims
check judges what a number claims; this one rejects numbers from nowhere (超出了179.5)."""

from __future__ import annotations

import re
import unicodedata

from app.checks.base import CheckContext, CheckResult, Copy, failed, passed
from app.trade import amount

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def numbers_in(text: str) -> list[str]:
    return _NUMBER.findall(unicodedata.normalize("NFKC", text))


class LiteralNumberCheck:
    name = "literal_numbers"

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        allowed: set[str] = set(numbers_in(" ".join(ctx.values.values())))
        for p in ctx.trade.products:
            for text in [p.name or "", *p.facts]:
                allowed.update(numbers_in(text))
            for value in (p.price, p.list_price, p.stock):
                if value is not None:
                    allowed.update({amount(value), f"{value:.2f}", str(value)})
        offer = ctx.trade.offer
        if offer is not None:
            allowed.update(numbers_in(f"{offer.code} {offer.expires_at.month} {offer.expires_at.day}"))
            for value in (offer.value, offer.min_spend, (100 - offer.value) / 10, 100 - offer.value):
                allowed.update({amount(value), f"{value:g}", f"{value:.2f}"})
        problems = []
        for field, text in copy.template.items():
            stray = [n for n in numbers_in(text) if n not in allowed]
            if stray:
                problems.append(
                    f"{field} writes {', '.join(stray)} itself; numbers must come from placeholders"
                )
        return failed(self.name, problems) if problems else passed(self.name)
