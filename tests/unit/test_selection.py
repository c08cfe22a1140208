"""Selection strategies: the order eligible partners are offered a lead (pure, table-driven)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadrelay.domain.model import Strategy, Target
from leadrelay.domain.selection import needs_rotation, order_candidates

ABC = ("a", "b", "c")


def firsts(eligible: list[str], target: Target, rotations: range) -> list[str]:
    return [order_candidates(eligible, target, r)[0] for r in rotations]


# ---------------------------------------------------------------- every strategy, table-driven


@pytest.mark.parametrize(
    ("name", "eligible", "target", "rotation", "expected"),
    [
        # priority: list order; rotation cannot reorder distinct ranks
        ("priority list order", ["a", "b", "c"], Target(ABC), 0, ["a", "b", "c"]),
        ("priority ignores rotation", ["a", "b", "c"], Target(ABC), 7, ["a", "b", "c"]),
        ("priority of a subset", ["b", "c"], Target(ABC), 0, ["b", "c"]),
        # explicit priorities: lower first, equal ranks rotate with the counter
        (
            "explicit priorities",
            ["a", "b", "c"],
            Target(ABC, priorities={"a": 3, "b": 1, "c": 2}),
            0,
            ["b", "c", "a"],
        ),
        ("tie r0", ["a", "b", "c"], Target(ABC, priorities={"a": 2, "b": 1, "c": 1}), 0, ["b", "c", "a"]),
        ("tie r1", ["a", "b", "c"], Target(ABC, priorities={"a": 2, "b": 1, "c": 1}), 1, ["c", "b", "a"]),
        ("tie r2", ["a", "b", "c"], Target(ABC, priorities={"a": 2, "b": 1, "c": 1}), 2, ["b", "c", "a"]),
        (
            "all tied r0",
            ["a", "b", "c"],
            Target(ABC, priorities={"a": 0, "b": 0, "c": 0}),
            0,
            ["a", "b", "c"],
        ),
        (
            "all tied r1",
            ["a", "b", "c"],
            Target(ABC, priorities={"a": 0, "b": 0, "c": 0}),
            1,
            ["b", "c", "a"],
        ),
        (
            "all tied r5",
            ["a", "b", "c"],
            Target(ABC, priorities={"a": 0, "b": 0, "c": 0}),
            5,
            ["c", "a", "b"],
        ),
        # round robin: the list rotated by the counter
        ("rr r0", ["a", "b", "c"], Target(ABC, Strategy.ROUND_ROBIN), 0, ["a", "b", "c"]),
        ("rr r1", ["a", "b", "c"], Target(ABC, Strategy.ROUND_ROBIN), 1, ["b", "c", "a"]),
        ("rr r2", ["a", "b", "c"], Target(ABC, Strategy.ROUND_ROBIN), 2, ["c", "a", "b"]),
        ("rr wraps", ["a", "b", "c"], Target(ABC, Strategy.ROUND_ROBIN), 3, ["a", "b", "c"]),
        ("rr one partner", ["b"], Target(ABC, Strategy.ROUND_ROBIN), 4, ["b"]),
        # broadcast: every eligible partner, list order, rotation ignored
        ("broadcast", ["a", "b", "c"], Target(ABC, Strategy.BROADCAST), 0, ["a", "b", "c"]),
        ("broadcast ignores rotation", ["a", "c"], Target(ABC, Strategy.BROADCAST), 9, ["a", "c"]),
        # weighted: whose turn it is, then the rest by weight, zero weights last
        (
            "weighted rest by weight",
            ["a", "b", "c"],
            Target(ABC, Strategy.WEIGHTED, weights={"a": 1, "b": 2, "c": 5}),
            0,
            ["c", "b", "a"],
        ),
        (
            "weighted zero last",
            ["a", "b", "c"],
            Target(ABC, Strategy.WEIGHTED, weights={"a": 0, "b": 1, "c": 1}),
            0,
            ["b", "c", "a"],
        ),
        (
            "weighted zero last r1",
            ["a", "b", "c"],
            Target(ABC, Strategy.WEIGHTED, weights={"a": 0, "b": 1, "c": 1}),
            1,
            ["c", "b", "a"],
        ),
        (
            "weighted all zero keeps list order",
            ["a", "b"],
            Target(("a", "b"), Strategy.WEIGHTED, weights={"a": 0, "b": 0}),
            3,
            ["a", "b"],
        ),
    ],
)
def test_order_candidates(
    name: str, eligible: list[str], target: Target, rotation: int, expected: list[str]
) -> None:
    assert order_candidates(eligible, target, rotation) == expected


@pytest.mark.parametrize("strategy", list(Strategy))
def test_no_eligible_partner_gives_an_empty_order(strategy: Strategy) -> None:
    assert order_candidates([], Target(ABC, strategy), 3) == []


@pytest.mark.parametrize(
    ("target", "rotates"),
    [
        (Target(ABC), False),  # distinct ranks: the order never changes
        (Target(ABC, priorities={"a": 1, "b": 1, "c": 2}), True),  # equal ranks rotate
        (Target(ABC, Strategy.ROUND_ROBIN), True),
        (Target(ABC, Strategy.WEIGHTED, weights={"a": 1, "b": 2, "c": 3}), True),
        (Target(ABC, Strategy.BROADCAST), False),
    ],
)
def test_needs_rotation(target: Target, rotates: bool) -> None:
    assert needs_rotation(target) is rotates


# ---------------------------------------------------------------- weighted: exact, smooth, deterministic

SEVENTY_THIRTY = Target(("a", "b"), Strategy.WEIGHTED, weights={"a": 70, "b": 30})


@pytest.mark.parametrize("start", [0, 1, 3, 10, 997])
def test_weighted_70_30_gives_exactly_7_and_3_in_every_10(start: int) -> None:
    got = firsts(["a", "b"], SEVENTY_THIRTY, range(start, start + 10))
    assert Counter(got) == {"a": 7, "b": 3}


def test_weighted_70_30_interleaves_smoothly() -> None:
    got = firsts(["a", "b"], SEVENTY_THIRTY, range(10))
    # never two b in a row, never more than 3 a in a row (7/3 rounded up)
    assert "bb" not in "".join(got)
    assert "aaaa" not in "".join(got * 2)
    # every prefix is within one lead of the ideal share
    for n in range(1, 11):
        assert abs(got[:n].count("a") - 0.7 * n) < 1, (n, got)


def test_weighted_is_deterministic_and_periodic() -> None:
    first = [order_candidates(["a", "b"], SEVENTY_THIRTY, r) for r in range(30)]
    again = [order_candidates(["a", "b"], SEVENTY_THIRTY, r) for r in range(30)]
    assert first == again
    assert first[:10] == first[10:20] == first[20:30]


def test_weighted_zero_weight_is_never_first_and_always_last() -> None:
    target = Target(ABC, Strategy.WEIGHTED, weights={"a": 3, "b": 0, "c": 1})
    orders = [order_candidates(["a", "b", "c"], target, r) for r in range(8)]
    assert Counter(o[0] for o in orders) == {"a": 6, "c": 2}
    assert all(o[-1] == "b" for o in orders)


def test_weighted_3_to_1_over_8_rotations_is_6_to_2() -> None:
    target = Target(("x", "y"), Strategy.WEIGHTED, weights={"x": 3, "y": 1})
    assert Counter(firsts(["x", "y"], target, range(8))) == {"x": 6, "y": 2}


def test_weighted_only_over_the_eligible_partners() -> None:
    # "b" (weight 3) is not eligible: "a" and "c" split 1:1
    target = Target(ABC, Strategy.WEIGHTED, weights={"a": 1, "b": 3, "c": 1})
    assert Counter(firsts(["a", "c"], target, range(10))) == {"a": 5, "c": 5}


# ---------------------------------------------------------------- invariants


@given(
    n=st.integers(min_value=1, max_value=12),
    k=st.integers(min_value=1, max_value=6),
    start=st.integers(min_value=0, max_value=10**9),
)
def test_round_robin_gives_each_partner_exactly_k_firsts(n: int, k: int, start: int) -> None:
    names = [f"p{i}" for i in range(n)]
    target = Target(tuple(names), Strategy.ROUND_ROBIN)
    got = Counter(firsts(names, target, range(start, start + k * n)))
    assert got == dict.fromkeys(names, k)


@given(
    weights=st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=6),
    start=st.integers(min_value=0, max_value=10**6),
)
def test_weighted_gives_exact_shares_over_one_cycle(weights: list[int], start: int) -> None:
    names = [f"p{i}" for i in range(len(weights))]
    target = Target(tuple(names), Strategy.WEIGHTED, weights=dict(zip(names, weights, strict=True)))
    total = sum(weights)
    got = Counter(firsts(names, target, range(start, start + total)))
    # over `total` rotations every partner gets exactly its weight (a multiple of the reduced cycle)
    assert got == dict(zip(names, weights, strict=True))


@given(
    strategy=st.sampled_from(list(Strategy)),
    eligible=st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), unique=True),
    rotation=st.integers(min_value=0, max_value=10**9),
)
def test_every_strategy_orders_a_permutation_of_the_eligible(
    strategy: Strategy, eligible: list[str], rotation: int
) -> None:
    target = Target(
        ("a", "b", "c", "d", "e"),
        strategy,
        weights={"a": 5, "b": 0, "c": 2, "d": 1, "e": 1},
        priorities={"a": 1, "b": 1, "c": 0, "d": 2, "e": 1} if strategy is Strategy.PRIORITY else {},
    )
    got = order_candidates(eligible, target, rotation)
    assert sorted(got) == sorted(eligible)
