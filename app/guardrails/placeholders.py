"""The model used only placeholders this request can fill, and none is left unfilled."""

from __future__ import annotations

from app.guardrails.base import CheckContext, CheckResult, Copy, failed, passed
from app.placeholders import placeholders_in


class PlaceholderCheck:
    name = "placeholders"

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        problems: list[str] = []
        for f, text in copy.template.items():
            unknown = sorted({p for p in placeholders_in(text) if p not in ctx.values})
            if unknown:
                names = ", ".join("{" + p + "}" for p in unknown)
                problems.append(f"{f} uses {names}, which this request cannot fill")
        for f, text in copy.fields.items():
            if "{" in text or "}" in text:
                problems.append(f"{f} still holds a brace after filling")
        return failed(self.name, problems) if problems else passed(self.name)
