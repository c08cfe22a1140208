"""What a simulated bidding buyer decides when pinged (pure: no server, an injected random generator).

A ping gets one of three answers, drawn with one number in [0, 1) so that the rates are exact fractions
of all pings: a **timeout** (``timeout_rate``: the buyer answers a bid only after ``timeout_delay_s``, far
beyond any ping timeout), a **refusal** (``refusal_rate``) or a **bid** (the rest), a price drawn uniformly
in ``[bid_min, bid_max]`` and rounded to cents. A bid or a refusal comes after a latency sampled from
:class:`Latency`. A test ping (a partner test) always gets a bid, after the sampled latency.

Latency syntax (``--ping-latency``), in milliseconds, never below 0:

- ``50`` or ``fixed:50``: always 50 ms;
- ``normal:50,10``: normal, mean 50, standard deviation 10 (clamped at 0);
- ``uniform:20,80``: uniform between 20 and 80;
- ``exp:30``: exponential with mean 30.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = [
    "MAX_TIMEOUT_DELAY_S",
    "Answer",
    "BiddingOptions",
    "Draws",
    "Latency",
    "PingDecision",
    "decide_ping",
    "parse_latency",
]

MAX_TIMEOUT_DELAY_S = 60.0  # a "timeout" buyer answers late, never later than this


class Draws(Protocol):
    """The random numbers a bidding buyer draws (``random.Random`` is one)."""

    def random(self) -> float: ...

    def uniform(self, a: float, b: float) -> float: ...

    def gauss(self, mu: float, sigma: float) -> float: ...

    def expovariate(self, lambd: float) -> float: ...


_KINDS = {"fixed": 1, "normal": 2, "uniform": 2, "exp": 1}


@dataclass(frozen=True, slots=True)
class Latency:
    """A latency distribution in milliseconds: ``fixed`` (a), ``normal`` (mean a, sd b), ``uniform``
    (a to b), ``exp`` (mean a)."""

    kind: str = "fixed"
    a: float = 0.0
    b: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"latency: unknown distribution {self.kind!r} (fixed, normal, uniform, exp)")
        for value in (self.a, self.b):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"latency: {self.describe()}: values must be finite and not negative")
        if self.kind == "uniform" and self.b < self.a:
            raise ValueError(f"latency: {self.describe()}: the high end is below the low end")

    @classmethod
    def fixed(cls, ms: float) -> Latency:
        return cls("fixed", ms)

    def describe(self) -> str:
        if _KINDS.get(self.kind) == 2:
            return f"{self.kind}:{self.a:g},{self.b:g}"
        return f"{self.kind}:{self.a:g}"

    def sample_ms(self, draws: Draws) -> float:
        if self.kind == "normal":
            return max(0.0, draws.gauss(self.a, self.b))
        if self.kind == "uniform":
            return draws.uniform(self.a, self.b)
        if self.kind == "exp":
            return draws.expovariate(1.0 / self.a) if self.a > 0 else 0.0
        return self.a


def parse_latency(text: str) -> Latency:
    """``50``, ``fixed:50``, ``normal:50,10``, ``uniform:20,80`` or ``exp:30`` (milliseconds)."""
    spec = text.strip().lower()
    kind, sep, rest = spec.partition(":")
    if not sep:
        kind, rest = "fixed", spec
    if kind not in _KINDS:
        raise ValueError(
            f"latency {text!r}: unknown distribution {kind!r}; use 50, fixed:50, normal:50,10, "
            "uniform:20,80 or exp:30 (milliseconds)"
        )
    parts = [p.strip() for p in rest.split(",")]
    if len(parts) != _KINDS[kind]:
        raise ValueError(f"latency {text!r}: {kind} takes {_KINDS[kind]} number(s)")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"latency {text!r}: not a number") from None
    return Latency(kind, *numbers)


@dataclass(frozen=True, slots=True)
class BiddingOptions:
    """How a simulated buyer answers pings; ``ValueError`` on a setting out of range."""

    latency: Latency = Latency()
    bid_min: float = 5.0
    bid_max: float = 25.0
    refusal_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_delay_s: float = 30.0
    shared_ratio: float | None = None  # a bid also offers this share of its price for a shared lead

    def __post_init__(self) -> None:
        for label, amount in (("bid_min", self.bid_min), ("bid_max", self.bid_max)):
            if not math.isfinite(amount) or amount < 0:
                raise ValueError(f"{label} must be a finite amount not below 0, not {amount}")
        if self.bid_max < self.bid_min:
            raise ValueError(f"bid_max ({self.bid_max}) must not be below bid_min ({self.bid_min})")
        for label, rate in (("refusal_rate", self.refusal_rate), ("timeout_rate", self.timeout_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{label} must be between 0 and 1, not {rate}")
        if self.refusal_rate + self.timeout_rate > 1.0:
            raise ValueError(
                f"refusal_rate + timeout_rate must not exceed 1 ({self.refusal_rate} + {self.timeout_rate})"
            )
        if self.shared_ratio is not None and not 0.0 < self.shared_ratio <= 1.0:
            raise ValueError(f"shared_ratio must be more than 0 and at most 1, not {self.shared_ratio}")
        if not 0.0 <= self.timeout_delay_s <= MAX_TIMEOUT_DELAY_S:
            raise ValueError(
                f"timeout_delay must be between 0 and {MAX_TIMEOUT_DELAY_S:g} s, not {self.timeout_delay_s}"
            )


class Answer(StrEnum):
    BID = "bid"
    REFUSAL = "refusal"
    TIMEOUT = "timeout"  # a bid, but only after ``timeout_delay_s``


@dataclass(frozen=True, slots=True)
class PingDecision:
    answer: Answer
    delay_s: float  # how long the buyer takes to answer
    price: float | None  # the bid (also the late bid of a timeout); None: a refusal


def decide_ping(options: BiddingOptions, draws: Draws, *, test: bool = False) -> PingDecision:
    """One ping's answer. Always three draws in the same order (kind, price, latency), whatever the
    answer, so that one buyer's sequence of answers depends only on its generator and its ping count."""
    roll = draws.random()
    price = min(
        max(round(draws.uniform(options.bid_min, options.bid_max), 2), options.bid_min), options.bid_max
    )
    delay_s = options.latency.sample_ms(draws) / 1000.0
    if test or roll >= options.timeout_rate + options.refusal_rate:
        return PingDecision(Answer.BID, delay_s, price)
    if roll < options.timeout_rate:
        return PingDecision(Answer.TIMEOUT, options.timeout_delay_s, price)
    return PingDecision(Answer.REFUSAL, delay_s, None)
