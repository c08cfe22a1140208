"""The retry schedule of a failed batch: the delivery retry policy (``domain.retry.RetryPolicy``) with the
channel's ``max_attempts``, jitter from an injected random source, no real waiting."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from leadrelay.domain.batches import BatchSchedule
from leadrelay.domain.files import EmailDestination, UploadError
from leadrelay.domain.model import FileChannel
from leadrelay.domain.retry import RetryPolicy
from leadrelay.services.batches import BATCH_RETRY, Batcher, next_try

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SPEC = FileChannel(
    destination=EmailDestination(to=("buyer@example.com",)), schedule=BatchSchedule(count=10), max_attempts=5
)
POLICY = RetryPolicy(base_s=30.0, max_delay_s=3600.0, jitter=0.25)
FLAKY = UploadError("connection refused", retryable=True)


def batch(attempts: int, *, test: bool = False) -> Any:
    return SimpleNamespace(id="bat_1", partner="sunco", attempts=attempts, is_test=test)


@pytest.mark.parametrize(
    ("attempts_before", "rand", "delay"),
    [
        (0, 0.5, 30.0),  # the first failure: the base, no jitter at 0.5
        (1, 0.5, 60.0),
        (2, 0.5, 120.0),
        (3, 0.5, 240.0),
        (0, 0.0, 22.5),  # -25 %
        (2, 0.0, 90.0),
        (0, 0.999_999, 37.5),  # just under +25 %
    ],
)
def test_a_retryable_failure_is_tried_again_on_the_policy_schedule(
    attempts_before: int, rand: float, delay: float
) -> None:
    got, reason = next_try(POLICY, SPEC, batch(attempts_before), FLAKY, rand)
    assert got == pytest.approx(delay, rel=1e-5)
    assert reason == "connection refused"


@pytest.mark.parametrize("attempts_before", range(4))
@pytest.mark.parametrize("rand", [0.0, 0.1, 0.5, 0.9, 0.999_999])
def test_the_jitter_stays_within_a_quarter_of_the_backoff(attempts_before: int, rand: float) -> None:
    got, _ = next_try(POLICY, SPEC, batch(attempts_before), FLAKY, rand)
    backoff = 30.0 * 2**attempts_before
    assert got is not None and 0.75 * backoff <= got <= 1.25 * backoff


def test_the_delay_is_capped_at_the_policy_maximum() -> None:
    many = FileChannel(destination=SPEC.destination, schedule=SPEC.schedule, max_attempts=20)
    got, _ = next_try(POLICY, many, batch(12), FLAKY, 0.999)
    assert got == 3600.0


def test_the_last_attempt_gives_up_with_the_count_in_the_reason() -> None:
    assert next_try(POLICY, SPEC, batch(4), FLAKY, 0.5) == (
        None,
        "connection refused (gave up after 5 attempts)",
    )


def test_a_failure_no_retry_fixes_is_final_at_once() -> None:
    refused = UploadError("permission denied", retryable=False)
    assert next_try(POLICY, SPEC, batch(0), refused, 0.5) == (None, "permission denied")


def test_a_test_batch_reports_its_failure_at_once() -> None:
    assert next_try(POLICY, SPEC, batch(0, test=True), FLAKY, 0.5) == (
        None,
        "connection refused (gave up after 1 attempts)",
    )


def test_the_default_schedule_is_thirty_seconds_doubling_up_to_an_hour() -> None:
    assert (BATCH_RETRY.base_s, BATCH_RETRY.factor, BATCH_RETRY.max_delay_s) == (30.0, 2.0, 3600.0)
    assert BATCH_RETRY.jitter == 0.25


class Recorder:
    """Fakes of the storage port and of ``tx.batches``: ``record_failure`` keeps what it was told."""

    def __init__(self) -> None:
        self.failures: list[dict[str, Any]] = []
        self.batches = self

    async def run(self, fn: Any, **_: Any) -> Any:
        return fn(self)

    def record_failure(self, row: Any, owner: str, **values: Any) -> None:
        self.failures.append(values)


def test_the_batcher_schedules_the_retry_with_its_clock_and_random_source() -> None:
    storage = Recorder()
    draws = iter([0.0, 0.999_999])
    batcher = Batcher(
        storage,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        owner="test",
        retry=POLICY,
        clock=lambda: NOW,
        rand=lambda: next(draws),
    )
    asyncio.run(batcher._failed(batch(0), SPEC, FLAKY, NOW, 0.0))
    asyncio.run(batcher._failed(batch(1), SPEC, FLAKY, NOW, 0.0))
    waits = [(f["retry_at"] - NOW).total_seconds() for f in storage.failures]
    assert waits == pytest.approx([22.5, 75.0], abs=1e-3)  # 30 s -25 %, then 60 s +25 %
    assert {f["reason"] for f in storage.failures} == {"connection refused"}
