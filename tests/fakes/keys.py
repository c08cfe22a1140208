"""The key ports: a ``FakeRing`` that seals reversibly (base64, bound to its ``aad``), the ``FakeSealer``
that hands it out, and ``FakeDedupKeys`` with a fixed key."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from leadrelay.domain.dedup import MarkHasher
from leadrelay.services.ports import Tx

PREFIX = "fake1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


class FakeRing:
    """``Ring``: ``fake1:<aad>:<plaintext>``, both base64. Opening checks the aad, as the real ring's
    authentication does, and fails with the same ``DecryptError``. ``sealed`` and ``opened`` count calls."""

    def __init__(self) -> None:
        self.sealed = 0
        self.opened = 0

    def seal(self, plaintext: bytes, aad: bytes) -> str:
        self.sealed += 1
        return f"{PREFIX}:{_b64(aad)}:{_b64(plaintext)}"

    def open(self, token: str, aad: bytes) -> bytes:
        from leadrelay.adapters.crypto import DecryptError

        self.opened += 1
        parts = token.split(":")
        if len(parts) != 3 or parts[0] != PREFIX:
            raise DecryptError(f"not a sealed value (expected {PREFIX}:<aad>:<data>)")
        try:
            bound, plaintext = base64.urlsafe_b64decode(parts[1]), base64.urlsafe_b64decode(parts[2])
        except (binascii.Error, ValueError):
            raise DecryptError("sealed value is truncated or malformed") from None
        if bound != aad:
            raise DecryptError("sealed value does not open: altered, or sealed for another record")
        return plaintext

    def seal_json(self, value: Any, aad: bytes) -> str:
        return self.seal(orjson.dumps(value), aad)

    def open_json(self, token: str, aad: bytes) -> Any:
        return orjson.loads(self.open(token, aad))


class FakeSealer:
    """``Sealer``: one ``FakeRing``; without a secret (``available=False``) asking for it fails like the
    real one (``SecretKeyError``)."""

    def __init__(self, *, available: bool = True, ring: FakeRing | None = None) -> None:
        self._available = available
        self.key_ring = ring or FakeRing()

    @property
    def available(self) -> bool:
        return self._available

    def _ring(self) -> FakeRing:
        if not self._available:
            from leadrelay.adapters.crypto import MISSING_SECRET, SecretKeyError

            raise SecretKeyError(MISSING_SECRET)
        return self.key_ring

    async def ring(self, *tokens: str) -> FakeRing:
        return self._ring()

    def ring_sync(self, *tokens: str, tx: Tx | None = None) -> FakeRing:
        return self._ring()


DEDUP_KEY = b"fake dedup key, 32 bytes long..."


class FakeDedupKeys:
    """``DedupKeys`` with one fixed key (``MarkHasher``, the real HMAC)."""

    def __init__(self, key: bytes = DEDUP_KEY) -> None:
        self._hasher = MarkHasher(key)

    @property
    def cached(self) -> MarkHasher | None:
        return self._hasher

    async def hasher(self) -> MarkHasher:
        return self._hasher

    def hasher_sync(self, *, tx: Tx | None = None) -> MarkHasher:
        return self._hasher
