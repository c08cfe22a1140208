"""Input every route refuses before it runs: control characters in the path or the query string, and JSON
nested deeper than anything leadrelay stores.

PostgreSQL refuses NUL characters in text, and an HTTP header (a file name in ``Content-Disposition``)
may not carry any control character; so such input is answered here, once, with a 422 naming the
parameter, instead of failing in whichever store or header it reaches.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from pydantic import AfterValidator, Field
from starlette.types import Scope

from leadrelay.errors import FieldProblem, ValidationFailed

MAX_DEPTH = 64  # nesting of JSON objects and arrays; stored JSON is written by orjson, which stops at 254
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BYTE = re.compile(rb"[\x00-\x1f\x7f]")
_CONTROL_ESCAPED = re.compile(rb"[\x00-\x1f\x7f]|%[01][0-9a-fA-F]|%7[fF]")  # raw, or percent-encoded


def _control_problem(field: str) -> FieldProblem:
    return FieldProblem(field, "must not contain control characters (NUL, tab, newline, …)")


def check_request_line(scope: Scope) -> None:
    """Refuse a control character in the path or in a query parameter (its name or value), naming it."""
    path: str = scope.get("path", "")
    if _CONTROL.search(path):
        raise ValidationFailed([_control_problem("path")], "the path contains a control character")
    query: bytes = scope.get("query_string", b"")
    if not query or not _CONTROL_ESCAPED.search(query):  # the common case: nothing to decode
        return
    problems: list[FieldProblem] = []
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        raw_name = unquote_to_bytes(name.replace(b"+", b" "))
        raw_value = unquote_to_bytes(value.replace(b"+", b" "))
        if _CONTROL_BYTE.search(raw_name) or _CONTROL_BYTE.search(raw_value):
            label = _CONTROL.sub("?", raw_name.decode("utf-8", "replace")) or "query"
            problems.append(_control_problem(label))
    if problems:
        raise ValidationFailed(problems, "a query parameter contains a control character")


def too_deep(value: Any, limit: int = MAX_DEPTH) -> str | None:
    """The path (``a.b[2]``) of the first place where ``value`` nests deeper than ``limit`` objects and
    arrays, or None. Iterative: a value nested a million deep does not exhaust the stack."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict):
            items: Any = ((f"{path}.{k}" if path else str(k), v) for k, v in node.items())
        elif isinstance(node, list):
            items = ((f"{path}[{i}]", v) for i, v in enumerate(node))
        else:
            continue
        if depth >= limit:
            return path
        stack.extend((child, where, depth + 1) for where, child in items)
    return None


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Free text of a request body that is stored (a reason, a description): PostgreSQL text holds no NUL.
StoredText = Annotated[str, AfterValidator(_no_nul), Field(json_schema_extra={"pattern": "^[^\\u0000]*$"})]
