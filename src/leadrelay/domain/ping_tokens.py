"""Ping tokens (issue 10, point 6 "Supplier-side ping"): what ``POST /v1/ping`` hands the source, and
``POST /v1/leads`` takes back (body field ``ping_token``) to get the quoted bids.

A token is ``pt1.<ping id>.<expiry, unix seconds>.<signature>``: the signature is HMAC-SHA256 (the
standard library's ``hmac``) under the installation's ping-token key over the version, the ping id, the
source it was issued to and the expiry, base64url without padding. So a token names its ping and its life
in the clear, and none of them (nor the source it is bound to) can be changed without the key. Whether it
was already used is the storage's business (``supplier_pings.used_at``). Pure: the key and the time are
arguments.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "TokenClaims",
    "differing_values",
    "key_material",
    "read_token",
    "sign_token",
    "signature_ok",
    "value_marks",
]

VERSION = "pt1"
# the expiry as ``sign_token`` writes it, without leading zeros: one token, one spelling
_SHAPE = re.compile(r"pt1\.([a-z]+_[A-Za-z0-9]{1,60})\.([1-9][0-9]{0,11})\.([A-Za-z0-9_-]{43})")
KEY_LABEL = b"leadrelay ping token v1"  # what the installation's HMAC key signs to give the token key


def key_material(installation_mac_hex: str) -> bytes:
    """The token key from the installation key's HMAC of :data:`KEY_LABEL` (a hex digest): a key of its
    own, not the installation key itself."""
    return bytes.fromhex(installation_mac_hex)


def _signature(key: bytes, ping_id: str, source: str, expires: int) -> str:
    message = f"{VERSION}\n{ping_id}\n{source}\n{expires}".encode()
    mac = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def sign_token(key: bytes, ping_id: str, source: str, expires_at: datetime) -> str:
    """The token of a ping issued to ``source``, good until ``expires_at`` (whole seconds, UTC: a
    fraction of a second is rounded up, so the token never expires before ``expires_at``)."""
    if len(key) < 16:
        raise ValueError("a ping token key has at least 16 bytes")
    expires = math.ceil(expires_at.timestamp())
    return f"{VERSION}.{ping_id}.{expires}.{_signature(key, ping_id, source, expires)}"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a well-formed token says, before its signature is checked against a source."""

    ping_id: str
    expires: int  # unix seconds
    signature: str

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.expires, UTC)

    def expired(self, now: datetime) -> bool:
        return now.timestamp() >= self.expires


def read_token(token: object) -> TokenClaims | None:
    """The claims of a token of the right shape, else None (not a string, not ours, cut or padded)."""
    if not isinstance(token, str):
        return None
    m = _SHAPE.fullmatch(token.strip())
    if m is None:
        return None
    return TokenClaims(m.group(1), int(m.group(2)), m.group(3))


def signature_ok(key: bytes, claims: TokenClaims, source: str) -> bool:
    """Whether the token was signed with ``key`` for ``source`` (compared in constant time)."""
    expected = _signature(key, claims.ping_id, source, claims.expires)
    return hmac.compare_digest(expected, claims.signature)


def _value_mark(key: bytes, name: str, value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return hmac.new(key, f"ping value\n{name}\n{text}".encode(), hashlib.sha256).hexdigest()


def value_marks(key: bytes, values: Mapping[str, Any]) -> dict[str, str]:
    """A keyed digest of each value the ping carried (its field type's normal form), by field: the stored
    ping keeps these, not the values, and the lead sent with the token must carry the same."""
    return {name: _value_mark(key, name, v) for name, v in values.items() if v is not None and v != ""}


def differing_values(key: bytes, marks: Mapping[str, str], values: Mapping[str, Any]) -> list[str]:
    """The pinged fields whose value in ``values`` (the lead's, normalized) is not the one pinged, or is
    missing: the bids were made for the pinged values, so they do not hold for other ones."""
    return sorted(
        name
        for name, mark in marks.items()
        if values.get(name) is None or not hmac.compare_digest(_value_mark(key, name, values[name]), mark)
    )
