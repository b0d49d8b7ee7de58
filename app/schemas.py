"""The service's HTTP contract (design notes, "Service API") as pydantic models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["sms", "push", "email", "wechat", "inapp"]
Locale = Literal["zh-CN", "en-US"]
Source = Literal["llm", "repaired", "fallback"]


class Audience(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment: Literal["hot", "warm", "cold"] | None = None
    interests: list[str] = Field(default_factory=list, max_length=10)
    price_sensitivity: Literal["low", "medium", "high"] | None = None
    cs_topic: str | None = Field(default=None, max_length=60)
    name: str | None = Field(default=None, min_length=1, max_length=40)


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
    channel: Channel
    locale: Locale
    journey: str = Field(min_length=1, max_length=40)
    skus: list[str] = Field(min_length=1, max_length=10)
    offer_id: str | None = Field(default=None, max_length=64)
    audience: Audience = Field(default_factory=Audience)
    variants: int = Field(default=2, ge=1, le=4)


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


class GenerateResponse(BaseModel):
    generation_id: str
    request_id: str
    model: str
    prompt_version: str
    snippet_ids: list[str] = Field(description="knowledge base snippets the prompt drew on")
    variants: list[VariantOut]


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail
