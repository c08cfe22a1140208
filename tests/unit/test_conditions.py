from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadrelay.domain import condition_codegen
from leadrelay.domain.condition_tree import AllOf, AnyOf, Condition, Leaf, Not, Op
from leadrelay.domain.conditions import (
    InvalidCondition,
    compile_condition,
    compile_filters,
    compile_first_match,
    describe,
    explain_failure,
)

MISSING = object()  # "the lead has no such field"


def check(leaf: Leaf, value: Any) -> bool:
    return compile_condition(leaf)({} if value is MISSING else {leaf.field: value})


# ---------------------------------------------------------------- every op, table-driven

CASES: list[tuple[str, Op, Any, Any, bool]] = [
    # eq / ne: case, numbers, numeric strings
    ("eq", Op.EQ, "CA", "CA", True),
    ("eq folds case", Op.EQ, "CA", "ca", True),
    ("eq folds ß", Op.EQ, "strasse", "STRASSE", True),
    ("eq casefold", Op.EQ, "Straße", "STRASSE", True),
    ("eq differs", Op.EQ, "CA", "TX", False),
    ("eq number", Op.EQ, 100, 100, True),
    ("eq int and float", Op.EQ, 100, 100.0, True),
    ("eq numeric string and number", Op.EQ, 100, "100", True),
    ("eq number and numeric string", Op.EQ, "100", 100, True),
    ("eq numeric string and float", Op.EQ, "100.50", 100.5, True),
    ("eq two strings compare as text", Op.EQ, "1234", "01234", False),
    ("eq number and text", Op.EQ, 100, "abc", False),
    ("eq empty string", Op.EQ, "", "", True),
    ("eq bool", Op.EQ, True, True, True),
    ("eq bool and text", Op.EQ, True, "TRUE", True),
    ("eq bool is not 1", Op.EQ, True, 1, False),
    ("eq missing", Op.EQ, "x", MISSING, False),
    ("eq None", Op.EQ, "x", None, False),
    ("eq '' against missing", Op.EQ, "", MISSING, False),
    ("eq list value", Op.EQ, "a", ["a"], False),
    ("ne", Op.NE, "CA", "TX", True),
    ("ne same", Op.NE, "CA", "ca", False),
    ("ne numeric", Op.NE, 100, "100.0", False),
    ("ne missing", Op.NE, "CA", MISSING, True),
    ("ne None", Op.NE, "CA", None, True),
    # in / not_in
    ("in", Op.IN, ["CA", "OR", "WA"], "or", True),
    ("in not", Op.IN, ["CA", "OR", "WA"], "TX", False),
    ("in numbers", Op.IN, [1, 2, 3], "2", True),
    ("in numeric strings", Op.IN, ["1", "2"], 2.0, True),
    ("in numeric strings as text", Op.IN, ["1", "2"], "02", False),
    ("in mixed", Op.IN, ["a", 5, True], True, True),
    ("in empty list", Op.IN, [], "a", False),
    ("in missing", Op.IN, ["a"], MISSING, False),
    ("in None", Op.IN, ["a"], None, False),
    ("in scalar value", Op.IN, "CA", "ca", True),
    ("not_in", Op.NOT_IN, ["CA", "OR"], "TX", True),
    ("not_in member", Op.NOT_IN, ["CA", "OR"], "Ca", False),
    ("not_in missing", Op.NOT_IN, ["CA"], MISSING, True),
    ("not_in None", Op.NOT_IN, ["CA"], None, True),
    # starts_with / ends_with / contains
    ("starts_with", Op.STARTS_WITH, "90", "90210", True),
    ("starts_with number", Op.STARTS_WITH, 90, "90210", True),
    ("starts_with on a number", Op.STARTS_WITH, "90", 90210, True),
    ("starts_with case", Op.STARTS_WITH, "AB", "abc", True),
    ("starts_with longer", Op.STARTS_WITH, "abcd", "abc", False),
    ("starts_with not", Op.STARTS_WITH, "91", "90210", False),
    ("starts_with ''", Op.STARTS_WITH, "", "x", True),
    ("starts_with '' missing", Op.STARTS_WITH, "", MISSING, False),
    ("starts_with missing", Op.STARTS_WITH, "9", MISSING, False),
    ("ends_with", Op.ENDS_WITH, "@EXAMPLE.com", "jo@example.com", True),
    ("ends_with not", Op.ENDS_WITH, ".org", "jo@example.com", False),
    ("ends_with None", Op.ENDS_WITH, ".org", None, False),
    ("contains", Op.CONTAINS, "solar", "Big SOLAR co", True),
    ("contains not", Op.CONTAINS, "wind", "Big SOLAR co", False),
    ("contains list", Op.CONTAINS, "pool", ["Roof", "POOL"], True),
    ("contains list number", Op.CONTAINS, 3, [1, 2, 3.0], True),
    ("contains list no substring", Op.CONTAINS, "po", ["pool"], False),
    ("contains missing", Op.CONTAINS, "a", MISSING, False),
    ("contains ''", Op.CONTAINS, "", "", True),
    # regex
    ("regex", Op.REGEX, r"^9\d{4}$", "90210", True),
    ("regex ignores case", Op.REGEX, "^ca$", "CA", True),
    ("regex search", Op.REGEX, "sol", "my solar", True),
    ("regex no", Op.REGEX, "^sol", "my solar", False),
    ("regex on a number", Op.REGEX, r"^\d+$", 123, True),
    ("regex missing", Op.REGEX, ".*", MISSING, False),
    ("regex None", Op.REGEX, ".*", None, False),
    # ordering
    ("gte", Op.GTE, 100, 100, True),
    ("gte below", Op.GTE, 100, 80, False),
    ("gt", Op.GT, 100, 100.5, True),
    ("gt equal", Op.GT, 100, 100, False),
    ("lt", Op.LT, 100, 99, True),
    ("lte", Op.LTE, 100, 100.0, True),
    ("gte numeric string field", Op.GTE, 100, "150", True),
    ("gte numeric string value", Op.GTE, "100", 150, True),
    ("gt numeric strings compare as numbers", Op.GT, "9", "10", True),
    ("gt text field against a number", Op.GT, 100, "n/a", False),
    ("gt number against text", Op.GT, "abc", 5, False),
    ("gt bool field", Op.GT, 0, True, False),
    ("gt list field", Op.GT, 0, [1], False),
    ("gte date", Op.GTE, "2026-01-31", "2026-02-01", True),
    ("lt date", Op.LT, "2026-01-31", "2026-02-01", False),
    ("lt text folds case", Op.LT, "b", "A", True),
    ("gt numeric string against text", Op.GT, "100", "abc", True),
    ("gte missing", Op.GTE, 1, MISSING, False),
    ("lt None", Op.LT, 1, None, False),
    ("gt NaN field", Op.GT, 1, math.nan, False),
    ("between", Op.BETWEEN, [100, 200], 150, True),
    ("between low bound", Op.BETWEEN, [100, 200], 100, True),
    ("between high bound", Op.BETWEEN, [100, 200], 200, True),
    ("between below", Op.BETWEEN, [100, 200], 99.99, False),
    ("between above", Op.BETWEEN, [100, 200], 201, False),
    ("between string field", Op.BETWEEN, [100, 200], "150", True),
    ("between dates", Op.BETWEEN, ["2026-01-01", "2026-01-31"], "2026-01-31", True),
    ("between dates outside", Op.BETWEEN, ["2026-01-01", "2026-01-31"], "2026-02-01", False),
    ("between reversed", Op.BETWEEN, [200, 100], 150, False),
    ("between missing", Op.BETWEEN, [1, 2], MISSING, False),
    # exists / empty
    ("exists", Op.EXISTS, None, "x", True),
    ("exists zero", Op.EXISTS, None, 0, True),
    ("exists false", Op.EXISTS, None, False, True),
    ("exists ''", Op.EXISTS, None, "", False),
    ("exists None", Op.EXISTS, None, None, False),
    ("exists missing", Op.EXISTS, None, MISSING, False),
    ("exists value false", Op.EXISTS, False, MISSING, True),
    ("exists value false present", Op.EXISTS, False, "x", False),
    ("exists value true", Op.EXISTS, True, "x", True),
    ("empty", Op.EMPTY, None, "", True),
    ("empty missing", Op.EMPTY, None, MISSING, True),
    ("empty None", Op.EMPTY, None, None, True),
    ("empty present", Op.EMPTY, None, "x", False),
    ("empty value false", Op.EMPTY, False, "x", True),
]


