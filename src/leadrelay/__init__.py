"""leadrelay: self-hosted, real-time lead distribution.

``normalize_field``, ``FieldValue``, ``build_body``, ``interpret_response`` and ``ResponseOutcome`` are
loaded on first use, so ``import leadrelay`` (the CLI's first step) does not pay for phonenumbers,
email-validator or lxml.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leadrelay.domain.delivery.body import build_body
    from leadrelay.domain.delivery.response import ResponseOutcome, interpret_response
    from leadrelay.domain.fields import FieldValue, normalize_field

__version__ = "0.1.0"
__all__ = [
    "FieldValue",
    "ResponseOutcome",
    "__version__",
    "build_body",
    "interpret_response",
    "normalize_field",
]

_LAZY = {
    "FieldValue": "leadrelay.domain.fields",
    "normalize_field": "leadrelay.domain.fields",
    "build_body": "leadrelay.domain.delivery.body",
    "interpret_response": "leadrelay.domain.delivery.response",
    "ResponseOutcome": "leadrelay.domain.delivery.response",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'leadrelay' has no attribute {name!r}")
