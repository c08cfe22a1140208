"""The filters of partner mappings: a small vocabulary for reshaping lead values into what a buyer wants.

Every filter passes a missing value (None, or an undefined field) through as None, so ``default`` can still
catch it at the end of a chain; text comes out as a buyer reads it (``text``): true/false, 180 not 180.0.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import string
from collections.abc import Callable, Mapping
from typing import Any

import phonenumbers
from jinja2 import Undefined

from leadrelay.domain.fields import FieldValue, normalize_field, number_only

__all__ = ["FILTERS", "check_pattern", "is_missing", "text"]

_DIGITS = frozenset("0123456789")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def is_missing(value: Any) -> bool:
    return value is None or isinstance(value, Undefined)


def text(value: Any) -> str:
    """A value as a buyer reads it: nothing for a missing value, true/false, 180 rather than 180.0."""
    if is_missing(value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value)


def _text_filter(transform: Callable[[str], str]) -> Callable[[Any], str | None]:
    def apply(value: Any) -> str | None:
        return None if is_missing(value) else transform(text(value))

    return apply


def _phone(value: Any, region: str | None) -> FieldValue | None:
    raw = text(value)
    return _parse_phone(raw, region) if raw else None


@functools.lru_cache(maxsize=1024)
def _parse_phone(raw: str, region: str | None) -> FieldValue | None:
    """Cached: a lead's phone is usually read twice or more (``e164``, ``national``)."""
    if region is None and raw.startswith("+") and not raw.startswith("+1"):  # it says its own country
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(raw))
        except phonenumbers.NumberParseException:
            return None
    parsed = normalize_field("phone", raw, region=region or "US")  # +1: every NANP country reads as US
    return parsed if parsed.valid else None


def _e164(value: Any, region: str | None = None) -> str | None:
    """``+15125551212``, without an extension; None for a missing value or text that is not a phone number."""
    parsed = _phone(value, region)
    return number_only(parsed.normal) if parsed is not None and parsed.normal else None


def _extension(value: Any, region: str | None = None) -> str | None:
    """A phone's extension (``123`` of ``+15125551212;ext=123``); None when it has none or is no phone."""
    parsed = _phone(value, region)
    return parsed.parts.get("extension") if parsed is not None else None


def _digits(value: str) -> str:
    """The digits of a text; of a phone with an extension, the number's only (``15125551212``)."""
    return "".join(c for c in number_only(value) if c in _DIGITS)


def _national(value: Any, region: str | None = None) -> str | None:
    """The national significant number (``5125551212`` for a US number)."""
    parsed = _phone(value, region)
    return str(parsed.parts["national"]) if parsed is not None else None


def check_pattern(pattern: Any) -> list[tuple[str, str | None]]:
    """The pieces of a ``format`` pattern (literal text, then a format spec or None); ``ValueError`` for
    anything but ``{}`` placeholders: ``{0.__class__}`` must never reach ``str.format``."""
    if not isinstance(pattern, str):
        raise ValueError("format needs a pattern as text, e.g. format('+1{}')")
    pieces: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in string.Formatter().parse(pattern):
        if name is not None and (
            name not in ("", "0") or conversion not in (None, "s") or "{" in (spec or "")
        ):
            raise ValueError(f"format patterns take plain '{{}}' placeholders, not '{{{name}}}'")
        pieces.append((literal, (spec or "") if name is not None else None))
    return pieces


def _format(value: Any, pattern: Any) -> str | None:
    """``str.format`` of one value: ``format('+1{}')``, ``format('{:.2f}')``."""
    pieces = check_pattern(pattern)
    if is_missing(value):
        return None
    plain = value if isinstance(value, int | float) and not isinstance(value, bool) else text(value)
    return "".join(literal + (format(plain, spec) if spec is not None else "") for literal, spec in pieces)


def _date(value: Any, pattern: str = "%Y-%m-%d") -> str | None:
    """A date or date-time reformatted with ``strftime``; date-times are read (and written) in UTC."""
    raw = text(value)
    if not raw:
        return None
    if ":" in raw:
        stamp = normalize_field("datetime", raw)
        return dt.datetime.fromisoformat(stamp.normal).strftime(pattern) if stamp.normal else None
    if _ISO_DATE.fullmatch(raw):  # a date field's normal form: no need for the lenient parser
        return dt.date.fromisoformat(raw).strftime(pattern)
    day = normalize_field("date", raw)
    return dt.date.fromisoformat(day.normal).strftime(pattern) if day.normal else None


def _default(value: Any, fallback: Any = "") -> Any:
    """``fallback`` for a missing or empty value (Jinja's own ``default`` lets None and "" through)."""
    return fallback if is_missing(value) or value == "" else value


_NO_DEFAULT = object()


def _map(value: Any, table: Any, default: Any = _NO_DEFAULT) -> Any:
    """Translate a value through ``table`` (by value, then text, then text ignoring case); an unlisted
    value becomes ``default`` when one is given, else stays as it is."""
    if not isinstance(table, Mapping):
        raise TypeError("map needs a mapping, e.g. map({'Yes': 1, 'No': 0})")
    if not is_missing(value):
        if not isinstance(value, list | dict) and value in table:
            return table[value]
        key = text(value)
        if key in table:
            return table[key]
        folded = key.casefold()
        for name, result in table.items():
            if isinstance(name, str) and name.casefold() == folded:
                return result
    return value if default is _NO_DEFAULT else default


def _truncate(value: Any, length: Any) -> str | None:
    """The first ``length`` characters, no ellipsis (a buyer's column width, not a reader's)."""
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise TypeError("truncate needs a whole number of characters, e.g. truncate(50)")
    return None if is_missing(value) else text(value)[:length]


FILTERS: dict[str, Callable[..., Any]] = {
    "upper": _text_filter(str.upper),
    "lower": _text_filter(str.lower),
    "title": _text_filter(str.title),
    "trim": _text_filter(str.strip),
    "digits": _text_filter(_digits),
    "e164": _e164,
    "extension": _extension,
    "national": _national,
    "format": _format,
    "date": _date,
    "default": _default,
    "map": _map,
    "truncate": _truncate,
}
