"""Numbers, integers and booleans as forms send them: ``$1,200.50``, ``-€5``, ``Yes``.

A currency sign and thousands separators are dropped, the sign kept. Anything else around the number
(``12 apples``, ``$1100 per month``) is rejected rather than guessed at: a misread amount would route a
lead on a wrong value. An integer is a signed 64-bit one (``INTEGER_MIN`` to ``INTEGER_MAX``): a larger
one could not be stored (the lead's JSON) nor read by most buyers, so it is refused like any bad integer.
"""

from __future__ import annotations

import math
import re
from typing import Any

from leadrelay.domain.fields.value import FieldValue, Invalid, Options, accept, register

_GROUPED = r"(?:\d{1,3}(?:,\d{3})+|\d+)"
_INTEGER_RE = re.compile(rf"^(?P<digits>{_GROUPED})(?:\.0*)?$")
_NUMBER_RE = re.compile(rf"^(?:{_GROUPED}(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_CURRENCY = "$€£¥"
_MAX_DIGITS = 30  # far beyond any real count or amount (and below int()'s digit limit)
INTEGER_MIN, INTEGER_MAX = -(2**63), 2**63 - 1
"""An integer's range: a signed 64-bit integer, what the stored lead's JSON (and a buyer's parser) holds."""
_OUT_OF_RANGE = f"not an integer from {INTEGER_MIN} to {INTEGER_MAX}"


def _unsigned(raw_text: str) -> tuple[str, str]:
    """Split the sign and a currency sign off a number: "-$1,200" → ("-", "1,200"), "5 €" → ("", "5")."""
    body = raw_text.strip()
    sign = ""
    if body[:1] in ("+", "-"):
        sign, body = body[0], body[1:].lstrip()
    if body[:1] and body[0] in _CURRENCY:
        body = body[1:].lstrip()
        if not sign and body[:1] in ("+", "-"):
            sign, body = body[0], body[1:].lstrip()
    elif body[-1:] and body[-1] in _CURRENCY:
        body = body[:-1].rstrip()
    return sign, body


def number_text(number: float) -> str:
    """The shortest text for a number, whole numbers without ".0" (as LeadConduit, i.e. JavaScript)."""
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    return repr(number)


@register("integer")
def parse_integer(raw: Any, options: Options) -> FieldValue:
    if isinstance(raw, bool):
        raise Invalid("not an integer")
    if isinstance(raw, int):
        integer = raw
    elif isinstance(raw, float):
        if not (math.isfinite(raw) and raw.is_integer()):
            raise Invalid("not an integer")
        integer = int(raw)
    else:
        sign, body = _unsigned(str(raw))
        match = _INTEGER_RE.match(body)
        if not match:
            raise Invalid("not an integer")
        digits = match["digits"].replace(",", "")
        if len(digits) > _MAX_DIGITS:
            raise Invalid("not an integer")
        integer = -int(digits) if sign == "-" else int(digits)
    if not INTEGER_MIN <= integer <= INTEGER_MAX:
        raise Invalid(_OUT_OF_RANGE)
    return accept(raw, str(integer), value=integer)


@register("number")
def parse_number(raw: Any, options: Options) -> FieldValue:
    if isinstance(raw, bool):
        raise Invalid("not a number")
    if isinstance(raw, int | float):
        try:
            number = float(raw)
        except OverflowError:  # an integer past a float's range (a JSON number of hundreds of digits)
            raise Invalid("not a number") from None
    else:
        sign, body = _unsigned(str(raw))
        if not _NUMBER_RE.match(body):
            raise Invalid("not a number")
        number = float(sign + body.replace(",", ""))
    if not math.isfinite(number):
        raise Invalid("not a number")
    number += 0.0  # -0.0 → 0.0
    return accept(raw, number_text(number), value=number)


_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})
_DECORATION = " \t\r\n.!?\"'()[]"  # "Yes." and "(y)" as LeadConduit reads them


@register("boolean")
def parse_boolean(raw: Any, options: Options) -> FieldValue:
    if isinstance(raw, bool):
        flag = raw
    elif isinstance(raw, int | float) and raw in (0, 1):
        flag = bool(raw)
    else:
        word = str(raw).strip(_DECORATION).lower()
        if word in _TRUE:
            flag = True
        elif word in _FALSE:
            flag = False
        else:
            raise Invalid("not a boolean")
    return accept(raw, "true" if flag else "false", value=flag)
