"""Field types: parse, validate and normalize a lead's values.

One module per family of types; each registers its parsers in ``value`` when imported, which is why
every family is imported here. ``normalize_field`` parses one value by type name, ``validate_lead`` a
whole lead against its entity.
"""

from __future__ import annotations

from leadrelay.domain.fields import consent, dates, email, misc, numbers, phone, places, web
from leadrelay.domain.fields.lead import Validated, normalize_value, validate_lead
from leadrelay.domain.fields.phone import EXTENSION, number_only
from leadrelay.domain.fields.places import STATES
from leadrelay.domain.fields.value import FieldValue, Options, normalize_field, type_names

__all__ = [
    "EXTENSION",
    "STATES",
    "FieldValue",
    "Options",
    "Validated",
    "normalize_field",
    "normalize_value",
    "number_only",
    "type_names",
    "validate_lead",
]

_FAMILIES = (consent, dates, email, misc, numbers, phone, places, web)  # imported for their registrations