@pytest.mark.parametrize(
    ("op", "value", "field_value", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_leaf(op: Op, value: Any, field_value: Any, expected: bool) -> None:
    assert check(Leaf("f", op, value), field_value) is expected


@pytest.mark.parametrize(
    ("op", "value", "field_value", "insensitive", "sensitive"),
    [
        (Op.EQ, "CA", "ca", True, False),
        (Op.EQ, "CA", "CA", True, True),
        (Op.NE, "CA", "ca", False, True),
        (Op.IN, ["CA", "OR"], "or", True, False),
        (Op.NOT_IN, ["CA", "OR"], "or", False, True),
        (Op.STARTS_WITH, "Ab", "abc", True, False),
        (Op.ENDS_WITH, "BC", "abc", True, False),
        (Op.CONTAINS, "B", "abc", True, False),
        (Op.CONTAINS, "B", ["a", "b"], True, False),
        (Op.REGEX, "^A", "abc", True, False),
        (Op.LT, "B", "a", True, False),
        (Op.GT, "b", "C", True, False),
        (Op.EQ, True, "TRUE", True, False),
    ],
)
def test_case_sensitivity(op: Op, value: Any, field_value: Any, insensitive: bool, sensitive: bool) -> None:
    assert check(Leaf("f", op, value), field_value) is insensitive
    assert check(Leaf("f", op, value, case_sensitive=True), field_value) is sensitive


@pytest.mark.parametrize(
    ("cond", "values", "expected"),
    [
        (AllOf(()), {}, True),
        (AnyOf(()), {}, False),
        (Not(Leaf("a", Op.EQ, 1)), {}, True),
        (Not(Not(Leaf("a", Op.EQ, 1))), {"a": 1}, True),
        (AllOf((Leaf("a", Op.EQ, 1), Leaf("b", Op.EQ, 2))), {"a": 1, "b": 2}, True),
        (AllOf((Leaf("a", Op.EQ, 1), Leaf("b", Op.EQ, 2))), {"a": 1, "b": 3}, False),
        (AnyOf((Leaf("a", Op.EQ, 1), Leaf("b", Op.EQ, 2))), {"a": 0, "b": 2}, True),
        (AnyOf((Leaf("a", Op.EQ, 1), Leaf("b", Op.EQ, 2))), {}, False),
        (
            AllOf((AnyOf((Leaf("s", Op.EQ, "CA"), Leaf("s", Op.EQ, "OR"))), Not(Leaf("z", Op.EXISTS)))),
            {"s": "or"},
            True,
        ),
        (AllOf((AllOf((Leaf("a", Op.GT, 1), AllOf((Leaf("a", Op.LT, 5),)))),)), {"a": 3}, True),
        (AnyOf((AnyOf((Leaf("a", Op.GT, 10),)), Not(AnyOf((Leaf("a", Op.LT, 5),))))), {"a": 3}, False),
    ],
)
def test_nesting(cond: Condition, values: dict[str, Any], expected: bool) -> None:
    assert compile_condition(cond)(values) is expected


def test_very_deep_nesting_compiles() -> None:
    cond: Condition = Leaf("a", Op.EQ, 1)
    for i in range(300):
        cond = AnyOf((Leaf("b", Op.EQ, i), cond)) if i % 2 else AllOf((cond, Leaf("c", Op.NE, i)))
    assert compile_condition(cond)({"a": 1, "c": -1}) is True
    assert compile_condition(cond)({"a": 2, "c": -1}) is False
    assert compile_condition(Not(cond))({"a": 2, "c": -1}) is True


@pytest.mark.parametrize(
    ("leaf", "message"),
    [
        (Leaf("f", Op.REGEX, "(unclosed"), "bad regex"),
        (Leaf("f", Op.REGEX, 5), "pattern must be text"),
        (Leaf("f", Op.BETWEEN, [1]), "[low, high]"),
        (Leaf("f", Op.BETWEEN, 5), "[low, high]"),
        (Leaf("f", Op.GT, None), "value must be"),
        (Leaf("f", Op.GT, True), "cannot be ordered"),
        (Leaf("f", Op.EQ, math.nan), "not a usable number"),
        (Leaf("f", Op.EQ, [1, 2]), "value must be"),
        (Leaf("f", Op.IN, [[1]]), "value must be"),
        (Leaf("f", "nope", 1), "unknown op"),  # type: ignore[arg-type]
    ],
)
def test_invalid_conditions(leaf: Leaf, message: str) -> None:
    with pytest.raises(InvalidCondition, match=re.escape(message)):
        compile_condition(leaf)


# ---------------------------------------------------------------- compile_filters / compile_first_match

BILL = Leaf("monthly_bill", Op.GTE, 100)
STATE = Leaf("state", Op.IN, ["CA", "OR", "WA"])
ZIP = Leaf("zip", Op.EXISTS)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"monthly_bill": 150, "state": "CA", "zip": "90210"}, [-1, -1, -1, -1, -1, -1]),
        ({"monthly_bill": 80, "state": "CA", "zip": "90210"}, [0, -1, -1, 0, -1, -1]),
        ({"monthly_bill": 150, "state": "TX", "zip": "90210"}, [1, -1, 0, -1, -1, -1]),
        ({"monthly_bill": 150, "state": "CA"}, [2, -1, -1, -1, -1, 1]),
        ({}, [0, -1, 0, 0, -1, 0]),
    ],
)
def test_compile_filters(values: dict[str, Any], expected: list[int]) -> None:
    filters = compile_filters(
        [
            AllOf((BILL, STATE, ZIP)),
            None,
            STATE,
            AnyOf((BILL,)),
            AllOf(()),
            AllOf((AnyOf((BILL, STATE)), ZIP)),
        ]
    )
    assert filters(values) == expected


