"""What is kept to replay an idempotent answer, sealed with AES-GCM (`cryptography`'s AEAD) under
a key from configuration (COPYDESK_REPLAY_KEY). The first key seals; every key listed opens, so
a key can be rotated by putting the new one first and dropping the old one after the replay
window. Each sealed answer is bound to its row (client and request_id as associated data): moved
to another row it does not open."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "aesgcm:"
NONCE_BYTES = 12  # AES-GCM's standard nonce, random per answer


def new_key() -> str:
    """A fresh 256-bit key, as COPYDESK_REPLAY_KEY takes it."""
    return base64.b64encode(os.urandom(32)).decode()


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"copydesk-replay-key" + key).hexdigest()[:8]


class ReplaySeal:
    def __init__(self, keys: Sequence[bytes] = ()) -> None:
        self._keys = {key_id(k): AESGCM(k) for k in keys}
        self._sealing = key_id(keys[0]) if keys else None

    @property
    def encrypts(self) -> bool:
        return self._sealing is not None

    @staticmethod
    def _bound(client: str, request_id: str) -> bytes:
        return f"{client}\x00{request_id}".encode()

    def seal(self, text: str, *, client: str, request_id: str) -> str:
        assert self._sealing is not None, "no replay key configured"
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self._sealing].encrypt(nonce, text.encode(), self._bound(client, request_id))
        return f"{PREFIX}{self._sealing}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, stored: str, *, client: str, request_id: str) -> str | None:
        """The answer's text; stored text that is not sealed comes back as it is; None when it is
        sealed under a key no longer configured, or does not open (then it is generated again)."""
        if not stored.startswith(PREFIX):
            return stored
        kid, _, blob = stored[len(PREFIX) :].partition(":")
        aead = self._keys.get(kid)
        if aead is None:
            return None
        try:
            raw = base64.b64decode(blob)
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._bound(client, request_id))
        except (InvalidTag, binascii.Error, ValueError):
            return None
        return plain.decode()
