"""The plain YAML scalars configuration documents read as other than text: YAML 1.2's core schema.

YAML 1.1 (PyYAML's default) turns much plain text into other values: ON, yes, no, off into booleans
(`state eq ON`, Ontario, became `state eq true`), leading-zero digits into octal numbers (a ZIP prefix 07
became 7, a buyer's id 012345 became 5349), 8:30 into the base-60 number 510, 2026-01-02 into a date. Here,
as in YAML 1.2's core schema, only true/false (True, TRUE, False, FALSE) are booleans, only ~/null/empty is
null (PyYAML's own resolver, kept), and only plain decimal numbers are numbers; a number written with a
leading zero (07, 012345), in octal, hex or binary, with underscores or base 60 stays the text written.

``configuration.load`` reads with these; ``configuration.export`` quotes a string that matches one (as it
quotes one that YAML 1.1 would convert), so what it writes reads back as text under either.
"""

from __future__ import annotations

import re

__all__ = ["CORE_SCALARS", "KEPT_RESOLVERS"]

# (tag, pattern, the characters a match can start with)
CORE_SCALARS: tuple[tuple[str, re.Pattern[str], list[str]], ...] = (
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    ("tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        re.compile(
            r"^(?:[-+]?(?:(?:0|[1-9][0-9]*)\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?(?:0|[1-9][0-9]*)[eE][-+]?[0-9]+"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+0123456789."),
    ),
)
# PyYAML's resolvers kept as they are: null (~, null, empty) and the merge key <<
KEPT_RESOLVERS = frozenset({"tag:yaml.org,2002:null", "tag:yaml.org,2002:merge"})
