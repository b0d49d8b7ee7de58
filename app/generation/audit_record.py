"""The audit record of one generation: the request with personal data redacted, what the model
was asked and answered, every violation, the variants returned, timings.

Nothing personal is written in clear: the customer's name becomes its placeholder `{name}` in
every text (the copy is kept as its template with the values that are not personal filled in),
and the PII detector that guards the copy redacts phones, e-mails, ID and card numbers from every
text of the record, the model's raw answers included. IDs are kept as sent."""

from __future__ import annotations

import logging
import time
from typing import Any

from app.guardrails.pii_detector import PiiDetector
from app.personal import Personal
from app.schemas import GenerateRequest
from app.store.audit import AuditLog

log = logging.getLogger(__name__)


def write_audit(
    audit: AuditLog | None,
    req: GenerateRequest,
    audience: dict,
    generation_id: str,
    status: str,
    *,
    model: str,
    prompt_version: str,
    trace: dict,
    started: float,
    pii: PiiDetector | None = None,
    personal: Personal | None = None,
    **extra,
) -> None:
    """Record the generation. No copy leaves without its record: when the write of a successful
    generation fails, so does the request (503 when the database is away); a failed one's record is
    best effort, the request fails anyway."""
    if audit is None:
        return
    trace["timings_ms"]["total"] = round((time.perf_counter() - started) * 1000, 1)
    request = req.model_dump(mode="json")
    request["audience"] = {**audience, "name": "[name]" if req.audience.name else None}
    record = {
        "generation_id": generation_id,
        "status": status,
        "request": request,
        "model": model,
        "prompt_version": prompt_version,
        **trace,
        **extra,
    }
    try:
        record = without_personal_data(record, pii, personal or Personal(), req.locale)
        audit.record(generation_id, req.request_id, status, record)
    except Exception:
        log.exception("could not write the audit record of %s", generation_id)
        if status == "ok":
            raise


# Identifiers and closed vocabularies: stored as they are (an ID is how a record is found again).
KEPT_AS_SENT = frozenset(
    {"generation_id", "request_id", "variant_id", "snippet_ids", "skus", "offer_id", "prompt_version",
     "model", "client", "status", "channel", "locale", "journey", "tone", "source", "repair", "segment",
     "price_sensitivity"}
)  # fmt: skip


def without_personal_data(record: dict, pii: PiiDetector | None, personal: Personal, locale: str) -> dict:
    """The record with the name masked and the detector's hits redacted in every free text, in one
    walk: most texts are dismissed by the detector's prefilter (no @, no run of digits)."""

    def clean(text: str) -> str:
        text = personal.mask(text)
        return pii.redact(text, locale)[0] if pii is not None and pii.could_match(text) else text

    def walk(value: Any, key: str | None) -> Any:
        if isinstance(value, str):
            return value if key in KEPT_AS_SENT else clean(value)
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, key) for v in value]
        return value

    return walk(record, None)
