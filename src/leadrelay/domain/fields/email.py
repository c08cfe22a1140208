"""Email addresses, checked by ``email-validator`` (syntax only: no DNS at intake).

The domain is lower-cased and the local part kept as given: ``Jane.Doe@Example.COM`` becomes
``Jane.Doe@example.com``. Mail servers may treat local parts case-sensitively, so changing one could
send the buyer an address that bounces.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from email_validator import EmailNotValidError, validate_email

from leadrelay.domain.fields.value import FieldValue, Invalid, Options, accept, register

FREE_MAIL = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "rocketmail.com", "yahoo.co.uk",
        "hotmail.com", "hotmail.co.uk", "outlook.com", "live.com", "msn.com", "aol.com", "aim.com",
        "icloud.com", "me.com", "mac.com", "protonmail.com", "proton.me", "pm.me", "tutanota.com",
        "gmx.com", "gmx.net", "mail.com", "zoho.com", "yandex.com", "yandex.ru", "mail.ru",
        "fastmail.com", "comcast.net", "att.net", "sbcglobal.net", "verizon.net", "cox.net",
        "bellsouth.net", "charter.net", "earthlink.net",
    }
)  # fmt: skip
"""Common consumer mail domains: a free-mail address on a B2B lead is worth a flag."""

DISPOSABLE_MAIL = frozenset(
    {
        "mailinator.com", "guerrillamail.com", "sharklasers.com", "10minutemail.com", "temp-mail.org",
        "tempmail.com", "yopmail.com", "trashmail.com", "getnada.com", "maildrop.cc", "dispostable.com",
        "throwawaymail.com",
    }
)  # fmt: skip
"""The best-known throwaway inboxes; a short list on purpose (a full one changes daily)."""

_PROBLEM = "not a valid email address"


@register("email")
def parse_email(raw: Any, options: Options) -> FieldValue:
    if not isinstance(raw, str):
        raise Invalid(_PROBLEM)
    text = raw.strip()
    plain = _plain(text)
    if plain is not None:  # the common case: the library's verdict on the domain, remembered
        local, domain = plain
    else:
        try:
            address = validate_email(text, check_deliverability=False)
        except EmailNotValidError:
            raise Invalid(_PROBLEM) from None
        local, domain = address.local_part, address.domain.lower()
    host, _, tld = domain.rpartition(".")
    free = domain in FREE_MAIL
    disposable = domain in DISPOSABLE_MAIL
    parts = {
        "user": local,
        "domain": domain,
        "host": host,
        "tld": tld,
        "free_mail": free,
        "disposable": disposable,
    }
    flags = ("free_mail",) * free + ("disposable",) * disposable
    return accept(raw, f"{local}@{domain}", parts, flags)


_DOT_ATOM = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


def _plain(text: str) -> tuple[str, str] | None:
    """``(local, domain)`` of a plain ASCII address whose local part is an RFC 5322 dot-atom (which
    email-validator always accepts) and whose domain email-validator accepted; None sends the address
    through the full check. Most of the library's time goes to the domain, and leads share few domains."""
    local, at, domain = text.rpartition("@")
    if not at or len(local) > 64 or len(text) > 254 or not local.isascii() or not _DOT_ATOM.match(local):
        return None
    if not domain.isascii() or "xn--" in domain.lower():  # the library's own form (IDNA, NFC, width)
        return None
    domain = domain.lower()
    return (local, domain) if _domain_ok(domain) else None


@functools.lru_cache(maxsize=4096)
def _domain_ok(domain: str) -> bool:
    try:
        validate_email(f"x@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return False
    return True
