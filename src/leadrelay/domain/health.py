"""A partner's health and its circuit breaker, as values and pure functions.

Health: every ping and post to a partner is an observation (when, how long, and its :class:`Result`). Over a
sliding window (the partner's ``breaker.window``, 5 minutes by default) :func:`stats_of` gives the latency
percentiles (p50, p95, p99, nearest rank), the error rate and the timeout rate. A refusal is a healthy
answer: it counts in the requests, not in the errors.

The circuit breaker (:class:`BreakerState`, transitions in :data:`BREAKER_TRANSITIONS`)::

    closed --(errors or timeouts reach their threshold over at least min_requests)--> open
    open --(the cool-down is over: one trial lead is let through)--> half_open
    half_open --(the trial answers: accepted or refused)--> closed
    half_open --(the trial errors or times out)--> open (a new cool-down)
    half_open --(the trial never reported within a cool-down: another trial)--> half_open

Routing skips a partner whose breaker is open (:func:`admission`); the services persist every change and
audit it. :func:`adaptive_timeout` is the optional ping timeout: the p99 plus a margin, clamped.

Pure: standard library only; the time is always an argument.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from leadrelay.domain.attempts import AttemptResult, Outcome
from leadrelay.errors import InvalidTransition

__all__ = [
    "BREAKER_TRANSITIONS",
    "DEFAULT_POLICY",
    "TIMEOUT_REASON",
    "Admission",
    "Breaker",
    "BreakerPolicy",
    "BreakerState",
    "Kind",
    "Result",
    "Stats",
    "Window",
    "adaptive_timeout",
    "admission",
    "after_trial",
    "check_breaker",
    "format_rate",
    "opened",
    "percentile",
    "ping_result",
    "result_of",
    "skip_line",
    "stats_of",
    "stored_result",
    "trial",
    "trip_reason",
]


class Kind(StrEnum):
    """What was sent to the partner."""

    PING = "ping"
    POST = "post"


class Result(StrEnum):
    """How an observed request ended, for the partner's health."""

    OK = "ok"  # accepted (a bid, a sale)
    REFUSED = "refused"  # the partner answered no: healthy
    ERROR = "error"  # transport or server trouble (5xx, 429, a broken answer)
    TIMEOUT = "timeout"  # no answer within the timeout

    @property
    def healthy(self) -> bool:
        return self in (Result.OK, Result.REFUSED)


def result_of(attempt: AttemptResult) -> Result:
    """How a post attempt counts for the partner's health."""
    if attempt.outcome is Outcome.SUCCESS:
        return Result.OK
    if attempt.outcome is Outcome.FAILURE:
        return Result.REFUSED
    return Result.TIMEOUT if attempt.timed_out else Result.ERROR


TIMEOUT_REASON = "timed out after "
"""How a stored attempt's reason starts when the partner did not answer in time (the webhook channel's)."""


def stored_result(outcome: str, reason: str | None) -> Result:
    """How a stored attempt (its ``outcome`` column and ``reason``) counts for the partner's health."""
    if outcome == Outcome.SUCCESS:
        return Result.OK
    if outcome == Outcome.FAILURE:
        return Result.REFUSED
    return Result.TIMEOUT if reason is not None and reason.startswith(TIMEOUT_REASON) else Result.ERROR


_PING_RESULTS = {"accepted": Result.OK, "refused": Result.REFUSED, "timeout": Result.TIMEOUT}


def ping_result(status: str) -> Result:
    """How a ping's answer (a bid's status: accepted, refused, timeout, error) counts for the health."""
    return _PING_RESULTS.get(status, Result.ERROR)


class BreakerState(StrEnum):
    CLOSED = "closed"  # the partner gets leads
    OPEN = "open"  # skipped until ``retry_at``
    HALF_OPEN = "half_open"  # one trial lead is out; the others skip the partner until it answers


BREAKER_TRANSITIONS: dict[BreakerState, frozenset[BreakerState]] = {
    BreakerState.CLOSED: frozenset({BreakerState.OPEN}),
    BreakerState.OPEN: frozenset({BreakerState.HALF_OPEN}),
    BreakerState.HALF_OPEN: frozenset({BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN}),
}


