"""A source's posting specification (issue 12 point 7): how to post one entity's leads, generated from the
entity's fields. Every field with its type, whether it is required, its format, an example value and the
values allowed; the endpoint; a curl example with a placeholder key and a body of example values that
intake accepts; and the shapes of the answers. Pure: the configuration, the base URL and the date are
arguments.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
from dataclasses import dataclass
from typing import Any

from leadrelay.domain.fields.sample import sample_value
from leadrelay.domain.model import EntitySpec, FieldSpec, FieldType

__all__ = ["KEY_PLACEHOLDER", "Answer", "FieldDoc", "PostingSpec", "posting_spec"]

KEY_PLACEHOLDER = "YOUR_API_KEY"

_FORMATS: dict[FieldType, str] = {
    FieldType.STRING: "text",
    FieldType.INTEGER: "a whole number",
    FieldType.NUMBER: "a number",
    FieldType.BOOLEAN: "true or false",
    FieldType.EMAIL: "an email address",
    FieldType.PHONE: "a phone number, in any usual notation (stored as E.164)",
    FieldType.POSTAL_CODE: "a postal code (a US ZIP, or the region's own format)",
    FieldType.STATE: "a state or province: its two-letter code or its name",
    FieldType.DATE: "a date, YYYY-MM-DD",
    FieldType.DATETIME: "a date and time, ISO 8601 with its offset",
    FieldType.DOB: "a date of birth, YYYY-MM-DD",
    FieldType.ENUM: "one of the allowed values",
    FieldType.URL: "an http(s) URL",
    FieldType.IP: "an IPv4 or IPv6 address",
    FieldType.GENDER: "a gender",
    FieldType.TRUSTEDFORM_CERT_URL: "a TrustedForm certificate URL",
    FieldType.JORNAYA_LEADID: "a Jornaya LeadiD token (a UUID)",
}


@dataclass(frozen=True, slots=True)
class FieldDoc:
    name: str
    type: str
    required: bool
    format: str
    example: Any
    allowed: tuple[str, ...]  # empty: any value of the format
    max_length: int | None


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    when: str
    body: str  # JSON, as the source receives it


@dataclass(frozen=True, slots=True)
class PostingSpec:
    source: str
    entity: str
    endpoint: str  # the full URL, with ?entity=
    fields: tuple[FieldDoc, ...]
    example: dict[str, Any]  # a body intake accepts
    curl: str
    answers: tuple[Answer, ...]

    @property
    def example_json(self) -> str:
        return json.dumps(self.example, indent=2)


def _field(spec: FieldSpec, region: str, today: dt.date) -> FieldDoc:
    fmt = _FORMATS.get(spec.type, spec.type.value)
    if spec.max_length is not None:
        fmt += f", at most {spec.max_length} characters"
    return FieldDoc(
        name=spec.name,
        type=spec.type.value,
        required=spec.required,
        format=fmt,
        example=sample_value(spec, region, today),
        allowed=tuple(spec.choices),
        max_length=spec.max_length,
    )


def _answers(first_required: str | None, show_buyer: bool, paid: bool) -> tuple[Answer, ...]:
    sold: dict[str, Any] = {"lead_id": "lead_…", "status": "delivered"}
    if show_buyer:
        sold |= {"partner": "…", "price": 25.0}
    if paid:
        sold["payout"] = "15.00"
    field = first_required or "email"
    rejected = {
        "lead_id": "lead_…",
        "status": "rejected",
        "errors": [{"field": field, "error": "required"}],
    }

    def show(body: dict[str, Any]) -> str:
        return json.dumps(body, ensure_ascii=False)

    return (
        Answer(202, "accepted and queued for routing", show({"lead_id": "lead_…", "status": "queued"})),
        Answer(200, "with ?wait=N: sold within N seconds", show(sold)),
        Answer(
            200,
            "with ?wait=N: nobody bought it",
            show({"lead_id": "lead_…", "status": "unsold", "reason": "no eligible partner"}),
        ),
        Answer(200, "the same person was posted before", show({"lead_id": "lead_…", "status": "duplicate"})),
        Answer(422, "a field is missing or invalid (each named)", show(rejected)),
        Answer(401, "the key is unknown, revoked or expired", show({"code": "unauthorized", "detail": "…"})),
        Answer(403, "the source may not post this entity", show({"code": "forbidden", "detail": "…"})),
    )


def posting_spec(
    source: str,
    entity: EntitySpec,
    base_url: str,
    today: dt.date,
    *,
    show_buyer: bool = False,
    paid: bool = False,
) -> PostingSpec:
    """The specification of posting ``entity``'s leads as ``source`` to the installation at ``base_url``."""
    docs = tuple(_field(spec, entity.region, today) for spec in entity.fields.values())
    example = {doc.name: doc.example for doc in docs}
    endpoint = f"{base_url.rstrip('/')}/v1/leads?entity={entity.name}"
    body = json.dumps(example, separators=(", ", ": "), ensure_ascii=False)
    curl = " \\\n  ".join(
        [
            f"curl -sS -X POST {shlex.quote(endpoint)}",
            f"-H {shlex.quote('Authorization: Bearer ' + KEY_PLACEHOLDER)}",
            f"-H {shlex.quote('Content-Type: application/json')}",
            f"-d {shlex.quote(body)}",
        ]
    )
    first_required = next((d.name for d in docs if d.required), None)
    return PostingSpec(
        source, entity.name, endpoint, docs, example, curl, _answers(first_required, show_buyer, paid)
    )
