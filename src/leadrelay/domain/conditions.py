"""The condition language: compile a condition tree once per configuration version, evaluate it many times.

A tree (:mod:`leadrelay.domain.condition_tree`: ``Leaf``, ``AllOf``, ``AnyOf``, ``Not``) becomes the source
text of one Python function, which is ``compile()``-d and ``exec``-uted into a private namespace. User data
(field names, values, regexes) is never written into that source: each value is bound in the namespace
under a generated name, so a value like ``"__import__('os')"`` is only ever a string to compare with.

The generated function reads each field once (``_f0 = g(_k0)``) and derives once the views its leaves
need (folded text, number, prefix of a given length, …), so that most leaves are one comparison; a leaf
that several conditions share (``homeowner eq true`` in 300 partners' filters) is evaluated once per call.
Large inputs are split into several functions; nothing is cached from one call to the next.

Semantics, for a lead's normalized values (str, int, float, bool, None; lists for ``contains``):

- a missing or None field makes every op False except ``ne``, ``not_in`` and ``empty`` (True);
  ``exists`` is True for a value that is present, not None and not ""; ``exists``/``empty`` with
  ``value: false`` mean the opposite;
- text comparisons fold case (``str.casefold``) unless ``case_sensitive``; a number's text is its
  shortest form (``100.0`` reads ``100``), a bool's is ``true`` / ``false``;
- ``eq``/``ne``/``in``/``not_in``: a number against a numeric string compares numerically ("100" eq 100);
  two strings compare as text ("01234" ne "1234"); anything else compares as text;
- ``gt``/``gte``/``lt``/``lte``/``between`` (``[low, high]``, inclusive): numerically when both sides are
  numbers or numeric strings; as text when both are strings (ISO dates); otherwise (a number against
  "n/a", a bool, a list) the leaf is False. Numbers compare as floats (exact up to 2**53);
- ``starts_with``/``ends_with``/``contains`` work on the text; ``contains`` on a list tests membership;
- ``regex`` is ``re.search`` on the text, ignoring case unless ``case_sensitive``.

A condition that cannot be compiled (bad regex, a ``between`` without two bounds, a NaN) raises
:class:`InvalidCondition`; evaluating never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, cast

from leadrelay.domain.condition_codegen import (
    MAX_ITEMS_INLINE,
    Gen,
    InvalidCondition,
    Namespace,
    Values,
    chunked,
    compile_condition,
    text_of,
)
from leadrelay.domain.condition_tree import AllOf, Condition, Leaf, Not, Op

_PLAIN = re.compile(r'[^\s,\[\]()"](?:[^,\[\]()"]*[^\s,\[\]()"])?')  # shown without quotes

__all__ = [
    "InvalidCondition",
    "Values",
    "compile_condition",
    "compile_filters",
    "compile_first_match",
    "describe",
    "explain_failure",
]


# ---------------------------------------------------------------- public API


def compile_filters(conds: Sequence[Condition | None]) -> Callable[[Values], list[int]]:
    """One function evaluating every condition: per condition -1 if it passes (None passes), else the
    index of its first failing top-level conjunct (the item of a top-level AllOf, otherwise 0)."""
    space = Namespace()

    def element(gen: Gen, cond: Condition | None) -> str:
        if cond is None or (isinstance(cond, AllOf) and not cond.items):
            return "-1"
        if not isinstance(cond, AllOf):
            return f"(-1 if {gen.expr(cond)} else 0)"
        if len(cond.items) > MAX_ITEMS_INLINE:
            first = _first_failing(cond.items)
            return f"(-1 if {gen.expr(cond)} else {space.bind('_ff', first)}(v))"
        tests = " ".join(f"{i} if not {gen.expr(item, 1)} else" for i, item in enumerate(cond.items))
        return f"({tests} -1)"

    def body(gen: Gen, start: int, chunk: Sequence[Condition | None]) -> list[str]:
        return ["return [", *(f"    {element(gen, c)}," for c in chunk), "]"]

    def join(names: list[str]) -> list[str]:
        return [f"r = {names[0]}(v)", *(f"r += {n}(v)" for n in names[1:]), "return r"]

    return cast(Callable[[Values], list[int]], chunked(conds, space, body, join))


def compile_first_match(conds: Sequence[Condition]) -> Callable[[Values], int]:
    """One function returning the index of the first condition that matches, -1 if none does."""
    space = Namespace()

    def body(gen: Gen, start: int, chunk: Sequence[Condition | None]) -> list[str]:
        lines = []
        for i, cond in enumerate(chunk, start):
            lines += [f"if {gen.expr(cast(Condition, cond))}:", f"    return {i}"]
        return [*lines, "return -1"]

    def join(names: list[str]) -> list[str]:
        lines = []
        for n in names:
            lines += [f"r = {n}(v)", "if r >= 0:", "    return r"]
        return [*lines, "return -1"]

    return cast(Callable[[Values], int], chunked(conds, space, body, join))


def _first_failing(items: Sequence[Condition]) -> Callable[[Values], int]:
    return compile_first_match([Not(item) for item in items])


def describe(cond: Condition) -> str:
    """A compact one-line rendering: ``state in [CA, OR, WA]``, ``all(a eq 1, not(b gt 2))``."""
    if isinstance(cond, Leaf):
        op = Op(cond.op)
        text = f"{_render(cond.field)} {op.value}"
        if op in (Op.EXISTS, Op.EMPTY):
            text += " false" if cond.value is False else ""
        else:
            text += f" {_render(cond.value)}"
        return text + " (case-sensitive)" if cond.case_sensitive else text
    if isinstance(cond, Not):
        return f"not({describe(cond.item)})"
    name = "all" if isinstance(cond, AllOf) else "any"
    return f"{name}({', '.join(describe(i) for i in cond.items)})"


def explain_failure(
    cond: Condition | None,
    failed: int,
    values: Values,
    *,
    label: str = "filter",
    hidden: Collection[str] = (),
) -> str:
    """Human text for the routing trace about the conjunct ``failed`` (as from :func:`compile_filters`);
    the values of the ``hidden`` fields (sensitive ones) show as ``***``."""
    if cond is None or failed < 0:
        return f"{label} passed"
    part = cond.items[failed] if isinstance(cond, AllOf) and failed < len(cond.items) else cond
    if isinstance(part, Leaf):
        return f"{label} {_compact(describe(part))} failed ({_actual(values, part.field, hidden)})"
    fields = [f"{_render(f)}={_actual(values, f, hidden)}" for f in dict.fromkeys(_fields(part))]
    return f"{label} {_compact(describe(part))} failed ({', '.join(fields[:5])}{', …' * (len(fields) > 5)})"


def _fields(cond: Condition) -> Iterable[str]:
    if isinstance(cond, Leaf):
        yield cond.field
    elif isinstance(cond, Not):
        yield from _fields(cond.item)
    else:
        for item in cond.items:
            yield from _fields(item)


_QUOTED_MAX = 100
"""The longest value a trace line quotes, whole; a longer one is named by its length only. A value is
never cut: what a trace quotes must be a whole value, the only form redaction (``domain.privacy``) and
erasure know to find and replace."""


def _actual(values: Values, field: str, hidden: Collection[str] = ()) -> str:
    value = values.get(field)
    if value is None:
        return "missing"
    if value == "":
        return "empty"
    if field in hidden:
        return "***"
    shown = _render(value)
    return shown if len(shown) <= _QUOTED_MAX else f"a value of {len(shown)} characters"


def _render(value: Any) -> str:
    if isinstance(value, set | frozenset):
        return "[" + ", ".join(sorted(_render(i) for i in value)) + "]"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_render(i) for i in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, str):
        return (
            value
            if value.isprintable() and _PLAIN.fullmatch(value)
            else json.dumps(value, ensure_ascii=False)
        )
    text = text_of(value, False)
    return text if text is not None else repr(value)


def _compact(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
