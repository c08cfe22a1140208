"""What a suppression list entry is: the hash of a value's canonical form, the same however the value was
typed, and the same whether it comes from a list file (``list_hash``) or a lead intake normalized
(``hashes_of_lead``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from leadrelay.domain.fields import validate_lead
from leadrelay.domain.model import EntitySpec, FieldSpec, FieldType
from leadrelay.domain.suppression import (
    KINDS,
    Layout,
    data_rows,
    file_layout,
    hash_or_error,
    hashes_of_lead,
    list_hash,
    normal_hash,
)
from leadrelay.errors import ValidationFailed


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_kinds() -> None:
    assert KINDS == ("phone", "email", "postal_code")


@pytest.mark.parametrize(
    "raw", ["(512) 555-1212", "512.555.1212", "+1 512 555 1212", "5125551212", "1-512-555-1212", 5125551212]
)
def test_one_phone_number_is_one_hash_however_written(raw: Any) -> None:
    assert list_hash("phone", raw) == sha("+15125551212")


@pytest.mark.parametrize("raw", ["512-555-1212 x12", "(512) 555-1212 ext 7", "+15125551212;ext=99"])
def test_a_phone_is_listed_without_its_extension(raw: str) -> None:
    assert list_hash("phone", raw) == sha("+15125551212")
    validated = validate_lead(SOLAR, {"phone": raw})
    assert validated.values["phone"].startswith("+15125551212;ext=")  # kept in the lead's value
    assert hashes_of_lead(TYPES, validated.values) == {"phone": {sha("+15125551212")}}


@pytest.mark.parametrize(
    "raw", ["+44 20 7946 0958", "+442079460958", "+44 (0)20 7946 0958", "+44-20-7946-0958 h"]
)
def test_a_phone_in_international_form_is_read_in_its_own_countrys_numbering(raw: str) -> None:
    """A list belongs to no region: a number with its calling code is listed as the E.164 number a lead
    of that country's entity is normalized to."""
    assert list_hash("phone", raw) == sha("+442079460958")
    gb = EntitySpec("uk", {"phone": FieldSpec("phone", FieldType.PHONE)}, region="GB")
    lead_phone = validate_lead(gb, {"phone": "020 7946 0958"}).values
    assert hashes_of_lead({"phone": "phone"}, lead_phone) == {"phone": {list_hash("phone", raw)}}


def test_a_phone_without_its_calling_code_is_read_in_the_lists_region() -> None:
    assert hash_or_error("phone", "020 7946 0958") == (None, "not a valid US number")
    assert list_hash("phone", "020 7946 0958", region="GB") == sha("+442079460958")
    assert list_hash("phone", "+1 512 555 1212", region="GB") == sha("+15125551212")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("+44 20 79", "not a valid GB number"),
        ("+999 123 4567", "not a valid phone number"),  # no country calls +999
        ("+800 1234 5678", "not a valid phone number"),  # a global number: no country's numbering
        ("+", "not a valid phone number"),
    ],
)
def test_a_bad_international_number_says_why(raw: str, why: str) -> None:
    assert hash_or_error("phone", raw) == (None, why)


@pytest.mark.parametrize("raw", ["john@x.com", "John@X.com", "JOHN@x.COM", "  john@X.com "])
def test_email_case_does_not_matter_even_in_the_local_part(raw: str) -> None:
    assert list_hash("email", raw) == sha("john@x.com")


def test_zip_plus_four_hashes_as_its_zip() -> None:
    assert list_hash("postal_code", "78704") == sha("78704")
    assert list_hash("postal_code", "78704-1234") == sha("78704")
    assert list_hash("postal_code", "787041234") == sha("78704")
    assert list_hash("postal_code", 78704) == sha("78704")


def test_canadian_postal_codes_stay_whole() -> None:
    for raw in ("k1a 0b1", "K1A0B1", "K1A  0B1"):
        assert list_hash("postal_code", raw) == sha("K1A 0B1")
    assert list_hash("postal_code", "k1a0b1") == sha("K1A 0B1")
    assert list_hash("postal_code", "K1A 0B1") == sha("K1A 0B1")
    assert list_hash("postal_code", "K1A 0B2") != list_hash("postal_code", "K1A 0B1")


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("phone", "555-1212"),
        ("phone", "(012) 555-1212"),
        ("phone", "not a phone"),
        ("email", "john@"),
        ("email", "john.x.com"),
        ("postal_code", "7870"),
        ("postal_code", "ABCDE"),
        ("phone", ""),
        ("email", None),
        ("phone", True),
    ],
)
def test_invalid_values_have_no_hash(kind: str, raw: Any) -> None:
    assert list_hash(kind, raw) is None
    digest, why = hash_or_error(kind, raw)
    assert digest is None and why


def test_an_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown suppression list kind"):
        list_hash("ssn", "123-45-6789")


def test_given_hashes_are_checked_and_lower_cased() -> None:
    digest = sha("+15125551212")
    assert normal_hash(digest.upper()) == digest
    assert normal_hash(f"  {digest}\n") == digest
    assert normal_hash(digest[:-1]) is None
    assert normal_hash(digest[:-1] + "g") is None


