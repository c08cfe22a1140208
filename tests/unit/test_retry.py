from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadrelay.domain.attempts import AttemptResult, Outcome
from leadrelay.domain.retry import GiveUp, RetryAt, RetryDecision, RetryPolicy

DEFAULT = RetryPolicy()  # 3 attempts, 1 s doubling, at most 300 s, ±25 %


def error(reason: str | None = "timeout", **extra: Any) -> AttemptResult:
    return AttemptResult(Outcome.ERROR, reason=reason, retryable=True, **extra)


@pytest.mark.parametrize(
    ("result", "attempt", "decision"),
    [
        (AttemptResult(Outcome.SUCCESS, price=12.5), 1, GiveUp("delivered")),
        (AttemptResult(Outcome.FAILURE, reason="duplicate"), 1, GiveUp("partner refused: duplicate")),
        (AttemptResult(Outcome.FAILURE), 1, GiveUp("partner refused: no reason given")),
        (AttemptResult(Outcome.FAILURE, status_code=422), 1, GiveUp("partner refused: HTTP 422")),
        # a refusal is final even if the channel marked it retryable
        (
            AttemptResult(Outcome.FAILURE, reason="bad zip", retryable=True),
            1,
            GiveUp("partner refused: bad zip"),
        ),
        (AttemptResult(Outcome.ERROR, reason="HTTP 400"), 1, GiveUp("HTTP 400 (not retryable)")),
        (AttemptResult(Outcome.ERROR, status_code=401), 1, GiveUp("HTTP 401 (not retryable)")),
        (AttemptResult(Outcome.ERROR), 1, GiveUp("error (not retryable)")),
        (error(), 1, RetryAt(1.0)),
        (error(), 2, RetryAt(2.0)),
        (error(), 3, GiveUp("gave up after 3 attempts: timeout")),
        (error(), 7, GiveUp("gave up after 7 attempts: timeout")),
        (error(None, status_code=503), 3, GiveUp("gave up after 3 attempts: HTTP 503")),
        (error(None), 3, GiveUp("gave up after 3 attempts: error")),
    ],
)
def test_decide(result: AttemptResult, attempt: int, decision: RetryDecision) -> None:
    assert DEFAULT.decide(result, attempt, rand=0.5) == decision


@pytest.mark.parametrize(
    ("policy", "attempt", "rand", "delay"),
    [
        # exponential: base * factor ** (attempt - 1), rand 0.5 = no jitter
        (RetryPolicy(max_attempts=10), 1, 0.5, 1.0),
        (RetryPolicy(max_attempts=10), 2, 0.5, 2.0),
        (RetryPolicy(max_attempts=10), 5, 0.5, 16.0),
        (RetryPolicy(max_attempts=10, base_s=5, factor=3), 3, 0.5, 45.0),
        (RetryPolicy(max_attempts=10, factor=1), 9, 0.5, 1.0),
        # jitter: ±25 % around the backoff
        (RetryPolicy(max_attempts=10), 3, 0.0, 3.0),
        (RetryPolicy(max_attempts=10), 3, 0.25, 3.5),
        (RetryPolicy(max_attempts=10), 3, 0.75, 4.5),
        (RetryPolicy(max_attempts=10), 3, 0.999999, 4.999998),
        (RetryPolicy(max_attempts=10, jitter=0), 3, 0.0, 4.0),
        (RetryPolicy(max_attempts=10, jitter=1), 3, 0.0, 0.0),
        # capped at max_delay_s, jitter included
        (RetryPolicy(max_attempts=20), 15, 0.5, 300.0),
        (RetryPolicy(max_attempts=20), 15, 0.999, 300.0),
        (RetryPolicy(max_attempts=20), 15, 0.0, 225.0),
        (RetryPolicy(max_attempts=20, max_delay_s=10), 4, 0.5, 8.0),
        (RetryPolicy(max_attempts=20, max_delay_s=10), 4, 0.99, 9.96),
        (RetryPolicy(max_attempts=20, max_delay_s=10), 5, 0.5, 10.0),
        (RetryPolicy(max_attempts=20, base_s=0), 5, 0.9, 0.0),
        # a huge exponent does not overflow
        (RetryPolicy(max_attempts=10**6), 5000, 0.5, 300.0),
    ],
)
def test_backoff_and_jitter(policy: RetryPolicy, attempt: int, rand: float, delay: float) -> None:
    decision = policy.decide(error(), attempt, rand)
    assert isinstance(decision, RetryAt)
    assert decision.delay_s == pytest.approx(delay)


