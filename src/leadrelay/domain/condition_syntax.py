"""The rule language as operators write it: parse a condition document into the domain's tree.

A leaf is ``{field, op, value, case_sensitive}``; composites are ``{all: [...]}``, ``{any: [...]}`` and
``{not: {...}}``. Every problem is reported with its path (``rules[1].when.any[0].op``), and
``canonical_condition`` writes a tree back in one form, so equal conditions give equal documents.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Collection
from typing import Any

from leadrelay.domain.condition_tree import AllOf, AnyOf, Condition, Leaf, Not, Op
from leadrelay.domain.conditions import compile_condition
from leadrelay.domain.suggestions import suggest, unknown
from leadrelay.errors import ConfigError, ConfigProblem

__all__ = ["canonical_condition", "check_condition", "parse_condition"]

_LEAF_KEYS = ("field", "op", "value", "case_sensitive")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_COMPOSITES = ("all", "any", "not")
_OPS = tuple(op.value for op in Op)
_TEXT_OPS = (Op.STARTS_WITH, Op.ENDS_WITH, Op.CONTAINS)
_ORDER_OPS = (Op.GT, Op.GTE, Op.LT, Op.LTE)
_EQUALITY_OPS = (Op.EQ, Op.NE, Op.IN, Op.NOT_IN)
MAX_DEPTH = 20
_SHAPE = "a condition is a mapping: {field, op, value} or one of {all: [...]}, {any: [...]}, {not: {...}}"


def parse_condition(data: Any, path: str) -> Condition:
    """The condition tree of ``data``; raises ``ConfigError`` with every problem and its path."""
    condition, problems = check_condition(data, path)
    if condition is None:
        raise ConfigError(problems)
    return condition


def check_condition(
    data: Any,
    path: str,
    fields: Collection[str] | None = None,
    entity: str = "",
    booleans: Collection[str] = (),
) -> tuple[Condition | None, list[ConfigProblem]]:
    """Parse ``data``; with ``fields``, every leaf's field must be one of them (a field of ``entity``);
    ``eq``, ``ne``, ``in`` and ``not_in`` on one of its ``booleans`` (fields of type boolean, whose
    values are true or false) must compare with true or false: anything else never matches.

    Returns the tree (None when there are problems) and the problems.
    """
    parser = _Parser(fields, entity, booleans)
    condition = parser.parse(data, path)
    if condition is not None and not parser.problems:
        try:
            compile_condition(condition)
        except ValueError as exc:  # InvalidCondition; a safety net, the parser should have caught it
            parser.fail(path, f"cannot be compiled: {exc}")
    return (condition if not parser.problems else None), parser.problems


def canonical_condition(condition: Condition) -> dict[str, Any]:
    match condition:
        case Leaf():
            return {
                "field": condition.field,
                "op": condition.op.value,
                "value": list(condition.value) if isinstance(condition.value, tuple) else condition.value,
                "case_sensitive": condition.case_sensitive,
            }
        case AllOf():
            return {"all": [canonical_condition(item) for item in condition.items]}
        case AnyOf():
            return {"any": [canonical_condition(item) for item in condition.items]}
        case Not():
            return {"not": canonical_condition(condition.item)}


class _Parser:
    def __init__(self, fields: Collection[str] | None, entity: str, booleans: Collection[str] = ()) -> None:
        self.fields = fields
        self.entity = entity
        self.booleans = booleans
        self.problems: list[ConfigProblem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def parse(self, data: Any, path: str, depth: int = 0) -> Condition | None:
        if depth > MAX_DEPTH:
            self.fail(path, f"conditions nest too deeply (more than {MAX_DEPTH} levels)")
            return None
        if not isinstance(data, dict):
            self.fail(path, _SHAPE)
            return None
        for key in data:
            if key not in _LEAF_KEYS and key not in _COMPOSITES:
                self.fail(f"{path}.{key}", f"unknown key{suggest(key, _LEAF_KEYS + _COMPOSITES)}")
        composites = [key for key in _COMPOSITES if key in data]
        if not composites:
            return self.leaf(data, path)
        if len(data) > 1:
            self.fail(path, f"'{composites[0]}' must be the only key of its condition; {_SHAPE}")
            return None
        key = composites[0]
        if key == "not":
            item = self.parse(data[key], f"{path}.not", depth + 1)
            return Not(item) if item is not None else None
        items = data[key]
        if not isinstance(items, list) or not items:
            self.fail(f"{path}.{key}", "must be a non-empty list of conditions")
            return None
        parsed = [self.parse(item, f"{path}.{key}[{i}]", depth + 1) for i, item in enumerate(items)]
        if any(item is None for item in parsed):
            return None
        children = tuple(item for item in parsed if item is not None)
        return AllOf(children) if key == "all" else AnyOf(children)

    def leaf(self, data: dict[Any, Any], path: str) -> Leaf | None:
        before = len(self.problems)
        field, op_text = data.get("field"), data.get("op")
        if field is None:
            self.fail(f"{path}.field", "required")
        elif not isinstance(field, str) or not field:
            self.fail(f"{path}.field", "must be a field name")
        elif self.fields is not None and field not in self.fields:
            self.fail(
                f"{path}.field",
                f"'{field}' is not a field of entity '{self.entity}'{suggest(field, self.fields)}",
            )
        op: Op | None = None
        if op_text is None:
            self.fail(f"{path}.op", "required")
        elif op_text not in _OPS:
            self.fail(f"{path}.op", unknown("operator", op_text, _OPS))
        else:
            op = Op(op_text)
        case_sensitive = data.get("case_sensitive", False)
        if not isinstance(case_sensitive, bool):
            self.fail(f"{path}.case_sensitive", "must be true or false")
        value = self.value(op, data, f"{path}.value", case_sensitive is True) if op is not None else None
        if (
            len(self.problems) == before
            and op in _EQUALITY_OPS
            and isinstance(field, str)
            and field in self.booleans
        ):
            self.boolean(value, f"{path}.value", str(field))
        if len(self.problems) > before or op is None or not isinstance(field, str):
            return None
        return Leaf(field, op, value, case_sensitive is True)

    def boolean(self, value: Any, path: str, field: str) -> None:
        """A boolean field's value is true or false (``"true"`` compares the same): ``yes``, ``1`` … never
        match it (a lead's yes, on, 1 … are normalized to true)."""
        for i, item in enumerate(value) if isinstance(value, tuple) else [(None, value)]:
            if not isinstance(item, bool) and not (
                isinstance(item, str) and item.lower() in ("true", "false")
            ):
                where = path if i is None else f"{path}[{i}]"
                self.fail(where, f"'{field}' is a boolean field: compare it with true or false, not {item!r}")

    def value(self, op: Op, data: dict[Any, Any], path: str, case_sensitive: bool) -> Any:
        given = "value" in data and data["value"] is not None
        raw = data.get("value")
        if op in (Op.EXISTS, Op.EMPTY):  # value: false means the opposite
            if raw is not None and not isinstance(raw, bool):
                self.fail(path, f"'{op.value}' takes no value, or true/false")
            return False if raw is False else None
        if not given:
            self.fail(path, f"'{op.value}' needs a value")
            return None
        if op in (Op.IN, Op.NOT_IN):
            if not isinstance(raw, list) or not raw:
                self.fail(path, f"'{op.value}' needs a list of values, e.g. [CA, OR]")
                return None
            items = [self.scalar(item, f"{path}[{i}]") for i, item in enumerate(raw)]
            return tuple(items)
        if op == Op.BETWEEN:
            return self.between(raw, path)
        if op == Op.REGEX:
            if not isinstance(raw, str):
                self.fail(path, "must be a regular expression (text)")
                return None
            try:
                re.compile(raw, 0 if case_sensitive else re.IGNORECASE)
            except re.error as exc:
                self.fail(path, f"invalid regular expression: {exc}")
            return raw
        if op in _TEXT_OPS:
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                self.fail(path, f"'{op.value}' needs text")
                return None
            return str(raw)
        if op in _ORDER_OPS:
            return self.orderable(raw, path)
        if isinstance(raw, list | dict):  # eq, ne
            self.fail(path, f"'{op.value}' needs a single value; use 'in' for a list")
            return None
        return self.scalar(raw, path)

    def scalar(self, raw: Any, path: str) -> Any:
        if isinstance(raw, dt.date):  # YAML dates, when a loader made them
            return raw.isoformat()
        if isinstance(raw, float) and not math.isfinite(raw):
            self.fail(path, "must be a finite number")
            return None
        if raw is None or not isinstance(raw, str | int | float | bool):
            self.fail(path, "must be text, a number or true/false")
            return None
        if isinstance(raw, int) and not _INT64_MIN <= raw <= _INT64_MAX:  # what a stored document holds
            self.fail(path, f"must be a number from {_INT64_MIN:,} to {_INT64_MAX:,}")
            return None
        return raw

    def orderable(self, raw: Any, path: str) -> Any:
        value = self.scalar(raw, path)
        if isinstance(value, bool):
            self.fail(path, "must be a number (or a date as text)")
            return None
        return value

    def between(self, raw: Any, path: str) -> tuple[Any, Any] | None:
        if not isinstance(raw, list) or len(raw) != 2:
            self.fail(path, "'between' needs [low, high]")
            return None
        before = len(self.problems)
        low, high = (self.orderable(item, f"{path}[{i}]") for i, item in enumerate(raw))
        if len(self.problems) > before:
            return None
        if isinstance(low, str) != isinstance(high, str):
            self.fail(path, "low and high must both be numbers or both be text")
            return None
        if low > high:
            self.fail(path, f"low ({low}) is greater than high ({high})")
            return None
        return (low, high)
