"""leadrelay: self-hosted, real-time lead distribution.

``normalize_field`` and ``FieldValue`` are loaded on first use, so ``import leadrelay`` (the CLI's first
step) does not pay for phonenumbers and email-validator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leadrelay.domain.fields import FieldValue, normalize_field

__version__ = "0.1.0"
__all__ = ["FieldValue", "__version__", "normalize_field"]

_LAZY = frozenset({"FieldValue", "normalize_field"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from leadrelay.domain import fields

        return getattr(fields, name)
    raise AttributeError(f"module 'leadrelay' has no attribute {name!r}")
