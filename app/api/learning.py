"""POST /v1/events: outcomes of the variants served (sent, delivered, opened, clicked, converted,
unsubscribed, complained), idempotent by event_id, each event accepted or rejected on its own.
GET /v1/performance: what those outcomes say per arm and context."""

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api import roles
from app.api.errors import error_responses
from app.api.limits import EVENTS_MAX_BATCH
from app.learning import Learning
from app.learning.performance import Filters, performance
from app.store.database import run_for

router = APIRouter(tags=["learning"])

EVENT_DOC = (
    "an event: `event_id` (your ID, 1-128 of `A-Za-z0-9._:-`; a repeat is a duplicate), `variant_id` "
    "(from /v1/generate, or the allocation's `hold_out_id`), `type` (sent, delivered, opened, clicked, "
    "converted, unsubscribed, complained), `at` (ISO 8601 with offset, or Unix seconds; not in the "
    "future, not before the generation), `value` (optional revenue >= 0). An event that breaks these "
    "is rejected on its own, with its reason; the rest of the batch is accepted"
)


class EventBatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {
                            "event_id": "e-1",
                            "variant_id": "gen_0123456789abcdef0123-A",
                            "type": "sent",
                            "at": "2026-12-02T09:00:00Z",
                        },
                        {
                            "event_id": "e-2",
                            "variant_id": "gen_0123456789abcdef0123-A",
                            "type": "converted",
                            "at": "2026-12-02T09:30:00Z",
                            "value": 59.0,
                        },
                    ]  # fmt: skip
                }
            ]
        },
    )

    events: list[Annotated[dict[str, Any], Field(description=EVENT_DOC)]] = Field(
        min_length=1, max_length=EVENTS_MAX_BATCH, description=f"1 to {EVENTS_MAX_BATCH} events"
    )


class EventError(BaseModel):
    index: int
    event_id: str | None
    code: str = Field(
        description="missing_field, invalid_field, unknown_field, unknown_type, unknown_variant, "
        "in_future, before_generation"
    )
    field: str
    message: str


class EventsAnswer(BaseModel):
    accepted: int = Field(description="new events, counted")
    duplicate: int = Field(description="events whose event_id was seen before (or twice in this batch)")
    rejected: int
    errors: list[EventError] = Field(description="why each rejected event was rejected")


@router.post(
    "/v1/events",
    response_model=EventsAnswer,
    responses=error_responses(400, 401, 403, 413, 422, 429, 500),
)
async def post_events(batch: EventBatch, request: Request) -> Any:
    """Outcomes of variants: counted per arm and context at once, idempotent by event_id, also
    when two instances receive the same event together."""
    settings = request.app.state.service.settings
    roles.require(settings, "generate")
    learning: Learning = request.app.state.service.generator.learning
    owner = None if roles.reads_everything(settings) else roles.client()
    result = await run_for(learning.db, lambda: learning.ingest(batch.events, client=owner))
    return EventsAnswer(
        accepted=result.accepted,
        duplicate=result.duplicate,
        rejected=len(result.rejected),
        errors=[EventError(**r.as_dict()) for r in result.rejected],
    )


NAME = r"^[a-z][a-z0-9_]*$"
DAY = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


class Rate(BaseModel):
    rate: float
    low: float = Field(description="95 % Wilson score interval")
    high: float


class GuardOut(BaseModel):
    rate: Rate | None
    baseline: Rate | None = Field(description="the other arms of the context together")
    p_above_baseline: float | None = Field(description="probability the arm's rate is above the baseline")


class ArmPerformance(BaseModel):
    arm: str
    counts: dict[str, int] = Field(description="events per type")
    revenue: float
    rates: dict[str, Rate | None] = Field(description="per `sent` event; null without sends")
    p_best: float = Field(description="probability of being best for the goal (Thompson, hierarchical prior)")
    weight: float | None = Field(description="the weight last served (before the hold-out's share)")
    guard: dict[str, GuardOut] = Field(description="unsubscribed and complained against the baseline")


class Uplift(BaseModel):
    difference: float = Field(description="goal rate of the arms together minus the hold-out's")
    low: float = Field(description="95 % interval (Newcombe)")
    high: float


class HoldOutPerformance(BaseModel):
    model_config = ConfigDict(extra="allow")

    sends: int
    rate: Rate | None
    uplift: Uplift | None


class ContextPerformance(BaseModel):
    client: str
    journey: str
    channel: str
    locale: str
    segment: str | None
    baseline: dict[str, Any] = Field(description="sends and unsubscribe / complaint rates of all arms")
    arms: list[ArmPerformance]
    hold_out: HoldOutPerformance | None


class PerformanceAnswer(BaseModel):
    goal: str
    policy_version: str
    since: str | None
    contexts: list[ContextPerformance]


@router.get(
    "/v1/performance",
    response_model=PerformanceAnswer,
    responses=error_responses(401, 403, 422, 429, 500),
)
async def get_performance(
    request: Request,
    journey: Annotated[str | None, Query(max_length=40, pattern=NAME)] = None,
    channel: Annotated[str | None, Query(max_length=40, pattern=NAME)] = None,
    locale: Annotated[Literal["zh-CN", "en-US"] | None, Query()] = None,
    segment: Annotated[
        Literal["hot", "warm", "cold", "none"] | None, Query(description="`none`: requests without one")
    ] = None,
    since: Annotated[
        str | None,
        Query(pattern=DAY, description="a day, YYYY-MM-DD (UTC): counts from that day on"),  # fmt: skip
    ] = None,
) -> Any:
    """Per context and arm: counts per event type, rates per send with 95 % intervals, probability of
    being best, unsubscribe and complaint rates against the context's baseline, the weight last
    served, the hold-out's uplift. The caller's own arms (every client's for the audit role)."""
    settings = request.app.state.service.settings
    learning: Learning = request.app.state.service.generator.learning
    if learning.store is None:
        return PerformanceAnswer(goal=learning.policy.goal, policy_version=learning.policy.version,
                                 since=None, contexts=[])  # fmt: skip
    owner = None if roles.reads_everything(settings) else roles.client()
    # Compared as text with the stored days (YYYY-MM-DD sorts as it counts): 2026-02-31 reads as
    # "after 30 February", so every string the pattern admits is served.
    filters = Filters(journey, channel, locale, segment, since)
    # In a thread whatever the database: tens of milliseconds of CPU must not hold the event loop.
    body = await asyncio.to_thread(_performance_json, learning, owner, filters)
    return Response(body, media_type="application/json")


def _performance_json(learning: Learning, owner: str | None, filters: Filters) -> bytes:
    """The answer checked against its schema and written by pydantic-core, off the event loop:
    FastAPI's generic path (walking the dict, validating, re-encoding) cost as much as computing it."""
    assert learning.store is not None
    data = performance(learning.store, learning.policy, owner, filters)
    return PerformanceAnswer.model_validate(data).model_dump_json().encode()
