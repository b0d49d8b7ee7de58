"""The service's HTTP contract (design notes, "Service API") as pydantic models.

Every string is bounded and printable; IDs have a pattern that can never be a URL path, query or
dot segment. The closed sets that copywriters edit (journeys, channels, tones) become enums of the
published schema through `request_model` / `response_model`, built from the content at start-up.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
)

Locale = Literal["zh-CN", "en-US"]
Source = Literal["llm", "repaired", "fallback", "library"]
Mode = Literal["fresh", "library", "approved_only"]

# A SKU or offer ID: letters and digits in runs joined by single `.`, `_` or `-`. No `/`, `?`, `%`,
# `#`, space or dot segment, so it is one literal path segment of the commerce API.
ID_PATTERN = r"^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$"
ID_MAX = 64
# A content key (journey, channel, tone): what the YAML files use as names.
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
# Free text may not hold C0/C1 control characters (no request field needs a line break or tab);
# unpaired surrogates are refused by the validator, which JSON Schema cannot express portably.
PRINTABLE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"

# Bounds of the free text a journey engine sends (characters).
INTEREST_MAX, INTERESTS_MAX_ITEMS = 100, 10
CS_TOPIC_MAX = 60
NAME_MAX = 40
SKUS_MAX_ITEMS = 10


def _printable(value: str) -> str:
    """Reject what the pattern misses (the pattern is only checked by pydantic's Rust regex on
    valid Unicode): unpaired surrogates. Control characters are reported by the pattern."""
    for ch in value:
        if unicodedata.category(ch) == "Cs":
            raise ValueError(f"holds an unpaired surrogate U+{ord(ch):04X}")
    return value


def Text(max_length: int, min_length: int = 0) -> Any:  # noqa: N802 - reads as a type
    """A bounded string without control characters or unpaired surrogates."""
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length, pattern=PRINTABLE_PATTERN),
        AfterValidator(_printable),
    ]


def _integral(value: Any) -> Any:
    """JSON Schema counts 2.0 as an integer; strict mode still refuses true, "2" and 2.5."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("each tone at most once")
    return values


_TONE_LIST = Field(min_length=1, max_length=4, json_schema_extra={"uniqueItems": True})

ItemId = Annotated[str, StringConstraints(min_length=1, max_length=ID_MAX, pattern=ID_PATTERN)]
ContentName = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=NAME_PATTERN)]

_STRICT = ConfigDict(extra="forbid", strict=True)


class Audience(BaseModel):
    model_config = _STRICT

    segment: Literal["hot", "warm", "cold"] | None = None
    interests: list[Text(INTEREST_MAX, 1)] = Field(  # type: ignore[valid-type]
        default_factory=list,
        max_length=INTERESTS_MAX_ITEMS,
        description="what the customer cares about, free text; redacted of personal data before any prompt",
    )
    price_sensitivity: Literal["low", "medium", "high"] | None = None
    cs_topic: Text(CS_TOPIC_MAX, 1) | None = Field(  # type: ignore[valid-type]
        default=None,
        description="the topic of the customer's last support contact: a topic of knowledge/retrieval.yaml "
        "(sizing, delivery, ...) or free text",
    )
    name: Text(NAME_MAX, 1) | None = Field(  # type: ignore[valid-type]
        default=None,
        description="the customer's name; it reaches the copy through {name} only when it is a printable "
        "name of letters (prompts/placeholders.yaml bounds its length), else the copy does without it",
    )


