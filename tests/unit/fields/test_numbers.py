"""Numbers, integers and booleans: typed values, JavaScript-like normal text, currency and separators."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.fields import bad, ok


@pytest.mark.parametrize(
    ("raw", "value", "normal"),
    [
        # spec/number-spec.js
        ("11", 11.0, "11"),
        (11, 11.0, "11"),
        ("1.111", 1.111, "1.111"),
        (1.111, 1.111, "1.111"),
        ("1,100", 1100.0, "1100"),
        ("$1100", 1100.0, "1100"),
        ("  1100 ", 1100.0, "1100"),
        ("-11", -11.0, "-11"),
        (-11, -11.0, "-11"),
        ("-1.111", -1.111, "-1.111"),
        (-1.111, -1.111, "-1.111"),
        ("-1,100", -1100.0, "-1100"),
        ("-$1100", -1100.0, "-1100"),
        # lib/types/number.js examples
        ("100", 100.0, "100"),
        ("100.999", 100.999, "100.999"),
        ("$100.99", 100.99, "100.99"),
        ("1,000", 1000.0, "1000"),
        ("1,000.00", 1000.0, "1000"),
        # ours
        ("$1,200.50", 1200.5, "1200.5"),
        ("$-3", -3.0, "-3"),
        (".5", 0.5, "0.5"),
        ("1e3", 1000.0, "1000"),
        ("+7", 7.0, "7"),
        ("€1,200.50", 1200.5, "1200.5"),
        ("-€5", -5.0, "-5"),
        ("£3", 3.0, "3"),
        ("5 €", 5.0, "5"),
        ("-0", 0.0, "0"),
        (0, 0.0, "0"),
        (1e21, 1e21, "1e+21"),
    ],
)
def test_number(raw: Any, value: float, normal: str) -> None:
    result = ok("number", raw)
    assert result.value == value
    assert type(result.value) is float
    assert result.normal == normal


@pytest.mark.parametrize(
    "raw",
    [
        "derp",  # spec/number-spec.js "should handle non-number string"
        True,  # "should handle boolean"
        "$1100 per month",  # valid in LeadConduit ("should ignore extraneous text"); we do not guess
        "abc",
        "1.2.3",
        "1,20.5",
        "nan",
        "inf",
        float("nan"),
        float("inf"),
        "12 apples",
        "$",
        "--1",
        "1 000",
    ],
)
def test_number_errors(raw: Any) -> None:
    assert bad("number", raw) == "not a number"


@pytest.mark.parametrize(
    ("raw", "value"),
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
        ("€40", 40),
        (-3, -3),
    ],
)
def test_integer(raw: Any, value: int) -> None:
    result = ok("integer", raw)
    assert result.value == value
    assert type(result.value) is int
    assert result.normal == str(value)


@pytest.mark.parametrize(
    "raw",
    [1.5, "1.5", "12a", "1,20", "12,00,000", "one", True, False, "1e3", "--1", "$", "9" * 40, float("inf")],
)
def test_integer_errors(raw: Any) -> None:
    assert bad("integer", raw) == "not an integer"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("9223372036854775807", 2**63 - 1),
        ("-9,223,372,036,854,775,808", -(2**63)),
        (2**63 - 1, 2**63 - 1),
        (-(2**63), -(2**63)),
        (9.2e18, 9_200_000_000_000_000_000),
    ],
)
def test_an_integer_holds_a_signed_64_bit_value(raw: Any, value: int) -> None:
    assert ok("integer", raw).value == value


@pytest.mark.parametrize(
    "raw",
    ["9223372036854775808", "-9223372036854775809", "99999999999999999999", 2**63, -(2**63) - 1, 1e23, -1e19],
)
def test_an_integer_beyond_64_bits_is_refused_with_its_range(raw: Any) -> None:
    """A value that fits no signed 64-bit integer could be stored neither in the lead's JSON nor read by a
    buyer: it is a bad value of its field, not a failed write."""
    assert bad("integer", raw) == "not an integer from -9223372036854775808 to 9223372036854775807"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        # spec/boolean-spec.js trues and falses, "should ignore whitespace", "should ignore character case"
        *[(raw, True) for raw in [True, "true", "t", "yes", "y", "1", 1, "  true ", "TRUE"]],
        *[(raw, False) for raw in [False, "false", "f", "no", "n", "0", 0]],
        # lib/types/boolean.js examples
        *[(raw, True) for raw in ["Y", "T"]],
        *[(raw, False) for raw in ["N", "F"]],
        # ours
        *[(raw, True) for raw in ["True", "on", "ON", "Yes.", "(y)", 1.0]],
        *[(raw, False) for raw in ["NO", "off", "Off", "No!", 0.0]],
    ],
)
def test_boolean(raw: Any, value: bool) -> None:
    result = ok("boolean", raw)
    assert result.value is value
    assert result.normal == ("true" if value else "false")


@pytest.mark.parametrize("raw", ["50", "asdf", "maybe", "2", 2, -1, "yess", "tru", 0.5])
def test_boolean_errors(raw: Any) -> None:  # spec/boolean-spec.js invalids: "50", "asdf"
    assert bad("boolean", raw) == "not a boolean"