@pytest.mark.parametrize("failing", [0, 5, 16, 17, 39])
def test_compile_filters_long_all_of(failing: int) -> None:
    items = tuple(Leaf(f"f{i}", Op.EXISTS) for i in range(40))
    values = {f"f{i}": "x" for i in range(40) if i != failing}
    assert compile_filters([AllOf(items)])(values) == [failing]
    assert compile_filters([AllOf(items)])({f"f{i}": 1 for i in range(40)}) == [-1]


def test_compile_filters_and_first_match_scale_to_10000() -> None:
    conds = [AllOf((Leaf("n", Op.GTE, i), Leaf("s", Op.NE, f"x{i}"))) for i in range(10_000)]
    filters = compile_filters(conds)
    result = filters({"n": 5000, "s": "x7"})
    assert len(result) == 10_000
    assert result[:8] == [-1] * 7 + [1]
    assert result[5000:5002] == [-1, 0]
    assert compile_first_match(conds)({"n": 5000, "s": "x0"}) == 1
    assert compile_first_match([Leaf("n", Op.EQ, i) for i in range(10_000)])({"n": 9999}) == 9999
    assert compile_filters([])({}) == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"state": "CA", "monthly_bill": 50}, 1),
        ({"state": "CA", "monthly_bill": 500}, 0),
        ({"state": "TX", "monthly_bill": 500}, 2),
        ({"state": "TX"}, -1),
    ],
)
def test_compile_first_match(values: dict[str, Any], expected: int) -> None:
    first = compile_first_match(
        [AllOf((STATE, BILL)), STATE, AnyOf((Leaf("state", Op.EQ, "NV"), BILL)), AnyOf(())]
    )
    assert first(values) == expected
    assert compile_first_match([])(values) == -1


