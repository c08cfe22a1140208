"""Field types: validate and normalize a lead's values against its entity.

``validate_lead`` never raises for bad input: it returns the normalized values and one ``FieldProblem``
per bad field, so intake can reject the lead with every error at once (and record it as rejected).

Normal forms: strings trimmed; integers as ``int``; numbers as ``float``; booleans as ``bool``; emails
with a lower-cased domain; phones as E.164 NANP ``+15125551212``; US ZIP as ``78704`` / ``78704-1234`` and
Canadian postal codes as ``K1A 0B1``; states and provinces as their 2-letter code; dates as ISO
``2026-01-31``; enum values as the canonical choice.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from leadrelay.domain.model import EntitySpec, FieldSpec, FieldType
from leadrelay.errors import FieldProblem

__all__ = ["STATES", "normalize_value", "validate_lead"]


class _Invalid(ValueError):
    """Raised inside a parser; carries the message of the field's problem."""


def validate_lead(entity: EntitySpec, raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Check ``raw`` against ``entity``; return the normalized values and the problems (empty if valid).

    Every entity field that was given appears in the values (in entity order), followed by the fields the
    entity does not know, kept as trimmed strings. Empty optional fields ("" or None) are left out.
    """
    values: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for name, spec in entity.fields.items():
        value = raw.get(name)
        if _is_empty(value):
            if spec.required:
                problems.append(FieldProblem(name, "required"))
            continue
        try:
            values[name] = normalize_value(spec, value)
        except _Invalid as exc:
            problems.append(FieldProblem(name, str(exc)))
    for name, value in raw.items():
        if name in entity.fields or _is_empty(value):
            continue
        values[name] = _text(value)
    return values, problems


def normalize_value(spec: FieldSpec, value: Any) -> Any:
    """The normal form of one non-empty value; raises ``ValueError`` (with the problem text) when bad."""
    if isinstance(value, list | tuple | dict | set | frozenset):
        raise _Invalid("must be a single value")
    return _PARSERS[spec.type](spec, value)


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    """A value as trimmed text: JSON booleans as true/false, lists and objects as compact JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value).strip()


# ---------------------------------------------------------------- numbers and booleans

_GROUPED = r"(?:\d{1,3}(?:,\d{3})+|\d+)"
_INTEGER_RE = re.compile(rf"^(?P<digits>{_GROUPED})(?:\.0*)?$")
_NUMBER_RE = re.compile(rf"^(?:{_GROUPED}(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def _unsigned(text: str) -> tuple[str, str]:
    """Split a sign and an optional currency sign off a number: "-$1,200" → ("-", "1,200")."""
    text = text.strip()
    sign = ""
    if text[:1] in ("+", "-"):
        sign, text = text[0], text[1:].lstrip()
    if text[:1] == "$":
        text = text[1:].lstrip()
        if not sign and text[:1] in ("+", "-"):
            sign, text = text[0], text[1:].lstrip()
    return sign, text


def _integer(spec: FieldSpec, value: Any) -> int:
    if isinstance(value, bool):
        raise _Invalid("not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise _Invalid("not an integer")
    sign, text = _unsigned(str(value))
    match = _INTEGER_RE.match(text)
    if not match:
        raise _Invalid("not an integer")
    digits = match["digits"].replace(",", "")
    if len(digits) > 30:  # far beyond any real count or amount (and int()'s digit limit)
        raise _Invalid("not an integer")
    number = int(digits)
    return -number if sign == "-" else number


def _number(spec: FieldSpec, value: Any) -> float:
    if isinstance(value, bool):
        raise _Invalid("not a number")
    if isinstance(value, int | float):
        number = float(value)
    else:
        sign, text = _unsigned(str(value))
        if not _NUMBER_RE.match(text):
            raise _Invalid("not a number")
        number = float(sign + text.replace(",", ""))
    if not math.isfinite(number):
        raise _Invalid("not a number")
    return number


_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})


