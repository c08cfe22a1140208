""" "Did you mean": the closest known name to a misspelt one, for the messages an operator reads.

Configuration checks, mapping templates and the services that look names up all answer an unknown name
the same way: ``unknown strategy 'round-robin'; did you mean 'round_robin'?``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["suggest", "unknown"]


def suggest(word: object, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    if not isinstance(word, str):
        return ""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def unknown(what: str, word: object, choices: Iterable[str]) -> str:
    """``unknown field 'emial'; did you mean 'email'?``"""
    return f"unknown {what} '{word}'{suggest(word, choices)}"
