"""How each field of an entity is asked for on the hosted form: its label, the HTML input (or select) of
its type, and the ``autocomplete`` token a browser fills it from."""

from __future__ import annotations

from dataclasses import dataclass

from leadrelay.domain.fields import STATES
from leadrelay.domain.model import FieldSpec, FieldType

__all__ = ["HONEYPOTS", "Input", "honeypot_name", "input_of"]

HONEYPOTS = ("website", "homepage", "company_url", "fax_number")
"""Names a bot is tempted to fill; the first the entity does not use is the honeypot."""

_LABELS = {
    "zip": "ZIP code",
    "zip_code": "ZIP code",
    "dob": "Date of birth",
    "email": "Email",
    "phone": "Phone",
    "state": "State",
}
_BY_NAME = {
    "first_name": "given-name",
    "given_name": "given-name",
    "middle_name": "additional-name",
    "last_name": "family-name",
    "family_name": "family-name",
    "surname": "family-name",
    "name": "name",
    "full_name": "name",
    "address": "street-address",
    "street_address": "street-address",
    "street": "address-line1",
    "address1": "address-line1",
    "address_1": "address-line1",
    "address2": "address-line2",
    "address_2": "address-line2",
    "city": "address-level2",
    "country": "country-name",
    "company": "organization",
    "organization": "organization",
    "job_title": "organization-title",
}
_BY_TYPE = {
    FieldType.EMAIL: "email",
    FieldType.PHONE: "tel",
    FieldType.POSTAL_CODE: "postal-code",
    FieldType.STATE: "address-level1",
    FieldType.DOB: "bday",
    FieldType.URL: "url",
    FieldType.GENDER: "sex",
}
_HTML_TYPES = {
    FieldType.EMAIL: "email",
    FieldType.PHONE: "tel",
    FieldType.INTEGER: "number",
    FieldType.NUMBER: "number",
    FieldType.DATE: "date",
    FieldType.DOB: "date",
    FieldType.DATETIME: "datetime-local",
    FieldType.URL: "url",
}
_INPUTMODES = {FieldType.INTEGER: "numeric", FieldType.NUMBER: "decimal"}
_CHOICES: dict[FieldType, tuple[tuple[str, str], ...]] = {
    FieldType.BOOLEAN: (("true", "Yes"), ("false", "No")),
    FieldType.GENDER: (("male", "Male"), ("female", "Female"), ("other", "Other")),
    FieldType.STATE: tuple(STATES.items()),
}


@dataclass(frozen=True, slots=True)
class Input:
    name: str
    label: str
    required: bool
    html_type: str  # "select", or an <input>'s type
    autocomplete: str | None = None
    inputmode: str | None = None
    step: str | None = None
    maxlength: int | None = None
    options: tuple[tuple[str, str], ...] = ()  # a select's (value, text)

    @property
    def select(self) -> bool:
        return self.html_type == "select"


def label_of(name: str) -> str:
    return _LABELS.get(name) or name.replace("_", " ").strip().capitalize() or name


def input_of(spec: FieldSpec) -> Input:
    autocomplete = _BY_NAME.get(spec.name.lower()) or _BY_TYPE.get(spec.type)
    options = _CHOICES.get(spec.type) or tuple((c, c) for c in spec.choices)
    html_type = "select" if options else _HTML_TYPES.get(spec.type, "text")
    step = "1" if spec.type == FieldType.INTEGER else "any" if spec.type == FieldType.NUMBER else None
    return Input(
        spec.name,
        label_of(spec.name),
        spec.required,
        html_type,
        autocomplete,
        _INPUTMODES.get(spec.type),
        step,
        spec.max_length,
        options,
    )


def honeypot_name(fields: object) -> str:
    """The honeypot's name: one the entity's fields (a collection of names) do not use."""
    names = fields if isinstance(fields, set | frozenset | dict) else set()
    return next((n for n in HONEYPOTS if n not in names), "lr_hp")
