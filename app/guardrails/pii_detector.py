"""PII detection with presidio-analyzer, offline: a blank spaCy pipeline (nothing to download)
and the recognisers of guardrails/pii.yaml, which presidio lacks for China."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import regex

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # presidio's tldextract: no fetch

from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry  # noqa: E402
from presidio_analyzer.nlp_engine import SpacyNlpEngine  # noqa: E402

from app.content import read_yaml  # noqa: E402

LANGUAGE = "zh"  # pattern recognisers only; the label is presidio's, it serves both locales
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def luhn(digits: str) -> bool:
    nums = [int(c) for c in re.sub(r"\D", "", digits)]
    if not 13 <= len(nums) <= 19:
        return False
    total = 0
    for i, n in enumerate(reversed(nums)):
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def cn_id(number: str) -> bool:
    """GB 11643-1999 resident ID: 18 characters however grouped, a real birth date, the check
    character right."""
    number = re.sub(r"[^0-9Xx]", "", number).upper()
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not date(1900, 1, 1) <= born <= date.today():
        return False
    body, check = number[:17], number[17]
    return _ID_CHECK[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True)) % 11] == check


# Issuer prefixes and lengths of the card schemes (ISO/IEC 7812 IIN ranges): an order number that
# happens to pass Luhn is not a card unless it also looks like one.
_CARD_SCHEMES = re.compile(
    r"^(?:4(?:\d{12}|\d{15}|\d{18})"  # Visa 13/16/19
    r"|(?:5[1-5]\d{2}|222[1-9]|22[3-9]\d|2[3-6]\d{2}|27[01]\d|2720)\d{12}"  # Mastercard
    r"|3[47]\d{13}"  # Amex
    r"|3(?:0[0-5]|[68]\d)\d{11,16}"  # Diners
    r"|35(?:2[89]|[3-8]\d)\d{12,15}"  # JCB
    r"|6(?:011|5\d{2}|4[4-9]\d)\d{12,15}"  # Discover
    r"|62\d{14,17}"  # UnionPay
    r"|(?:50|5[6-9]|6\d)\d{10,17})$"  # Maestro
)


def card(digits: str) -> bool:
    number = re.sub(r"\D", "", digits)
    return luhn(number) and _CARD_SCHEMES.match(number) is not None


VALIDATORS = {"luhn": card, "cn_id": cn_id}


class _Validated(PatternRecognizer):
    def __init__(self, validator, **kwargs) -> None:
        super().__init__(**kwargs)
        self._validator = validator

    def validate_result(self, pattern_text: str) -> bool | None:
        return self._validator(pattern_text) if self._validator else None


@dataclass(frozen=True)
class PiiHit:
    entity: str
    start: int
    end: int
    text: str


@cache
def _blank_pipeline() -> str:
    """spacy.blank('zh') on disk: presidio wants a model path, and a blank one downloads nothing."""
    import spacy

    path = Path(tempfile.gettempdir()) / "copydesk-spacy-blank-zh"
    if not (path / "meta.json").exists():
        # Written aside and renamed into place: workers starting at once must not see (or trip over)
        # a half-written pipeline; the loser of the rename race uses the winner's copy.
        scratch = Path(tempfile.mkdtemp(prefix="copydesk-spacy-", dir=path.parent))
        spacy.blank("zh").to_disk(scratch / "zh")
        try:
            (scratch / "zh").rename(path)
        except OSError:
            if not (path / "meta.json").exists():
                raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return str(path)


class PiiDetector:
    def __init__(self, policy_path: Path) -> None:
        policy = read_yaml(policy_path)
        self.redaction: dict[str, str] = policy["redaction"]
        registry = RecognizerRegistry(supported_languages=[LANGUAGE])
        for r in policy["recognizers"]:
            registry.add_recognizer(
                _Validated(
                    VALIDATORS.get(r.get("validator", "")),
                    supported_entity=r["entity"],
                    supported_language=LANGUAGE,
                    patterns=[Pattern(r["entity"].lower(), r["pattern"], float(r["score"]))],
                )
            )
        # presidio runs spaCy and every recogniser on each text; a text none of the patterns can
        # match has no hit, so one regex pass decides most texts (copy rarely holds digits or @).
        # `regex`, as presidio itself uses: the patterns need variable-width look-behind.
        flags = regex.DOTALL | regex.MULTILINE | regex.IGNORECASE  # presidio's own flags for patterns
        self._could_match = [regex.compile(r["pattern"], flags) for r in policy["recognizers"]]
        # What every recogniser needs somewhere in a text (pii.yaml `prefilter`): one plain regex
        # pass over a whole audit record (~5 KB) instead of every pattern (1.8 ms a request).
        self._needs = re.compile(policy["prefilter"]) if policy.get("prefilter") else None
        engine = SpacyNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": _blank_pipeline()}])
        self.analyzer = AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=[LANGUAGE])

    def could_match(self, text: str) -> bool:
        """False when no recogniser's pattern occurs in `text`: then `find` has nothing to find."""
        if not text or (self._needs is not None and not self._needs.search(text)):
            return False
        return any(p.search(text) for p in self._could_match)

    def find(self, text: str) -> list[PiiHit]:
        if not self.could_match(text):
            return []
        results = self.analyzer.analyze(text=text, language=LANGUAGE)
        hits = sorted(results, key=lambda r: (r.start, -r.end, -r.score))
        out: list[PiiHit] = []
        for r in hits:
            if out and r.start < out[-1].end:  # keep the first of overlapping hits
                continue
            out.append(PiiHit(r.entity_type, r.start, r.end, text[r.start : r.end]))
        return out

    def redact(self, text: str, locale: str) -> tuple[str, list[PiiHit]]:
        hits = self.find(text)
        for h in reversed(hits):
            text = text[: h.start] + self.redaction.get(locale, "[redacted]") + text[h.end :]
        return text, hits
