"""The rule language's tree: a condition is a ``Leaf`` (``field op value``), or ``AllOf``, ``AnyOf`` or
``Not`` of conditions. ``condition_syntax`` parses it from a configuration document; ``conditions``
compiles and evaluates it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    CONTAINS = "contains"
    REGEX = "regex"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"
    EXISTS = "exists"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class Leaf:
    """``field op value``; string comparisons ignore case unless ``case_sensitive``."""

    field: str
    op: Op
    value: Any = None
    case_sensitive: bool = False


@dataclass(frozen=True, slots=True)
class AllOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition


Condition = Leaf | AllOf | AnyOf | Not
