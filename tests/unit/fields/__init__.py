"""Field types, one test module per family; ``ok`` and ``bad`` parse a value and check its validity."""

from __future__ import annotations

from typing import Any

from leadrelay.domain.fields import FieldValue, normalize_field


def ok(type_name: str, raw: Any, **options: Any) -> FieldValue:
    """The value, which must be valid (and then has a normal form and no error)."""
    result = normalize_field(type_name, raw, **options)
    assert result.valid, f"{raw!r}: {result.error}"
    assert result.normal is not None
    assert result.error is None
    return result


def bad(type_name: str, raw: Any, **options: Any) -> str:
    """The error of a value, which must be invalid (and then has no normal form, parts or flags)."""
    result = normalize_field(type_name, raw, **options)
    assert not result.valid, f"{raw!r} was accepted as {result.normal!r}"
    assert result.normal is None
    assert result.raw is raw
    assert dict(result.parts) == {}
    assert result.flags == ()
    assert result.error is not None
    return result.error
