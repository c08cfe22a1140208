from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from leadrelay.domain.fields import STATES, normalize_value, validate_lead
from leadrelay.domain.model import EntitySpec, FieldSpec, FieldType
from leadrelay.errors import FieldProblem


def entity(*specs: FieldSpec) -> EntitySpec:
    return EntitySpec(name="solar", fields={spec.name: spec for spec in specs})


def one(field_type: FieldType, value: Any, **options: Any) -> tuple[dict[str, Any], list[FieldProblem]]:
    return validate_lead(entity(FieldSpec("f", field_type, **options)), {"f": value})


def assert_ok(field_type: FieldType, value: Any, expected: Any, **options: Any) -> None:
    values, problems = one(field_type, value, **options)
    assert problems == []
    assert values == {"f": expected}
    assert type(values["f"]) is type(expected)


def assert_error(field_type: FieldType, value: Any, error: str, **options: Any) -> None:
    values, problems = one(field_type, value, **options)
    assert problems == [FieldProblem("f", error)]
    assert values == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("  Jane ", "Jane"), ("Jane Doe", "Jane Doe"), (12, "12"), (1.5, "1.5"), (True, "true"), ("é", "é")],
)
def test_string(value: Any, expected: str) -> None:
    assert_ok(FieldType.STRING, value, expected)


@pytest.mark.parametrize(("value", "ok"), [("abcde", True), (" abcde ", True), ("abcdef", False)])
def test_string_max_length(value: str, ok: bool) -> None:
    if ok:
        assert_ok(FieldType.STRING, value, value.strip(), max_length=5)
    else:
        assert_error(FieldType.STRING, value, "longer than 5 characters", max_length=5)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", 12),
        (12, 12),
        (12.0, 12),
        ("1,200", 1200),
        ("1,234,567", 1234567),
        (" 42 ", 42),
        ("-7", -7),
        ("+7", 7),
        ("0", 0),
        ("$250,000", 250000),
        ("-$5", -5),
        ("1200.00", 1200),
        (-3, -3),
    ],
)
def test_integer(value: Any, expected: int) -> None:
    assert_ok(FieldType.INTEGER, value, expected)


@pytest.mark.parametrize(
    "value",
    [1.5, "1.5", "12a", "1,20", "12,00,000", "one", True, False, "1e3", "--1", "$", "9" * 40, float("inf")],
)
def test_integer_errors(value: Any) -> None:
    assert_error(FieldType.INTEGER, value, "not an integer")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", 12.0),
        (12, 12.0),
        (12.5, 12.5),
        ("$1,200.50", 1200.5),
        ("1,200", 1200.0),
        ("-3.25", -3.25),
        ("$-3", -3.0),
        (".5", 0.5),
        ("1e3", 1000.0),
        (" 7 ", 7.0),
        (0, 0.0),
    ],
)
def test_number(value: Any, expected: float) -> None:
    assert_ok(FieldType.NUMBER, value, expected)


@pytest.mark.parametrize(
    "value", ["abc", "1.2.3", "1,20.5", "nan", "inf", float("nan"), float("inf"), True, "12 apples", "$"]
)
def test_number_errors(value: Any) -> None:
    assert_error(FieldType.NUMBER, value, "not a number")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[(text, True) for text in ["true", "TRUE", "True", "yes", "Y", "y", "1", "on", "ON", "t", "T"]],
        *[(text, False) for text in ["false", "False", "no", "NO", "n", "0", "off", "Off", "f", "F"]],
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        (" yes ", True),
    ],
)
def test_boolean(value: Any, expected: bool) -> None:
    assert_ok(FieldType.BOOLEAN, value, expected)


@pytest.mark.parametrize("value", ["maybe", "2", 2, -1, "yess", "tru", 0.5])
def test_boolean_errors(value: Any) -> None:
    assert_error(FieldType.BOOLEAN, value, "not a boolean")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("jane@example.com", "jane@example.com"),
        ("  Jane.Doe@Example.COM ", "Jane.Doe@example.com"),
        ("j+tag@mail.example.co.uk", "j+tag@mail.example.co.uk"),
        ("o'brien@my-domain.org", "o'brien@my-domain.org"),
    ],
)
def test_email(value: str, expected: str) -> None:
    assert_ok(FieldType.EMAIL, value, expected)


