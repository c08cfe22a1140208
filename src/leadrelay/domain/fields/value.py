"""``FieldValue``, the registry of field types, and ``normalize_field``.

Every type is a parser ``(raw, options) -> FieldValue`` registered under its name. A parser raises
``Invalid`` for bad input and ``normalize_field`` turns that into an invalid ``FieldValue``, so one code
path produces every error message and callers never see an exception for a bad lead.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = ["FieldValue", "Invalid", "Options", "accept", "is_empty", "normalize_field", "register", "text"]

NO_PARTS: Mapping[str, Any] = MappingProxyType({})
"""Shared empty parts: most values have none, and a fresh dict per value would be wasted work."""


@dataclass(frozen=True, slots=True)
class FieldValue:
    """One value after parsing: what came in, whether it is valid, and its normal form.

    ``normal`` is text (what a buyer receives); ``value`` is what rules compare: an ``int`` for integer,
    a ``float`` for number, a ``bool`` for boolean, else the same as ``normal``. ``parts`` are the pieces a
    rule or a mapping may want (a phone's area code, an email's domain, a dob's age); ``flags`` mark a
    valid value worth a second look (``toll_free``, ``fake``, ``free_mail``).
    """

    raw: Any
    valid: bool
    normal: str | None
    error: str | None
    parts: Mapping[str, Any]
    flags: tuple[str, ...] = ()
    value: Any = None


@dataclass(frozen=True, slots=True)
class Options:
    """What a parser may need besides the value; each type reads only its own."""

    region: str = "US"  # phone: ISO 3166 alpha-2, used for numbers written without a country code
    choices: tuple[str, ...] = ()  # enum
    max_length: int | None = None  # string
    today: dt.date | None = None  # dob: the day ages are counted to (None: the system date)


class Invalid(ValueError):
    """Raised by a parser; its message becomes ``FieldValue.error``."""


Parser = Callable[[Any, Options], FieldValue]
_PARSERS: dict[str, Parser] = {}


def register(*names: str) -> Callable[[Parser], Parser]:
    """Make a parser the one for ``names`` (each type module registers itself when imported)."""

    def decorate(parser: Parser) -> Parser:
        for name in names:
            _PARSERS[name] = parser
        return parser

    return decorate


def parser_for(type_name: str) -> Parser:
    """The parser of a type; ``ValueError`` for a name no module registered."""
    try:
        return _PARSERS[type_name]
    except KeyError:
        raise ValueError(f"unknown field type: {type_name!r}") from None


def type_names() -> tuple[str, ...]:
    return tuple(sorted(_PARSERS))


def normalize_field(type_name: str, raw: Any, **options: Any) -> FieldValue:
    """Parse ``raw`` as ``type_name``; never raises for bad input (an unknown ``type_name`` does).

    Options: ``region`` (phone), ``choices`` (enum), ``max_length`` (string), ``today`` (dob).
    """
    parser = parser_for(type_name)
    if "choices" in options:
        options["choices"] = tuple(options["choices"] or ())
    if "region" in options:
        options["region"] = str(options["region"] or "US").upper()
    return parse(parser, raw, Options(**options))


def parse(parser: Parser, raw: Any, options: Options) -> FieldValue:
    """Run one parser with the checks every type shares: one scalar, not empty."""
    if isinstance(raw, list | tuple | dict | set | frozenset):
        return rejected(raw, "must be a single value")
    if is_empty(raw):
        return rejected(raw, "no value")
    try:
        return parser(raw, options)
    except Invalid as exc:
        return rejected(raw, str(exc))


def accept(
    raw: Any,
    normal: str,
    parts: Mapping[str, Any] = NO_PARTS,
    flags: tuple[str, ...] = (),
    value: Any = None,
) -> FieldValue:
    """A valid value; ``value`` defaults to ``normal``."""
    return FieldValue(raw, True, normal, None, parts, flags, normal if value is None else value)


def rejected(raw: Any, error: str) -> FieldValue:
    return FieldValue(raw, False, None, error, NO_PARTS)


def is_empty(raw: Any) -> bool:
    """None and blank text count as "not given" (a missing required field, an absent optional one): text of
    nothing but spaces and invisible format characters (a zero-width space, a direction mark) too."""
    if not isinstance(raw, str):
        return raw is None
    shown = raw.strip()  # a first character that shows: not empty (the common case, at no further cost)
    return not shown or (shown[0] in _INVISIBLE and not shown.translate(_UNSEEN).strip())


# format characters a value may hold without showing anything: zero-width space, non-joiner and joiner,
# the direction marks and embeddings, word joiner, the byte-order mark
_INVISIBLE = (
    "\u200b\u200c\u200d\u200e\u200f"  # zero-width space, non-joiner, joiner; the LTR and RTL marks
    "\u202a\u202b\u202c\u202d\u202e"  # the direction embeddings and overrides
    "\u2060\u2066\u2067\u2068\u2069\ufeff"  # word joiner, the direction isolates, the byte-order mark
)
_UNSEEN = dict.fromkeys(map(ord, _INVISIBLE))


def text(raw: Any) -> str:
    """A value as trimmed text: JSON booleans as true/false, lists and objects as compact JSON."""
    if isinstance(raw, str):
        return raw.strip()
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, list | tuple | dict):
        return json.dumps(raw, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(raw).strip()
