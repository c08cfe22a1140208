"""What intake counts (``Metrics.lead_received``) for each outcome, and the Prometheus implementation of
the port: counts into the process's registry, one cached child per label set."""

from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client import REGISTRY

from leadrelay.adapters.observability.metrics import PrometheusMetrics
from leadrelay.errors import StorageError
from leadrelay.services.ports import NO_METRICS, Metrics, timed_step
from tests.documents import lead
from tests.unit.in_memory import Installation, document


class Recording:
    def __init__(self) -> None:
        self.leads: Counter[str] = Counter()
        self.steps: Counter[str] = Counter()

    def lead_received(self, status: str) -> None:
        self.leads[str(status)] += 1

    def job_routed(self, outcome: str) -> None:
        pass

    def attempt_finished(self, partner: str, outcome: str, seconds: float) -> None:
        pass

    def ping_answered(self, partner: str, result: str, seconds: float) -> None:
        pass

    def step_finished(self, step: str, seconds: float) -> None:
        self.steps[step] += 1


def test_intake_counts_each_request_by_the_stored_status() -> None:
    doc = document()
    doc["entities"]["solar"]["dedup"] = {"keys": ["email"], "window": "1d"}
    world = Installation(doc)
    recorded = Recording()
    port: Metrics = recorded
    world.intake.metrics = port
    world.accept()
    world.accept(lead(phone="(512) 555-9999"))  # the same email: a duplicate
    world.accept(lead(phone=None))  # rejected
    world.accept(lead(email="key@example.com"), idempotency_key="k1")
    world.accept(lead(email="key@example.com"), idempotency_key="k1")  # the repeat
    assert recorded.leads == Counter({"queued": 2, "duplicate": 1, "rejected": 1, "repeat": 1})
    # every request that reached the write is a ``store`` step, the repeat's too (found there)
    assert recorded.steps == Counter({"store": 5})


def test_a_store_that_failed_is_counted_with_the_time_it_took() -> None:
    world = Installation(document())
    recorded = Recording()
    world.intake.metrics = recorded
    world.storage.fail_next(StorageError("database error: deadlock detected"))
    with pytest.raises(StorageError):
        world.accept()
    world.accept()
    assert recorded.steps == Counter({"store": 2})
    assert recorded.leads == Counter({"queued": 1})  # the failed one stored nothing: not counted as a lead


def test_a_timed_step_counts_a_block_that_raised_or_was_cancelled() -> None:
    recorded = Recording()
    with pytest.raises(TimeoutError), timed_step(recorded, "answer"):  # a read given up at its deadline
        raise TimeoutError
    with timed_step(recorded, "award"):
        pass
    assert recorded.steps == Counter({"answer": 1, "award": 1})


def test_no_metrics_is_the_default() -> None:
    world = Installation(document())
    assert world.intake.metrics is NO_METRICS
    NO_METRICS.attempt_finished("sunco", "success", 0.1)  # counts nothing, raises nothing


def test_prometheus_counts_into_the_process_registry() -> None:
    metrics = PrometheusMetrics()

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = sample("leadrelay_delivery_attempts_total", partner="unit-p", outcome="error")
    seconds_before = sample("leadrelay_delivery_seconds_bucket", partner="unit-p", le="0.25")
    for _ in range(3):
        metrics.attempt_finished("unit-p", "error", 0.2)
    metrics.ping_answered("unit-p", "timeout", 0.1)
    metrics.lead_received("queued")
    metrics.job_routed("auction")
    assert sample("leadrelay_delivery_attempts_total", partner="unit-p", outcome="error") == before + 3
    assert sample("leadrelay_delivery_seconds_bucket", partner="unit-p", le="0.25") == seconds_before + 3
    assert sample("leadrelay_pings_total", partner="unit-p", result="timeout") >= 1
    assert sample("leadrelay_ping_seconds_count", partner="unit-p") >= 1
    # a database step of 2 ms: in the 2.5 ms bucket and above, not in the 1 ms one
    fast, slow = (sample("leadrelay_step_seconds_bucket", step="award", le=le) for le in ("0.001", "0.0025"))
    metrics.step_finished("award", 0.002)
    assert sample("leadrelay_step_seconds_bucket", step="award", le="0.001") == fast
    assert sample("leadrelay_step_seconds_bucket", step="award", le="0.0025") == slow + 1
    # one child per label set, looked up once
    assert metrics.children == 7
    metrics.attempt_finished("unit-p", "error", 0.2)
    metrics.step_finished("award", 0.3)
    assert metrics.children == 7