SOLAR = EntitySpec(
    name="solar",
    fields={
        "phone": FieldSpec("phone", FieldType.PHONE),
        "work_phone": FieldSpec("work_phone", FieldType.PHONE),
        "email": FieldSpec("email", FieldType.EMAIL),
        "zip": FieldSpec("zip", FieldType.POSTAL_CODE),
        "first_name": FieldSpec("first_name", FieldType.STRING),
    },
)
TYPES = {name: str(spec.type) for name, spec in SOLAR.fields.items()}


def test_hashes_of_a_lead_agree_with_list_hash() -> None:
    raw = {
        "phone": "(512) 555-1212",
        "work_phone": "512.555.3434",
        "email": "John.Smith@Example.COM",
        "zip": "78704-1234",
        "first_name": "John",
    }
    validated = validate_lead(SOLAR, raw)
    assert validated.ok
    hashes = hashes_of_lead(TYPES, validated.values)
    assert hashes == {
        "phone": {list_hash("phone", "+1 512 555 1212"), list_hash("phone", "5125553434")},
        "email": {list_hash("email", "john.smith@example.com")},
        "postal_code": {list_hash("postal_code", "78704")},
    }


def test_hashes_of_a_lead_with_field_type_members_and_missing_values() -> None:
    validated = validate_lead(SOLAR, {"zip": "K1A 0B1", "email": ""})
    types = {name: spec.type for name, spec in SOLAR.fields.items()}  # FieldType members, not str
    assert hashes_of_lead(types, validated.values) == {"postal_code": {list_hash("postal_code", "k1a 0b1")}}
    assert hashes_of_lead(TYPES, {}) == {}


# ---------------------------------------------------------------- reading list files


def test_plain_file_without_header() -> None:
    layout = file_layout("5125551212\n", None, "phone", hashed=False)
    assert layout == Layout(None, 0, None)
    lines = ["5125551212\n", "\n", " 512.555.3434 \r\n"]
    assert list(data_rows(lines, layout)) == [(1, "5125551212"), (2, ""), (3, "512.555.3434")]


def test_plain_file_with_a_word_as_first_line_has_a_header() -> None:
    layout = file_layout("phone\n", None, "phone", hashed=False)
    assert layout == Layout(None, 0, "phone")
    assert list(data_rows(["phone\n", "5125551212\n"], layout)) == [(2, "5125551212")]
    assert file_layout("value_hash\n", None, "phone", hashed=True).header == "value_hash"


def test_csv_column_by_name_and_first_column_by_default() -> None:
    first = "Name,Phone Number,Zip\n"
    layout = file_layout(first, "phone number", "phone", hashed=False)
    assert layout == Layout(",", 1, "Phone Number")
    lines = [first, 'Ada,"(512) 555-1212",78704\n', "Bob\n", "Cy,512.555.3434,78705\n"]
    assert list(data_rows(lines, layout)) == [(2, "(512) 555-1212"), (3, ""), (4, "512.555.3434")]
    assert file_layout("email;name\n", None, "email", hashed=False) == Layout(";", 0, "email")
    assert file_layout("a@x.com\tAda\n", None, "email", hashed=False) == Layout("\t", 0, None)


def test_unknown_column_names_the_columns() -> None:
    with pytest.raises(ValueError, match=r"no column named 'phon'; did you mean 'phone'\? \(the header"):
        file_layout("name,phone\n", "phon", "phone", hashed=False)


@pytest.mark.parametrize(
    ("content", "column", "field", "message"),
    [
        (b"", None, "file", "the file is empty"),
        (b" \n\n", None, "file", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", None, "file", "is not a text file"),
        (b"PK\x03\x04\x14\x00\x06\x00", None, "file", "is not a text file"),  # an .xlsx
        ("phone\n".encode("utf-16"), None, "file", "is not a text file"),
        (b"Phone;name\n5125551212;Ada\n", "phnoe", "column", "did you mean 'Phone'?"),
    ],
)
def test_a_file_the_console_would_only_half_import_is_refused_first(
    tmp_path: Path, content: bytes, column: str | None, field: str, message: str
) -> None:
    from leadrelay.services.suppression import check_file

    path = tmp_path / "upload"
    path.write_bytes(content)
    with pytest.raises(ValidationFailed) as caught:
        check_file(path, "phone", column=column)
    assert caught.value.problems[0].field == field and message in caught.value.problems[0].error


def test_a_text_file_passes_even_cut_inside_a_character_at_64_kib(tmp_path: Path) -> None:
    from leadrelay.services.suppression import check_file

    path = tmp_path / "upload"
    path.write_bytes(b"\xef\xbb\xbfphone\n" + b"5125551212\n" * 5956 + "é".encode() * 10)
    check_file(path, "phone")  # the BOM, and a 2-byte character across the 64 KiB mark
    path.write_bytes(b"\xef\xbb\xbfphone,name\n5125551212,Ada\n")
    check_file(path, "phone", column="phone")