class GenerateRequest(BaseModel):
    """The request as the CLI and the evals build it. The API serves `request_model(...)`, the same
    fields with `channel` and `journey` narrowed to the enums of the content files."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "request_id": "cart-123-sms",
                    "channel": "sms",
                    "locale": "zh-CN",
                    "journey": "cart_abandon",
                    "skus": ["SKU-1001"],
                    "offer_id": "OFF-FREESHIP",
                    "audience": {"segment": "hot", "interests": ["running"], "cs_topic": "sizing"},
                    "variants": 2,
                }
            ]
        },
    )

    request_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
    channel: ContentName
    locale: Locale
    journey: ContentName
    skus: list[ItemId] = Field(min_length=1, max_length=SKUS_MAX_ITEMS)
    offer_id: ItemId | None = None
    audience: Audience = Field(default_factory=Audience)
    variants: Annotated[int, BeforeValidator(_integral)] = Field(default=2, ge=1, le=4)
    tones: Literal["auto"] | Annotated[list[ContentName], _TONE_LIST, AfterValidator(_unique)] | None = Field(
        default=None,
        description='the variants\' tones: "auto" draws them from what converted in this context '
        "(Thompson sampling on the outcomes posted to /v1/events); a list gives the first variants "
        "these tones, the rest follow prompts/tones.yaml's order; unset, that order",
    )
    mode: Mode | None = Field(
        default=None,
        description="`fresh`: the model writes every variant; `library`: approved library variants of this "
        "context, re-checked against today's facts, the model writing only what is missing; `approved_only`: "
        "approved variants, else fallback copy. Unset: the journey's `mode` in prompts/journeys.yaml",
    )
    on_commerce_unavailable: Literal["claim_free", "fail"] = Field(
        default="claim_free",
        description="what a price, stock or offer the commerce API could not give means: `claim_free` "
        "copy that states none of them (`checked_against` says which), or `fail`: 503 "
        "`commerce_unavailable` with Retry-After (no answer), 502 `commerce_malformed` (an answer that "
        "broke the contract)",
    )


class CheckOut(BaseModel):
    name: str
    passed: bool
    detail: str


class VariantOut(BaseModel):
    variant_id: str
    tone: str
    offer_id: str | None
    title: str | None
    body: str
    cta: str | None
    disclaimers: list[str]
    source: Source
    checks: list[CheckOut]
    source_reason: str = Field(
        default="", description="why this source: the checks the model's answers failed, or that it passed"
    )
    repair: Literal["cut", "reask"] | None = Field(
        default=None, description='for source "repaired": a deterministic cut to fit, or a re-ask'
    )
    weight: float = Field(
        ge=0,
        le=1,
        description="share of this context's traffic to send this variant: with the hold-out's, "
        "the weights sum to 1 (see allocation)",
    )
    library_id: str | None = Field(
        default=None, description='for source "library": the approved library variant it was filled from'
    )


class ArmOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant_id: str
    arm: str = Field(
        description="what outcomes of this variant count for: tone@prompt_version, or a library variant's "
        "ID; `holdout`: the hold-out's share (send nothing), last, only when one is configured"
    )
    weight: float = Field(ge=0, le=1)
    p_best: float = Field(
        ge=0, le=1, description="probability that this arm is best for the goal (0 for the hold-out)"
    )
    sends: int = Field(ge=0, description="`sent` events of this arm in this context so far")
    prior: Literal["arm", "family", "parent", "none"] = Field(
        description="where this context's prior came from: the arm, its tone or every arm over the "
        "journey and channel's other locales and segments; none: no outcomes there"
    )
    flags: list[str] = Field(
        description="`unsubscribed_above_baseline`, `complained_above_ceiling`…: held at the floor"
    )


class AllocationOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy_version: str = Field(description="hash of guardrails/allocation.yaml that decided")
    goal: Literal["clicked", "converted"]
    hold_out: float = Field(ge=0, le=1, description="share to send nothing (0 when not configured)")
    hold_out_id: str | None = Field(
        description="the variant_id to post the hold-out's events under; null without a hold-out"
    )
    reason: str = Field(description="what moved the weights, in words")
    arms: list[ArmOut] = Field(
        description="one per variant, in the variants' order, then the hold-out's when configured; "
        "the weights sum to 1"
    )


VerificationStatus = Literal["verified", "unavailable", "malformed"]
_STATUS = (
    "`verified` (from the commerce API), `unavailable` (no answer: timeout, refused, 5xx, 429) or "
    "`malformed` (an answer that broke the contract; `field` names where)"
)
_AS_OF = "when the commerce API gave the fact (a cached fact keeps its fetch time); null when unverified"


class SkuChecked(BaseModel):
    sku: str
    price_verified: bool = Field(description="price and list price from the commerce API")
    stock_verified: bool = Field(description="stock from the commerce API")
    status: VerificationStatus = Field(description=_STATUS)
    as_of: datetime | None = Field(description=_AS_OF)
    field: str | None = Field(default=None, description="for `malformed`: the answer's field at fault")


class OfferChecked(BaseModel):
    offer_id: str
    verified: bool = Field(description="terms, code and end date from the commerce API")
    status: VerificationStatus = Field(description=_STATUS)
    as_of: datetime | None = Field(description=_AS_OF)
    field: str | None = Field(default=None, description="for `malformed`: the answer's field at fault")


class CheckedAgainst(BaseModel):
    """What the copy was checked against: an unverified fact never appears in the copy."""

    all_verified: bool = Field(description="every SKU and the offer verified")
    skus: list[SkuChecked]
    offer: OfferChecked | None = Field(description="null when the request named no offer")


class KnowledgeUsed(BaseModel):
    reviews: Literal["used", "none", "unavailable"] = Field(
        description="`used`: review snippets were in the prompt; `none`: none matched; `unavailable`: the "
        "knowledge server did not answer, the copy rests on the product facts alone"
    )
    detail: str | None = None


class GenerateResponse(BaseModel):
    generation_id: str
    request_id: str
    model: str
    prompt_version: str
    snippet_ids: list[str] = Field(description="knowledge base snippets the prompt drew on")
    checked_against: CheckedAgainst | None = Field(
        default=None,
        description="the trade facts the copy was checked against: per SKU price and stock, the offer, "
        "each verified or not and as of when",
    )
    knowledge: KnowledgeUsed | None = Field(
        default=None, description="what the knowledge base gave this request (review snippets or not)"
    )
    variants: list[VariantOut]
    allocation: AllocationOut = Field(description="how the weights were decided (see docs/learning.md)")


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def _enum(names: tuple[str, ...]) -> Any:
    return Literal[names]  # type: ignore[valid-type]


@cache
def request_model(
    channels: tuple[str, ...], journeys: tuple[str, ...], tones: tuple[str, ...] = ()
) -> type[GenerateRequest]:
    """GenerateRequest with `channel`, `journey` and `tones` as the enums of guardrails/channels.yaml,
    prompts/journeys.yaml and prompts/tones.yaml, so the published schema says exactly what is served."""
    extra: dict[str, Any] = {}
    if tones:
        base = GenerateRequest.model_fields["tones"]
        listed = Annotated[list[_enum(tones)], _TONE_LIST, AfterValidator(_unique)]  # type: ignore[misc]
        extra["tones"] = (Literal["auto"] | listed | None, Field(default=None, description=base.description))
    return create_model(  # type: ignore[call-overload, no-any-return]
        "GenerateRequest",
        __base__=GenerateRequest,
        __module__=__name__,
        channel=(_enum(channels), Field(description="a channel of guardrails/channels.yaml")),
        journey=(_enum(journeys), Field(description="a journey of prompts/journeys.yaml")),
        **extra,
    )


@cache
def response_model(tones: tuple[str, ...]) -> type[GenerateResponse]:
    """GenerateResponse whose variants' `tone` is the enum of prompts/tones.yaml."""
    variant = create_model(  # type: ignore[call-overload]
        "VariantOut",
        __base__=VariantOut,
        __module__=__name__,
        tone=(_enum(tones), Field(description="a tone of prompts/tones.yaml")),
    )
    return create_model(  # type: ignore[call-overload, no-any-return]
        "GenerateResponse", __base__=GenerateResponse, __module__=__name__, variants=(list[variant], ...)
    )
