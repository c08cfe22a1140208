"""The code generation behind :mod:`leadrelay.domain.conditions`: a condition tree becomes the source of
one Python function, its values bound in a private namespace (never written into the source), and the
value helpers the generated code calls at run time."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from leadrelay.domain.condition_tree import AllOf, AnyOf, Condition, Leaf, Not, Op

Values = Mapping[str, Any]


class InvalidCondition(ValueError):
    """A condition that cannot be compiled; the message names the leaf."""


_NUMBER = re.compile(r"[ \t\n\r]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t\n\r]*")
_SEQUENCES = (list, tuple, set, frozenset)
_MAX_DEPTH = 24  # deeper subtrees become functions of their own (the parser limits nesting)
MAX_ITEMS_INLINE = 16  # a top-level AllOf longer than this finds its failing item in a helper
_CHUNK = 1000  # conditions per generated function
_LEAF_TOKEN = re.compile(r"\b_L(\d+)\b")  # generated code only: user data never appears in it


# ---------------------------------------------------------------- value helpers (also used at run time)


def _num(x: object) -> float:
    """The value of a number or numeric string as a float; NaN (which compares False) otherwise."""
    if isinstance(x, float):
        return x
    if isinstance(x, int) and not isinstance(x, bool):
        try:
            return float(x)
        except OverflowError:
            return math.inf if x > 0 else -math.inf
    if isinstance(x, str) and _NUMBER.fullmatch(x):
        return float(x)
    return math.nan


def text_of(x: object, fold: bool) -> str | None:
    """The text a scalar compares as; None for anything else."""
    if isinstance(x, str):
        return x.casefold() if fold else str.__str__(x)
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        try:
            return str(x)
        except ValueError:  # more digits than int -> str allows
            return None
    if isinstance(x, float):
        return str(int(x)) if x.is_integer() and abs(x) < 2**53 else repr(x)
    return None


def _items(x: object, fold: bool) -> tuple[str, ...]:
    """The texts of a list's items (for ``contains``); () for anything that is not a list."""
    if isinstance(x, _SEQUENCES):
        return tuple(t for t in (text_of(i, fold) for i in x) if t is not None)
    return ()


class _Unordered:
    """Stands for "no text" in ordering comparisons: ``_UNORDERED >= "x"`` is False (no test for None)."""

    __slots__ = ()

    def __lt__(self, other: object) -> bool:
        return False

    __le__ = __gt__ = __ge__ = __lt__


_UNORDERED = _Unordered()


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _numeric_string(x: object) -> float | None:
    return float(x) if isinstance(x, str) and _NUMBER.fullmatch(x) else None


# ---------------------------------------------------------------- code generation


class Namespace:
    """The globals of the generated code: helpers, and every user value under a generated name."""

    def __init__(self) -> None:
        helpers = (isinstance, type, float, str, _num, text_of, _items)
        self.ns: dict[str, Any] = {"__builtins__": {}, "_UNORDERED": _UNORDERED}
        self.ns.update((f.__name__, f) for f in helpers)
        self._names: dict[tuple[type, Any], str] = {}

    def const(self, value: Any) -> str:
        key = (type(value), value)
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = f"_k{len(self._names)}"
            self.ns[name] = value
        return name

    def bind(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self.ns)}"
        self.ns[name] = value
        return name