@pytest.mark.parametrize(
    "value",
    [
        "jane",
        "jane@",
        "@example.com",
        "jane@example",
        "jane@@example.com",
        "ja@ne@example.com",
        "jane doe@example.com",
        "jane@exa mple.com",
        "jane@.example.com",
        "jane@example..com",
        "jane@example.com.",
        "jane@-example.com",
        "jane@example.c",
        "jane@1.2.3.4",
        ".jane@example.com",
        "ja..ne@example.com",
        "<jane@example.com>",
        "jane@example.com, joe@example.com",
        12,
    ],
)
def test_email_errors(value: Any) -> None:
    assert_error(FieldType.EMAIL, value, "not a valid email address")


@pytest.mark.parametrize(
    "value",
    [
        "5125551212",
        "512-555-1212",
        "(512) 555-1212",
        "512.555.1212",
        "+1 512 555 1212",
        "+15125551212",
        "1-512-555-1212",
        "15125551212",
        " 512/555-1212 ",
        5125551212,
        15125551212,
        5125551212.0,
    ],
)
def test_phone(value: Any) -> None:
    assert_ok(FieldType.PHONE, value, "+15125551212")


@pytest.mark.parametrize(
    "value",
    [
        "555-1212",
        "012-555-1212",
        "112-555-1212",
        "512-055-1212",
        "512-155-1212",
        "25125551212",
        "+44 20 7946 0958",
        "+2 512 555 1212",
        "512-555-12123",
        "512-555-1212 x12",
        "512-ABC-1212",
        "5125551212+",
        True,
    ],
)
def test_phone_errors(value: Any) -> None:
    assert_error(FieldType.PHONE, value, "not a valid US phone number")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("78704", "78704"),
        (" 78704 ", "78704"),
        (78704, "78704"),
        ("78704-1234", "78704-1234"),
        ("787041234", "78704-1234"),
        ("78704 1234", "78704-1234"),
        ("02134", "02134"),
        ("k1a0b1", "K1A 0B1"),
        ("K1A 0B1", "K1A 0B1"),
        ("m5v-3l9", "M5V 3L9"),
    ],
)
def test_postal_code(value: Any, expected: str) -> None:
    assert_ok(FieldType.POSTAL_CODE, value, expected)


@pytest.mark.parametrize(
    "value", ["7870", "787044", "78704-123", "ABCDE", "D1A 0B1", "K1A 0O1", "K1A0B", 2134, 78704.0, "W1A 1AA"]
)
def test_postal_code_errors(value: Any) -> None:
    assert_error(FieldType.POSTAL_CODE, value, "not a valid postal code")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("TX", "TX"),
        ("tx", "TX"),
        (" Texas ", "TX"),
        ("new  york", "NY"),
        ("NEW YORK", "NY"),
        ("District of Columbia", "DC"),
        ("D.C.", "DC"),
        ("Washington, D.C.", "DC"),
        ("Washington DC", "DC"),
        ("Puerto Rico", "PR"),
        ("vi", "VI"),
        ("U.S. Virgin Islands", "VI"),
        ("Virgin Islands", "VI"),
        ("guam", "GU"),
        ("American Samoa", "AS"),
        ("Northern Mariana Islands", "MP"),
        ("on", "ON"),
        ("Québec", "QC"),
        ("Quebec", "QC"),
        ("Newfoundland & Labrador", "NL"),
        ("British Columbia", "BC"),
        ("yt", "YT"),
    ],
)
def test_state(value: str, expected: str) -> None:
    assert_ok(FieldType.STATE, value, expected)


@pytest.mark.parametrize("value", ["XX", "Texass", "Tex", "England", "U", 12, "T X"])
def test_state_errors(value: Any) -> None:
    assert_error(FieldType.STATE, value, "not a known state or province")