def check_breaker(src: BreakerState | str, dst: BreakerState) -> BreakerState:
    """``dst`` when the breaker may move there from ``src``; :class:`InvalidTransition` otherwise."""
    if dst not in BREAKER_TRANSITIONS[BreakerState(src)]:
        raise InvalidTransition(f"a breaker cannot go from {src} to {dst}")
    return dst


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """A partner's ``breaker:`` configuration (rates are fractions, 0.5 for 50 %)."""

    enabled: bool = True
    error_rate: float = 0.5
    timeout_rate: float = 0.5
    window_s: float = 300.0
    min_requests: int = 20
    cool_down_s: float = 60.0


DEFAULT_POLICY = BreakerPolicy()


# ---------------------------------------------------------------- statistics


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0 < q ≤ 100) of values sorted ascending; None when empty."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class Stats:
    """One kind of request to one partner over a window."""

    count: int = 0
    errors: int = 0
    timeouts: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0

    @property
    def timeout_rate(self) -> float:
        return self.timeouts / self.count if self.count else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "error_rate": round(self.error_rate, 4),
            "timeout_rate": round(self.timeout_rate, 4),
            "p50_ms": _ms(self.p50_ms),
            "p95_ms": _ms(self.p95_ms),
            "p99_ms": _ms(self.p99_ms),
        }


