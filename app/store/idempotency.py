"""`request_id` is an idempotency key: a retried request gets the first answer back, not new copy.
The claim and the stored answer live in the database (`app/store/claims.py`); this is the body's
fingerprint that tells a retry from a different request reusing the ID."""

from __future__ import annotations

import hashlib
import json


def body_hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
