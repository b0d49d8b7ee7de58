"""Sensitive words from guardrails/words/, matched with Aho-Corasick after normalisation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import ahocorasick

from app.content import read_yaml
from app.guardrails.base import CheckContext, CheckResult, Copy, failed, passed
from app.guardrails.link_policy import without_links
from app.guardrails.normalize import compact, words

_LATIN = re.compile(r"^[\x00-\x7f]+$")


@dataclass(frozen=True)
class Term:
    term: str
    category: str
    file: str
    exceptions: tuple[str, ...]


@dataclass(frozen=True)
class WordHit:
    term: str
    category: str
    file: str


class _View:
    """One automaton over one normalised view of the text."""

    def __init__(self, normalise, whole_words: bool) -> None:
        self.normalise = normalise
        self.whole_words = whole_words
        self.automaton = ahocorasick.Automaton()
        self.terms: dict[str, list[Term]] = {}

    def add(self, term: Term) -> None:
        key = self.normalise(term.term)
        if key:
            self.terms.setdefault(key, []).append(term)

    def build(self) -> None:
        for key, terms in self.terms.items():
            self.automaton.add_word(key, (key, terms))
        if self.terms:
            self.automaton.make_automaton()

    def find(self, text: str) -> list[WordHit]:
        if not self.terms:
            return []
        view = self.normalise(text)
        hits: list[WordHit] = []
        for end, (key, terms) in self.automaton.iter(view):
            start = end - len(key) + 1
            if self.whole_words and not _bounded(view, start, end):
                continue
            for term in terms:
                if not _excused(view, start, end, term, self.normalise):
                    hits.append(WordHit(term.term, term.category, term.file))
        return hits


def _bounded(view: str, start: int, end: int) -> bool:
    before = view[start - 1] if start > 0 else " "
    after = view[end + 1] if end + 1 < len(view) else " "
    return not _word_char(before) and not _word_char(after)


def _word_char(ch: str) -> bool:
    """Latin words end at anything else, CJK included (Nike对比 names Nike)."""
    return ch.isascii() and ch.isalnum()


def _excused(view: str, start: int, end: int, term: Term, normalise) -> bool:
    """A hit inside an allowed longer phrase (第一次, "first order") does not count."""
    for phrase in term.exceptions:
        p = normalise(phrase)
        at = view.find(p, max(0, end + 1 - len(p)))
        while at != -1 and at <= start:
            if at + len(p) - 1 >= end:
                return True
            at = view.find(p, at + 1)
    return False


class WordList:
    def __init__(self, folder: Path) -> None:
        self.chinese = _View(compact, whole_words=False)
        self.latin = _View(words, whole_words=True)
        self.size = 0
        for path in sorted(folder.glob("*.yaml")):
            raw = read_yaml(path)
            for item in raw.get("terms", []):
                term = Term(str(item["term"]), raw["category"], path.name, tuple(item.get("except", ())))
                (self.latin if _LATIN.match(term.term) else self.chinese).add(term)
                self.size += 1
        self.chinese.build()
        self.latin.build()

    def find(self, text: str) -> list[WordHit]:
        hits = self.chinese.find(text) + self.latin.find(text)
        return list(dict.fromkeys(hits))


class SensitiveWordCheck:
    name = "sensitive_words"

    def __init__(self, folder: Path) -> None:
        self.words = WordList(folder)

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        problems = []
        for field, text in copy.texts():
            for hit in self.words.find(without_links(text)):
                problems.append(f"{field} uses “{hit.term}” ({hit.category}, words/{hit.file})")
        return failed(self.name, problems) if problems else passed(self.name)
