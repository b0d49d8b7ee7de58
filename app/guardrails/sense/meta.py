"""Meta and template text: words addressed to the writer rather than the customer ("the customer",
"remind them", 用户 in the third person, 请…提醒), placeholders and tags that are not ours, and
labels ("Tweet", "Subject line") standing where copy should be."""

from __future__ import annotations

import re

from app.guardrails.base import CheckContext, CheckResult, Copy, failed, passed
from app.guardrails.sense.policy import MetaPolicy
from app.guardrails.sense.text import model_texts

_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


class MetaTextCheck:
    name = "meta_text"

    def __init__(self, policy: MetaPolicy) -> None:
        self.policy = policy

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        patterns = self.policy.patterns.get("any", []) + self.policy.patterns.get(ctx.locale, [])
        problems: list[str] = []
        for field, text in model_texts(copy):
            if _EDGES.sub("", text).lower() in self.policy.labels:
                problems.append(f"{field} is a label ({text.strip()!r}), not copy")
                continue
            for p in patterns:
                m = p.regex.search(text)
                if m:
                    problems.append(f"{field} has {p.why} ({m.group(0).strip()!r})")
        return failed(self.name, problems) if problems else passed(self.name)
