"""Delivering a lead to a buyer, the pure part: the request body, and how the buyer's answer reads.

Loaded lazily, so building a body does not import lxml (only reading an answer needs it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leadrelay.domain.delivery.body import BodyFormat, BodyValue, build_body
    from leadrelay.domain.delivery.response import (
        ResponseOutcome,
        ResponseRules,
        ResponseRulesError,
        interpret_response,
    )

__all__ = [
    "BodyFormat",
    "BodyValue",
    "ResponseOutcome",
    "ResponseRules",
    "ResponseRulesError",
    "build_body",
    "interpret_response",
]

_BODY = frozenset({"BodyFormat", "BodyValue", "build_body"})
_RESPONSE = frozenset({"ResponseOutcome", "ResponseRules", "ResponseRulesError", "interpret_response"})


def __getattr__(name: str) -> Any:
    if name in _BODY:
        from leadrelay.domain.delivery import body

        return getattr(body, name)
    if name in _RESPONSE:
        from leadrelay.domain.delivery import response

        return getattr(response, name)
    raise AttributeError(f"module 'leadrelay.domain.delivery' has no attribute {name!r}")