# ---------------------------------------------------------------- describe / explain_failure


@pytest.mark.parametrize(
    ("cond", "text"),
    [
        (STATE, "state in [CA, OR, WA]"),
        (BILL, "monthly_bill gte 100"),
        (ZIP, "zip exists"),
        (Leaf("zip", Op.EXISTS, False), "zip exists false"),
        (Leaf("loan", Op.BETWEEN, [100000, 500000.0]), "loan between [100000, 500000]"),
        (Leaf("n", Op.EQ, "New York", case_sensitive=True), "n eq New York (case-sensitive)"),
        (Leaf("n", Op.EQ, ""), 'n eq ""'),
        (Leaf("n", Op.EQ, "a, b\nc"), 'n eq "a, b\\nc"'),
        (Leaf("ok", Op.EQ, True), "ok eq true"),
        (AllOf((Leaf("a", Op.EQ, 1), Leaf("b", Op.GT, 2))), "all(a eq 1, b gt 2)"),
        (AnyOf((Leaf("a", Op.EQ, 1), Not(Leaf("b", Op.GT, 2.5)))), "any(a eq 1, not(b gt 2.5))"),
    ],
)
def test_describe(cond: Condition, text: str) -> None:
    assert describe(cond) == text


FILTER = AllOf((BILL, STATE, ZIP, AnyOf((Leaf("roof", Op.EQ, "shingle"), Leaf("roof", Op.EQ, "tile")))))


