"""Phone numbers: E.164 normal form, NANP parts, regions, extensions, hints and flags."""

from __future__ import annotations

from typing import Any

import phonenumbers
import pytest

from leadrelay.domain.fields import number_only
from leadrelay.domain.fields.phone import _plain_nanp
from tests.unit.fields import bad, ok


@pytest.mark.parametrize(
    "raw",
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
        "1 (512) 555-1212",
        5125551212,
        15125551212,
        5125551212.0,
    ],
)
def test_us_formats_normalize_to_e164(raw: Any) -> None:
    result = ok("phone", raw)
    assert result.normal == result.value == "+15125551212"
    assert result.parts["national"] == "5125551212"


# spec/phone-spec.js "should parse US phone"
def test_parts_of_a_us_number() -> None:
    result = ok("phone", "5127891111")
    assert result.raw == "5127891111"
    assert dict(result.parts) == {
        "national": "5127891111",
        "area": "512",
        "exchange": "789",
        "line": "1111",
        "number": "7891111",
        "extension": None,
        "type": None,  # phonenumbers cannot tell a US landline from a mobile
        "hint": None,
        "country_code": "US",
        "calling_code": 1,
    }
    assert result.flags == ()


# lib/types/phone.js examples
@pytest.mark.parametrize(
    ("raw", "extension"),
    [
        ("5127891111", None),
        ("512 789-1111", None),
        ("512-789-1111 x 44", "44"),
        ("1 (512) 789-1111", None),
    ],
)
def test_leadconduit_examples(raw: str, extension: str | None) -> None:
    result = ok("phone", raw)
    assert number_only(str(result.normal)) == "+15127891111"
    assert result.parts["extension"] == extension


# spec/phone-spec.js "should parse US phone extension" / "should include extension in normal form";
# the first three are issue 9's: the extension was dropped from the normal form
@pytest.mark.parametrize(
    ("raw", "normal", "extension"),
    [
        ("(512) 789-1111 x123", "+15127891111;ext=123", "123"),
        ("512-789-1111 ext 42", "+15127891111;ext=42", "42"),
        ("5127891111 x 43", "+15127891111;ext=43", "43"),
        ("5127891111x123", "+15127891111;ext=123", "123"),
        ("5127891111 x43", "+15127891111;ext=43", "43"),
        ("512-555-1212 x12", "+15125551212;ext=12", "12"),
        ("512-555-1212 ext. 7", "+15125551212;ext=7", "7"),
        ("512-555-1212 #7", "+15125551212;ext=7", "7"),
        ("+44 20 7183 8750 ext 9", "+442071838750;ext=9", "9"),
    ],
)
def test_extension_is_kept_in_the_parts_and_the_normal_rfc3966_style(
    raw: str, normal: str, extension: str
) -> None:
    region = "GB" if raw.startswith("+44") else "US"
    result = ok("phone", raw, region=region)
    assert result.normal == result.value == normal
    assert result.parts["extension"] == extension
    again = ok("phone", normal, region=region)  # the normal form reads back as itself
    assert again.normal == normal
    assert again.parts["extension"] == extension
    assert number_only(normal) == normal.split(";")[0]


@pytest.mark.parametrize(
    "text", ["+15125551212", "5125551212;ext=1", "+1512;ext=", "+15125551212;ext=1x", "a;ext=1", ""]
)
def test_number_only_leaves_anything_but_a_number_with_extension_alone(text: str) -> None:
    assert number_only(text) == text


# spec/phone-spec.js hints: "should parse mobile/cell/work/home hint", "optional parentheses / whitespace"
@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("5127891111m", "mobile"),
        ("5127891111c", "mobile"),
        ("5127891111w", "work"),
        ("5127891111h", "home"),
        ("5127891111(h)", "home"),
        ("5127891111 h", "home"),
        ("512-789-1111 (W)", "work"),
    ],
)
def test_line_type_hint(raw: str, hint: str) -> None:
    result = ok("phone", raw)
    assert result.normal == "+15127891111"
    assert result.parts["hint"] == hint


