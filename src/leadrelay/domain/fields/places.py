"""Postal codes (US ZIP, ZIP+4, Canadian) and states / provinces.

Both normalize to the form buyers match on: ``78704-1234``, ``K1A 0B1``, ``TX``. Canadian codes follow
Canada Post's alphabet (no D, F, I, O, Q, U; no W or Z first), which catches most typos.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from leadrelay.domain.fields.value import FieldValue, Invalid, Options, accept, register, text

_ZIP_RE = re.compile(r"^([0-9]{5})(?:\s*-?\s*([0-9]{4}))?(?:\s*-)?$")
_CANADA_RE = re.compile(
    r"^([ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z])\s*-?\s*([0-9][ABCEGHJ-NPRSTV-Z][0-9])$"
)


@register("postal_code")
def parse_postal_code(raw: Any, options: Options) -> FieldValue:
    if isinstance(raw, bool | float):  # 78704.0 is a spreadsheet accident, and 2134.0 lost its zero
        raise Invalid("not a valid postal code")
    code = str(raw).strip().upper()
    if not code.isascii():  # full-width or other scripts' digits and letters: compared as ASCII
        code = "".join(
            str(unicodedata.decimal(c)) if c.isdecimal() else c for c in unicodedata.normalize("NFKC", code)
        ).upper()
    if match := _ZIP_RE.match(code):
        zip5, four = match[1], match[2]
        normal = zip5 if four is None else f"{zip5}-{four}"
        return accept(raw, normal, {"zip": zip5, "four": four, "country": "US"})
    if match := _CANADA_RE.match(code):
        fsa, ldu = match[1], match[2]
        return accept(raw, f"{fsa} {ldu}", {"fsa": fsa, "ldu": ldu, "country": "CA"})
    raise Invalid("not a valid postal code")


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


def _state_key(name: str) -> str:
    """Lower case, no accents, periods or commas, "&" as "and", single spaces: "Québec" → "quebec"."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = plain.lower().replace(".", "").replace(",", " ").replace("&", " and ")
    return " ".join(plain.split())


_STATE_LOOKUP: dict[str, str] = {
    **{_state_key(code): code for code in STATES},
    **{_state_key(name): code for code, name in STATES.items()},
    **_STATE_ALIASES,
}


@register("state")
def parse_state(raw: Any, options: Options) -> FieldValue:
    name = text(raw)
    code = _STATE_LOOKUP.get(name.lower()) or _STATE_LOOKUP.get(_state_key(name))  # the fast path first
    if code is None:
        raise Invalid("not a known state or province")
    return accept(raw, code, {"name": STATES[code]})
