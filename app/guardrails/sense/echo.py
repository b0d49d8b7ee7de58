"""Prompt echo: the copy reproduces instruction text of the prompt that produced it (rules, channel
requirements, scene, audience and tone descriptions). Judged against the rendered prompt with the
material the copy may quote (product names, facts, offer terms, reviews) taken out of it."""

from __future__ import annotations

from functools import lru_cache

from app.guardrails.base import CheckContext, CheckResult, Copy, failed, passed
from app.guardrails.sense.policy import EchoPolicy
from app.guardrails.sense.text import model_texts, segments


@lru_cache(maxsize=256)
def instruction_ngrams(prompt: str, grounding: tuple[str, ...], n: int) -> frozenset[tuple[str, ...]]:
    """Every n-unit run of the prompt's own wording (grounding text removed)."""
    for quote in sorted(grounding, key=len, reverse=True):
        if quote:
            prompt = prompt.replace(quote, "\n")
    grams: set[tuple[str, ...]] = set()
    for line in prompt.splitlines():
        for seg in segments(line):
            grams.update(tuple(seg[i : i + n]) for i in range(len(seg) - n + 1))
    return frozenset(grams)


def echo_score(text: str, grams: frozenset[tuple[str, ...]], n: int) -> tuple[int, float, int]:
    """(longest run of units shared with the prompt, share of units in a shared run, units)."""
    total = covered_n = longest = 0
    for seg in segments(text):
        total += len(seg)
        covered = [False] * len(seg)
        run = 0
        for i in range(len(seg) - n + 1):
            if tuple(seg[i : i + n]) in grams:
                covered[i : i + n] = [True] * n
                run = run + 1 if run else n
                longest = max(longest, run)
            else:
                run = 0
        covered_n += sum(covered)
    return longest, (covered_n / total if total else 0.0), total


class PromptEchoCheck:
    name = "prompt_echo"

    def __init__(self, policy: EchoPolicy) -> None:
        self.policy = policy

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        if not ctx.prompt:
            return passed(self.name, "no prompt (template copy)")
        rule = self.policy.for_locale(ctx.locale)
        grams = instruction_ngrams(ctx.prompt, (*ctx.grounding, *ctx.reviews), rule.ngram)
        problems = []
        for field, text in model_texts(copy):
            longest, share, size = echo_score(text, grams, rule.ngram)
            if longest >= rule.max_run or (size >= rule.min_units and share >= rule.max_share):
                problems.append(
                    f"{field} repeats the prompt's instructions ({longest} units in a row, "
                    f"{share:.0%} of its words from the prompt)"
                )
        return failed(self.name, problems) if problems else passed(self.name)