@pytest.mark.parametrize(
    ("cond", "failed", "values", "text"),
    [
        (FILTER, 0, {"monthly_bill": 80}, "filter monthly_bill gte 100 failed (80)"),
        (FILTER, 0, {"monthly_bill": 80.5}, "filter monthly_bill gte 100 failed (80.5)"),
        (FILTER, 1, {"state": "TX"}, "filter state in [CA, OR, WA] failed (TX)"),
        (FILTER, 2, {}, "filter zip exists failed (missing)"),
        (FILTER, 1, {"state": ""}, "filter state in [CA, OR, WA] failed (empty)"),
        (FILTER, 3, {"roof": "flat"}, "filter any(roof eq shingle, roof eq tile) failed (roof=flat)"),
        (STATE, 0, {"state": "TX"}, "filter state in [CA, OR, WA] failed (TX)"),
        (
            AnyOf((BILL, STATE)),
            0,
            {"state": "TX"},
            "filter any(monthly_bill gte 100, state in [CA, OR, WA]) failed (monthly_bill=missing, state=TX)",
        ),
        (None, -1, {}, "filter passed"),
        (FILTER, -1, {}, "filter passed"),
    ],
)
def test_explain_failure(cond: Condition | None, failed: int, values: dict[str, Any], text: str) -> None:
    assert explain_failure(cond, failed, values) == text


def test_explain_failure_label_and_compact() -> None:
    assert (
        explain_failure(BILL, 0, {"monthly_bill": 1}, label="rule hot")
        == "rule hot monthly_bill gte 100 failed (1)"
    )
    long = AnyOf(tuple(Leaf(f"field{i}", Op.EQ, "x" * 20) for i in range(10)))
    text = explain_failure(long, 0, {"field0": "y" * 200})
    assert "\n" not in text and "…" in text and len(text) < 400


def test_explanations_agree_with_filters() -> None:
    values = {"monthly_bill": 150, "state": "NV", "zip": "89001", "roof": "tile"}
    [failed] = compile_filters([FILTER])(values)
    assert explain_failure(FILTER, failed, values) == "filter state in [CA, OR, WA] failed (NV)"


# ---------------------------------------------------------------- user values are data, never code

NASTY = [
    "__import__('os').system('x')",
    "'); import os; os.system('x'); ('",
    '"""\nraise SystemExit\n"""',
    "a\nb\\n'\"",
    "{v}",
]


