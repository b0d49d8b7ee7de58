"""Text views that defeat common evasions before matching: full-width forms, case, traditional
characters, zero-width and other format characters, look-alike letters, dash variants, №/N° for #,
and separators, symbols or emoji slipped between characters."""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

import opencc

_CJK = re.compile(r"[\u3400-\u9fff]")
_KEEP_COMPACT = re.compile(r"[\w\u3400-\u9fff#%]", re.UNICODE)
_SEP = r"[\s.*·•_\-|/~+=^'\"`,:;!?@$&\\]"
_SPACED_OUT = re.compile(rf"(?<![a-z0-9])(?:[a-z0-9]{_SEP}+){{2,}}[a-z0-9](?![a-z0-9])")
# "No. 1", "N°1", "Nº 1", "№1" (NFKC turns № into "No") all read as "#1"; "#1" itself stays.
_NUMERO = re.compile(r"(?<![a-z0-9])(?:no|n°|nº|n\.o)\s*\.?\s*(?=\d)")
# Look-alike letters from other scripts that NFKC leaves alone (Cyrillic, Greek).
_CONFUSABLES = str.maketrans(
    "аеорсхуіјѕԁɡкмнтвАЕОРСХУІЈЅКМНТВαοτνικԛԝᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ",
    "aeopcxyijsdgkmhtbaeopcxyijskmhtbaotvikqwabcdefghijklmnoprstuvwyz",
)
_DASHES = str.maketrans(
    {c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d\u2e3a\u2e3b"}
    | {c: "'" for c in "\u2018\u2019\u02bc\u2032"}
)


_FIRST = re.compile(r"第[1壹](?![0-9])")
_LEET_MAP = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
_LEET = re.compile(r"(?<=[a-z])[013457@$](?=[a-z])|(?<=[a-z])[013457@$](?=[013457@$][a-z])")


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _visible(ch: str) -> bool:
    """Format characters (zero-width space/joiner, bidi marks, soft hyphen) and variation
    selectors carry nothing a reader sees: drop them."""
    cat = unicodedata.category(ch)
    return cat != "Cf" and not ("\ufe00" <= ch <= "\ufe0f") and cat != "Mn"


def _symbol(ch: str) -> bool:
    """Emoji and other pictographs, slipped between letters."""
    return unicodedata.category(ch) in {"So", "Sk", "Co", "Cs"} or ch == "\u20e3"


@lru_cache(maxsize=8192)
def base(text: str) -> str:
    """NFKC (full-width → ASCII), lower case, look-alikes mapped, format characters dropped,
    dash variants as "-", traditional → simplified, "No. 1" / "№1" as "#1"."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():  # accents off Latin letters (gúaranteed), CJK is left as it is
        text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if _visible(ch))
    text = text.lower().translate(_CONFUSABLES).translate(_DASHES)
    text = _NUMERO.sub("#", text)
    return _t2s().convert(text) if _CJK.search(text) else text


def compact(text: str) -> str:
    """For Chinese terms: every separator, space, symbol and emoji removed (最*低 价 → 最低价);
    第1 / 第壹 read as 第一, so its ordinal exceptions hold in any numeral."""
    text = "".join(ch for ch in base(text) if _KEEP_COMPACT.match(ch) and ch != "_")
    if _CJK.search(text):  # again once joined: 反 覆 is only 反复 as a phrase
        text = _t2s().convert(text)
    return _FIRST.sub("第一", text) if "第" in text else text


def tight(text: str) -> str:
    """The base view with only whitespace removed: where punctuation still separates (最大】20W)."""
    return re.sub(r"\s+", "", base(text))


def words(text: str) -> str:
    """For Latin terms: hyphens as spaces, one space between words, spaced-out letters joined
    (g u a r a n t e e d → guaranteed), emoji inside a word dropped (gua🔥ranteed)."""
    text = _letters_through_symbols(base(text))
    text = _NUMERO.sub("#", _SPACED_OUT.sub(_join_spaced, text))
    text = re.sub(r"[-_]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _join_spaced(m: re.Match[str]) -> str:
    """Letters spaced out one by one are joined; a wider gap (two spaces or more) between them
    stays a word break (I n s t a n t   r e s u l t s → instant results)."""
    parts = re.split(r"\s{2,}|\s+-\s+", m.group(0))
    return " ".join(re.sub(rf"{_SEP}+", "", p) for p in parts)


def joined_words(text: str) -> str:
    """For Latin terms split by hyphens or dots inside a word (guaran-teed, cu.re): those joined;
    digits and @/$ standing for letters inside a word read as letters (gu4r4nteed, b3st)."""
    text = _letters_through_symbols(base(text))
    text = _LEET.sub(lambda m: _LEET_MAP[m.group(0)], text)
    text = re.sub(r"(?<=[a-z])[-_.*·•|]+(?=[a-z])", "", text)
    text = re.sub(r"[-_]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _letters_through_symbols(text: str) -> str:
    """Symbols between two letters vanish; elsewhere they become spaces."""
    if not any(_symbol(ch) for ch in text):
        return text
    out = []
    for i, ch in enumerate(text):
        if not _symbol(ch):
            out.append(ch)
            continue
        before = next((c for c in reversed(text[:i]) if not _symbol(c) and c not in "-_."), " ")
        after = next((c for c in text[i + 1 :] if not _symbol(c) and c not in "-_."), " ")
        out.append("" if before.isalnum() and after.isalnum() else " ")
    return "".join(out)
