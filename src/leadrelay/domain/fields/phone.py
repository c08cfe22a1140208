"""Phone numbers, parsed and validated by ``phonenumbers`` (Google's libphonenumber metadata).

The normal form is E.164 (``+15125551212``) so one lead format serves every country; ``parts["national"]``
keeps the 10-digit form LeadConduit calls normal. An extension (``x123``, ``ext 42``, ``#7``) is kept in
the normal form the way RFC 3966 writes it, ``+15125551212;ext=123``, and in ``parts["extension"]``, so
nothing the lead sent is lost; ``number_only`` gives the number without it (what dedup, suppression and
erasure compare, and what the ``e164`` mapping filter sends). A number must be valid for the calling code
of the field's region: with region US any NANP number (US, Canada, the Caribbean) passes, a UK one does not.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberType

from leadrelay.domain.fields.value import FieldValue, Invalid, Options, accept, register

_TYPES = {
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}
"""What ``parts["type"]`` says; FIXED_LINE_OR_MOBILE (most US numbers) and UNKNOWN say nothing (None)."""

_HINT_RE = re.compile(r"(?<=[\d\s)])\s*\(?([hwcm])\)?$", re.IGNORECASE)
"""LeadConduit's line-type hint after a number: ``5127891111 h`` (home), ``(w)`` work, ``c``/``m`` mobile."""
_HINTS = {"h": "home", "w": "work", "c": "mobile", "m": "mobile"}

EXTENSION = ";ext="
"""What joins a number and its extension in the normal form (RFC 3966): ``+15127891111;ext=123``."""

_SEQUENCES = frozenset({"1234567", "2345678", "3456789", "9876543", "8765432", "7654321"})


@register("phone")
def parse_phone(raw: Any, options: Options) -> FieldValue:
    number, country, hint = _parsed(raw, options.region)
    return _decompose(raw, number, country, hint)


def number_key(raw: Any, region: str = "US", *, any_country: bool = False) -> str:
    """What ``number_only`` gives for the normal form of a valid phone ``raw``, computed without the
    parts (a suppression list of millions of numbers needs only this); ``Invalid`` with the same message
    as the field type when it is not a valid number of ``region``. ``any_country``: a number written in
    international form (``+44 20 7946 0958``) is read in the numbering of its own calling code, whatever
    ``region`` (a number without its calling code still in ``region``): what a suppression list, which
    belongs to no entity and so to no region, takes."""
    if any_country:
        region = _calling_region(raw) or region
    number = _parsed(raw, region)[0]
    return f"+{number.country_code}{phonenumbers.national_significant_number(number)}"


def _calling_region(raw: Any) -> str | None:
    """The main region of the calling code a number in international form starts with (``+44 …`` → GB,
    ``+1 …`` → US, whose numbering is all of NANP's); None for a number without one. ``Invalid`` when the
    digits after the "+" begin with no country's calling code."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text.startswith("+"):
        return None
    digits = "".join(itertools.takewhile(lambda c: c in "0123456789", text[1:].translate(_PUNCTUATION)))
    for size in range(1, min(len(digits), 3) + 1):  # calling codes are prefix-free: one of them fits
        region = phonenumbers.region_code_for_country_code(int(digits[:size]))
        if region != phonenumbers.UNKNOWN_REGION:
            if region == _NON_GEOGRAPHIC:  # +800, +808, +870…: no country's numbering
                break
            return str(region)
    raise Invalid("not a valid phone number")


def _parsed(raw: Any, region: str) -> tuple[phonenumbers.PhoneNumber, str, str | None]:
    """The number, the country it belongs to and the line-type hint; ``Invalid`` when not valid."""
    problem = f"not a valid {region} number"
    if isinstance(raw, bool):
        raise Invalid(problem)
    raw_text = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw).strip()
    hint = None
    if match := _HINT_RE.search(raw_text):
        hint = _HINTS[match[1].lower()]
        raw_text = raw_text[: match.start()]
    number = _plain_nanp(raw_text) if region in _NANP_REGIONS else None
    if number is None:
        try:
            number = phonenumbers.parse(raw_text, region)
        except phonenumbers.NumberParseException:
            raise Invalid(problem) from None
    if number.country_code != phonenumbers.country_code_for_region(region):
        raise Invalid(problem)
    if phonenumbers.is_valid_number_for_region(number, region):  # the common case, and the cheap check
        country = region
    elif phonenumbers.is_valid_number(number):  # another country sharing the calling code (CA under US)
        country = phonenumbers.region_code_for_number(number) or region
    else:
        raise Invalid(problem)
    return number, country, hint


_NANP_REGIONS = frozenset(phonenumbers.region_codes_for_country_code(1))
_NON_GEOGRAPHIC = "001"  # phonenumbers' region of global numbers (+800 freephone, +870 Inmarsat…)
_PUNCTUATION = str.maketrans("", "", " -.()")


def _plain_nanp(text: str) -> phonenumbers.PhoneNumber | None:
    """The number of a plain North American entry (``(512) 555-1212``, ``+1 512.555.1212``,
    ``15125551212``), built without ``phonenumbers.parse`` — half the cost of a phone field, and what
    parse itself would build for such digits. Anything else (an extension, letters, another country's
    "+") returns None and goes through parse; validity is always the metadata's (the caller checks)."""
    plus = text.startswith("+")
    digits = text[1:].translate(_PUNCTUATION) if plus else text.translate(_PUNCTUATION)
    if not (digits.isascii() and digits.isdigit()):
        return None
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    elif plus or len(digits) != 10:
        return None
    return phonenumbers.PhoneNumber(country_code=1, national_number=int(digits))


