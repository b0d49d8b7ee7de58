"""No personal data in the copy: phone numbers, ID numbers, card numbers, e-mail addresses."""

from __future__ import annotations

from app.guardrails.base import CheckContext, CheckResult, Copy, failed, passed
from app.guardrails.link_policy import without_links
from app.guardrails.pii_detector import PiiDetector


class PiiCheck:
    name = "pii"

    def __init__(self, detector: PiiDetector) -> None:
        self.detector = detector

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        problems = []
        for field, text in copy.texts():
            for hit in self.detector.find(without_links(text)):
                problems.append(f"{field} holds {hit.entity} “{hit.text}”")
        return failed(self.name, problems) if problems else passed(self.name)
