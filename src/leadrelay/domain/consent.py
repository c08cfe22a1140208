"""Consent scope: the sellers a consumer agreed to hear from (one-to-one consent, as the FCC's TCPA rule
asks), and whether a partner is one of them.

An entity may name a consent field (``consent: {field: consented_sellers}``). Its value is a list of
seller names: a JSON list, or text (a form post, a CSV cell) that is a JSON list or names separated by
``|`` or ``;``. A partner is covered when one of its names (its configuration name, ``legal_name``,
``aliases``) is in the list once both sides are normalized by :func:`seller_key`. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

__all__ = [
    "COMPANY_SUFFIXES",
    "consent_scope",
    "consent_text",
    "covered",
    "partner_keys",
    "seller_key",
]

COMPANY_SUFFIXES = frozenset(
    {
        "corp",
        "corporation",
        "inc",
        "incorporated",
        "limited",
        "llc",
        "llp",
        "lp",
        "ltd",
        "plc",
        "pllc",
    }
)
"""The legal forms a seller's name may end with, which do not tell two sellers apart (``Acme Solar, LLC``
is ``Acme Solar``); removed from the end only, as often as they repeat (``Acme Corp., Inc.`` is ``Acme``).
"Co" and "Company" are not among them: they are part of a name (``Sun Company, Inc.`` is not ``Sun LLC``,
a consent to one is no consent to the other)."""

_SEPARATORS = re.compile(r"[|;\n]")


def seller_key(name: str) -> str:
    """The form two seller names are compared in: Unicode-normalized (NFKC) and casefolded, punctuation
    removed (``L.L.C.`` is ``llc``, ``Acme-Solar`` is ``acmesolar``; a comma parts words), company
    suffixes removed from the end, and spaces removed. ``"Acme Solar, L.L.C."``, ``"ACME SOLAR"`` and
    ``"acme-solar"`` are all ``"acmesolar"``. A name made only of suffixes keeps them (``"Inc"`` is
    ``"inc"``); "" when it has no letter or digit."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    # a comma parts words ("Acme Solar,LLC" is "Acme Solar, LLC"); other punctuation joins them (L.L.C.)
    words = "".join(c if c.isalnum() or c.isspace() else " " if c == "," else "" for c in folded).split()
    end = len(words)
    while end > 0 and words[end - 1] in COMPANY_SUFFIXES:
        end -= 1
    return "".join(words[:end] if end else words)


def consent_scope(value: Any) -> frozenset[str] | None:
    """The keys of the sellers a lead's consent value names; None when the lead has no consent value
    (absent, None or blank text). An empty list is a consent to nobody: an empty set."""
    names = consent_names(value)
    if names is None:
        return None
    return frozenset(key for key in map(seller_key, names) if key)


def consent_names(value: Any) -> list[str] | None:
    """The seller names of a consent value as given: a list (each item as text), a JSON list in text, or
    text with names separated by ``|``, ``;`` or line breaks. None when there is no value."""
    if value is None:
        return None
    if isinstance(value, list | tuple):  # a name is text (or a number): a nested list or object names nobody
        names = (str(item).strip() for item in value if isinstance(item, str | int | float))
        return [name for name in names if name]
    if isinstance(value, dict):
        return []
    text = str(value).strip()
    if not text:
        return None
    if text.startswith(("[", "{")):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return consent_names(parsed) or []
        if isinstance(parsed, dict):  # a JSON object (a string field keeps one as its text) names nobody
            return []
    return [part.strip() for part in _SEPARATORS.split(text) if part.strip()]


def consent_text(value: list[Any] | tuple[Any, ...]) -> str:
    """How a consent list is stored in a lead's values (a field holds one value): compact JSON text of its
    names, read back by :func:`consent_scope`."""
    names = consent_names(value) or []
    return json.dumps(names, ensure_ascii=False, separators=(",", ":"))


def partner_keys(name: str, legal_name: str | None, aliases: Iterable[str]) -> frozenset[str]:
    """The keys a partner answers to in a consent list: its configuration name, legal name and aliases."""
    keys = {seller_key(n) for n in (name, legal_name, *aliases) if n}
    keys.discard("")
    return frozenset(keys)


def covered(keys: frozenset[str], scope: frozenset[str]) -> bool:
    """Whether a partner with these keys is one of the sellers in the consent scope."""
    return not keys.isdisjoint(scope)
