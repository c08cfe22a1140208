"""The request guards every route shares: control characters in the path or query, and JSON nesting."""

from __future__ import annotations

from typing import Any

import pytest

from leadrelay.entrypoints.api.guards import check_request_line, too_deep
from leadrelay.errors import ValidationFailed


def scope(path: str = "/v1/distributions", query: bytes = b"") -> dict[str, Any]:
    return {"type": "http", "path": path, "query_string": query}


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/v1/distributions", b"partner=a%00b", "partner"),
        ("/v1/distributions", b"cursor=%00", "cursor"),
        ("/v1/distributions", b"limit=5&profile=x%0a", "profile"),
        ("/v1/distributions", b"lead=%7F", "lead"),
        ("/v1/distributions", b"a%09b=1", "a?b"),
        ("/v1/partners/a\x00b", b"", "path"),
        ("/v1/partners/tab\there", b"", "path"),
    ],
)
def test_control_characters_are_refused_naming_the_parameter(path: str, query: bytes, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_request_line(scope(path, query))
    assert [p.field for p in caught.value.problems] == [field]


@pytest.mark.parametrize(
    "query", [b"", b"partner=sunco&limit=5", b"partner=a%2500b", b"q=caf%C3%A9", b"x=%20y+z", b"a=%1"]
)
def test_printable_queries_pass(query: bytes) -> None:
    check_request_line(scope(query=query))


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def test_too_deep_names_the_first_place_past_the_limit() -> None:
    assert too_deep({"a": nested(63)}) is None
    assert too_deep({"a": nested(64)}) == "a" + "[0]" * 63
    assert too_deep({"a": {"b": [1, {"c": nested(10)}]}}, limit=3) == "a.b[1]"
    assert too_deep(nested(100_000)) is not None  # iterative: no RecursionError