@pytest.mark.parametrize(
    ("policy", "attempt", "rand", "retry_after", "delay"),
    [
        (DEFAULT, 1, 0.5, 30.0, 30.0),  # later than the backoff: follow the partner
        (DEFAULT, 2, 0.5, 0.5, 2.0),  # sooner than the backoff: keep the backoff
        (DEFAULT, 2, 0.0, 1.6, 1.6),  # never sooner than asked, even when jitter lowered the backoff
        (DEFAULT, 1, 0.5, 0.0, 1.0),
        (DEFAULT, 1, 0.5, -5.0, 1.0),  # nonsense is ignored
        (DEFAULT, 1, 0.5, 300.0, 300.0),
        (DEFAULT, 1, 0.5, 1000.0, 1000.0),  # above max_delay_s: still honoured…
        (DEFAULT, 1, 0.5, 3600.0, 3600.0),
        (DEFAULT, 1, 0.5, 86400.0, 3600.0),  # …up to an hour
        (RetryPolicy(max_delay_s=7200, base_s=5000), 1, 0.5, 8000.0, 7200.0),
        (RetryPolicy(max_delay_s=7200, base_s=5000), 1, 0.5, 1000.0, 5000.0),
    ],
)
def test_retry_after(
    policy: RetryPolicy, attempt: int, rand: float, retry_after: float, delay: float
) -> None:
    decision = policy.decide(error(retry_after_s=retry_after, status_code=429), attempt, rand)
    assert isinstance(decision, RetryAt)
    assert decision.delay_s == pytest.approx(delay)


def test_retry_after_does_not_extend_attempts() -> None:
    assert DEFAULT.decide(error("HTTP 429", retry_after_s=5), 3, 0.5) == GiveUp(
        "gave up after 3 attempts: HTTP 429"
    )


def test_a_single_attempt_policy_never_retries() -> None:
    assert RetryPolicy(max_attempts=1).decide(error(), 1, 0.5) == GiveUp("gave up after 1 attempt: timeout")


@given(
    max_attempts=st.integers(2, 30),
    attempt=st.integers(1, 29),
    rand=st.floats(0, 1, exclude_max=True),
    base=st.floats(0, 100),
    factor=st.floats(1, 10),
    max_delay=st.floats(0, 3600),
    jitter=st.floats(0, 1),
)
def test_delay_stays_within_the_jitter_bounds(
    max_attempts: int, attempt: int, rand: float, base: float, factor: float, max_delay: float, jitter: float
) -> None:
    policy = RetryPolicy(max_attempts, base, factor, max_delay, jitter)
    decision = policy.decide(error(), attempt, rand)
    if attempt >= max_attempts:
        assert isinstance(decision, GiveUp)
        return
    assert isinstance(decision, RetryAt)
    backoff = min(base * factor ** (attempt - 1), max_delay)
    assert backoff * (1 - jitter) - 1e-9 <= decision.delay_s <= min(backoff * (1 + jitter), max_delay) + 1e-9
    assert 0 <= decision.delay_s <= max_delay


@given(rand_low=st.floats(0, 1, exclude_max=True), rand_high=st.floats(0, 1, exclude_max=True))
def test_delay_grows_with_rand(rand_low: float, rand_high: float) -> None:
    low, high = sorted((rand_low, rand_high))
    policy = RetryPolicy(max_attempts=5)
    first, second = policy.decide(error(), 2, low), policy.decide(error(), 2, high)
    assert isinstance(first, RetryAt) and isinstance(second, RetryAt)
    assert first.delay_s <= second.delay_s


@pytest.mark.parametrize(("attempt", "rand"), [(0, 0.5), (-1, 0.5), (1, 1.0), (1, -0.01), (1, float("nan"))])
def test_decide_refuses_bad_arguments(attempt: int, rand: float) -> None:
    with pytest.raises(ValueError):
        DEFAULT.decide(error(), attempt, rand)


@pytest.mark.parametrize(
    "options",
    [
        {"max_attempts": 0},
        {"base_s": -1},
        {"max_delay_s": -1},
        {"factor": 0.5},
        {"jitter": -0.1},
        {"jitter": 1.5},
    ],
)
def test_policy_refuses_bad_settings(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**options)
