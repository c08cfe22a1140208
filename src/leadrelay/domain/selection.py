"""Selection strategies: the order in which eligible partners are offered a lead.

Pure functions of the eligible partners, the target and a shared rotation counter (stored, so every
worker and process continues one rotation). The caller reserves caps in the returned order; the first
partner whose reservation succeeds gets the lead (all of them, for broadcast).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from leadrelay.domain.model import Strategy, Target


def needs_rotation(target: Target) -> bool:
    """Does the order depend on the shared rotation counter? (Then the caller advances it per lead.)"""
    if target.strategy is Strategy.PRIORITY:
        return bool(target.priorities)  # only equal ranks rotate
    return target.strategy in (Strategy.ROUND_ROBIN, Strategy.WEIGHTED)


def order_candidates(eligible: Sequence[str], target: Target, rotation: int) -> list[str]:
    """Eligible partners in the order they should be tried.

    - priority: by rank (explicit ``priorities`` or list position); equal ranks rotate with ``rotation``.
    - round_robin: the list rotated by ``rotation``.
    - weighted: the partner whose turn it is in a smooth weighted round robin, then the rest by weight.
    - broadcast: every eligible partner, in list order.
    - least_loaded: list order here; the caller reorders by load (``domain.pacing.least_loaded_order``)
      once it has read the partners' usage.
    """
    if not eligible:
        return []
    strategy = target.strategy
    if strategy in (Strategy.BROADCAST, Strategy.LEAST_LOADED):
        return list(eligible)
    if strategy is Strategy.ROUND_ROBIN:
        start = rotation % len(eligible)
        return [*eligible[start:], *eligible[:start]]
    if strategy is Strategy.WEIGHTED:
        return _weighted_order(eligible, target.weights, rotation)
    return _priority_order(eligible, target, rotation)


def _priority_order(eligible: Sequence[str], target: Target, rotation: int) -> list[str]:
    if not target.priorities:
        return list(eligible)  # distinct ranks: list order is priority order (eligible keeps it)
    ranks = target.priorities
    default_rank = max(ranks.values(), default=0) + 1
    groups: dict[int, list[str]] = {}
    for name in eligible:
        groups.setdefault(ranks.get(name, default_rank), []).append(name)
    ordered: list[str] = []
    for r in sorted(groups):
        tier = groups[r]
        start = rotation % len(tier)
        ordered.extend(tier[start:] + tier[:start])
    return ordered


def _weighted_order(eligible: Sequence[str], weights: Mapping[str, int], rotation: int) -> list[str]:
    pairs = tuple((name, max(0, int(weights.get(name, 1)))) for name in eligible)
    live = tuple(p for p in pairs if p[1] > 0)
    if not live:
        return list(eligible)
    schedule = _smooth_schedule(live)
    first = schedule[rotation % len(schedule)]
    rest = sorted((n for n, _ in live if n != first), key=lambda n: -dict(live)[n])
    zero = [n for n, w in pairs if w == 0]
    return [first, *rest, *zero]


@lru_cache(maxsize=1024)
def _smooth_schedule(pairs: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    """nginx's smooth weighted round robin over one full cycle: 70/30 interleaves, never bursts.

    Weights are reduced by their gcd so a 70/30 split cycles every 10 leads, not 100.
    """
    from math import gcd

    g = 0
    for _, w in pairs:
        g = gcd(g, w)
    reduced = [(n, w // g) for n, w in pairs]
    total = sum(w for _, w in reduced)
    current = [0] * len(reduced)
    out: list[str] = []
    for _ in range(total):
        for i, (_, w) in enumerate(reduced):
            current[i] += w
        best = max(range(len(reduced)), key=lambda i: current[i])
        current[best] -= total
        out.append(reduced[best][0])
    return tuple(out)
