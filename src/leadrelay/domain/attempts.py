"""What one delivery attempt came back with, as a value (a buyer's "no" is not an exception)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    SUCCESS = "success"  # the partner took the lead
    FAILURE = "failure"  # the partner refused it: final, never retried
    ERROR = "error"  # transport or server trouble: retried while attempts remain


@dataclass(frozen=True, slots=True)
class AttemptResult:
    outcome: Outcome
    reason: str | None = None
    status_code: int | None = None
    response_body: str | None = None  # truncated to 64 KiB by the channel
    duration_ms: float = 0.0
    request: Mapping[str, Any] = field(default_factory=dict)  # what was sent, secrets redacted
    retryable: bool = False  # for ERROR: may a later attempt succeed (connection error, timeout, 5xx, 429)
    retry_after_s: float | None = None  # the partner's Retry-After, when it gave one
    price: float | None = None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class LeadView:
    """The lead as a channel sees it: identity plus the (selected) field values to send."""

    lead_id: str
    entity: str
    partner: str
    values: Mapping[str, Any]
    idempotency_key: str
    test: bool = False
