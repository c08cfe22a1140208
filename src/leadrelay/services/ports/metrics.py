"""What the services and the worker count, as a port: the Prometheus implementation lives in
``leadrelay.adapters.observability.metrics``; ``NO_METRICS`` (the default everywhere) counts nothing.

Every method is called on a hot path (each lead, each attempt, each ping): an implementation does no I/O
and allocates nothing it can keep (label children are looked up once and cached).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Protocol


class Metrics(Protocol):
    def lead_received(self, status: str) -> None:
        """One intake request's outcome: the stored lead's status (queued, rejected, unsold, duplicate,
        suppressed), ``repeat`` (an Idempotency-Key's repeat, answered as the first), or ``refused`` (an
        error answer, no lead stored: credentials, body, entity, a key's conflict, a used ping_token)."""

    def job_routed(self, outcome: str) -> None:
        """One routing step of a distribution job: ``delivering`` (deliveries to send), ``auction``
        (partners to ping), ``closed`` (a final or parked status without a send: unsold, capped, held,
        batched, offered)."""

    def attempt_finished(self, partner: str, outcome: str, seconds: float) -> None:
        """One delivery attempt to ``partner``: success, failure or error, and how long it took."""

    def ping_answered(self, partner: str, result: str, seconds: float) -> None:
        """One auction ping to ``partner`` and how long its answer took (result: ok, refused, timeout,
        error: ``domain.health.ping_result``)."""

    def step_finished(self, step: str, seconds: float) -> None:
        """One database step on a lead's way and how long its caller waited for it, its turn in the shared
        transaction included: ``store`` (intake's write), ``route`` (the claim and routing transaction, for
        each job it took; a reroute), ``award`` (an auction's award), ``record`` (a send's outcome recorded),
        ``answer`` (a waiting source's read of the outcome, its configuration check included). A step that
        failed or was given up at the source's deadline is counted with the time it took."""


STEPS = ("store", "route", "award", "record", "answer")
"""The steps ``Metrics.step_finished`` times, in the order a lead meets them."""


@contextlib.contextmanager
def timed_step(metrics: Metrics, step: str) -> Iterator[None]:
    """Time the block as the database step ``step`` (``Metrics.step_finished``), a failed one too."""
    began = time.perf_counter()
    try:
        yield
    finally:
        metrics.step_finished(step, time.perf_counter() - began)


class NoMetrics:
    """Counts nothing (unit tests, one-shot commands)."""

    def lead_received(self, status: str) -> None:
        pass

    def job_routed(self, outcome: str) -> None:
        pass

    def attempt_finished(self, partner: str, outcome: str, seconds: float) -> None:
        pass

    def ping_answered(self, partner: str, result: str, seconds: float) -> None:
        pass

    def step_finished(self, step: str, seconds: float) -> None:
        pass


NO_METRICS: Metrics = NoMetrics()
