"""POST /v1/events: outcomes of the variants served (sent, delivered, opened, clicked, converted,
unsubscribed, complained), idempotent by event_id, each event accepted or rejected on its own."""

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from app.api import roles
from app.api.errors import error_responses
from app.api.limits import EVENTS_MAX_BATCH
from app.learning import Learning
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
