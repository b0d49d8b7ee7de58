"""The audit record of one generation: the request with personal data redacted, what the model
was asked and answered, every violation, the variants returned, timings."""

from __future__ import annotations

import logging
import time

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
        audit.record(generation_id, req.request_id, status, record)
    except Exception:
        log.exception("could not write the audit record of %s", generation_id)
        if status == "ok":
            raise
