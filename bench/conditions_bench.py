"""How long one lead takes against every partner's filters, with compile_filters.

Run: ``.venv/bin/python bench/conditions_bench.py``. A 15-field solar lead is evaluated against 10, 100 and
1,000 partners, each with a filter of 5 leaf conditions drawn (seeded) from the kinds operators write: states,
bill and credit thresholds, zip prefixes, ranges, dates, yes/no fields, utilities, presence checks.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import partial

from leadrelay.domain.condition_tree import AllOf, Condition, Leaf, Op
from leadrelay.domain.conditions import compile_filters

LEAD = {
    "first_name": "Dana",
    "last_name": "Reyes",
    "email": "dana@example.com",
    "phone": "+14155550123",
    "state": "CA",
    "zip": "94110",
    "monthly_bill": 180,
    "credit_score": 705,
    "homeowner": True,
    "roof_type": "Shingle",
    "utility": "PG&E",
    "property_type": "single_family",
    "loan_amount": 240000.0,
    "birth_date": "1984-05-17",
    "created": "2026-02-14",
}

STATES = ["CA", "OR", "WA", "NV", "AZ", "TX", "FL", "NY", "NJ", "CO", "UT", "NM"]
UTILITIES = ["PG&E", "SCE", "SDG&E", "LADWP", "SMUD", "PacifiCorp", "APS", "NV Energy"]


def leaf(rng: random.Random) -> Leaf:
    kind = rng.randrange(12)
    if kind == 0:
        return Leaf("state", Op.IN, rng.sample(STATES, rng.randint(2, 6)))
    if kind == 1:
        return Leaf("monthly_bill", Op.GTE, rng.choice([50, 75, 100, 125, 150, 200, 250]))
    if kind == 2:
        low = rng.choice([550, 600, 620, 650, 680, 700])
        return Leaf("credit_score", Op.BETWEEN, [low, low + rng.choice([100, 150, 250])])
    if kind == 3:
        return Leaf("zip", Op.STARTS_WITH, rng.choice(["9", "94", "95", "90", "941", "8"]))
    if kind == 4:
        return Leaf("homeowner", Op.EQ, rng.random() < 0.8)
    if kind == 5:
        return Leaf(
            "roof_type", Op.NOT_IN, rng.sample(["flat", "tile", "metal", "shingle"], rng.randint(1, 2))
        )
    if kind == 6:
        return Leaf("utility", Op.IN, rng.sample(UTILITIES, rng.randint(2, 5)))
    if kind == 7:
        return Leaf("email", Op.EXISTS)
    if kind == 8:
        return Leaf("loan_amount", Op.LTE, rng.choice([150000, 250000, 400000, 1000000]))
    if kind == 9:
        return Leaf("created", Op.GTE, rng.choice(["2025-12-31", "2026-01-31", "2026-03-01"]))
    if kind == 10:
        return Leaf("property_type", Op.EQ, rng.choice(["single_family", "condo", "Single_Family"]))
    return Leaf("birth_date", Op.LTE, rng.choice(["2000-01-01", "2006-01-01", "1980-01-01"]))


def distinct_leaf(rng: random.Random) -> Leaf:
    """A leaf no other partner shares (a worst case: nothing is evaluated once for several partners)."""
    kind = rng.randrange(4)
    if kind == 0:
        return Leaf("monthly_bill", Op.GTE, rng.randint(50, 250) + rng.random())
    if kind == 1:
        return Leaf("credit_score", Op.LTE, rng.randint(600, 850) + rng.random())
    if kind == 2:
        return Leaf("state", Op.IN, [*rng.sample(STATES, 4), f"X{rng.random()}"])
    return Leaf("created", Op.GTE, f"2026-01-{rng.randint(1, 31):02}T{rng.random()}")


def filters(
    n: int, rng: random.Random, make: Callable[[random.Random], Leaf] = leaf
) -> list[Condition | None]:
    return [AllOf(tuple(make(rng) for _ in range(5))) for _ in range(n)]


def per_call_us(fn: Callable[[], object], budget_s: float = 0.4) -> float:
    """The best of several timed batches, in µs per call (the minimum: the machine may be shared)."""
    runs: list[float] = []
    batch = 1
    while True:  # grow the batch until it takes ~20 ms
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        if time.perf_counter() - start > 0.02:
            break
        batch *= 2
    deadline = time.perf_counter() + budget_s
    while time.perf_counter() < deadline or len(runs) < 5:
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        runs.append((time.perf_counter() - start) / batch)
    return min(runs) * 1e6


def main() -> None:
    rng = random.Random(20260214)
    print("compile_filters: one 15-field lead against N partner filters of 5 leaf conditions each")
    for n in (10, 100, 1000):
        conds = filters(n, rng)
        start = time.perf_counter()
        evaluate = compile_filters(conds)
        compile_ms = (time.perf_counter() - start) * 1e3
        result = evaluate(LEAD)
        passed = sum(1 for r in result if r < 0)
        us = per_call_us(partial(evaluate, LEAD))
        print(
            f"  {n:>5} partners: {us:8.2f} µs per evaluation ({passed} pass; compiled in {compile_ms:.0f} ms)"
        )
    print("the same with no leaf shared between partners (worst case)")
    for n in (10, 100, 1000):
        evaluate = compile_filters(filters(n, rng, distinct_leaf))
        passed = sum(1 for r in evaluate(LEAD) if r < 0)
        us = per_call_us(partial(evaluate, LEAD))
        print(f"  {n:>5} partners: {us:8.2f} µs per evaluation ({passed} pass)")
    start = time.perf_counter()
    compile_filters(filters(10_000, rng))
    print(f"  10000 partners compile in {(time.perf_counter() - start) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
