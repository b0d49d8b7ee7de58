"""The variant library over HTTP: the review queue (GET /v1/library), one entry with its decisions
and near-duplicate links, approve / reject / retire / edit (the `review` role), spot checks, and the
review page copywriters use (GET /library, offline, its queue rendered here with the eval report's
previews). Entries belong to the client whose generation made them: others get 404."""

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from app.api import roles
from app.api.errors import error_responses
from app.errors import RequestError
from app.generation.library_check import check_template
from app.library import page
from app.library.entries import STATUSES, LibraryEntry
from app.library.library import Library
from app.library.review import transition
from app.library.store import Filters
from app.schemas import ContentName, ItemId, Locale, Text

log = logging.getLogger(__name__)

router = APIRouter(tags=["library"])

EntryId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
_STRICT = ConfigDict(extra="forbid", strict=True)


class Decision(BaseModel):
    model_config = _STRICT

    reviewer: Text(80, 1) = Field(description="the person deciding, as the audit should name them")  # type: ignore[valid-type]
    note: Text(500) = Field(default="", description="why")  # type: ignore[valid-type]


class Edit(Decision):
    title: Text(500) | None = Field(default=None, description="the new title template (placeholders allowed)")  # type: ignore[valid-type]
    body: Text(2000) | None = Field(default=None, description="the new body template")  # type: ignore[valid-type]
    cta: Text(200) | None = Field(default=None, description="the new button template")  # type: ignore[valid-type]


class SpotDone(Decision):
    pass


class ContextOut(BaseModel):
    journey: str
    channel: str
    locale: str
    skus: list[str]
    offer_id: str | None
    segment: str | None


class EntryOut(BaseModel):
    library_id: str
    client: str
    status: Literal["pending", "approved", "rejected", "retired"]
    context: ContextOut
    tone: str
    template: dict[str, str]
    disclaimers: list[str]
    prompt_version: str
    model: str
    source: str = Field(description="llm or repaired as generated, edited for a reviewer's edit")
    checks: list[dict[str, Any]]
    snippets: dict[str, str] = Field(description="the facts and review snippets its prompt drew on")
    generation_id: str | None
    variant_id: str | None
    parent_id: str | None
    duplicates: int = Field(description="near-duplicates linked to it instead of kept")
    served: int
    created_at: float
    approved_at: float | None
    decided_at: float | None
    decided_by: str | None
    note: str | None
    flagged: bool
    flag_reason: str | None


class EntryDetail(EntryOut):
    decisions: list[dict[str, Any]]
    links: list[dict[str, Any]]
    outcomes: dict[str, int] = Field(
        description="events posted for it (/v1/events) by type: its arm's counts"
    )


class EntryPage(BaseModel):
    items: list[EntryOut]
    total: int
    limit: int
    offset: int


def entry_out(e: LibraryEntry) -> dict[str, Any]:
    c = e.context
    return {
        "library_id": e.library_id, "client": e.client, "status": e.status,
        "context": {"journey": c.journey, "channel": c.channel, "locale": c.locale, "skus": list(c.skus),
                    "offer_id": c.offer_id, "segment": c.segment},
        "tone": e.tone, "template": e.template, "disclaimers": e.disclaimers,
        "prompt_version": e.prompt_version, "model": e.model, "source": e.source, "checks": e.checks,
        "snippets": e.snippets, "generation_id": e.generation_id, "variant_id": e.variant_id,
        "parent_id": e.parent_id, "duplicates": e.duplicates, "served": e.served, "created_at": e.created_at,
        "approved_at": e.approved_at, "decided_at": e.decided_at, "decided_by": e.decided_by, "note": e.note,
        "flagged": e.flagged, "flag_reason": e.flag_reason,
    }  # fmt: skip


def _library(request: Request) -> Library:
    lib = request.app.state.service.generator.library.library
    if lib is None:
        raise RequestError("library_unavailable", "this service keeps no library", None, status=404)
    return lib


def _scope(request: Request) -> str | None:
    """The client whose entries the caller reads, or None for every client's (the audit role)."""
    return None if roles.reads_everything(request.app.state.settings) else roles.client()