def _ms(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def stats_of(observations: Iterable[tuple[float, Result]]) -> Stats:
    """The statistics of (duration in ms, result) pairs, all taken as inside the window."""
    durations: list[float] = []
    errors = timeouts = 0
    for duration, result in observations:
        durations.append(duration)
        if result is Result.ERROR:
            errors += 1
        elif result is Result.TIMEOUT:
            timeouts += 1
    durations.sort()
    return Stats(
        len(durations),
        errors,
        timeouts,
        percentile(durations, 50),
        percentile(durations, 95),
        percentile(durations, 99),
    )


class Window:
    """The observations of one partner and kind, oldest first, with running counts of errors and timeouts.

    ``add`` is O(1); ``evict`` drops what is older than the window (amortized O(1)); ``counts`` is O(1) and
    ``stats`` sorts the durations (for the API and the adaptive timeout, not for every request). At most
    ``limit`` observations are kept, the oldest dropped first.
    """

    __slots__ = ("_items", "errors", "limit", "timeouts")

    def __init__(self, limit: int = 10_000) -> None:
        self._items: deque[tuple[datetime, float, Result]] = deque()
        self.errors = 0
        self.timeouts = 0
        self.limit = limit

    def __len__(self) -> int:
        return len(self._items)

    def add(self, at: datetime, duration_ms: float, result: Result) -> None:
        if len(self._items) >= self.limit:
            self._drop()
        self._items.append((at, duration_ms, result))
        if result is Result.ERROR:
            self.errors += 1
        elif result is Result.TIMEOUT:
            self.timeouts += 1

    def _drop(self) -> None:
        _, _, result = self._items.popleft()
        if result is Result.ERROR:
            self.errors -= 1
        elif result is Result.TIMEOUT:
            self.timeouts -= 1

    def evict(self, now: datetime, window_s: float) -> None:
        """Forget the observations made before ``now - window_s``."""
        start = now - timedelta(seconds=window_s)
        while self._items and self._items[0][0] < start:
            self._drop()

    def clear(self) -> None:
        self._items.clear()
        self.errors = self.timeouts = 0

    def stats(self) -> Stats:
        return stats_of((duration, result) for _, duration, result in self._items)


def format_rate(rate: float) -> str:
    """A fraction as the configuration writes it: 0.5 → ``50%``, 0.125 → ``12.5%``."""
    percent = round(rate * 100, 2)
    return f"{percent:g}%"


def _format_window(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g}{unit}"
    return f"{seconds:g}s"


def trip_reason(
    count: int, errors: int, timeouts: int, policy: BreakerPolicy, kind: Kind = Kind.POST
) -> str | None:
    """Why the breaker opens on these counts over the window (``errors 12 of 20 in 5m``), None when it
    stays closed: too few requests, or both rates under their thresholds. Pings say so (``ping errors``)."""
    if not policy.enabled or count <= 0 or count < policy.min_requests:
        return None
    prefix = "ping " if kind is Kind.PING else ""
    window = _format_window(policy.window_s)
    if errors / count >= policy.error_rate:
        return f"{prefix}errors {errors} of {count} in {window}"
    if timeouts / count >= policy.timeout_rate:
        return f"{prefix}timeouts {timeouts} of {count} in {window}"
    return None


# ---------------------------------------------------------------- the breaker


@dataclass(frozen=True, slots=True)
class Breaker:
    """A partner's breaker as stored (no row: closed)."""

    partner: str
    state: BreakerState = BreakerState.CLOSED
    opened_at: datetime | None = None
    retry_at: datetime | None = None  # open: when a trial may go; half_open: when the trial is given up
    reason: str | None = None
    changed_at: datetime | None = None


def opened(breaker: Breaker, reason: str, now: datetime, policy: BreakerPolicy) -> Breaker:
    """The breaker opened (from closed, or again from half-open) for ``policy.cool_down_s``."""
    check_breaker(breaker.state, BreakerState.OPEN)
    retry = now + timedelta(seconds=policy.cool_down_s)
    return Breaker(breaker.partner, BreakerState.OPEN, now, retry, reason, now)


class Admission(StrEnum):
    PASS = "pass"  # closed: route as usual
    SKIP = "skip"  # open (or a trial is out): not offered this lead
    TRIAL = "trial"  # the cool-down is over: this lead is the trial (the breaker goes half-open)


def admission(breaker: Breaker | None, now: datetime) -> Admission:
    """May routing offer a lead to the partner? An open breaker past ``retry_at`` lets one trial through;
    so does a half-open one whose trial never answered (a worker stopped) by its ``retry_at``."""
    if breaker is None or breaker.state is BreakerState.CLOSED:
        return Admission.PASS
    if breaker.retry_at is not None and now >= breaker.retry_at:
        return Admission.TRIAL
    return Admission.SKIP


def trial(breaker: Breaker, now: datetime, policy: BreakerPolicy) -> Breaker:
    """The breaker half-open: a trial lead is out; another trial may go after a cool-down without answer."""
    check_breaker(breaker.state, BreakerState.HALF_OPEN)
    retry = now + timedelta(seconds=policy.cool_down_s)
    return Breaker(breaker.partner, BreakerState.HALF_OPEN, breaker.opened_at, retry, breaker.reason, now)


def after_trial(breaker: Breaker, result: Result, now: datetime, policy: BreakerPolicy) -> Breaker:
    """The half-open breaker after an answer: closed when healthy, open again (a new cool-down) when not."""
    if result.healthy:
        check_breaker(breaker.state, BreakerState.CLOSED)
        return Breaker(breaker.partner, BreakerState.CLOSED, None, None, None, now)
    what = "timed out" if result is Result.TIMEOUT else "failed"
    return opened(breaker, f"the trial {what}", now, policy)


def skip_line(breaker: Breaker) -> str:
    """The trace line of a partner skipped by its breaker."""
    if breaker.state is BreakerState.HALF_OPEN:
        return f"{breaker.partner}: circuit half-open (a trial lead is out)"
    retry = f"retry at {breaker.retry_at:%H:%M:%S}" if breaker.retry_at is not None else "no retry set"
    reason = f"{breaker.reason}; " if breaker.reason else ""
    return f"{breaker.partner}: circuit open ({reason}{retry})"


def adaptive_timeout(
    p99_ms: float | None, margin_ms: float, deadline_ms: float, configured_ms: float
) -> float:
    """The ping timeout to use: the partner's p99 plus ``margin_ms``, never more than the configured timeout
    or the auction's deadline; the configured timeout (clamped to the deadline) when there is no p99 yet."""
    ceiling = min(configured_ms, deadline_ms)
    if p99_ms is None:
        return max(0.0, ceiling)
    return max(0.0, min(p99_ms + margin_ms, ceiling))
