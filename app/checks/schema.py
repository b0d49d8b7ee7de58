"""Every field the channel carries is present and non-empty; no field it lacks."""

from __future__ import annotations

from app.checks.base import CheckContext, CheckResult, Copy, failed, passed


class SchemaCheck:
    name = "schema"

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        wanted = set(ctx.channel.fields())
        problems = [f"{f} is empty" for f in sorted(wanted) if not copy.fields.get(f, "").strip()]
        problems += [f"{f} is not a field of {ctx.channel.name}" for f in sorted(set(copy.fields) - wanted)]
        return failed(self.name, problems) if problems else passed(self.name)
