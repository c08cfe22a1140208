"""Finding a lead by its email or phone without reading any plaintext: the lookup keys.

Every lead's email and phone values (the fields of type ``email`` and ``phone``, sensitive ones too) are
written at intake as *lookup keys* in ``lead_lookup``: an HMAC-SHA256, under the installation's dedup key
(``domain/dedup.py``'s ``MarkHasher``), of the kind and the value's canonical form. The canonical form is the
one dedup and suppression compare: a phone in E.164 without its extension, an email entirely lower-cased.
A search normalizes what the operator typed the same way (``"(512) 789-1111"`` → ``+15127891111``) and
looks its key up in the index; no query ever compares a lead's stored values.

The dedup marks cannot serve: they exist only for entities and profiles that dedup, and a mark points at
the latest lead of a person only. The kind is in the hashed material (``lookup:phone``), so an email's key
is never a phone's. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leadrelay.domain.fields import normalize_field, number_only
from leadrelay.domain.fields.phone import number_key
from leadrelay.domain.fields.value import Invalid
from leadrelay.domain.model import EntitySpec

KINDS = ("email", "phone")
_PHONE_RE = re.compile(r"^[+\d\s().\-/]*(?:(?:x|ext\.?|#)\s*\d+)?$", re.IGNORECASE)

Hasher = Callable[[bytes], str]


def lookup_key(kind: str, canonical: str, hasher: Hasher) -> str:
    """The stored key of one canonical value of ``kind``."""
    return hasher("\x1f".join(("lookup", kind, canonical)).encode())


def canonical_of(kind: str, normal: str) -> str:
    """The compared form of a value already in its field type's normal form."""
    return normal.strip().lower() if kind == "email" else number_only(normal)


def lead_keys(entity: EntitySpec, values: Mapping[str, Any], hasher: Hasher) -> set[str]:
    """The lookup keys of a lead's normalized values (every email and phone field holding a value)."""
    keys: set[str] = set()
    for name, spec in entity.fields.items():
        kind = spec.type.value
        value = values.get(name)
        if kind in KINDS and isinstance(value, str) and value:
            keys.add(lookup_key(kind, canonical_of(kind, value), hasher))
    return keys


@dataclass(frozen=True, slots=True)
class Query:
    """What a search looks for: the text as a lead id, and the email or phone it reads as (if any; a
    phone typed without its country may read as one number per region the configuration uses)."""

    text: str
    kind: str | None  # "email" | "phone" | None (an id only)
    canonicals: tuple[str, ...] = ()

    @property
    def canonical(self) -> str | None:
        return self.canonicals[0] if self.canonicals else None

    def keys(self, hasher: Hasher) -> list[str]:
        if self.kind is None:
            return []
        return [lookup_key(self.kind, c, hasher) for c in self.canonicals]


class BadQuery(ValueError):
    """The text looks like an email or a phone but is not a valid one."""


def phone_regions(entities: Iterable[EntitySpec]) -> list[str]:
    """The regions phones are parsed for at intake (each phone field's, else its entity's), US first."""
    found = {
        (spec.region or entity.region).upper()
        for entity in entities
        for spec in entity.fields.values()
        if spec.type.value == "phone"
    }
    return sorted(found, key=lambda r: (r != "US", r)) or ["US"]


def parse_query(text: str, regions: Sequence[str] = ("US",)) -> Query:
    """The operator's search text read as intake reads values: an email (with an ``@``), a phone (digits
    and the usual punctuation: with a ``+`` one number, else the number it is in each of ``regions`` where
    it is valid), else a lead id only."""
    text = text.strip()
    if not text:
        raise BadQuery("type a lead id, an email or a phone")
    if "@" in text:
        field = normalize_field("email", text)
        if not field.valid or not field.normal:
            raise BadQuery(f"not a valid email: {field.error or text}")
        return Query(text, "email", (canonical_of("email", field.normal),))
    digits = sum(ch.isdigit() for ch in text)
    if _PHONE_RE.match(text) and digits >= 7:
        numbers: list[str] = []
        why = ""
        for region in regions or ("US",):
            try:
                number = number_key(text, region)
            except Invalid as exc:
                why = why or str(exc)
                continue
            if number not in numbers:
                numbers.append(number)
        if not numbers:
            raise BadQuery(f"not a valid phone: {why}")
        return Query(text, "phone", tuple(numbers))
    return Query(text, None)
