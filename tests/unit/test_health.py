"""A partner's health and circuit breaker as pure decisions (``leadrelay.domain.health``), with an injected
clock: sliding windows, percentiles, the thresholds, the breaker's moves and the adaptive ping timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadrelay.domain.attempts import AttemptResult, Outcome
from leadrelay.domain.health import (
    Admission,
    Breaker,
    BreakerPolicy,
    BreakerState,
    Kind,
    Result,
    Window,
    adaptive_timeout,
    admission,
    after_trial,
    check_breaker,
    format_rate,
    opened,
    percentile,
    result_of,
    skip_line,
    stats_of,
    stored_result,
    trial,
    trip_reason,
)
from leadrelay.errors import InvalidTransition

T0 = datetime(2026, 12, 3, 10, 41, 0, tzinfo=UTC)
POLICY = BreakerPolicy(error_rate=0.5, timeout_rate=0.5, window_s=300, min_requests=4, cool_down_s=60)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([7.0], 99, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([float(i) for i in range(1, 101)], 95, 95.0),
        ([float(i) for i in range(1, 101)], 99, 99.0),
        ([float(i) for i in range(1, 11)], 99, 10.0),
    ],
)
def test_percentile_is_the_nearest_rank(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=200))
def test_percentiles_are_values_observed_and_ordered(values: list[float]) -> None:
    stats = stats_of((v, Result.OK) for v in values)
    assert stats.p50_ms in values and stats.p95_ms in values and stats.p99_ms in values
    assert stats.p50_ms is not None and stats.p95_ms is not None and stats.p99_ms is not None
    assert min(values) <= stats.p50_ms <= stats.p95_ms <= stats.p99_ms <= max(values)


def test_stats_count_errors_and_timeouts_and_a_refusal_is_healthy() -> None:
    stats = stats_of(
        [(10.0, Result.OK), (20.0, Result.REFUSED), (30.0, Result.ERROR), (5000.0, Result.TIMEOUT)]
    )
    assert (stats.count, stats.errors, stats.timeouts) == (4, 1, 1)
    assert stats.error_rate == stats.timeout_rate == 0.25
    assert stats.as_dict() == {
        "count": 4,
        "errors": 1,
        "timeouts": 1,
        "error_rate": 0.25,
        "timeout_rate": 0.25,
        "p50_ms": 20.0,
        "p95_ms": 5000.0,
        "p99_ms": 5000.0,
    }
    assert stats_of([]).as_dict()["p99_ms"] is None and stats_of([]).error_rate == 0.0


def test_the_window_slides_with_the_clock() -> None:
    window = Window()
    for i in range(6):  # one a minute: 10:41 .. 10:46
        window.add(T0 + timedelta(minutes=i), 10.0 * (i + 1), Result.ERROR if i < 3 else Result.OK)
    assert (len(window), window.errors) == (6, 3)
    window.evict(T0 + timedelta(minutes=6), 300)  # keeps 10:42 and later
    assert (len(window), window.errors, window.timeouts) == (5, 2, 0)
    window.evict(T0 + timedelta(minutes=9), 300)
    assert (len(window), window.errors) == (2, 0)
    assert window.stats().p50_ms == 50.0
    window.clear()
    assert (len(window), window.errors) == (0, 0)


def test_the_window_keeps_at_most_its_limit() -> None:
    window = Window(limit=3)
    for result in (Result.TIMEOUT, Result.ERROR, Result.OK, Result.OK):
        window.add(T0, 1.0, result)
    assert (len(window), window.errors, window.timeouts) == (3, 1, 0)


@pytest.mark.parametrize(
    ("count", "errors", "timeouts", "kind", "expected"),
    [
        (3, 3, 0, Kind.POST, None),  # under min_requests
        (4, 2, 0, Kind.POST, "errors 2 of 4 in 5m"),  # at the threshold
        (4, 1, 1, Kind.POST, None),
        (4, 0, 2, Kind.POST, "timeouts 2 of 4 in 5m"),
        (10, 5, 5, Kind.PING, "ping errors 5 of 10 in 5m"),
        (0, 0, 0, Kind.POST, None),
    ],
)
def test_the_breaker_trips_at_its_thresholds(
    count: int, errors: int, timeouts: int, kind: Kind, expected: str | None
) -> None:
    assert trip_reason(count, errors, timeouts, POLICY, kind) == expected


def test_a_breaker_switched_off_never_trips() -> None:
    assert trip_reason(100, 100, 0, BreakerPolicy(enabled=False)) is None


def test_the_window_is_named_in_its_largest_unit() -> None:
    assert trip_reason(20, 20, 0, BreakerPolicy(window_s=90)) == "errors 20 of 20 in 90s"
    assert trip_reason(20, 20, 0, BreakerPolicy(window_s=7200)) == "errors 20 of 20 in 2h"


def test_opens_waits_its_cool_down_lets_one_trial_and_closes() -> None:
    closed = Breaker("sunco")
    assert admission(None, T0) is Admission.PASS and admission(closed, T0) is Admission.PASS
    is_open = opened(closed, "errors 2 of 4 in 5m", T0, POLICY)
    assert (is_open.state, is_open.opened_at, is_open.retry_at) == (
        BreakerState.OPEN,
        T0,
        T0 + timedelta(seconds=60),
    )
    assert skip_line(is_open) == "sunco: circuit open (errors 2 of 4 in 5m; retry at 10:42:00)"
    assert admission(is_open, T0 + timedelta(seconds=59)) is Admission.SKIP
    later = T0 + timedelta(seconds=60)
    assert admission(is_open, later) is Admission.TRIAL
    half = trial(is_open, later, POLICY)
    assert (half.state, half.opened_at, half.reason) == (BreakerState.HALF_OPEN, T0, is_open.reason)
    assert admission(half, later) is Admission.SKIP
    assert skip_line(half) == "sunco: circuit half-open (a trial lead is out)"
    assert admission(half, later + timedelta(seconds=60)) is Admission.TRIAL  # the trial never answered
    for result in (Result.OK, Result.REFUSED):
        again = after_trial(half, result, later, POLICY)
        assert again == Breaker("sunco", BreakerState.CLOSED, None, None, None, later)


@pytest.mark.parametrize(("result", "why"), [(Result.ERROR, "failed"), (Result.TIMEOUT, "timed out")])
def test_a_failed_trial_opens_the_breaker_again(result: Result, why: str) -> None:
    half = trial(opened(Breaker("sunco"), "errors", T0, POLICY), T0 + timedelta(minutes=1), POLICY)
    now = T0 + timedelta(minutes=2)
    again = after_trial(half, result, now, POLICY)
    assert (again.state, again.opened_at, again.retry_at, again.reason) == (
        BreakerState.OPEN,
        now,
        now + timedelta(seconds=60),
        f"the trial {why}",
    )


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (BreakerState.CLOSED, BreakerState.HALF_OPEN),
        (BreakerState.CLOSED, BreakerState.CLOSED),
        (BreakerState.OPEN, BreakerState.CLOSED),
        (BreakerState.OPEN, BreakerState.OPEN),
    ],
)
def test_moves_outside_the_machine_are_refused(src: BreakerState, dst: BreakerState) -> None:
    with pytest.raises(InvalidTransition):
        check_breaker(src, dst)


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (AttemptResult(Outcome.SUCCESS), Result.OK),
        (AttemptResult(Outcome.FAILURE), Result.REFUSED),
        (AttemptResult(Outcome.ERROR), Result.ERROR),
        (AttemptResult(Outcome.ERROR, timed_out=True), Result.TIMEOUT),
    ],
)
def test_an_attempt_is_observed_as(attempt: AttemptResult, expected: Result) -> None:
    assert result_of(attempt) is expected


@pytest.mark.parametrize(
    ("p99", "margin", "deadline", "configured", "expected"),
    [
        (120.0, 50.0, 750.0, 1000.0, 170.0),  # p99 + margin
        (900.0, 50.0, 750.0, 1000.0, 750.0),  # clamped to the deadline
        (400.0, 50.0, 750.0, 300.0, 300.0),  # never longer than the configured timeout
        (None, 50.0, 750.0, 500.0, 500.0),  # no p99 yet: the configured timeout
        (None, 50.0, 750.0, 5000.0, 750.0),  # ... clamped to the deadline
    ],
)
def test_the_adaptive_ping_timeout(
    p99: float | None, margin: float, deadline: float, configured: float, expected: float
) -> None:
    assert adaptive_timeout(p99, margin, deadline, configured) == expected


@pytest.mark.parametrize(("rate", "text"), [(0.5, "50%"), (0.125, "12.5%"), (1.0, "100%"), (0.0001, "0.01%")])
def test_rates_are_written_as_percentages(rate: float, text: str) -> None:
    assert format_rate(rate) == text


@pytest.mark.parametrize(
    ("outcome", "reason", "expected"),
    [
        ("success", None, Result.OK),
        ("failure", "not interested", Result.REFUSED),
        ("error", "HTTP 500", Result.ERROR),
        ("error", None, Result.ERROR),
        ("error", "timed out after 10s", Result.TIMEOUT),
    ],
)
def test_a_stored_attempt_is_observed_as(outcome: str, reason: str | None, expected: Result) -> None:
    assert stored_result(outcome, reason) is expected
