"""``normalize_field`` and ``FieldValue``: the checks shared by every type, the registry, the lazy export."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import leadrelay
from leadrelay.domain.fields import FieldValue, normalize_field, type_names
from leadrelay.domain.model import FieldType
from tests.unit.fields import bad

_PIECES = st.sampled_from(
    [*"0123456789-/.:+ ()xTZ@amp$,€", "Jan", "gmail.com", "https://", "cert.trustedform.com/", "555", "yes"]
)
_TEXTS = st.one_of(st.text(max_size=40), st.lists(_PIECES, max_size=16).map("".join))


def test_every_field_type_has_a_parser() -> None:
    assert type_names() == tuple(sorted(t.value for t in FieldType))


def test_unknown_type_raises() -> None:
    with pytest.raises(ValueError, match="unknown field type: 'telephone'"):
        normalize_field("telephone", "5125551212")


@pytest.mark.parametrize("type_name", list(FieldType))
@pytest.mark.parametrize("raw", [["a"], [], {"a": 1}, ("a",), {"a"}])
def test_non_scalar_is_invalid(type_name: str, raw: Any) -> None:
    assert bad(type_name, raw, choices=("a",)) == "must be a single value"


@pytest.mark.parametrize("type_name", list(FieldType))
@pytest.mark.parametrize("raw", [None, "", "   "])
def test_empty_is_invalid(type_name: str, raw: Any) -> None:
    assert bad(type_name, raw, choices=("a",)) == "no value"


def test_invalid_value_keeps_raw() -> None:
    assert normalize_field("phone", " 12 ") == FieldValue(
        raw=" 12 ", valid=False, normal=None, error="not a valid US number", parts={}
    )


def test_value_defaults_to_normal_and_is_typed_where_it_matters() -> None:
    assert normalize_field("state", "texas").value == "TX"
    assert normalize_field("integer", "7").value == 7
    assert normalize_field("number", "7").value == 7.0
    assert normalize_field("boolean", "no").value is False


def test_field_value_is_frozen() -> None:
    result = normalize_field("string", "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.normal = "y"  # type: ignore[misc]


def test_options_may_be_loose() -> None:
    assert normalize_field("phone", "416 555 1212", region="ca").valid
    assert normalize_field("phone", "416 555 1212", region=None).valid  # back to US
    assert normalize_field("enum", "b", choices=["a", "B"]).normal == "B"


def test_unknown_option_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        normalize_field("string", "x", colour="red")


def test_exported_from_the_package() -> None:
    assert leadrelay.normalize_field is normalize_field
    assert leadrelay.FieldValue is FieldValue
    with pytest.raises(AttributeError):
        _ = leadrelay.nothing_here  # type: ignore[attr-defined]


def test_import_leadrelay_stays_cheap() -> None:
    heavy = ("phonenumbers", "email_validator")
    code = f"import sys, leadrelay; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


@settings(max_examples=300, deadline=None)
@given(type_name=st.sampled_from(list(FieldType)), raw=_TEXTS)
def test_never_raises_and_normal_forms_are_fixed_points(type_name: str, raw: str) -> None:
    options: dict[str, Any] = {"choices": ("a", "B"), "today": dt.date(2026, 1, 15)}
    result = normalize_field(type_name, raw, **options)
    assert result.valid is (result.error is None)
    if result.valid:
        again = normalize_field(type_name, result.normal, **options)
        assert (again.valid, again.normal, again.value) == (True, result.normal, result.value)