class Gen:
    """Expressions for one generated function; collects the field views they read."""

    def __init__(self, space: Namespace) -> None:
        self.space = space
        self.k = space.const
        self._fields: dict[str, int] = {}
        self._views: dict[tuple[Any, ...], str] = {}
        self._lines: list[str] = []
        self._leaves: dict[str, int] = {}  # a leaf's expression -> its index
        self._uses: list[int] = []

    def finish(self, body: list[str]) -> list[str]:
        """The prologue and ``body``: a leaf used more than once is evaluated once, up front."""
        exprs = list(self._leaves)
        shared = [f"_L{i} = {e}" for i, e in enumerate(exprs) if self._uses[i] > 1]

        def inline(match: re.Match[str]) -> str:
            i = int(match.group(1))
            return match.group(0) if self._uses[i] > 1 else exprs[i]

        body = [_LEAF_TOKEN.sub(inline, line) for line in body]
        return (["g = v.get", *self._lines] if self._lines else []) + shared + body

    def share(self, expr: str) -> str:
        index = self._leaves.setdefault(expr, len(self._leaves))
        if index == len(self._uses):
            self._uses.append(0)
        self._uses[index] += 1
        return f"_L{index}"

    def view(self, field: str, kind: str, *arg: Any) -> str:
        """The local holding one view of a field, defined in the prologue on first use."""
        key = (field, kind, *arg)
        name = self._views.get(key)
        if name is not None:
            return name
        if kind == "v":
            index = self._fields.setdefault(field, len(self._fields))
            name, code = f"_f{index}", f"g({self.k(field)})"
        else:
            v = self.view(field, "v")
            fold = arg[0] if arg else False
            if kind == "s":  # text of a scalar, else None
                code = (
                    f"{v}.casefold() if type({v}) is str else text_of({v}, True)"
                    if fold
                    else f"{v} if type({v}) is str else text_of({v}, False)"
                )
            elif kind == "a":  # text of a string only, else a value that is never ordered
                code = f"{self.view(field, 's', fold)} if isinstance({v}, str) else _UNORDERED"
            elif kind == "e":  # exists
                code = f"{v} is not None and {v} != ''"
            elif kind == "n":  # number of a number or numeric string, else NaN
                code = f"{v} if type({v}) is float else _num({v})"
            elif kind == "m":  # number of a number only, else NaN
                code = f"{self.k(math.nan)} if isinstance({v}, str) else {self.view(field, 'n')}"
            elif kind in ("p", "x"):  # prefix / suffix of the text, of a given length
                s, n = self.view(field, "s", fold), arg[1]
                part = f"[:{n}]" if kind == "p" else f"[-{n}:]"
                code = f"None if {s} is None else {s}{part}"
            else:  # "c": text of a scalar, texts of a list's items, or ()
                s = self.view(field, "s", fold)
                code = f"{s} if {s} is not None else _items({v}, {fold})"
            name = f"_x{len(self._views)}"
        self._views[key] = name
        self._lines.append(f"{name} = {code}")
        return name

    # -- trees

    def expr(self, cond: Condition, depth: int = 0) -> str:
        if depth > _MAX_DEPTH:
            return f"{self.space.bind('_sub', compile_condition(cond))}(v)"
        if isinstance(cond, Leaf):
            return self.share(self.leaf(cond))
        if isinstance(cond, Not):
            inner = cond.item
            if isinstance(inner, Not):
                return self.expr(inner.item, depth)
            return f"(not {self.expr(inner, depth + 1)})"
        if isinstance(cond, AllOf | AnyOf):
            kind = type(cond)
            items = list(_flatten(cond, kind))
            if not items:
                return "True" if kind is AllOf else "False"
            joiner = " and " if kind is AllOf else " or "
            return "(" + joiner.join(self.expr(i, depth + 1) for i in items) + ")"
        raise InvalidCondition(f"not a condition: {cond!r}")

    def leaf(self, leaf: Leaf) -> str:
        try:
            op = Op(leaf.op)
        except ValueError:
            raise InvalidCondition(f"{leaf.field}: unknown op {leaf.op!r}") from None
        if not isinstance(leaf.field, str):
            raise InvalidCondition(f"field name must be text, not {leaf.field!r}")
        f, fold, value = leaf.field, not leaf.case_sensitive, leaf.value
        where = f"{leaf.field} {op.value}"
        if op in (Op.EXISTS, Op.EMPTY):
            e = self.view(f, "e")
            return e if (op is Op.EXISTS) != (value is False) else f"(not {e})"
        if op in (Op.IN, Op.NOT_IN):
            items = value if isinstance(value, _SEQUENCES) else [value]
            e = self._in(f, [_scalar(i, where) for i in items], fold)
            return e if op is Op.IN else f"(not {e})"
        if op is Op.BETWEEN:
            if not isinstance(value, list | tuple) or len(value) != 2:
                raise InvalidCondition(f"{where}: value must be [low, high]")
            low, high = (_scalar(b, where, order=True) for b in value)
            return f"({self._order(f, '>=', low, fold)} and {self._order(f, '<=', high, fold)})"
        c = _scalar(value, where, order=op in _ORDER)
        if op in (Op.EQ, Op.NE):
            e = self._eq(f, c, fold)
            return e if op is Op.EQ else f"(not {e})"
        if op in _ORDER:
            return self._order(f, _ORDER[op], c, fold)
        if op is Op.REGEX:
            if not isinstance(c, str):
                raise InvalidCondition(f"{where}: the pattern must be text")
            try:
                rx = re.compile(c, 0 if leaf.case_sensitive else re.IGNORECASE)
            except re.error as exc:
                raise InvalidCondition(f"{where}: bad regex: {exc}") from None
            t = self.view(f, "s", False)
            return f"({t} is not None and {self.k(rx)}.search({t}) is not None)"
        t = cast(str, text_of(c, fold))
        if op is Op.CONTAINS:
            return f"({self.k(t)} in {self.view(f, 'c', fold)})"
        if not t:  # starts / ends with "": any text
            return f"({self.view(f, 's', fold)} is not None)"
        return f"({self.view(f, 'p' if op is Op.STARTS_WITH else 'x', fold, len(t))} == {self.k(t)})"

    def _eq(self, f: str, c: str | float | bool, fold: bool) -> str:
        if _is_number(c):
            return f"({self.view(f, 'n')} == {self.k(_num(c))})"
        e = f"{self.view(f, 's', fold)} == {self.k(text_of(c, fold))}"
        number = _numeric_string(c)
        if number is not None:  # "100" also equals the number 100
            e += f" or {self.view(f, 'm')} == {self.k(number)}"
        return f"({e})"

    def _in(self, f: str, items: list[str | float | bool], fold: bool) -> str:
        texts = frozenset(text_of(i, fold) for i in items if not _is_number(i))
        numbers = frozenset(_num(i) for i in items if _is_number(i))
        numeric_texts = frozenset(n for n in map(_numeric_string, items) if n is not None)
        parts = []
        if texts:
            parts.append(f"{self.view(f, 's', fold)} in {self.k(texts)}")
        if numbers:
            parts.append(f"{self.view(f, 'n')} in {self.k(numbers)}")
        if numeric_texts:
            parts.append(f"{self.view(f, 'm')} in {self.k(numeric_texts)}")
        return "(" + " or ".join(parts) + ")" if parts else "False"

    def _order(self, f: str, sym: str, c: str | float | bool, fold: bool) -> str:
        if _is_number(c):
            return f"({self.view(f, 'n')} {sym} {self.k(_num(c))})"
        a, t = self.view(f, "a", fold), self.k(text_of(c, fold))
        as_text = f"{a} {sym} {t}"
        number = _numeric_string(c)
        if number is None:
            return f"({as_text})"
        n = self.view(f, "n")
        return f"({n} {sym} {self.k(number)} or ({n} != {n} and {as_text}))"