def test_state_table_has_every_jurisdiction() -> None:
    assert len(STATES) == 50 + 1 + 5 + 13
    for code, name in STATES.items():
        assert_ok(FieldType.STATE, code.lower(), code)
        assert_ok(FieldType.STATE, name.upper(), code)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-31", "2026-01-31"),
        ("01/31/2026", "2026-01-31"),
        ("1/31/2026", "2026-01-31"),
        ("2026/01/31", "2026-01-31"),
        ("01-31-2026", "2026-01-31"),
        ("2024-02-29", "2024-02-29"),
        (" 2026-1-5 ", "2026-01-05"),
        ("2026-01-31T23:30:00-05:00", "2026-01-31"),
        ("2026-01-31 08:00", "2026-01-31"),
        (dt.date(2026, 1, 31), "2026-01-31"),
        (dt.datetime(2026, 1, 31, 12, 0), "2026-01-31"),
    ],
)
def test_date(value: Any, expected: str) -> None:
    assert_ok(FieldType.DATE, value, expected)


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-30",
        "2025-02-29",
        "13/01/2026",
        "31/01/2026",
        "2026-13-01",
        "yesterday",
        "20260131",
        "26-01-31",
        "2026-01-31Tnoon",
        20260131,
    ],
)
def test_date_errors(value: Any) -> None:
    assert_error(FieldType.DATE, value, "not a valid date")


@pytest.mark.parametrize(
    ("value", "expected"), [("own", "Own"), ("OWN", "Own"), (" Rent ", "Rent"), ("Own", "Own")]
)
def test_enum(value: str, expected: str) -> None:
    assert_ok(FieldType.ENUM, value, expected, choices=("Own", "Rent"))


@pytest.mark.parametrize("value", ["owner", "x", 1])
def test_enum_errors(value: Any) -> None:
    assert_error(FieldType.ENUM, value, "must be one of: Own, Rent", choices=("Own", "Rent"))


def test_enum_numeric_choice() -> None:
    assert_ok(FieldType.ENUM, 3, "3", choices=("1", "2", "3"))


@pytest.mark.parametrize("field_type", list(FieldType))
@pytest.mark.parametrize("value", [["a"], [], {"a": 1}, ("a",)])
def test_non_scalar_is_rejected(field_type: FieldType, value: Any) -> None:
    assert_error(field_type, value, "must be a single value", choices=("a",))


@pytest.mark.parametrize("field_type", list(FieldType))
@pytest.mark.parametrize("value", [None, "", "   "])
def test_empty_required_is_an_error(field_type: FieldType, value: Any) -> None:
    assert_error(field_type, value, "required", required=True, choices=("a",))


@pytest.mark.parametrize("field_type", list(FieldType))
@pytest.mark.parametrize("value", [None, "", "   "])
def test_empty_optional_is_absent(field_type: FieldType, value: Any) -> None:
    assert one(field_type, value, choices=("a",)) == ({}, [])


def test_missing_required_and_optional() -> None:
    spec = entity(FieldSpec("email", FieldType.EMAIL, required=True), FieldSpec("note"))
    assert validate_lead(spec, {}) == ({}, [FieldProblem("email", "required")])


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
        FieldSpec("born", FieldType.DATE),
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
        "score": 7,
        "tags": ["a", "b"],
        "opted": True,
        "blank": "  ",
        "nothing": None,
    }
    values, problems = validate_lead(spec, raw)
    assert problems == []
    assert values == {
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
        "utm_source": "google",
        "score": "7",
        "tags": '["a","b"]',
        "opted": "true",
    }
    assert list(values)[:10] == list(spec.fields)  # entity order first, then the extras


def test_every_problem_is_reported_with_the_entity_field_name() -> None:
    spec = entity(
        FieldSpec("email", FieldType.EMAIL, required=True),
        FieldSpec("phone", FieldType.PHONE, required=True),
        FieldSpec("zip", FieldType.POSTAL_CODE),
        FieldSpec("age", FieldType.INTEGER),
    )
    values, problems = validate_lead(spec, {"email": "nope", "zip": "1", "age": "41"})
    assert values == {"age": 41}
    assert problems == [
        FieldProblem("email", "not a valid email address"),
        FieldProblem("phone", "required"),
        FieldProblem("zip", "not a valid postal code"),
    ]


def test_normalize_value_raises_value_error() -> None:
    assert normalize_value(FieldSpec("f", FieldType.PHONE), "512 555 1212") == "+15125551212"
    with pytest.raises(ValueError, match="not a valid US phone number"):
        normalize_value(FieldSpec("f", FieldType.PHONE), "555")
