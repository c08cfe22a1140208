"""Postal codes (US, Canada) and states / provinces."""

from __future__ import annotations

from typing import Any

import pytest

from leadrelay.domain.fields import STATES
from tests.unit.fields import bad, ok


@pytest.mark.parametrize(
    ("raw", "normal", "four"),
    [
        ("78704", "78704", None),  # spec/postal-code-spec.js "should parse US 5 digit format"
        ("  78704  ", "78704", None),  # "should handle leading and trailing whitespace"
        ("78704-1234", "78704-1234", "1234"),  # "should parse US 5 digit plus 4 format"
        ("78704   - 1234", "78704-1234", "1234"),  # "should ignore whitespace in US 5 digit plus 4 format"
        ("78704 1234", "78704-1234", "1234"),  # "should not require dash"
        ("787041234", "78704-1234", "1234"),  # "should not require any delimiter"
        ("78704-", "78704", None),  # "should ignore trailing dash"
        ("78751-4224", "78751-4224", "4224"),  # lib/types/postal_code.js examples
        (78704, "78704", None),
        ("02134", "02134", None),
    ],
)
def test_us_zip(raw: Any, normal: str, four: str | None) -> None:
    result = ok("postal_code", raw)
    assert result.normal == result.value == normal
    assert dict(result.parts) == {"zip": normal[:5], "four": four, "country": "US"}


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("k1a0b1", "K1A 0B1"),
        ("K1A 0B1", "K1A 0B1"),
        ("k1a 0b1", "K1A 0B1"),  # issue 9: the usual other ways of writing one
        ("K1A0B1", "K1A 0B1"),
        ("K1A  0B1", "K1A 0B1"),
        ("m5v-3l9", "M5V 3L9"),
        ("k1a      0b1", "K1A 0B1"),  # spec/postal-code-spec.js "should remove extraneous whitespace"
        (" h2x 1y4 ", "H2X 1Y4"),
    ],
)
def test_canadian(raw: str, normal: str) -> None:
    result = ok("postal_code", raw)
    assert result.normal == normal
    assert dict(result.parts) == {"fsa": normal[:3], "ldu": normal[4:], "country": "CA"}


@pytest.mark.parametrize(
    "raw",
    [
        "garbage",  # spec/postal-code-spec.js "should not parse garbage"
        "7870",
        "787044",
        "78704-123",
        "ABCDE",
        "D1A 0B1",  # D never starts a Canadian code
        "K1A 0O1",  # nor is O used anywhere
        "q2e 4u7",  # LeadConduit's spec example: valid there, but Q is not a Canada Post letter
        "K1A0B",
        "W1A 1AA",  # UK: not supported
        "A1 1AA",
        2134,  # 02134 that lost its zero
        78704.0,
        True,
    ],
)
def test_invalid_postal_codes(raw: Any) -> None:
    assert bad("postal_code", raw) == "not a valid postal code"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        # spec/state-spec.js "valid values"
        ("TX", "TX"),
        ("Texas", "TX"),
        ("tx", "TX"),
        ("texas", "TX"),
        ("ON", "ON"),  # "should parse a parsed province"
        ("Quebec", "QC"),  # lib/types/state.js examples
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
        ("Newfoundland & Labrador", "NL"),
        ("British Columbia", "BC"),
        ("yt", "YT"),
        ("PEI", "PE"),
    ],
)
def test_state(raw: str, code: str) -> None:
    result = ok("state", raw)
    assert result.normal == result.value == code
    assert result.parts["name"] == STATES[code]


@pytest.mark.parametrize(
    "raw",
    [
        # spec/state-spec.js "unknown states": LeadConduit keeps them as valid, we reject them
        "DX",
        "Dexus",
        "DEXUS NEXUS",
        "Île-de-France",
        "XX",
        "Texass",
        "Tex",
        "England",
        "U",
        "T X",
        12,
    ],
)
def test_unknown_state(raw: Any) -> None:
    assert bad("state", raw) == "not a known state or province"


def test_state_table_has_every_jurisdiction() -> None:
    assert len(STATES) == 50 + 1 + 5 + 13
    for code, name in STATES.items():
        assert ok("state", code.lower()).normal == code
        assert ok("state", name.upper()).normal == code
