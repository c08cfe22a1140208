"""``validate_lead`` and ``normalize_value``: required vs optional, flags, unknown fields, regions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from leadrelay.domain.fields import Validated, normalize_value, validate_lead
from leadrelay.domain.model import EntitySpec, FieldSpec, FieldType
from leadrelay.errors import FieldProblem


def entity(*specs: FieldSpec, region: str = "US") -> EntitySpec:
    return EntitySpec(name="solar", fields={spec.name: spec for spec in specs}, region=region)


def one(field_type: FieldType, value: Any, **options: Any) -> Validated:
    return validate_lead(entity(FieldSpec("f", field_type, **options)), {"f": value})


@pytest.mark.parametrize("field_type", list(FieldType))
@pytest.mark.parametrize("value", [None, "", "   "])
def test_empty_required_is_a_problem(field_type: FieldType, value: Any) -> None:
    result = one(field_type, value, required=True, choices=("a",))
    assert (result.values, result.problems, result.flags) == ({}, [FieldProblem("f", "required")], {})
    assert not result.ok


@pytest.mark.parametrize("field_type", list(FieldType))
@pytest.mark.parametrize("value", [None, "", "   "])
def test_empty_optional_is_absent(field_type: FieldType, value: Any) -> None:
    result = one(field_type, value, choices=("a",))
    assert (result.values, result.problems, result.flags) == ({}, [], {})
    assert result.ok


@pytest.mark.parametrize("field_type", list(FieldType))
def test_non_scalar_required_is_a_problem(field_type: FieldType) -> None:
    result = one(field_type, ["a"], required=True, choices=("a",))
    assert result.problems == [FieldProblem("f", "must be a single value")]


@pytest.mark.parametrize(
    ("field_type", "value", "error"),
    [
        (FieldType.PHONE, "555", "not a valid US number"),
        (FieldType.EMAIL, "nope", "not a valid email address"),
        (FieldType.POSTAL_CODE, "1", "not a valid postal code"),
        (FieldType.DOB, "2999-01-01", "date of birth is in the future"),
        (FieldType.INTEGER, ["1"], "must be a single value"),
    ],
)
def test_invalid_optional_is_flagged_not_rejected(field_type: FieldType, value: Any, error: str) -> None:
    result = one(field_type, value)
    assert result.problems == []
    assert result.values == {}
    assert result.flags == {"f": [f"invalid: {error}"]}
    assert result.parsed["f"].raw == value
    assert not result.parsed["f"].valid


def test_invalid_required_is_a_problem() -> None:
    result = one(FieldType.PHONE, "555", required=True)
    assert result.problems == [FieldProblem("f", "not a valid US number")]
    assert result.values == {}
    assert result.flags == {}


def test_missing_required_and_optional() -> None:
    spec = entity(FieldSpec("email", FieldType.EMAIL, required=True), FieldSpec("note"))
    result = validate_lead(spec, {})
    assert (result.values, result.problems, result.flags) == ({}, [FieldProblem("email", "required")], {})


def test_type_flags_are_reported_per_field() -> None:
    spec = entity(
        FieldSpec("phone", FieldType.PHONE, required=True),
        FieldSpec("work_phone", FieldType.PHONE),
        FieldSpec("email", FieldType.EMAIL),
    )
    result = validate_lead(
        spec, {"phone": "(877) 555-0142", "work_phone": "512-789-1111", "email": "jo@gmail.com"}
    )
    assert result.problems == []
    assert result.flags == {"phone": ["toll_free", "fake"], "email": ["free_mail"]}
    assert result.values == {"phone": "+18775550142", "work_phone": "+15127891111", "email": "jo@gmail.com"}
    assert result.parsed["work_phone"].parts["area"] == "512"


def test_whole_lead() -> None:
    spec = entity(
        FieldSpec("first_name", required=True, max_length=50),
        FieldSpec("email", FieldType.EMAIL, required=True),
        FieldSpec("phone", FieldType.PHONE, required=True),
        FieldSpec("zip", FieldType.POSTAL_CODE),
        FieldSpec("state", FieldType.STATE),
        FieldSpec("bill", FieldType.NUMBER),
        FieldSpec("homeowner", FieldType.BOOLEAN),
        FieldSpec("ownership", FieldType.ENUM, choices=("Own", "Rent")),
        FieldSpec("age", FieldType.INTEGER),
        FieldSpec("born", FieldType.DOB),
        FieldSpec("gender", FieldType.GENDER),
        FieldSpec("ip", FieldType.IP),
        FieldSpec("consent_at", FieldType.DATETIME),
        FieldSpec("leadid", FieldType.JORNAYA_LEADID),
        FieldSpec("page", FieldType.URL),
    )
    raw = {
        "utm_source": " google ",
        "first_name": " Jane ",
        "email": "Jane@Example.com",
        "phone": "(512) 555-1212",
        "zip": "78704",
        "state": "texas",
        "bill": "$180.40",
        "homeowner": "yes",
        "ownership": "own",
        "age": 41,
        "born": "03/04/1985",
        "gender": "F",
        "ip": "203.0.113.9",
        "consent_at": "2026-01-05T10:00:00-06:00",
        "leadid": "3a8f9d0c-1234-5678-9abc-def012345678",
        "page": "Example.com/solar",
        "score": 7,
        "tags": ["a", "b"],
        "opted": True,
        "blank": "  ",
        "nothing": None,
    }
    result = validate_lead(spec, raw, today=dt.date(2026, 1, 15))
    assert result.problems == []
    assert result.flags == {}
    assert result.values == {
        "first_name": "Jane",
        "email": "Jane@example.com",
        "phone": "+15125551212",
        "zip": "78704",
        "state": "TX",
        "bill": 180.4,
        "homeowner": True,
        "ownership": "Own",
        "age": 41,
        "born": "1985-03-04",
        "gender": "female",
        "ip": "203.0.113.9",
        "consent_at": "2026-01-05T16:00:00+00:00",
        "leadid": "3A8F9D0C-1234-5678-9ABC-DEF012345678",
        "page": "http://example.com/solar",
        "utm_source": "google",
        "score": "7",
        "tags": '["a","b"]',
        "opted": "true",
    }
    assert list(result.values)[: len(spec.fields)] == list(spec.fields)  # entity order, then the extras
    assert result.parsed["born"].parts["age"] == 40


def test_every_problem_is_reported_with_the_entity_field_name() -> None:
    spec = entity(
        FieldSpec("email", FieldType.EMAIL, required=True),
        FieldSpec("phone", FieldType.PHONE, required=True),
        FieldSpec("zip", FieldType.POSTAL_CODE, required=True),
        FieldSpec("age", FieldType.INTEGER),
        FieldSpec("state", FieldType.STATE),
    )
    result = validate_lead(spec, {"email": "nope", "zip": "1", "age": "41", "state": "Texass"})
    assert result.values == {"age": 41}
    assert result.problems == [
        FieldProblem("email", "not a valid email address"),
        FieldProblem("phone", "required"),
        FieldProblem("zip", "not a valid postal code"),
    ]
    assert result.flags == {"state": ["invalid: not a known state or province"]}


def test_entity_region_applies_to_its_phone_fields() -> None:
    spec = entity(FieldSpec("phone", FieldType.PHONE, required=True), region="GB")
    assert validate_lead(spec, {"phone": "020 7946 0958"}).values == {"phone": "+442079460958"}
    assert validate_lead(spec, {"phone": "512-555-1212"}).problems == [
        FieldProblem("phone", "not a valid GB number")
    ]


def test_field_region_overrides_the_entity_region() -> None:
    spec = entity(
        FieldSpec("phone", FieldType.PHONE, required=True, region="US"),
        FieldSpec("uk_phone", FieldType.PHONE),
        region="GB",
    )
    result = validate_lead(spec, {"phone": "512-555-1212", "uk_phone": "020 7946 0958"})
    assert result.values == {"phone": "+15125551212", "uk_phone": "+442079460958"}
    result = validate_lead(spec, {"phone": "020 7946 0958"})
    assert result.problems == [FieldProblem("phone", "not a valid US number")]


def test_normalize_value() -> None:
    assert normalize_value(FieldSpec("f", FieldType.PHONE), "512 555 1212") == "+15125551212"
    assert normalize_value(FieldSpec("f", FieldType.INTEGER), "1,200") == 1200
    assert normalize_value(FieldSpec("f", FieldType.PHONE), "020 7946 0958", region="GB") == "+442079460958"
    assert (
        normalize_value(FieldSpec("f", FieldType.DOB), "2000-01-02", today=dt.date(2026, 1, 1))
        == "2000-01-02"
    )
    with pytest.raises(ValueError, match="not a valid US number"):
        normalize_value(FieldSpec("f", FieldType.PHONE), "555")
    with pytest.raises(ValueError, match="must be one of: Own, Rent"):
        normalize_value(FieldSpec("f", FieldType.ENUM, choices=("Own", "Rent")), "lease")