def _decompose(raw: Any, number: phonenumbers.PhoneNumber, country: str, hint: str | None) -> FieldValue:
    national = phonenumbers.national_significant_number(number)
    nanp = number.country_code == 1
    # NANP area codes are always 3 digits; elsewhere ask the metadata (slow: it formats the number)
    area_length = 3 if nanp else phonenumbers.length_of_national_destination_code(number)
    area = national[:area_length] or None
    subscriber = national[area_length:]
    if nanp and country in ("US", "CA"):
        kind = _nanp_type(area)
    else:
        kind = _TYPES.get(phonenumbers.number_type(number))
    parts = {
        "national": national,
        "area": area,
        "exchange": subscriber[:3] if nanp else None,
        "line": subscriber[3:] if nanp else None,
        "number": subscriber,
        "extension": number.extension or None,
        "type": kind,
        "hint": hint,
        "country_code": country,
        "calling_code": number.country_code,
    }
    flags: list[str] = []
    if kind == "toll_free":
        flags.append("toll_free")
    if nanp and _looks_fake(subscriber):
        flags.append("fake")
    normal = f"+{number.country_code}{national}"  # E.164, as format_number(E164) writes it
    if number.extension:
        normal += EXTENSION + number.extension
    return accept(raw, normal, parts, tuple(flags))


_WITH_EXTENSION_RE = re.compile(r"(\+\d+);ext=\d+")


def number_only(normal: str) -> str:
    """A phone's normal form without its extension: ``+15127891111;ext=123`` → ``+15127891111``; any
    other text (a number without extension, a value of another type) is returned as it is."""
    if EXTENSION in normal and (match := _WITH_EXTENSION_RE.fullmatch(normal)):
        return match[1]
    return normal


_NANP_TOLL_FREE = frozenset({"800", "833", "844", "855", "866", "877", "888"})


def _nanp_type(area: str | None) -> str | None:
    """US and Canadian numbers by area code: what ``number_type`` answers for them (toll-free, premium 900,
    else fixed-line-or-mobile, i.e. None), without matching every type pattern of the metadata."""
    if area in _NANP_TOLL_FREE:
        return "toll_free"
    return "premium_rate" if area == "900" else None


def _looks_fake(subscriber: str) -> bool:
    """A NANP number that is valid on paper but nobody's: 555-0100..0199 (reserved for fiction),
    one digit seven times (222-2222), or a run like 234-5678. Flagged, not rejected: the buyer decides."""
    if subscriber[:3] == "555" and subscriber[3:5] == "01":
        return True
    return len(set(subscriber)) == 1 or subscriber in _SEQUENCES