_ORDER = {Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}


def _scalar(value: Any, where: str, *, order: bool = False) -> str | float | bool:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidCondition(f"{where}: {value!r} is not a usable number")
    if order and isinstance(value, bool):
        raise InvalidCondition(f"{where}: true/false cannot be ordered")
    if not isinstance(value, str | int | float):
        raise InvalidCondition(f"{where}: value must be text, a number or true/false, not {value!r}")
    return value


def _flatten(cond: AllOf | AnyOf, kind: type) -> Iterable[Condition]:
    for item in cond.items:
        if type(item) is kind:
            yield from _flatten(cast(AllOf | AnyOf, item), kind)
        else:
            yield item


def build(name: str, gen: Gen, body: list[str]) -> str:
    return "\n    ".join([f"def {name}(v):", *gen.finish(body)]) + "\n"


def run(space: Namespace, source: str, name: str) -> Any:
    exec(compile(source, "<leadrelay conditions>", "exec"), space.ns)
    return space.ns[name]


def chunked(
    conds: Sequence[Condition | None],
    space: Namespace,
    body: Callable[[Gen, int, Sequence[Condition | None]], list[str]],
    join: Callable[[list[str]], list[str]],
) -> Any:
    """One function per chunk of conditions; with several chunks, one more that calls them in order."""
    sources, names = [], []
    for start in range(0, max(len(conds), 1), _CHUNK):
        gen, name = Gen(space), f"_chunk{start // _CHUNK}"
        sources.append(build(name, gen, body(gen, start, conds[start : start + _CHUNK])))
        names.append(name)
    if len(names) > 1:
        sources.append("\n    ".join(["def _all(v):", *join(names)]) + "\n")
        names.append("_all")
    return run(space, "\n".join(sources), names[-1])


def compile_condition(cond: Condition) -> Callable[[Values], bool]:
    """One function ``values -> bool`` for ``cond``."""
    space = Namespace()
    gen = Gen(space)
    expr = gen.expr(cond)
    return cast(Callable[[Values], bool], run(space, build("_cond", gen, [f"return {expr}"]), "_cond"))