@pytest.mark.parametrize("nasty", NASTY)
def test_values_and_field_names_are_data(nasty: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sources: list[str] = []
    real_compile = compile

    def spy(source: str, *args: Any, **kwargs: Any) -> Any:
        sources.append(source)
        return real_compile(source, *args, **kwargs)

    monkeypatch.setattr(condition_codegen, "compile", spy, raising=False)
    cond = AllOf(
        (
            Leaf(nasty, Op.EQ, nasty),
            Leaf("f", Op.IN, [nasty, "x"]),
            Leaf("f", Op.REGEX, re.escape(nasty)),
            Leaf("f", Op.STARTS_WITH, nasty),
            Leaf("f", Op.GTE, nasty),
        )
    )
    assert compile_condition(cond)({nasty: nasty.upper(), "f": nasty}) is True
    assert compile_condition(cond)({nasty: "other", "f": nasty}) is False
    assert compile_filters([cond])({nasty: nasty, "f": "x"}) == [2]
    assert sources and all(nasty not in s for s in sources)
    assert "\n" not in describe(cond)


@pytest.mark.parametrize("name", ["_k0", "_f0", "g", "v", "_L0", "__builtins__"])
def test_names_of_the_generated_code_are_data(name: str) -> None:
    cond = AllOf((Leaf(name, Op.EQ, name), Leaf("x", Op.IN, [name]), Leaf(name, Op.NE, "_k1")))
    assert compile_condition(cond)({name: name, "x": name.upper()}) is True
    assert compile_filters([cond])({name: "other", "x": name}) == [0]


@pytest.mark.parametrize(
    "odd",
    [object(), b"bytes", {"a": 1}, [None, [1]], 10**5000, -(10**400), math.inf, -0.0],
    ids=["object", "bytes", "dict", "nested list", "huge int", "big negative int", "inf", "minus zero"],
)
def test_odd_values_never_raise(odd: Any) -> None:
    leaves = [Leaf("f", op, value) for op, value in _SAMPLE_VALUE_PER_OP.items()]
    for leaf in leaves:
        assert compile_condition(leaf)({"f": odd}) in (True, False)
    assert len(compile_filters(leaves)({"f": odd})) == len(leaves)


_SAMPLE_VALUE_PER_OP: dict[Op, Any] = {
    Op.EQ: "a", Op.NE: 1, Op.IN: ["a", 1, "2"], Op.NOT_IN: [1], Op.STARTS_WITH: "a", Op.ENDS_WITH: "1",
    Op.CONTAINS: "1", Op.REGEX: "1", Op.GT: 1, Op.GTE: "1", Op.LT: "b", Op.LTE: 1.5,
    Op.BETWEEN: [1, "2"], Op.EXISTS: None, Op.EMPTY: None,
}  # fmt: skip


# ---------------------------------------------------------------- compiled code agrees with an interpreter

_NUMERIC = re.compile(r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")


def ref_number(x: Any) -> float | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int | float):
        try:
            return float(x)
        except OverflowError:
            return math.copysign(math.inf, x)
    if isinstance(x, str) and _NUMERIC.fullmatch(x):
        return float(x)
    return None


def ref_text(x: Any, fold: bool) -> str | None:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, str):
        return x.casefold() if fold else x
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return str(int(x)) if x.is_integer() and abs(x) < 2**53 else repr(x)
    return None


def is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def ref_eq(f: Any, c: Any, fold: bool) -> bool:
    if f is None:
        return False
    if is_number(f) or is_number(c):
        nf, nc = ref_number(f), ref_number(c)
        if nf is not None and nc is not None:
            return nf == nc
    tf = ref_text(f, fold)
    return tf is not None and tf == ref_text(c, fold)


def ref_order(f: Any, c: Any, compare: Callable[[Any, Any], bool], fold: bool) -> bool:
    if f is None:
        return False
    nf, nc = ref_number(f), ref_number(c)
    if nf is not None and nc is not None:
        return compare(nf, nc)
    if isinstance(f, str) and isinstance(c, str):
        return compare(ref_text(f, fold), ref_text(c, fold))
    return False


COMPARE = {Op.GT: operator.gt, Op.GTE: operator.ge, Op.LT: operator.lt, Op.LTE: operator.le}


def ref_leaf(leaf: Leaf, values: dict[str, Any]) -> bool:
    f, c, fold = values.get(leaf.field), leaf.value, not leaf.case_sensitive
    op = leaf.op
    if op in (Op.EXISTS, Op.EMPTY):
        present = f is not None and f != ""
        return present is ((op is Op.EXISTS) is (c is not False))
    if op in (Op.EQ, Op.NE):
        return ref_eq(f, c, fold) is (op is Op.EQ)
    if op in (Op.IN, Op.NOT_IN):
        return any(ref_eq(f, item, fold) for item in c) is (op is Op.IN)
    if op in COMPARE:
        return ref_order(f, c, COMPARE[op], fold)
    if op is Op.BETWEEN:
        return ref_order(f, c[0], operator.ge, fold) and ref_order(f, c[1], operator.le, fold)
    if op is Op.REGEX:
        text = ref_text(f, False)
        return (
            text is not None and re.search(c, text, 0 if leaf.case_sensitive else re.IGNORECASE) is not None
        )
    if op is Op.CONTAINS and isinstance(f, list):
        return any(
            ref_text(item, fold) == ref_text(c, fold) for item in f if ref_text(item, fold) is not None
        )
    text, sub = ref_text(f, fold), ref_text(c, fold)
    if text is None or sub is None:
        return False
    if op is Op.CONTAINS:
        return sub in text
    return text.startswith(sub) if op is Op.STARTS_WITH else text.endswith(sub)


