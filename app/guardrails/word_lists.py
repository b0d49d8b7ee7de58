"""The word lists and patterns of guardrails/words/ as data with provenance: every term knows its
category, list file, source and scope (general, or a domain such as medical), and which product
categories bring which domains (guardrails/domains.yaml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from app.content import read_yaml

GENERAL = "general"


@dataclass(frozen=True)
class Term:
    term: str
    category: str
    file: str
    source: str
    scope: str = GENERAL
    exceptions: tuple[str, ...] = ()
    except_re: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class Pattern:
    """A construction rather than a word (最 + adjective, 第一 + rank noun); `view` says which
    normalised text it reads: compact (Chinese) or words (Latin)."""

    id: str
    regex: re.Pattern[str]
    view: str
    category: str
    file: str
    source: str
    scope: str = GENERAL
    exceptions: tuple[str, ...] = ()
    except_re: tuple[re.Pattern[str], ...] = ()


def _except_re(raw: dict, item: dict) -> tuple[re.Pattern[str], ...]:
    """Allowed uses as regular expressions, anchored where the hit starts (最高20瓦: a spec)."""
    return tuple(re.compile(r) for r in [*(raw.get("except_re") or ()), *(item.get("except_re") or ())])


def _source(raw: dict, item: dict) -> str:
    """The reference a term came from: its `src` key in the file's `sources`, else the file's."""
    sources = raw.get("sources") or {}
    keys = item.get("src") or ()
    keys = [keys] if isinstance(keys, str) else list(keys)
    refs = [str((sources.get(k) or {}).get("ref", k)) for k in keys]
    return "; ".join(refs) if refs else str(raw.get("source", "unknown"))


def load_terms(folder: Path) -> tuple[list[Term], list[Pattern]]:
    terms: list[Term] = []
    patterns: list[Pattern] = []
    for path in sorted(folder.glob("*.yaml")):
        raw = read_yaml(path) or {}
        scope = str(raw.get("scope", GENERAL))
        for item in raw.get("terms", []):
            terms.append(
                Term(
                    term=str(item["term"]),
                    category=str(item.get("category", raw.get("category"))),
                    file=path.name,
                    source=_source(raw, item),
                    scope=str(item.get("scope", scope)),
                    exceptions=tuple(str(e) for e in item.get("except", ())),
                    except_re=_except_re(raw, item),
                )
            )
        for item in raw.get("patterns", []):
            patterns.append(
                Pattern(
                    id=str(item["id"]),
                    regex=re.compile(item["regex"]),
                    view=str(item.get("view", "compact")),
                    category=str(item.get("category", raw.get("category"))),
                    file=path.name,
                    source=_source(raw, item),
                    scope=str(item.get("scope", scope)),
                    exceptions=tuple(str(e) for e in item.get("except", ())),
                    except_re=_except_re(raw, item),
                )
            )
    return terms, patterns


@dataclass(frozen=True)
class DomainMap:
    """Catalog category → the regulated domains whose lists apply to its copy."""

    by_category: dict[str, tuple[str, ...]]

    @classmethod
    def load(cls, path: Path) -> DomainMap:
        raw = read_yaml(path) if path.exists() else {}
        cats = (raw or {}).get("categories") or {}
        return cls({str(k): tuple(str(d) for d in (v or ())) for k, v in cats.items()})

    def domains(self, categories: list[str]) -> frozenset[str]:
        return frozenset(d for c in categories for d in self.by_category.get(c, ()))
