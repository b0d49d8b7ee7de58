"""Numbers enter the copy only through placeholders: a digit the model wrote itself is rejected
unless it is part of a product fact or name it was given (235克, 20W). Issue 4's trade-claim
check extends this to Chinese numerals, discounts, dates and codes."""

from __future__ import annotations

import re
import unicodedata

from app.checks.base import CheckContext, CheckResult, Copy, failed, passed

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def numbers_in(text: str) -> list[str]:
    return _NUMBER.findall(unicodedata.normalize("NFKC", text))


class LiteralNumberCheck:
    name = "literal_numbers"

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        allowed: set[str] = set()
        for p in ctx.trade.products:
            for text in [p.name or "", *p.facts]:
                allowed.update(numbers_in(text))
        problems = []
        for field, text in copy.template.items():
            stray = [n for n in numbers_in(text) if n not in allowed]
            if stray:
                problems.append(
                    f"{field} writes {', '.join(stray)} itself; numbers must come from placeholders"
                )
        return failed(self.name, problems) if problems else passed(self.name)
