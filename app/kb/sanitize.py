"""Review text is untrusted: contacts, links and instruction-like sentences never reach a prompt."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from app.content import read_yaml

# A sentence ends at CJK or ASCII end punctuation; a dot ends one only before a space or the end,
# so "example.com" and "42.5" stay whole.
_SENTENCE = re.compile(r".+?(?:[。！？!?；;\n]+|\.(?=\s|$)|$)", re.S)


@dataclass(frozen=True)
class Sanitized:
    text: str
    removed: tuple[str, ...]  # why sentences were dropped: phone, url, instruction…


class Sanitizer:
    def __init__(self, policy_path: Path) -> None:
        policy = read_yaml(policy_path)
        self.contacts = [(r["name"], re.compile(r["pattern"])) for r in policy["contacts"]]
        self.instructions = [re.compile(p) for p in policy["instructions"]]

    def clean(self, text: str) -> Sanitized:
        removed: list[str] = []
        kept: list[str] = []
        for sentence in _SENTENCE.findall(text):
            if not sentence.strip():
                continue
            reasons = [name for name, p in self.contacts if p.search(sentence)]
            if any(p.search(sentence) for p in self.instructions):
                reasons.append("instruction")
            if reasons:
                removed += reasons
                continue
            kept.append(sentence)
        out = re.sub(r"\s+", " ", "".join(kept)).strip()
        return Sanitized(out, tuple(dict.fromkeys(removed)))
