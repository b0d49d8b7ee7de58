"""Every field the channel carries is present and says something; no field it lacks."""

from __future__ import annotations

import re

from app.guardrails.base import CheckContext, CheckResult, Copy, failed, passed

# A field must hold at least this many letters or CJK characters besides the channel's own
# wrapper: "..." or "🍡" is not copy.
_WORDISH = re.compile(r"[^\W\d_]", re.UNICODE)
MIN_LETTERS = 2


class SchemaCheck:
    name = "schema"

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        wanted = set(ctx.channel.fields())
        problems: list[str] = []
        for f in sorted(wanted):
            text = copy.template.get(f, "")
            if not text.strip():
                problems.append(f"{f} is empty")
            elif len(_WORDISH.findall(text)) < MIN_LETTERS:
                problems.append(f"{f} has no words: {text!r}")
        extra = sorted(set(copy.fields) - wanted)
        problems += [f"{f} is not a field of {ctx.channel.name}" for f in extra]
        return failed(self.name, problems) if problems else passed(self.name)
