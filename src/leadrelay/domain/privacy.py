"""Privacy helpers without I/O: redaction of known values (sensitive fields, erased leads) in text."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["REDACTED", "redact_text", "secret_forms"]

REDACTED = "***"


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
