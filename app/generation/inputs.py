"""What the prompt is told about a request: the audience with personal data redacted, the
products' facts, the offer's terms, reviews as untrusted quotes, the placeholders it may use."""

from __future__ import annotations

import unicodedata

from app.commerce.facts import TradeFacts
from app.generation.prompts import PromptInput
from app.guardrails.pii_detector import PiiDetector
from app.kb.interface import Evidence
from app.schemas import GenerateRequest

# Product facts per SKU in a prompt: a small model reads ~190 tokens/s here.
FACTS_PER_PRODUCT = 3


def clean_text(text: str) -> str:
    """Free text as the prompt and retrieval see it: NFKC (full-width digits become digits the PII
    recognisers know), no invisible format characters (zero-width, bidi controls), single spaces."""
    text = "".join(ch for ch in unicodedata.normalize("NFKC", text) if unicodedata.category(ch) != "Cf")
    return " ".join(text.split())


def scrubbed_audience(req: GenerateRequest, pii: PiiDetector) -> dict:
    """Free text from the request cleaned and with personal data redacted; the name never goes in."""
    audience = req.audience.model_dump(exclude={"name"})
    if audience.get("cs_topic"):
        audience["cs_topic"] = pii.redact(clean_text(audience["cs_topic"]), req.locale)[0]
    audience["interests"] = [pii.redact(clean_text(i), req.locale)[0] for i in audience.get("interests", [])]
    return audience


def prompt_input(
    req: GenerateRequest,
    audience: dict,
    trade: TradeFacts,
    placeholders: list[str],
    tone: str,
    evidence: list[Evidence],
    violations: list[str],
) -> PromptInput:
    return PromptInput(
        channel=req.channel,
        locale=req.locale,
        journey=req.journey,
        tone=tone,
        audience=audience,
        products=[{"name": p.name or p.sku, "facts": p.facts[:FACTS_PER_PRODUCT]} for p in trade.products],
        offer_terms=trade.offer.terms_for(req.locale) if trade.offer else None,
        reviews=[e.text for e in evidence],
        placeholders=placeholders,
        violations=violations,
    )


def snippet_ids(trade: TradeFacts, evidence: list[Evidence]) -> list[str]:
    """The knowledge snippets a prompt drew on, for the response and the audit."""
    return [f for p in trade.products for f in p.fact_ids[:FACTS_PER_PRODUCT]] + [e.id for e in evidence]


def grounding(trade: TradeFacts, locale: str) -> tuple[str, ...]:
    """What the copy may quote from its prompt and be about: product names and facts, offer terms."""
    texts = [t for p in trade.products for t in (p.name or "", *p.facts) if t]
    if trade.offer is not None:
        texts.append(trade.offer.terms_for(locale))
    return tuple(texts)