def ref(cond: Condition, values: dict[str, Any]) -> bool:
    if isinstance(cond, Leaf):
        return ref_leaf(cond, values)
    if isinstance(cond, Not):
        return not ref(cond.item, values)
    if isinstance(cond, AllOf):
        return all(ref(i, values) for i in cond.items)
    return any(ref(i, values) for i in cond.items)


def ref_failing(cond: Condition | None, values: dict[str, Any]) -> int:
    if cond is None:
        return -1
    items = cond.items if isinstance(cond, AllOf) else (cond,)
    return next((i for i, item in enumerate(items) if not ref(item, values)), -1)


FIELDS = ["a", "b", "c"]
TEXTS = [
    *("", "CA", "ca", "Straße", "STRASSE", "100", "100.0", "1e2", "-3.5", " 7 ", "007", "abc", "ABC", "a,b"),
    *("2026-01-31", "2026-02-01", "true", "FALSE", "nan", "inf", "9", "90210", "solar", "'\"\n"),
]
scalars = st.one_of(
    st.sampled_from(TEXTS),
    st.text(max_size=4),
    st.integers(-(10**20), 10**20),
    st.sampled_from([0, 7, 100, -3, 90210, 2**53 + 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([100.0, 7.0, -3.5, 0.5, 1e20]),
    st.booleans(),
)
field_values = st.one_of(st.none(), scalars, st.floats(), st.lists(st.one_of(st.none(), scalars), max_size=3))
lead_values = st.dictionaries(st.sampled_from(FIELDS), field_values)
orderable = st.one_of(
    st.sampled_from(TEXTS), st.integers(-1000, 1000), st.floats(-1e6, 1e6), st.text(max_size=3)
)
regexes = st.sampled_from(["", "^9", "a.c", r"\d+", "^ca$", "ß", "SS", "^$", "e2$"])


@st.composite
def leaves(draw: st.DrawFn) -> Leaf:
    op = draw(st.sampled_from(list(Op)))
    if op in (Op.IN, Op.NOT_IN):
        value: Any = draw(st.lists(scalars, max_size=4))
    elif op is Op.BETWEEN:
        value = [draw(orderable), draw(orderable)]
    elif op in COMPARE:
        value = draw(orderable)
    elif op is Op.REGEX:
        value = draw(regexes)
    elif op in (Op.EXISTS, Op.EMPTY):
        value = draw(st.sampled_from([None, True, False]))
    else:
        value = draw(scalars)
    return Leaf(draw(st.sampled_from(FIELDS)), op, value, draw(st.booleans()))


trees = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda items: AllOf(tuple(items))),
        st.lists(children, max_size=4).map(lambda items: AnyOf(tuple(items))),
        children.map(Not),
    ),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None)
@given(trees, st.lists(lead_values, min_size=1, max_size=4))
def test_compiled_condition_agrees_with_reference(cond: Condition, leads: list[dict[str, Any]]) -> None:
    compiled = compile_condition(cond)
    for values in leads:
        assert compiled(values) is ref(cond, values)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), trees), max_size=6), lead_values)
def test_compiled_filters_and_first_match_agree_with_reference(
    conds: list[Condition | None], values: dict[str, Any]
) -> None:
    assert compile_filters(conds)(values) == [ref_failing(c, values) for c in conds]
    real = [c for c in conds if c is not None]
    expected = next((i for i, c in enumerate(real) if ref(c, values)), -1)
    assert compile_first_match(real)(values) == expected


@pytest.mark.parametrize("value", ["0\x1f", "\x0b5", "5\x1c"])
def test_control_characters_around_digits_are_text_not_numbers(value: str) -> None:
    """float() refuses these; the compiled code must treat them as text, never raise."""
    assert compile_condition(Leaf("x", Op.GT, 1))({"x": value}) is False
    assert compile_condition(Leaf("x", Op.EQ, value))({"x": 0}) is False


def test_a_failure_quotes_a_value_whole_or_names_its_length() -> None:
    """Never a cut value (redaction and erasure find whole values only)."""
    assert (
        explain_failure(BILL, 0, {"monthly_bill": "9" * 100})
        == f"filter monthly_bill gte 100 failed ({'9' * 100})"
    )
    assert explain_failure(BILL, 0, {"monthly_bill": "9" * 101}) == (
        "filter monthly_bill gte 100 failed (a value of 101 characters)"
    )
