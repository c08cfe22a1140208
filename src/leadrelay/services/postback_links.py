"""Every delivery's signed postback URL (``domain.postbacks``), under the installation's public URL.

The key is the installation's postback key: an HMAC of ``domain.postbacks.KEY_LABEL`` under the
installation key that keys the dedup marks (derived from LEADRELAY_SECRET_KEY, or generated once and stored
in ``installation_secrets``), as the ping tokens' key is, under a label of its own. So every process
(``serve``, ``worker``) signs and checks the same URLs, and a ping token's key is not a postback key.
"""

from __future__ import annotations

from typing import Any

from leadrelay.domain.dedup import MarkHasher
from leadrelay.domain.ping_tokens import key_material
from leadrelay.domain.postbacks import KEY_LABEL, postback_url, signature_ok
from leadrelay.errors import Unavailable
from leadrelay.services.ports import DedupKeys

__all__ = ["PostbackLinks", "places_url"]

_PLACES: dict[int, tuple[Any, bool]] = {}


def places_url(mapping: Any) -> bool:
    """Whether a partner's mapping document may place ``{{ postback.url }}`` (its text names ``postback``):
    the sends of the others skip signing. Cached per document object."""
    hit = _PLACES.get(id(mapping))
    if hit is not None and hit[0] is mapping:
        return hit[1]
    if len(_PLACES) > 1024:
        _PLACES.clear()
    found = mapping is not None and "postback" in repr(mapping)
    _PLACES[id(mapping)] = (mapping, found)
    return found


class PostbackLinks:
    """Signs and checks postback URLs. ``base_url``: where buyers reach this installation."""

    def __init__(self, keys: DedupKeys | None, base_url: str) -> None:
        self.keys = keys
        self.base_url = base_url.rstrip("/")
        self._hasher: MarkHasher | None = None
        self._key = b""

    async def key(self) -> bytes:
        if self.keys is None:
            raise Unavailable("postbacks need the installation key (the dedup key), which is not wired here")
        hasher = self.keys.cached or await self.keys.hasher()
        if hasher is not self._hasher:  # the installation key was (re)read: derive ours again
            self._key = key_material(hasher(KEY_LABEL))
            self._hasher = hasher
        return self._key

    async def url_for(self, delivery_id: str) -> str:
        return postback_url(self.base_url, await self.key(), delivery_id)

    async def check(self, delivery_id: str, sig: object) -> bool:
        return signature_ok(await self.key(), delivery_id, sig)
