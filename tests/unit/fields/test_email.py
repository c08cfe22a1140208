"""Email addresses: email-validator's syntax check, lower-cased domain, parts and mail-provider flags."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.fields import bad, ok


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("jane@example.com", "jane@example.com"),
        ("  Jane.Doe@Example.COM ", "Jane.Doe@example.com"),
        ("j+tag@mail.example.co.uk", "j+tag@mail.example.co.uk"),
        ("o'brien@my-domain.org", "o'brien@my-domain.org"),
        ("User@Domain.Com", "User@domain.com"),  # spec/email-spec.js "should downcase": LeadConduit also
        (" user@domain.com ", "user@domain.com"),  # spec/email-spec.js "should strip whitespace"
        # lib/types/email.js examples
        ("mikejones32@gmail.com", "mikejones32@gmail.com"),
        ("rcampbell1976@outlook.com", "rcampbell1976@outlook.com"),
        ("janets@somecompany.biz", "janets@somecompany.biz"),
    ],
)
def test_valid(raw: str, normal: str) -> None:
    result = ok("email", raw)
    assert result.normal == result.value == normal


# spec/email-spec.js "should parse user / domain / host / tld"
def test_parts() -> None:
    result = ok("email", "user@domain.com")
    assert dict(result.parts) == {
        "user": "user",
        "domain": "domain.com",
        "host": "domain",
        "tld": "com",
        "free_mail": False,
        "disposable": False,
    }
    assert result.flags == ()


def test_plus_in_user() -> None:  # spec/email-spec.js "should support plus symbol in user"
    assert ok("email", "user+hola@domain.com").parts["user"] == "user+hola"


def test_subdomains_stay_in_the_host() -> None:
    parts = ok("email", "j@mail.Example.co.uk").parts
    assert (parts["domain"], parts["host"], parts["tld"]) == ("mail.example.co.uk", "mail.example.co", "uk")


# spec/email-spec.js "should correctly determine if account is from free domain / is disposable"
@pytest.mark.parametrize(
    ("raw", "flags"),
    [
        ("user@gmail.com", ("free_mail",)),
        ("User@GMAIL.COM", ("free_mail",)),
        ("someone@yahoo.com", ("free_mail",)),
        ("someone@hotmail.com", ("free_mail",)),
        ("someone@icloud.com", ("free_mail",)),
        ("user@mailinator.com", ("disposable",)),
        ("user@domain.com", ()),
        ("user@gmail.company.com", ()),
    ],
)
def test_mail_provider_flags(raw: str, flags: tuple[str, ...]) -> None:
    result = ok("email", raw)
    assert result.flags == flags
    assert result.parts["free_mail"] is ("free_mail" in flags)
    assert result.parts["disposable"] is ("disposable" in flags)


def test_international_domain() -> None:
    result = ok("email", "José@Bücher.de")
    assert result.normal == "José@bücher.de"
    assert result.parts["domain"] == "bücher.de"


@pytest.mark.parametrize(
    "raw",
    [
        "Asdf",  # spec/email-spec.js "should handle invalid value"
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
        "jane@1.2.3.4",
        ".jane@example.com",
        "ja..ne@example.com",
        "<jane@example.com>",
        "Jane <jane@example.com>",
        "jane@example.com, joe@example.com",
        "jane@localhost",
        12,
        True,
    ],
)
def test_invalid(raw: Any) -> None:
    assert bad("email", raw) == "not a valid email address"
