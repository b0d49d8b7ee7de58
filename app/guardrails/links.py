"""Only links to allowed domains (guardrails/links.yaml)."""

from __future__ import annotations

from app.guardrails.base import CheckContext, CheckResult, Copy, failed, passed
from app.guardrails.link_policy import URL, LinkPolicy


class LinkCheck:
    name = "links"

    def __init__(self, policy: LinkPolicy) -> None:
        self.policy = policy

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        problems = []
        for field, text in copy.texts():
            for m in URL.finditer(text):
                if not self.policy.is_allowed(m.group(0)):
                    problems.append(
                        f"{field} links to {self.policy.host(m.group(0)) or m.group(0)}, not allowed"
                    )
        return failed(self.name, problems) if problems else passed(self.name)
