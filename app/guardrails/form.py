"""The copy reads as a message in the request's language: long enough, finished, no markdown or filler."""

from __future__ import annotations

import re
from pathlib import Path

from app.content import read_yaml
from app.guardrails.base import CheckContext, CheckResult, Copy, failed, passed
from app.guardrails.link_policy import URL

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_LETTER = re.compile(r"[^\W\d_]")
# What counts as a word for `min_words`: a Han character, a Latin word of 2+ letters, a placeholder.
_WORD = re.compile(
    r"[\u3400-\u9fff\uf900-\ufaff]|(?<![A-Za-z\u00c0-\u024f])[A-Za-z\u00c0-\u024f]{2,}|\{[a-z_]+\}"
)


def script_share(text: str, script: str) -> float:
    letters = _LETTER.findall(text)
    if not letters:
        return 0.0
    pattern = _HAN if script == "han" else _LATIN
    return sum(1 for ch in letters if pattern.match(ch)) / len(letters)


class FormCheck:
    name = "form"

    def __init__(self, policy_path: Path) -> None:
        policy = read_yaml(policy_path)
        self.min_length: dict[str, dict[str, int]] = policy["min_length"]
        self.min_words: dict[str, dict[str, int]] = policy.get("min_words", {})
        self.artefacts = [(re.compile(a["pattern"], re.MULTILINE), a["why"]) for a in policy["artefacts"]]
        self.script: dict[str, dict] = policy["script"]
        unfinished = policy.get("unfinished", {})
        self.unfinished_fields = frozenset(unfinished.get("fields", []))
        self.unfinished = {loc: re.compile(p) for loc, p in unfinished.get("patterns", {}).items()}

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        problems: list[str] = []
        rule = self.script[ctx.locale]
        for field, text in copy.template.items():
            shortest = self.min_length.get(field, {}).get(ctx.locale, 0)
            if len(text.strip()) < shortest:
                problems.append(f"{field} is too short to be a message ({len(text.strip())} < {shortest})")
            fewest = self.min_words.get(field, {}).get(ctx.locale, 0)
            if (words := len(_WORD.findall(URL.sub("", text)))) < fewest:
                problems.append(f"{field} has too few words to be a message ({words} < {fewest})")
            for pattern, why in self.artefacts:
                if pattern.search(text):
                    problems.append(f"{field} contains {why}")
            ending = self.unfinished.get(ctx.locale)
            if field in self.unfinished_fields and ending and (m := ending.search(text)):
                problems.append(f"{field} stops mid-sentence (on {m.group(0).strip()!r})")
            bare = URL.sub("", re.sub(r"\{[a-z_]+\}", "", text))  # links are not prose
            share = script_share(bare, rule["script"])
            if _LETTER.search(bare) and share < rule["min_share"]:
                problems.append(
                    f"{field} is not written in {ctx.locale} ({share:.0%} {rule['script']} letters)"
                )
        return failed(self.name, problems) if problems else passed(self.name)
