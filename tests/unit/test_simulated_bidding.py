"""What a simulated bidding buyer decides when pinged (issue 10, point 11): latency sampling, bid drawing,
refusal and timeout rates, all from an injected, seeded generator; no server."""

from __future__ import annotations

import random
import statistics
from typing import Any

import pytest

from leadrelay.simulate.bidding import (
    MAX_TIMEOUT_DELAY_S,
    Answer,
    BiddingOptions,
    Latency,
    PingDecision,
    decide_ping,
    parse_latency,
)


class Scripted:
    """A generator whose draws a test writes down: ``random`` and ``uniform`` return their next value."""

    def __init__(self, rolls: list[float], uniforms: list[float]) -> None:
        self.rolls = list(rolls)
        self.uniforms = list(uniforms)

    def random(self) -> float:
        return self.rolls.pop(0)

    def uniform(self, a: float, b: float) -> float:
        return self.uniforms.pop(0)

    def gauss(self, mu: float, sigma: float) -> float:
        return mu

    def expovariate(self, lambd: float) -> float:
        return 1.0 / lambd


@pytest.mark.parametrize(
    ("text", "latency"),
    [
        ("50", Latency("fixed", 50)),
        ("fixed:50", Latency("fixed", 50)),
        (" Normal:50, 10 ", Latency("normal", 50, 10)),
        ("uniform:20,80", Latency("uniform", 20, 80)),
        ("exp:30", Latency("exp", 30)),
        ("0", Latency("fixed", 0)),
    ],
)
def test_latency_syntax(text: str, latency: Latency) -> None:
    assert parse_latency(text) == latency


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gamma:1,2", "unknown distribution 'gamma'"),
        ("normal:50", "normal takes 2 number"),
        ("uniform:1,2,3", "uniform takes 2 number"),
        ("exp:abc", "not a number"),
        ("-5", "not negative"),
        ("uniform:80,20", "high end is below the low end"),
        ("fixed:inf", "finite"),
        ("", "not a number"),
    ],
)
def test_bad_latency_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_latency(text)


def test_latency_samples_follow_their_distribution() -> None:
    draws = random.Random(1)
    fixed = [Latency.fixed(50).sample_ms(draws) for _ in range(10)]
    assert fixed == [50.0] * 10
    uniform = [parse_latency("uniform:20,80").sample_ms(draws) for _ in range(2000)]
    assert min(uniform) >= 20 and max(uniform) <= 80 and 45 < statistics.mean(uniform) < 55
    normal = [parse_latency("normal:50,10").sample_ms(draws) for _ in range(2000)]
    assert 48 < statistics.mean(normal) < 52 and 9 < statistics.stdev(normal) < 11
    clamped = [parse_latency("normal:5,50").sample_ms(draws) for _ in range(500)]
    assert min(clamped) == 0.0  # never a negative latency
    exp = [parse_latency("exp:30").sample_ms(draws) for _ in range(4000)]
    assert min(exp) >= 0 and 27 < statistics.mean(exp) < 33
    assert parse_latency("exp:0").sample_ms(draws) == 0.0


def test_the_same_seed_gives_the_same_answers() -> None:
    options = BiddingOptions(
        latency=parse_latency("normal:50,10"), refusal_rate=0.3, timeout_rate=0.1, timeout_delay_s=0.2
    )
    first = [decide_ping(options, random.Random(7)) for _ in range(1)]
    runs = [
        [decide_ping(options, draws) for _ in range(200)] for draws in (random.Random(7), random.Random(7))
    ]
    other = [decide_ping(options, random.Random(8)) for _ in range(1)]
    assert runs[0] == runs[1]
    assert first[0] == runs[0][0] and first != other


def test_bids_stay_in_range_in_cents_and_the_rates_hold() -> None:
    options = BiddingOptions(
        latency=Latency.fixed(40),
        bid_min=3.5,
        bid_max=12,
        refusal_rate=0.25,
        timeout_rate=0.1,
        timeout_delay_s=2,
    )
    draws = random.Random(42)
    decisions = [decide_ping(options, draws) for _ in range(1000)]
    kinds = [d.answer for d in decisions]
    assert 70 <= kinds.count(Answer.TIMEOUT) <= 130  # 10 %
    assert 210 <= kinds.count(Answer.REFUSAL) <= 290  # 25 %
    for decision in decisions:
        if decision.answer == Answer.REFUSAL:
            assert decision.price is None and decision.delay_s == 0.04
        elif decision.answer == Answer.TIMEOUT:
            assert decision.delay_s == 2 and decision.price is not None  # a late bid
        else:
            assert decision.delay_s == 0.04
        if decision.price is not None:
            assert 3.5 <= decision.price <= 12 and round(decision.price, 2) == decision.price
    prices = [d.price for d in decisions if d.price is not None]
    assert min(prices) < 4.5 and max(prices) > 11  # spread over the range


def test_the_draw_decides_timeout_then_refusal_then_bid() -> None:
    options = BiddingOptions(latency=Latency.fixed(10), refusal_rate=0.3, timeout_rate=0.2, timeout_delay_s=5)

    def decide(roll: float, *, test: bool = False) -> PingDecision:
        return decide_ping(options, Scripted([roll], [9.999]), test=test)

    assert decide(0.0) == PingDecision(Answer.TIMEOUT, 5.0, 10.0)
    assert decide(0.19) == PingDecision(Answer.TIMEOUT, 5.0, 10.0)
    assert decide(0.2) == PingDecision(Answer.REFUSAL, 0.01, None)
    assert decide(0.49) == PingDecision(Answer.REFUSAL, 0.01, None)
    assert decide(0.5) == PingDecision(Answer.BID, 0.01, 10.0)
    # a test ping (a partner test) always gets a bid, after the usual latency
    assert decide(0.0, test=True) == PingDecision(Answer.BID, 0.01, 10.0)
    assert decide(0.3, test=True) == PingDecision(Answer.BID, 0.01, 10.0)


def test_a_fixed_bid_and_extreme_rates() -> None:
    draws = random.Random(3)
    always = BiddingOptions(bid_min=7.25, bid_max=7.25)
    assert {decide_ping(always, draws).price for _ in range(50)} == {7.25}
    never = BiddingOptions(refusal_rate=1.0)
    assert {decide_ping(never, draws).answer for _ in range(50)} == {Answer.REFUSAL}
    late = BiddingOptions(timeout_rate=1.0, timeout_delay_s=1.5)
    assert {(d.answer, d.delay_s) for d in (decide_ping(late, draws) for _ in range(50))} == {
        (Answer.TIMEOUT, 1.5)
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"bid_min": -1}, "bid_min"),
        ({"bid_min": 10, "bid_max": 5}, "bid_max"),
        ({"bid_max": float("inf")}, "bid_max must be a finite"),
        ({"refusal_rate": 1.5}, "refusal_rate"),
        ({"timeout_rate": -0.1}, "timeout_rate"),
        ({"refusal_rate": 0.6, "timeout_rate": 0.5}, "must not exceed 1"),
        ({"timeout_delay_s": MAX_TIMEOUT_DELAY_S + 1}, "timeout_delay"),
        ({"timeout_delay_s": -1}, "timeout_delay"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BiddingOptions(**options)
