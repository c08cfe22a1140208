"""A whole lead against its entity: ``validate_lead`` and ``normalize_value``.

A bad value in an optional field does not cost the lead: the field is left out of the values (the raw
lead keeps it) and flagged ``invalid: <error>``. Only a missing or bad required field is a problem, and
intake rejects the lead with all of them at once.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leadrelay.domain.consent import consent_text
from leadrelay.domain.fields.value import FieldValue, Options, is_empty, parse, parser_for, text
from leadrelay.domain.model import EntitySpec, FieldSpec
from leadrelay.errors import FieldProblem

__all__ = ["Validated", "normalize_value", "validate_lead"]


@dataclass(slots=True)
class Validated:
    """The outcome of ``validate_lead``.

    ``values``: the typed normal values (entity order), then the fields the entity does not know, as
    trimmed text. ``problems``: why the lead must be rejected (empty: it may be accepted). ``flags``:
    per field, the type's flags (``toll_free``, ``fake``, ``free_mail``…) and ``invalid: <error>`` for a
    bad optional value. ``parsed``: every entity field's ``FieldValue``, for its parts.
    """

    values: dict[str, Any]
    problems: list[FieldProblem]
    flags: dict[str, list[str]]
    parsed: dict[str, FieldValue] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_lead(entity: EntitySpec, raw: Mapping[str, Any], *, today: dt.date | None = None) -> Validated:
    """Check ``raw`` against ``entity``; never raises for bad input.

    ``today`` is the day a dob's age is counted to (None: the system date). Empty values ("" or None)
    count as not given. The entity's consent field may be a list (of seller names): it is kept as the JSON
    text of the list (``leadrelay.domain.consent``); an empty list stays, as a consent to nobody.
    """
    values: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    flags: dict[str, list[str]] = {}
    parsed: dict[str, FieldValue] = {}
    consent = entity.consent.field if entity.consent is not None else None
    for name, spec in entity.fields.items():
        value = raw.get(name)
        if name == consent and isinstance(value, list | tuple | dict):
            value = consent_text(value) if not isinstance(value, dict) else text(value)  # one value
        if is_empty(value):
            if spec.required:
                problems.append(FieldProblem(name, "required"))
            continue
        result = parse(parser_for(spec.type), value, _options(spec, entity.region, today))
        parsed[name] = result
        if result.valid:
            values[name] = result.value
            if result.flags:
                flags[name] = list(result.flags)
        elif spec.required:
            problems.append(FieldProblem(name, result.error or "invalid"))
        else:
            flags[name] = [f"invalid: {result.error}"]
    for name, value in raw.items():
        if name in entity.fields or is_empty(value):
            continue
        values[name] = text(value)
    return Validated(values, problems, flags, parsed)


def normalize_value(spec: FieldSpec, value: Any, *, region: str = "US", today: dt.date | None = None) -> Any:
    """The typed normal value of one value; ``ValueError`` with the problem's text when it is bad.

    ``region`` is the entity's region, used when the field has none of its own.
    """
    result = parse(parser_for(spec.type), value, _options(spec, region, today))
    if not result.valid:
        raise ValueError(result.error)
    return result.value


@functools.lru_cache(maxsize=4096)
def _options(spec: FieldSpec, region: str, today: dt.date | None) -> Options:
    """One Options per field (and day): built once, not per lead."""
    return Options((spec.region or region).upper(), spec.choices, spec.max_length, today)
