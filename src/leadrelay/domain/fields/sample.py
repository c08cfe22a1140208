"""``sample_lead``: a plausible test lead for an entity, one valid value per field, from its type.

A partner test (``leadrelay partners test``) sends it, so that a buyer's mapping renders every field it
uses, not nulls. The values are recognisably fake: example.com addresses, a 555-01xx phone number (flagged
``fake``), documentation IP addresses, the first choice of an enum.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers

from leadrelay.domain.fields.lead import validate_lead
from leadrelay.domain.model import EntitySpec, FieldSpec, FieldType, ProfileSpec
from leadrelay.errors import FieldProblem, ValidationFailed

__all__ = ["PartnerTestLead", "build_test_lead", "entities_for_partner", "sample_lead", "sample_value"]

GENERIC_ENTITY = "_test"  # a partner no profile routes to, in a configuration without entities
_GENERIC = {"first_name": "Test", "last_name": "Lead", "email": "test@example.com", "phone": "+15125550100"}

_NAMES = {  # a string field by its usual name
    "first_name": "Test",
    "last_name": "Lead",
    "name": "Test Lead",
    "full_name": "Test Lead",
    "address": "100 Congress Ave",
    "street": "100 Congress Ave",
    "address1": "100 Congress Ave",
    "city": "Austin",
    "company": "Example Co",
    "country": "US",
}


def _phone(spec: FieldSpec, region: str) -> str:
    where = (spec.region or region).upper()
    if where in ("US", "CA"):
        return "(512) 555-0100"  # 555-0100..0199 is reserved for fiction
    example = phonenumbers.example_number(where)
    if example is None:
        return "(512) 555-0100"
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


def _string(spec: FieldSpec) -> str:
    value = _NAMES.get(spec.name.lower(), f"test {spec.name}")
    return value[: spec.max_length] if spec.max_length else value


_BY_TYPE: dict[FieldType, Callable[[FieldSpec, str, dt.date], Any]] = {
    FieldType.STRING: lambda spec, region, today: _string(spec),
    FieldType.INTEGER: lambda spec, region, today: 100,
    FieldType.NUMBER: lambda spec, region, today: 150,
    FieldType.BOOLEAN: lambda spec, region, today: True,
    FieldType.EMAIL: lambda spec, region, today: "test@example.com",
    FieldType.PHONE: lambda spec, region, today: _phone(spec, region),
    FieldType.POSTAL_CODE: lambda spec, region, today: "K1A 0B1" if region.upper() == "CA" else "78701",
    FieldType.STATE: lambda spec, region, today: "ON" if region.upper() == "CA" else "TX",
    FieldType.DATE: lambda spec, region, today: today.isoformat(),
    FieldType.DATETIME: lambda spec, region, today: f"{today.isoformat()}T12:00:00+00:00",
    FieldType.DOB: lambda spec, region, today: today.replace(year=today.year - 40, day=1).isoformat(),
    FieldType.ENUM: lambda spec, region, today: spec.choices[0] if spec.choices else "test",
    FieldType.URL: lambda spec, region, today: "https://example.com/test",
    FieldType.IP: lambda spec, region, today: "192.0.2.1",  # TEST-NET-1
    FieldType.GENDER: lambda spec, region, today: "female",
    FieldType.TRUSTEDFORM_CERT_URL: lambda spec, region, today: "https://cert.trustedform.com/" + "0" * 40,
    FieldType.JORNAYA_LEADID: lambda spec, region, today: "00000000-0000-4000-8000-000000000000",
}


def sample_value(spec: FieldSpec, region: str, today: dt.date) -> Any:
    """A raw value of the field's type that its parser accepts."""
    return _BY_TYPE[spec.type](spec, region, today)


def sample_lead(entity: EntitySpec, today: dt.date) -> dict[str, Any]:
    """A raw lead with a plausible value in every field of the entity (required or not)."""
    return {name: sample_value(spec, entity.region, today) for name, spec in entity.fields.items()}


@dataclass(frozen=True, slots=True)
class PartnerTestLead:
    entity: EntitySpec | None  # None: no entity to build it from (the generic test lead)
    raw: dict[str, Any]
    values: dict[str, Any]  # normalized, as intake stores them

    @property
    def entity_name(self) -> str:
        return self.entity.name if self.entity is not None else GENERIC_ENTITY


def entities_for_partner(partner: str, profiles: Iterable[ProfileSpec]) -> list[str]:
    """The entities of the profiles whose rules or default can send to ``partner``, sorted."""
    found: set[str] = set()
    for profile in profiles:
        targets = [rule.send_to for rule in profile.rules]
        if profile.default is not None:
            targets.append(profile.default)
        if any(partner in target.partners for target in targets):
            found.add(profile.entity)
    return sorted(found)


def build_test_lead(
    partner: str,
    entities: Mapping[str, EntitySpec],
    profiles: Iterable[ProfileSpec],
    today: dt.date,
    *,
    entity: str | None = None,
    lead: Mapping[str, Any] | None = None,
) -> PartnerTestLead:
    """The lead a test delivery to ``partner`` sends: ``lead``, checked against the entity like a posted
    lead (a bad optional value is refused too), or a sample of the entity's fields.

    The entity is ``entity``, else the one entity of the profiles that route to the partner, else the only
    entity configured. Raises ``ValidationFailed`` naming ``entity`` or ``lead.<field>``."""
    if entity is not None:
        if entity not in entities:
            known = ", ".join(sorted(entities)) or "none configured"
            raise ValidationFailed([FieldProblem("entity", f"unknown entity {entity!r} ({known})")])
        candidates = [entity]
    else:
        candidates = entities_for_partner(partner, profiles) or sorted(entities)
    if len(candidates) > 1:
        problem = f"partner {partner} takes leads of {', '.join(candidates)}: choose one"
        raise ValidationFailed([FieldProblem("entity", problem)], detail=f"entity: {problem}")
    if not candidates:
        raw = dict(lead) if lead is not None else dict(_GENERIC)
        return PartnerTestLead(None, raw, {k: v for k, v in raw.items() if v is not None})
    spec = entities[candidates[0]]
    raw = dict(lead) if lead is not None else sample_lead(spec, today)
    checked = validate_lead(spec, raw, today=today)
    bad = [  # a test lead is checked strictly: a bad optional value is an error too, not a flag
        *checked.problems,
        *(
            FieldProblem(name, flag.removeprefix("invalid: "))
            for name, flags in checked.flags.items()
            for flag in flags
            if flag.startswith("invalid: ")
        ),
    ]
    if bad:
        problems = [FieldProblem(f"lead.{p.field}", p.error) for p in bad]
        detail = "; ".join(f"{p.field}: {p.error}" for p in problems)
        raise ValidationFailed(problems, detail=f"the test lead is not a valid {spec.name} lead: {detail}")
    return PartnerTestLead(spec, raw, checked.values)