def _entry(request: Request, library_id: str) -> LibraryEntry:
    entry = _library(request).store.get(library_id, _scope(request))
    if entry is None:
        raise RequestError(
            "unknown_library_entry", f"no library entry {library_id}", "library_id", status=404
        )
    return entry


def _filters(status, journey, channel, locale, sku, flagged) -> Filters:
    return Filters(status=status, journey=journey, channel=channel, locale=locale, sku=sku, flagged=flagged)


Status = Literal["pending", "approved", "rejected", "retired"]
assert set(STATUSES) == {"pending", "approved", "rejected", "retired"}


@router.get("/v1/library", response_model=EntryPage, responses=error_responses(401, 403, 422, 429, 500))
async def list_entries(
    request: Request,
    status: Status | None = None,
    journey: ContentName | None = None,
    channel: ContentName | None = None,
    locale: Locale | None = None,
    sku: ItemId | None = None,
    flagged: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    """The library, newest first: filter by status (the review queue is `pending`), journey, channel,
    locale, SKU, flagged (failed today's checks when served); page with limit and offset."""
    lib = _library(request)
    filters = _filters(status, journey, channel, locale, sku, flagged)
    items, total = lib.store.search(filters, _scope(request), min(limit, lib.policy.page_size_max), offset)
    return {"items": [entry_out(e) for e in items], "total": total, "limit": limit, "offset": offset}


@router.get("/v1/library/decisions", responses=error_responses(401, 403, 422, 429, 500))
async def decisions(
    request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[dict[str, Any]]:
    """Every review decision (approve, reject, retire, edit, spot check) with reviewer, note, client
    and time, oldest first: the library's audit trail."""
    return _library(request).store.decisions(None, _scope(request), limit)


@router.get("/v1/library/spot-checks", responses=error_responses(401, 403, 422, 429, 500))
async def spot_checks(
    request: Request,
    status: Literal["open", "done"] | None = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[dict[str, Any]]:
    """Library copy queued after it was sent, for a person to read (prompts/library.yaml spot_check)."""
    return _library(request).store.spot_checks(_scope(request), status, limit, offset)


@router.post(
    "/v1/library/{library_id}/spot-checked", responses=error_responses(400, 401, 403, 404, 422, 429, 500)
)
async def spot_checked(request: Request, library_id: EntryId, body: SpotDone) -> dict[str, Any]:
    """A person read the entry's open spot checks, the copy as it was sent (`review` role); the
    reading is kept among the entry's decisions."""
    roles.require(request.app.state.settings, "review")
    entry = _entry(request, library_id)
    lib = _library(request)
    closed = lib.store.close_spot_checks(entry.library_id, body.reviewer, body.note)
    lib.store.record_decision(
        library_id, "spot_check", body.reviewer, body.note, roles.client(), {"spot_ids": closed}
    )
    return {"library_id": library_id, "closed": closed}


@router.get("/v1/library/{library_id}", response_model=EntryDetail,
            responses=error_responses(401, 403, 404, 422, 429, 500))  # fmt: skip
async def get_entry(request: Request, library_id: EntryId) -> Any:
    """One entry with its decisions, the near-duplicates linked to it and its outcomes."""
    entry = _entry(request, library_id)
    store = _library(request).store
    return {**entry_out(entry), "decisions": store.decisions(library_id, None),
            "links": store.links(library_id), "outcomes": _outcomes(request, entry)}  # fmt: skip


def _outcomes(request: Request, e: LibraryEntry) -> dict[str, int]:
    """The entry's arm counts in its context (its arm is its library ID), by event type."""
    learning = request.app.state.service.generator.learning
    if learning.store is None:
        return {}
    c = e.context
    rows = learning.store.counts(e.client, {"journey": c.journey, "channel": c.channel, "locale": c.locale})
    return {r[6]: int(r[7]) for r in rows if r[5] == e.library_id and (r[4] or None) == c.segment}


def _decide(action: str):
    async def decide(request: Request, library_id: EntryId, body: Decision) -> Any:
        roles.require(request.app.state.settings, "review")
        entry = _entry(request, library_id)
        move = transition(action, entry.status, library_id)
        lib = _library(request)
        detail = {"before": move.before, "after": move.after, "flag_reason": entry.flag_reason}
        decision_id = lib.store.decide(library_id, move.after, action, body.reviewer, body.note,
                                       roles.client(), detail)  # fmt: skip
        log.info("library %s: %s by %s (client %s): %s -> %s", library_id, action, body.reviewer,
                 roles.client(), move.before, move.after)  # fmt: skip
        out = entry_out(lib.store.get(library_id, None) or entry)
        return {**out, "decision_id": decision_id}

    decide.__doc__ = {
        "approve": "Approve the entry (`review` role): served in `library` and `approved_only` mode.",
        "reject": "Reject the entry (`review` role): it is never served.",
        "retire": "Retire an approved entry (`review` role): it stops being served at once (roll-back).",
    }[action]
    return decide


class DecisionOut(EntryOut):
    decision_id: str


for _action in ("approve", "reject", "retire"):
    router.add_api_route(
        f"/v1/library/{{library_id}}/{_action}",
        _decide(_action),
        methods=["POST"],
        name=f"library_{_action}",
        response_model=DecisionOut,
        responses=error_responses(400, 401, 403, 404, 409, 422, 429, 500),
    )


@router.post("/v1/library/{library_id}/edit", status_code=201, response_model=EntryOut,
             responses=error_responses(400, 401, 403, 404, 409, 422, 429, 500))  # fmt: skip
async def edit(request: Request, library_id: EntryId, body: Edit) -> Any:
    """A new variant from an entry with its text edited (`review` role): it must pass every check
    against today's facts (else 409 `edit_fails_checks`, naming them); it waits as pending."""
    roles.require(request.app.state.settings, "review")
    entry = _entry(request, library_id)
    lib = _library(request)
    spec = request.app.state.service.content.channels[entry.context.channel]
    given = {f: getattr(body, f) for f in ("title", "body", "cta")}
    template = {f: given[f] if given.get(f) is not None else entry.template.get(f, "") for f in spec.fields()}
    if template == entry.template:
        raise RequestError("edit_unchanged", "the edit changes no field", "body", status=409)
    name = lib.policy.preview_name.get(entry.context.locale)
    checked = await check_template(request.app.state.service.generator, entry, template, name)
    if not checked.passed:
        failing = "; ".join(f"{c.name}: {c.detail}" for c in checked.checks if not c.passed)
        field = next((f for f in ("body", "title", "cta") if given.get(f) is not None), "body")
        raise RequestError("edit_fails_checks", f"the edited copy fails: {failing}", field, status=409)
    checks = [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in checked.checks]
    new = lib.add_edit(entry, checked.copy.template, checks, checked.snippets, reviewer=body.reviewer,
                       note=body.note, client=roles.client())  # fmt: skip
    return JSONResponse(status_code=201, content=entry_out(new))


# -- the review page ---------------------------------------------------------------------------------
@router.get("/library", include_in_schema=False)
async def review_page() -> HTMLResponse:
    """The page shell (no data: it asks /v1/ with the reviewer's key, kept in the tab's session)."""
    return HTMLResponse(page.shell())


@router.get("/v1/library-queue.html", include_in_schema=False)
async def review_queue(
    request: Request,
    status: Status | None = "pending",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HTMLResponse:
    """The queue as HTML for the page: each entry filled with today's facts and checked now."""
    lib = _library(request)
    items, total = lib.store.search(Filters(status=status), _scope(request), limit, offset)
    generator = request.app.state.service.generator
    cards = []
    for e in items:
        name = lib.policy.preview_name.get(e.context.locale)
        try:
            now = await check_template(generator, e, e.template, name)
            preview = page.Preview(now.copy.fields, [(c.name, c.passed, c.detail) for c in now.checks], None)
        except RequestError as exc:
            preview = page.Preview(None, [], exc.message)
        spec = request.app.state.service.content.channels[e.context.channel]
        spots = lib.store.spot_checks(None, "open", 5, 0, library_id=e.library_id)
        shown = {**entry_out(e), "outcomes": _outcomes(request, e), "spot_checks": spots}
        cards.append(page.card(shown, preview, spec, roles.has(request.app.state.settings, "review")))
    return HTMLResponse(page.queue(cards, total, status))
