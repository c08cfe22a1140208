"""Amounts of money as an operator writes them in a request body or on the command line: the digits 0-9,
an optional sign and one decimal point. Python's ``Decimal`` also reads ``1_000``, ``５`` (fullwidth) and
``٣`` (Arabic-Indic): a wallet topped up with "1_000" was credited 1,000.00. Such text is refused here,
named, before any money moves."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

WRITTEN = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
WRITTEN_HINT = "an amount written with the digits 0-9 and an optional decimal point (e.g. 49.99)"


def written_amount(text: str) -> Decimal:
    """The amount ``text`` writes; ``ValueError`` naming what is expected for any other text."""
    if not WRITTEN.fullmatch(text.strip()):
        raise ValueError(f"must be {WRITTEN_HINT}, not {text[:40]!r}")
    try:
        return Decimal(text.strip())
    except InvalidOperation as exc:  # not reached for text of the pattern; kept for safety
        raise ValueError(f"must be {WRITTEN_HINT}, not {text[:40]!r}") from exc


def plain_amount(value: Any) -> Any:
    """A request's amount before pydantic reads it: a string must be written as ``written_amount`` reads
    it (a JSON number is already one)."""
    return written_amount(value) if isinstance(value, str) else value
