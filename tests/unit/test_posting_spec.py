"""The posting specification (``domain.posting_spec``): built from the entity's fields alone, every field
with its type, requirement, format, example and allowed values; a curl example whose body intake's
validation accepts; the answers a source gets."""

from __future__ import annotations

import datetime as dt
import json
import shlex

from leadrelay.domain.fields.lead import validate_lead
from leadrelay.domain.model import EntitySpec, FieldSpec, FieldType
from leadrelay.domain.posting_spec import KEY_PLACEHOLDER, posting_spec

TODAY = dt.date(2026, 12, 3)
ENTITY = EntitySpec(
    "solar",
    {
        "first_name": FieldSpec("first_name", FieldType.STRING, required=True, max_length=50),
        "email": FieldSpec("email", FieldType.EMAIL),
        "phone": FieldSpec("phone", FieldType.PHONE, required=True),
        "zip": FieldSpec("zip", FieldType.POSTAL_CODE, required=True),
        "roof": FieldSpec("roof", FieldType.ENUM, choices=("shingle", "tile", "metal")),
        "monthly_bill": FieldSpec("monthly_bill", FieldType.NUMBER),
        "dob": FieldSpec("dob", FieldType.DOB),
        "owner": FieldSpec("owner", FieldType.BOOLEAN),
    },
)


def test_every_field_in_order_with_its_type_requirement_format_example_and_allowed_values() -> None:
    spec = posting_spec("web", ENTITY, "http://127.0.0.1:8000/", TODAY)
    assert [f.name for f in spec.fields] == list(ENTITY.fields)
    by_name = {f.name: f for f in spec.fields}
    assert by_name["first_name"].required and by_name["first_name"].type == "string"
    assert "at most 50 characters" in by_name["first_name"].format
    assert by_name["email"].required is False and by_name["email"].format == "an email address"
    assert by_name["roof"].allowed == ("shingle", "tile", "metal") and by_name["roof"].example == "shingle"
    assert by_name["phone"].allowed == () and by_name["dob"].format.startswith("a date of birth")
    assert spec.endpoint == "http://127.0.0.1:8000/v1/leads?entity=solar"


def test_the_example_body_is_a_lead_intake_accepts() -> None:
    spec = posting_spec("web", ENTITY, "http://x", TODAY)
    checked = validate_lead(ENTITY, spec.example, today=TODAY)
    assert checked.problems == []
    assert json.loads(spec.example_json) == spec.example


def test_the_curl_example_posts_the_example_with_a_placeholder_key() -> None:
    spec = posting_spec("web", ENTITY, "https://leads.example.com", TODAY)
    args = shlex.split(spec.curl.replace("\\\n", " "))
    assert args[:4] == ["curl", "-sS", "-X", "POST"]
    assert args[4] == "https://leads.example.com/v1/leads?entity=solar"
    assert f"Authorization: Bearer {KEY_PLACEHOLDER}" in args
    assert "Content-Type: application/json" in args
    assert json.loads(args[args.index("-d") + 1]) == spec.example


def test_a_value_with_a_quote_survives_the_shell() -> None:
    entity = EntitySpec("home", {"last_name": FieldSpec("last_name", FieldType.STRING)})
    spec = posting_spec("web", entity, "http://x", TODAY)
    assert spec.example == {"last_name": "Lead"}
    weird = EntitySpec("o'brien", {"name": FieldSpec("name")})
    args = shlex.split(posting_spec("web", weird, "http://x", TODAY).curl.replace("\\\n", " "))
    assert args[4] == "http://x/v1/leads?entity=o'brien"


def test_the_answers_name_the_buyer_only_to_a_source_that_may_see_it() -> None:
    hidden = posting_spec("web", ENTITY, "http://x", TODAY)
    shown = posting_spec("web", ENTITY, "http://x", TODAY, show_buyer=True, paid=True)
    statuses = [a.status for a in hidden.answers]
    assert statuses[:5] == [202, 200, 200, 200, 422]
    sold_hidden, sold_shown = json.loads(hidden.answers[1].body), json.loads(shown.answers[1].body)
    assert "partner" not in sold_hidden and "price" not in sold_hidden and "payout" not in sold_hidden
    assert {"partner", "price", "payout"} <= set(sold_shown)
    assert json.loads(hidden.answers[3].body)["status"] == "duplicate"
    rejected = json.loads(hidden.answers[4].body)
    assert rejected["status"] == "rejected" and rejected["errors"] == [
        {"field": "first_name", "error": "required"}
    ]
