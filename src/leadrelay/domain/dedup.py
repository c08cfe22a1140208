"""Dedup: which stored marks make a lead a duplicate, decided without I/O.

A *mark* says "a lead with this key was accepted at this time" for one scope: an entity
(``entity:solar:email``), every entity (``global:email``), a profile (``profile:p:email,phone``) or a
partner (``partner:acme:phone``). One mark per scope and key, pointing at the latest lead that carried it,
so the table stays as small as the number of distinct people. The key is an HMAC-SHA256, under the
installation's dedup key, of the scope and the key fields' *normalized* values, so ``(512) 555-1212`` and
``+1 512 555 1212`` are the same person, no plaintext is kept, and the table alone does not give the values
back (a phone number has only about 10¹⁰ values: a plain hash of one is reversed by trying them all).
A phone compares without its extension (``+15125551212;ext=12`` is the person at ``+15125551212``): an
extension reaches a desk, not another person. Marks written before the HMAC (plain SHA-256 of the same
material, ``legacy_hash``) are recomputed by the migration that introduced it.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadrelay.domain.fields import number_only
from leadrelay.domain.model import DedupSpec

__all__ = [
    "DedupKey",
    "Mark",
    "MarkHasher",
    "fields_of",
    "find_duplicate",
    "keys_for",
    "legacy_hash",
    "material",
    "scope_prefix",
]

Hasher = Callable[[bytes], str]
"""Turns a key's material into the hex digest stored in the mark."""


class MarkHasher:
    """HMAC-SHA256 (RFC 2104, the standard library's ``hmac``) under one key. The keyed state is made once
    and copied per mark, so a mark costs no key handling (``hmac.new`` per call costs about twice as
    much)."""

    __slots__ = ("_keyed",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a dedup key has at least 16 bytes")
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def __call__(self, material: bytes) -> str:
        mac = self._keyed.copy()
        mac.update(material)
        return mac.hexdigest()


def legacy_hash(material: bytes) -> str:
    """How marks were made before they were keyed: a plain SHA-256 (kept to recognize old marks)."""
    return hashlib.sha256(material).hexdigest()


@dataclass(frozen=True, slots=True)
class DedupKey:
    scope: str  # "entity:solar:email"
    key_hash: str
    fields: tuple[str, ...]
    window_s: float


@dataclass(frozen=True, slots=True)
class Mark:
    lead_id: str
    seen_at: datetime


def scope_prefix(kind: str, name: str, spec: DedupSpec) -> str:
    """``entity:solar``, ``global``, ``profile:p`` or ``partner:acme``."""
    if kind == "entity" and spec.scope == "global":
        return "global"
    return f"{kind}:{name}"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        value = number_only(value)  # a phone's extension does not make another person
    # emails: John@x.com and john@x.com are one person; Müller is one name however its ü is encoded
    return unicodedata.normalize("NFC", str(value).strip().casefold())


def material(scope: str, parts: Sequence[Any]) -> bytes:
    """What is hashed for a key: its scope and its fields' values, in one text form per value."""
    return "\x1f".join([scope, *(_text(part) for part in parts)]).encode()


def fields_of(scope: str) -> tuple[str, ...]:
    """The key's field names, from its scope (``profile:p:email,phone`` → ``("email", "phone")``)."""
    return tuple(scope.rsplit(":", 1)[-1].split(","))


def keys_for(prefix: str, spec: DedupSpec, values: Mapping[str, Any], hasher: Hasher) -> list[DedupKey]:
    """The lead's keys under ``spec``, hashed with ``hasher`` (the installation's ``MarkHasher``); a key
    set with a field the lead lacks is left out (an empty email never makes two leads the same person)."""
    keys: list[DedupKey] = []
    for fields in spec.keys:
        parts = [values.get(name) for name in fields]
        if any(part is None or part == "" for part in parts):
            continue
        scope = f"{prefix}:{','.join(fields)}"
        keys.append(DedupKey(scope, hasher(material(scope, parts)), tuple(fields), spec.window_s))
    return keys


def find_duplicate(
    keys: Iterable[DedupKey], marks: Mapping[tuple[str, str], Mark], now: datetime, *, lead_id: str = ""
) -> tuple[DedupKey, Mark] | None:
    """The first key whose mark was set within its window by another lead, with that mark."""
    for key in keys:
        mark = marks.get((key.scope, key.key_hash))
        if mark is None or mark.lead_id == lead_id:
            continue
        if mark.seen_at > now - timedelta(seconds=key.window_s):
            return key, mark
    return None
