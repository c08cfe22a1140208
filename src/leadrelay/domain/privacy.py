"""Privacy helpers without I/O: the blind index of a lead's contacts, and redaction of known values.

A contact hash (SHA-256 of ``email:<normal>`` or ``phone:<E.164>``) lets an erasure request find every lead
of a person without keeping their email or phone in a searchable plaintext column.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from leadrelay.domain.model import EntitySpec, FieldType

__all__ = ["CONTACT_TYPES", "contact_hash", "contact_hashes", "redact_text", "secret_forms"]

CONTACT_TYPES = (FieldType.EMAIL, FieldType.PHONE)
REDACTED = "***"


def contact_hash(kind: str, normal: str) -> str:
    return hashlib.sha256(f"{kind}:{normal.strip().casefold()}".encode()).hexdigest()


def contact_hashes(entity: EntitySpec, values: Mapping[str, Any]) -> set[str]:
    """The contact hashes of a lead's valid email and phone fields."""
    out: set[str] = set()
    for name, spec in entity.fields.items():
        if spec.type in CONTACT_TYPES and isinstance(values.get(name), str) and values[name]:
            out.add(contact_hash(spec.type.value, values[name]))
    return out


def secret_forms(values: Iterable[Any]) -> tuple[str, ...]:
    """Every form a value may take in a recorded request: as is, JSON-escaped, URL-encoded; longest
    first so a longer form is replaced before a shorter one inside it."""
    forms: set[str] = set()
    for value in values:
        if value is None or isinstance(value, bool):
            continue
        text = str(value)
        if len(text) < 3:  # "1" or "TX" would blank out half a request; such values are not identifying
            continue
        forms.update({text, json.dumps(text)[1:-1], quote(text, safe=""), quote_plus(text)})
    return tuple(sorted(forms, key=len, reverse=True))


def redact_text(text: str, forms: tuple[str, ...]) -> str:
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    return text
