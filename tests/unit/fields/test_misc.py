"""Strings, enums and gender."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.fields import bad, ok


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("  Jane ", "Jane"), ("Jane Doe", "Jane Doe"), (12, "12"), (1.5, "1.5"), (True, "true"), ("é", "é")],
)
def test_string(raw: Any, normal: str) -> None:
    assert ok("string", raw).value == normal


@pytest.mark.parametrize(("raw", "valid"), [("abcde", True), (" abcde ", True), ("abcdef", False)])
def test_string_max_length(raw: str, valid: bool) -> None:
    if valid:
        assert ok("string", raw, max_length=5).normal == raw.strip()
    else:
        assert bad("string", raw, max_length=5) == "longer than 5 characters"


@pytest.mark.parametrize(
    ("raw", "normal"), [("own", "Own"), ("OWN", "Own"), (" Rent ", "Rent"), ("Own", "Own")]
)
def test_enum(raw: str, normal: str) -> None:
    assert ok("enum", raw, choices=("Own", "Rent")).normal == normal


@pytest.mark.parametrize("raw", ["owner", "x", 1])
def test_enum_errors(raw: Any) -> None:
    assert bad("enum", raw, choices=["Own", "Rent"]) == "must be one of: Own, Rent"


def test_enum_numeric_choice() -> None:
    assert ok("enum", 3, choices=("1", "2", "3")).value == "3"


def test_enum_without_choices_accepts_nothing() -> None:
    assert bad("enum", "anything") == "must be one of: "


# spec/gender-spec.js males, females, others; "man", "woman", "non-binary" are ours
@pytest.mark.parametrize(
    ("raw", "normal", "abbr"),
    [
        *[(raw, "male", "M") for raw in ["male", "m", "M", "Male", "MALE", "   m", "man"]],
        *[(raw, "female", "F") for raw in ["female", "f", "F", "Female", "FEMALE", "    f", "Woman"]],
        *[(raw, "other", "O") for raw in ["other", "o", "O", "Other", "OTHER", "    o", "non-binary"]],
    ],
)
def test_gender(raw: str, normal: str, abbr: str) -> None:
    result = ok("gender", raw)
    assert result.normal == result.value == normal
    assert dict(result.parts) == {"abbr": abbr}


@pytest.mark.parametrize("raw", ["50", "asdf", 5, True, "males"])  # spec/gender-spec.js invalids
def test_gender_errors(raw: Any) -> None:
    assert bad("gender", raw) == "not a valid gender"
