"""The one interface every check implements, and what a check sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from app.channels import ChannelSpec
from app.commerce.facts import TradeFacts


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Copy:
    """One variant as the customer would receive it, and the model's text before filling."""

    fields: dict[str, str]  # title / body / cta as sent (SMS body includes signature, opt-out)
    template: dict[str, str]  # the same fields before placeholders were filled
    disclaimers: list[str] = field(default_factory=list)

    def texts(self) -> list[tuple[str, str]]:
        """Every text the customer sees, named by field: the fields, then each disclaimer."""
        return [*self.fields.items(), *(("disclaimers", d) for d in self.disclaimers)]


@dataclass(frozen=True)
class CheckContext:
    channel: ChannelSpec
    locale: str
    trade: TradeFacts
    values: dict[str, str]  # placeholder values available to this request
    # The rendered prompt that produced the copy (empty for fallback copy), and the texts the copy
    # may legitimately quote from it: product names, facts and offer terms; reviews (untrusted,
    # chatty: quotable, but no evidence of being on topic).
    prompt: str = ""
    grounding: tuple[str, ...] = ()
    journey: str = ""
    reviews: tuple[str, ...] = ()


class Check(Protocol):
    name: str

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult: ...


def passed(name: str, detail: str = "ok") -> CheckResult:
    return CheckResult(name, True, detail)


def failed(name: str, problems: list[str]) -> CheckResult:
    return CheckResult(name, False, "; ".join(problems))
