"""The installation's keys as the services see them: the data key ring (``Sealer``, ``Ring``) and the
dedup marks' HMAC key (``DedupKeys``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from leadrelay.domain.dedup import MarkHasher

if TYPE_CHECKING:
    from leadrelay.services.ports.storage import Tx


class Ring(Protocol):
    """The installation's data keys: seals a sensitive value and opens it again (authenticated, bound to
    ``aad``, usually the lead id)."""

    def seal(self, plaintext: bytes, aad: bytes) -> str: ...

    def open(self, token: str, aad: bytes) -> bytes: ...

    def seal_json(self, value: Any, aad: bytes) -> str: ...

    def open_json(self, token: str, aad: bytes) -> Any: ...


class Sealer(Protocol):
    """Where the services get the key ring (``available``: a secret key is set)."""

    @property
    def available(self) -> bool: ...

    async def ring(self, *tokens: str) -> Ring: ...

    def ring_sync(self, *tokens: str, tx: Tx | None = None) -> Ring:
        """``ring()`` in a worker thread; ``tx`` when inside a transaction already (SQLite has one
        writer)."""
        ...


class DedupKeys(Protocol):
    """Where the services get the installation's ``MarkHasher`` (the dedup marks' HMAC key)."""

    @property
    def cached(self) -> MarkHasher | None:
        """The hasher when it is known and fresh, without I/O."""
        ...

    async def hasher(self) -> MarkHasher: ...

    def hasher_sync(self, *, tx: Tx | None = None) -> MarkHasher: ...
