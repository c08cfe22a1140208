"""Intake's edges found by a black-box pass (2026-12-06): form bodies as browsers send them (a trailing
``&``, a name without ``=``, the charset they name), a field sent twice (422 naming it, not a value dropped),
a negative integer below 64 bits kept exact, a required value of nothing but invisible characters refused,
text compared and measured in one Unicode form, and an empty sensitive field with nothing to seal."""

from __future__ import annotations

import pytest

from leadrelay.domain.dedup import material
from leadrelay.domain.fields.misc import parse_string
from leadrelay.domain.fields.value import Invalid, Options, is_empty
from leadrelay.entrypoints.api.errors import HTTPProblem
from leadrelay.entrypoints.api.leads import parse_body
from leadrelay.errors import ValidationFailed

FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("content_type", "body", "parsed"),
    [
        (FORM, b"first_name=A&email=a%40b.com&", {"first_name": "A", "email": "a@b.com"}),
        (FORM, b"first_name=A&&email=x", {"first_name": "A", "email": "x"}),
        (FORM, b"first_name=A&opt_in", {"first_name": "A", "opt_in": ""}),
        (f"{FORM}; charset=ISO-8859-1", b"first_name=Zo\xeb", {"first_name": "Zo\u00eb"}),
        (f"{FORM}; charset=iso-8859-1", b"first_name=Zo%EB", {"first_name": "Zo\u00eb"}),
        (FORM, b"first_name=Zo%C3%AB", {"first_name": "Zo\u00eb"}),
    ],
)
def test_form_bodies_are_read_as_browsers_send_them(
    content_type: str, body: bytes, parsed: dict[str, str]
) -> None:
    assert parse_body(content_type, body) == parsed


@pytest.mark.parametrize("charset", ["base64", "rot13", "no-such-charset"])
def test_a_charset_that_is_no_text_encoding_is_a_415_naming_it(charset: str) -> None:
    with pytest.raises(HTTPProblem) as caught:
        parse_body(f"{FORM}; charset={charset}", b"a=1")
    assert caught.value.status == 415 and charset in caught.value.detail


def test_a_form_field_sent_twice_is_a_422_naming_it() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_body(FORM, b"first_name=A&email=x&first_name=B")
    assert [p.field for p in caught.value.problems] == ["first_name"]
    assert "sent more than once" in caught.value.problems[0].error


def test_a_negative_integer_below_64_bits_is_kept_exact() -> None:
    body = b'{"count": -9223372036854775809, "note": -9999999999999999999, "ok": -9223372036854775808}'
    assert parse_body("application/json", body) == {
        "count": "-9223372036854775809",  # its digits: an integer field says it is out of range
        "note": "-9999999999999999999",
        "ok": -9223372036854775808,  # the least 64-bit integer is one
    }


@pytest.mark.parametrize("raw", ["\u200b", "\u200f\u200b", " \ufeff ", "\u2060"])
def test_text_of_nothing_but_invisible_characters_is_not_given(raw: str) -> None:
    assert is_empty(raw)
    assert not is_empty("\u200bA")


def test_max_length_counts_letters_as_they_show_and_keeps_the_value_as_sent() -> None:
    decomposed = "e\u0301" * 6  # six é, each written as e and a combining accent
    assert parse_string(decomposed, Options(max_length=10)).value == decomposed
    with pytest.raises(Invalid):
        parse_string("e\u0301" * 11, Options(max_length=10))


def test_dedup_reads_a_name_the_same_however_its_letters_are_encoded() -> None:
    assert material("s", ["M\u00fcller"]) == material("s", ["Mu\u0308ller"]) == material("s", ["M\u00dcLLER"])


def test_an_empty_sensitive_field_needs_no_secret_key_and_a_given_one_does() -> None:
    """A form sends its empty inputs: an empty ``ssn`` has nothing to seal, and was refused (503) where no
    secret key is set; a given one still needs it."""
    from leadrelay.adapters.crypto import SecretKeyError
    from tests.documents import lead
    from tests.unit.in_memory import Installation, document

    doc = document()
    doc["entities"]["solar"]["fields"]["ssn"] = {"type": "string", "sensitive": True}
    world = Installation(doc)
    world.sealer._available = False  # no LEADRELAY_SECRET_KEY
    answer = world.accept(lead(ssn=""))
    assert answer.status == "queued", answer
    assert world.one("leads", id=answer.lead_id).raw["ssn"] == ""  # kept as sent: nothing to hide
    with pytest.raises(SecretKeyError):
        world.accept(lead(ssn="123-45-6789", phone="(512) 555-7777"))


def test_a_long_number_in_a_body_nested_past_the_interpreters_depth_is_a_400_not_a_500() -> None:
    body = b'{"a": ' + b"[" * 1000 + b"]" * 1000 + b', "n": -9999999999999999999}'
    with pytest.raises(HTTPProblem) as caught:
        parse_body("application/json", body)
    assert (caught.value.status, caught.value.code) == (400, "malformed_body")


def test_a_charset_name_no_codec_can_have_is_a_415() -> None:
    with pytest.raises(HTTPProblem) as caught:
        parse_body(f"{FORM}; charset=utf-8\x00", b"a=1")
    assert caught.value.status == 415
