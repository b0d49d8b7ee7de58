"""Text views that defeat common evasions before matching: full-width forms, case, traditional
characters, and separators slipped between characters."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import opencc

_CJK = re.compile(r"[\u3400-\u9fff]")
_KEEP_COMPACT = re.compile(r"[\w\u3400-\u9fff#%]", re.UNICODE)
_SPACED_OUT = re.compile(r"(?<![a-z0-9])(?:[a-z0-9][\s.*·•_\-|/]+){2,}[a-z0-9](?![a-z0-9])")


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def base(text: str) -> str:
    """NFKC (full-width → ASCII), lower case, traditional → simplified."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _t2s().convert(text) if _CJK.search(text) else text


def compact(text: str) -> str:
    """For Chinese terms: every separator, space and punctuation mark removed (最*低 价 → 最低价)."""
    return "".join(ch for ch in base(text) if _KEEP_COMPACT.match(ch) and ch != "_")


def words(text: str) -> str:
    """For Latin terms: hyphens as spaces, one space between words, spaced-out letters joined
    (g u a r a n t e e d → guaranteed)."""
    text = base(text)
    text = _SPACED_OUT.sub(lambda m: re.sub(r"[\s.*·•_\-|/]+", "", m.group(0)), text)
    text = re.sub(r"[-_]+", " ", text)
    text = re.sub(r"\.\s+(?=\d)", ".", text)  # "no. 1" and "no.1" alike
    return re.sub(r"\s+", " ", text).strip()
