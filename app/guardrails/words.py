"""Sensitive words and constructions from guardrails/words/, matched with Aho-Corasick and regular
expressions over normalised views of the text; domain lists apply only to products whose category
brings that domain (guardrails/domains.yaml)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ahocorasick

from app.guardrails.base import CheckContext, CheckResult, Copy, failed, passed
from app.guardrails.link_policy import without_links
from app.guardrails.normalize import compact, joined_words, tight, words
from app.guardrails.word_lists import GENERAL, DomainMap, Pattern, Term, load_terms

_LATIN = re.compile(r"^[\x00-\x7f]+$")
Normalise = Callable[[str], str]


@dataclass(frozen=True)
class WordHit:
    term: str
    category: str
    file: str
    source: str = ""
    scope: str = GENERAL

    def describe(self) -> str:
        where = f"words/{self.file}" + ("" if self.scope == GENERAL else f", {self.scope} only")
        return f"“{self.term}” ({self.category}, {where}, source: {self.source})"


def _hit(entry: Term | Pattern, text: str) -> WordHit:
    file = f"{entry.file}#{entry.id}" if isinstance(entry, Pattern) else entry.file
    return WordHit(text, entry.category, file, entry.source, entry.scope)


class _View:
    """One automaton over one normalised view of the text."""

    def __init__(self, normalise: Normalise, whole_words: bool) -> None:
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

    def find(self, view: str, spaced: str = "") -> list[WordHit]:
        if not self.terms:
            return []
        hits: list[WordHit] = []
        for end, (key, terms) in self.automaton.iter(view):
            start = end - len(key) + 1
            if self.whole_words and not _bounded(view, start, end):
                continue
            for term in terms:
                if not _excused(view, start, end, term, self.normalise, spaced):
                    hits.append(_hit(term, term.term))
        return hits


def _bounded(view: str, start: int, end: int) -> bool:
    before = view[start - 1] if start > 0 else " "
    after = view[end + 1] if end + 1 < len(view) else " "
    return not _word_char(before) and not _word_char(after)


def _word_char(ch: str) -> bool:
    """Latin words end at anything else, CJK included (Nike对比 names Nike)."""
    return ch.isascii() and ch.isalnum()


def _excused(
    view: str, start: int, end: int, entry: Term | Pattern, normalise: Normalise, spaced: str = ""
) -> bool:
    """A hit inside an allowed longer phrase (第一次, "first order") or an allowed construction
    starting with it (最高20瓦: read on the view that keeps punctuation, so 最大】20W is no spec)."""
    hit = view[start : end + 1]
    for allowed in entry.except_re:
        if any(m.group(0).startswith(hit) for m in allowed.finditer(spaced or view)):
            return True
    for phrase in entry.exceptions:
        p = normalise(phrase)
        if not p:
            continue
        at = view.find(p, max(0, end + 1 - len(p)))
        while at != -1 and at <= start:
            if at + len(p) - 1 >= end:
                return True
            at = view.find(p, at + 1)
    return False


_VIEWS: dict[str, Normalise] = {"compact": compact, "words": words}


class WordList:
    def __init__(self, folder: Path) -> None:
        self.chinese = _View(compact, whole_words=False)
        self.latin = _View(words, whole_words=True)
        self.latin_joined = _View(joined_words, whole_words=True)
        terms, self.patterns = load_terms(folder)
        self.size = len(terms) + len(self.patterns)
        for term in terms:
            if _LATIN.match(term.term):
                self.latin.add(term)
                self.latin_joined.add(term)
            else:
                self.chinese.add(term)
        for view in (self.chinese, self.latin, self.latin_joined):
            view.build()

    def find(self, text: str, domains: frozenset[str] = frozenset()) -> list[WordHit]:
        if not text:
            return []
        views = {"compact": compact(text), "words": words(text)}
        spaced = {"compact": tight(text), "words": ""}
        hits = self.chinese.find(views["compact"], spaced["compact"]) + self.latin.find(views["words"])
        hits += self.latin_joined.find(joined_words(text))
        for pattern in self.patterns:
            view = views[pattern.view]
            for m in pattern.regex.finditer(view):
                start, end = m.start(), m.end() - 1
                if pattern.view == "words" and not _bounded(view, start, end):
                    continue
                if not _excused(view, start, end, pattern, _VIEWS[pattern.view], spaced[pattern.view]):
                    hits.append(_hit(pattern, m.group(0)))
        in_scope = [h for h in hits if h.scope == GENERAL or h.scope in domains]
        return _without_overlaps(in_scope)


def _without_overlaps(hits: list[WordHit]) -> list[WordHit]:
    """One report per term (eco-friendly and eco friendly are one); a pattern's match that a
    listed term already names is dropped."""
    seen: dict[str, WordHit] = {}
    for h in hits:
        seen.setdefault(compact(h.term), h)
    terms = [h.term for h in seen.values()]
    return [h for h in seen.values() if not any(h.term != t and h.term in t for t in terms)]


class SensitiveWordCheck:
    name = "sensitive_words"

    def __init__(self, folder: Path, domains: DomainMap | None = None) -> None:
        self.words = WordList(folder)
        self.domain_map = domains or DomainMap.load(folder.parent / "domains.yaml")

    def domains(self, ctx: CheckContext) -> frozenset[str]:
        return self.domain_map.domains([p.category for p in ctx.trade.products if p.category])

    def run(self, copy: Copy, ctx: CheckContext) -> CheckResult:
        domains = self.domains(ctx)
        problems = []
        for field, text in copy.texts():
            for hit in self.words.find(without_links(text), domains):
                problems.append(f"{field} uses {hit.describe()}")
        return failed(self.name, problems) if problems else passed(self.name)
