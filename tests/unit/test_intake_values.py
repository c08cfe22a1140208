"""Field types' normal forms: one value written two ways comes out as one normal form, since rules, dedup,
suppression and buyers compare it (an email's domain in punycode, decomposed or full-width; a postal code
in other scripts' digits: a review of 2026-12-06 found each)."""

from __future__ import annotations

import pytest

from leadrelay.domain.fields import normalize_field

# ---------------------------------------------------------------- email: one address, one normal form


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("ada@xn--bcher-kva.example", "ada@bücher.example"),  # punycode: what email-validator gives
        ("ada@bu\u0308cher.example", "ada@bücher.example"),  # NFD (a Mac keyboard's ü): NFC
        ("ada@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", "ada@example.com"),  # full-width letters
    ],
)
def test_an_email_domain_is_normalized_even_when_the_local_part_is_plain_ascii(
    written: str, normal: str
) -> None:
    """email.py's fast path (``_plain``) only asks email-validator whether the domain is valid and then
    keeps the domain as sent (lower-cased): the library's normalization (IDNA/UTS-46 mapping, NFC) is lost,
    while an address with a non-ASCII local part does get it. One mailbox so gets several normal forms."""
    got = normalize_field("email", written)
    assert got.valid, got.error
    assert got.normal == normal, f"{written!r} normalized to {got.normal!r}, not {normal!r}"


def test_a_free_mail_address_in_full_width_letters_is_flagged_free_mail() -> None:
    got = normalize_field("email", "Ada@\uff27\uff2d\uff21\uff29\uff2c.com")  # Ada@ＧＭＡＩＬ.com
    assert got.valid, got.error
    assert (got.normal, got.flags) == ("Ada@gmail.com", ("free_mail",)), (got.normal, got.flags)


# ---------------------------------------------------------------- postal codes: the normal form is ASCII


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("\uff17\uff18\uff17\uff10\uff14", "78704"),  # full-width digits (an East Asian keyboard)
        ("\u0667\u0668\u0667\u0660\u0664", "78704"),  # Arabic-Indic digits
        ("K\uff11A 0B1", "K1A 0B1"),
    ],
)
def test_a_postal_code_in_other_digits_is_normalized_to_ascii_digits(written: str, normal: str) -> None:
    """places.py matches with ``\\d`` (any Unicode digit) and keeps the matched text: the lead is accepted
    with a "normal" ZIP no rule (``zip in [78704]``), ZIP suppression list or buyer recognizes."""
    got = normalize_field("postal_code", written)
    assert got.valid and got.normal == normal, f"{written!r} -> valid={got.valid} normal={got.normal!r}"
