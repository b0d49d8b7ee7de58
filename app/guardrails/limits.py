"""Length and line-break limits of guardrails/channels.yaml, counted the way the channel counts."""

from __future__ import annotations

from app.channels import sms_segments
from app.guardrails.base import CheckContext, CheckResult, Copy, failed, passed


class ChannelLimitCheck:
    name = "channel_limits"

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        spec = ctx.channel
        problems: list[str] = []
        used: list[str] = []
        for f in spec.fields():
            text = copy.fields.get(f, "")
            size, limit = spec.measure(text), spec.limit_for(f, ctx.locale, text)
            unit = spec.unit(text)
            used.append(f"{f} {size}/{limit} {unit}")
            if spec.name == "sms" and f == "body":
                encoding, units, segments = sms_segments(text)
                used.append(f"{segments} segment{'s' if segments > 1 else ''} ({encoding}, {units})")
            if size > limit:
                whole = (
                    " (the whole message, signature and opt-out included)"
                    if spec.signature.get(ctx.locale) and f == "body"
                    else ""
                )
                problems.append(f"{f} is {size} {unit}{whole}, over the limit of {limit}")
            if not spec.line_breaks and ("\n" in text or "\r" in text):
                problems.append(f"{f} has a line break, which {spec.name} does not allow")
        return failed(self.name, problems) if problems else passed(self.name, ", ".join(used))