def _boolean(spec: FieldSpec, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Invalid("not a boolean")


# ---------------------------------------------------------------- text-like types


def _string(spec: FieldSpec, value: Any) -> str:
    text = _text(value)
    if spec.max_length is not None and len(text) > spec.max_length:
        raise _Invalid(f"longer than {spec.max_length} characters")
    return text


_EMAIL_FORBIDDEN = frozenset('<>()[]\\,;:"')


def _email(spec: FieldSpec, value: Any) -> str:
    text = _text(value)
    local, at, domain = text.rpartition("@")
    labels = domain.split(".")
    ok = (
        at == "@"
        and local != ""
        and "@" not in local
        and not any(ch.isspace() or ch in _EMAIL_FORBIDDEN for ch in text)
        and not local.startswith(".")
        and not local.endswith(".")
        and ".." not in local
        and len(labels) >= 2
        and all(_domain_label(label) for label in labels)
        and len(labels[-1]) >= 2
        and not labels[-1].isdigit()
    )
    if not ok:
        raise _Invalid("not a valid email address")
    return f"{local}@{domain.lower()}"


def _domain_label(label: str) -> bool:
    return (
        label != ""
        and not label.startswith("-")
        and not label.endswith("-")
        and all(ch.isalnum() or ch == "-" for ch in label)
    )


_PHONE_PUNCTUATION = frozenset(" -.()/\t")


def _phone(spec: FieldSpec, value: Any) -> str:
    if isinstance(value, bool):
        raise _Invalid("not a valid US phone number")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    plus = text.startswith("+")
    if plus:
        text = text[1:]
    if not all((ch.isdigit() and ch.isascii()) or ch in _PHONE_PUNCTUATION for ch in text):
        raise _Invalid("not a valid US phone number")
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    elif plus:
        digits = ""  # a "+" must be followed by the country code 1
    if len(digits) != 10 or digits[0] in "01" or digits[3] in "01":
        raise _Invalid("not a valid US phone number")
    return "+1" + digits


_ZIP_RE = re.compile(r"^(\d{5})(?:[- ]?(\d{4}))?$")
_CANADA_RE = re.compile(r"^([ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z])[ -]?(\d[ABCEGHJ-NPRSTV-Z]\d)$")


def _postal_code(spec: FieldSpec, value: Any) -> str:
    if isinstance(value, bool | float):
        raise _Invalid("not a valid postal code")
    text = str(value).strip().upper()
    if match := _ZIP_RE.match(text):
        return match[1] if match[2] is None else f"{match[1]}-{match[2]}"
    if match := _CANADA_RE.match(text):
        return f"{match[1]} {match[2]}"
    raise _Invalid("not a valid postal code")


# ---------------------------------------------------------------- states and provinces

STATES: Mapping[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas",
    "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts",
    "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico",
    "NY": "New York", "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "DC": "District of Columbia",
    "PR": "Puerto Rico", "VI": "U.S. Virgin Islands", "GU": "Guam", "AS": "American Samoa",
    "MP": "Northern Mariana Islands",
    "AB": "Alberta", "BC": "British Columbia", "MB": "Manitoba", "NB": "New Brunswick",
    "NL": "Newfoundland and Labrador", "NS": "Nova Scotia", "NT": "Northwest Territories",
    "NU": "Nunavut", "ON": "Ontario", "PE": "Prince Edward Island", "QC": "Quebec",
    "SK": "Saskatchewan", "YT": "Yukon",
}  # fmt: skip
"""Every accepted code with its full name: the 50 US states, DC, 5 territories, 13 Canadian provinces."""

_STATE_ALIASES = {
    "washington dc": "DC",
    "virgin islands": "VI",
    "us virgin islands": "VI",
    "united states virgin islands": "VI",
    "newfoundland": "NL",
    "yukon territory": "YT",
    "pei": "PE",
}


def _state_key(text: str) -> str:
    """Lower case, no accents, periods or commas, "&" as "and", single spaces: "Québec" → "quebec"."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = plain.lower().replace(".", "").replace(",", " ").replace("&", " and ")
    return " ".join(plain.split())


_STATE_LOOKUP: dict[str, str] = {
    **{_state_key(code): code for code in STATES},
    **{_state_key(name): code for code, name in STATES.items()},
    **_STATE_ALIASES,
}


def _state(spec: FieldSpec, value: Any) -> str:
    code = _STATE_LOOKUP.get(_state_key(_text(value)))
    if code is None:
        raise _Invalid("not a known state or province")
    return code


# ---------------------------------------------------------------- dates and enums

_DATE_FORMATS = (
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"),
    re.compile(r"^(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})$"),
    re.compile(r"^(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})$"),
    re.compile(r"^(?P<m>\d{1,2})-(?P<d>\d{1,2})-(?P<y>\d{4})$"),
)


def _date(spec: FieldSpec, value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()[:10]
    text = _text(value)
    if len(text) > 10 and text[10] in "T ":
        try:  # a full ISO timestamp: keep its (local) date
            return dt.datetime.fromisoformat(text).date().isoformat()
        except ValueError:
            raise _Invalid("not a valid date") from None
    for pattern in _DATE_FORMATS:
        if match := pattern.match(text):
            try:
                return dt.date(int(match["y"]), int(match["m"]), int(match["d"])).isoformat()
            except ValueError:
                break
    raise _Invalid("not a valid date")


def _enum(spec: FieldSpec, value: Any) -> str:
    text = _text(value).casefold()
    for choice in spec.choices:
        if choice.casefold() == text:
            return choice
    raise _Invalid("must be one of: " + ", ".join(spec.choices))


_PARSERS: dict[FieldType, Callable[[FieldSpec, Any], Any]] = {
    FieldType.STRING: _string,
    FieldType.INTEGER: _integer,
    FieldType.NUMBER: _number,
    FieldType.BOOLEAN: _boolean,
    FieldType.EMAIL: _email,
    FieldType.PHONE: _phone,
    FieldType.POSTAL_CODE: _postal_code,
    FieldType.STATE: _state,
    FieldType.DATE: _date,
    FieldType.ENUM: _enum,
}
