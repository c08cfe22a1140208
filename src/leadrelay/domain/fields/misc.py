"""Plain strings, enums (a fixed list of choices) and gender."""

from __future__ import annotations

import unicodedata
from typing import Any

from leadrelay.domain.fields.value import FieldValue, Invalid, Options, accept, register, text


@register("string")
def parse_string(raw: Any, options: Options) -> FieldValue:
    value = text(raw)
    # counted as the letters show (composed: "e" and its accent are one), the value kept as sent
    if options.max_length is not None and len(unicodedata.normalize("NFC", value)) > options.max_length:
        raise Invalid(f"longer than {options.max_length} characters")
    return accept(raw, value)


@register("enum")
def parse_enum(raw: Any, options: Options) -> FieldValue:
    """Any case of a choice is that choice as configured: ``own`` → ``Own``."""
    wanted = text(raw).casefold()
    for choice in options.choices:
        if choice.casefold() == wanted:
            return accept(raw, choice)
    raise Invalid("must be one of: " + ", ".join(options.choices))


_GENDERS = {
    "m": "male", "male": "male", "man": "male",
    "f": "female", "female": "female", "woman": "female",
    "o": "other", "other": "other", "nonbinary": "other", "non-binary": "other",
}  # fmt: skip
_ABBREVIATIONS = {"male": "M", "female": "F", "other": "O"}


@register("gender")
def parse_gender(raw: Any, options: Options) -> FieldValue:
    """LeadConduit's three values (male, female, other) with its one-letter ``abbr`` part."""
    gender = _GENDERS.get(text(raw).lower()) if isinstance(raw, str) else None
    if gender is None:
        raise Invalid("not a valid gender")
    return accept(raw, gender, {"abbr": _ABBREVIATIONS[gender]})