@pytest.mark.parametrize(
    "raw",
    [
        "donkey kong",  # spec/phone-spec.js "should handle non-phone string"
        "964523331",  # spec/phone-spec.js "should set valid to false for invalid phone numbers"
        "1111m",  # spec/phone-spec.js "should parse hint on invalid number"
        "555-1212",
        "012-555-1212",
        "112-555-1212",
        "512-055-1212",
        "512-155-1212",
        "25125551212",
        "+2 512 555 1212",
        "512-555-12123",
        "111-111-1111",
        "123-456-7890",
        "+44 20 7946 0958",  # a valid UK number, but not a US one
        True,
        1.5,
    ],
)
def test_invalid_numbers(raw: Any) -> None:
    assert bad("phone", raw) == "not a valid US number"


@pytest.mark.parametrize(
    ("raw", "area"),
    [("8775551212", "877"), ("800-555-0000", "800"), ("833 555 1212", "833"), ("1-888-555-1212", "888")],
)
def test_toll_free_is_valid_and_flagged(raw: str, area: str) -> None:
    result = ok("phone", raw)  # spec/phone-spec.js "should parse US toll-free phone" (8775551212)
    assert result.flags == ("toll_free",)
    assert result.parts["type"] == "toll_free"
    assert result.parts["area"] == area


def test_vanity_letters_become_digits() -> None:
    result = ok("phone", "1-800-FLOWERS")
    assert result.normal == "+18003569377"
    assert result.flags == ("toll_free",)


@pytest.mark.parametrize(
    ("raw", "fake"),
    [
        ("512-555-0100", True),
        ("512-555-0123", True),
        ("512-555-0199", True),
        ("512-222-2222", True),
        ("512-234-5678", True),
        ("512-555-0200", False),
        ("512-555-1212", False),
        ("512-789-1111", False),
    ],
)
def test_obviously_fake_numbers_are_valid_but_flagged(raw: str, fake: bool) -> None:
    assert ok("phone", raw).flags == (("fake",) if fake else ())


def test_fake_and_toll_free_together() -> None:
    assert ok("phone", "800-555-0100").flags == ("toll_free", "fake")


def test_canadian_number_under_us_and_ca_regions() -> None:
    for region in ("US", "CA", "ca"):
        result = ok("phone", "416-555-1212", region=region)
        assert result.normal == "+14165551212"
        assert result.parts["country_code"] == "CA"


def test_region_names_the_error() -> None:
    assert bad("phone", "12345", region="CA") == "not a valid CA number"
    assert bad("phone", "+44 20 7946 0958", region="CA") == "not a valid CA number"


def test_uk_region() -> None:
    result = ok("phone", "020 7946 0958", region="GB")
    assert result.normal == "+442079460958"
    assert result.parts["national"] == "2079460958"
    assert result.parts["area"] == "20"
    assert result.parts["exchange"] is None and result.parts["line"] is None
    assert result.parts["type"] == "landline"
    assert result.parts["country_code"] == "GB"
    assert result.parts["calling_code"] == 44
    assert ok("phone", "07400 123456", region="GB").parts["type"] == "mobile"
    assert bad("phone", "512-555-1212", region="GB") == "not a valid GB number"


def test_e164_input_is_accepted_in_its_own_region() -> None:
    assert ok("phone", "+44 20 7946 0958", region="GB").normal == "+442079460958"


def test_unknown_region_rejects_rather_than_raises() -> None:
    assert bad("phone", "5125551212", region="ZZ") == "not a valid ZZ number"


@pytest.mark.parametrize(
    "text",
    ["(512) 555-1212", "512.555.1212", "+1 512 555 1212", "15125551212", "1-512-555-1212", "5125551212",
     "(800) 555-1234", "+1 (416) 555-0123", "212 555 0100"],
)  # fmt: skip
def test_plain_north_american_numbers_skip_parse_but_build_the_same_number(text: str) -> None:
    """The fast path builds exactly what phonenumbers.parse would (every field of PhoneNumber)."""
    assert _plain_nanp(text) == phonenumbers.parse(text, "US")


@pytest.mark.parametrize(
    "text", ["+5125551212", "512-555-1212 x12", "1-800-FLOWERS", "555-1212", "０５１２５５５１２１２"]
)
def test_other_numbers_go_through_parse(text: str) -> None:
    assert _plain_nanp(text) is None
