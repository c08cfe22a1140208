"""What one delivery attempt came back with, as a value (a buyer's "no" is not an exception)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from leadrelay.domain.privacy import NO_REDACTION, Redactor


class Outcome(StrEnum):
    SUCCESS = "success"  # the partner took the lead
    FAILURE = "failure"  # the partner refused it: final, never retried
    ERROR = "error"  # transport or server trouble: retried while attempts remain


def bounded(text: str | None, limit: int) -> str | None:
    """Text a buyer sent, made storable everywhere (PostgreSQL refuses NUL) and bounded by its column."""
    if text is None:
        return None
    return text.replace("\x00", "\ufffd")[:limit]


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
    shared_price: float | None = None  # a ping's bid for the lead shared with others
    redirect_url: str | None = None  # a post's answer: where the buyer wants the consumer sent next
    reference: str | None = None
    timed_out: bool = False  # an ERROR because the partner did not answer within the channel's timeout
    # what this attempt sent that must never be stored (the partner's credentials, text rendered from
    # sensitive fields): the recorder redacts the result with it before writing anything
    redactor: Redactor = field(default=NO_REDACTION, repr=False, compare=False)

    def redacted(self, redactor: Redactor) -> AttemptResult:
        """This result with ``redactor`` (and its own) applied to every text that came from outside."""
        red = redactor | self.redactor
        if not red:
            return self
        return replace(
            self,
            reason=red.text(self.reason),
            response_body=red.text(self.response_body),
            request=red.value(dict(self.request)),
            reference=red.text(self.reference),
            redirect_url=red.text(self.redirect_url),
        )

    def storable(self) -> AttemptResult:
        """This result with what a buyer's answer can put into the record bounded (column sizes, NUL)."""
        reason = bounded(self.reason, 2000)
        body = bounded(self.response_body, 65_536)
        reference = bounded(self.reference, 200)
        redirect = bounded(self.redirect_url, 2000)
        if (reason, body, reference, redirect) == (
            self.reason,
            self.response_body,
            self.reference,
            self.redirect_url,
        ):
            return self  # the common case: nothing to bound (a copy costs more than the checks)
        return replace(self, reason=reason, response_body=body, reference=reference, redirect_url=redirect)


@dataclass(frozen=True, slots=True)
class LeadView:
    """The lead as a channel sees it: identity plus the (selected) field values to send."""

    lead_id: str
    entity: str
    partner: str
    values: Mapping[str, Any]
    idempotency_key: str
    test: bool = False
    sensitive: frozenset[str] = frozenset()  # the names of the values that are sensitive fields
    # the lead's sensitive values in every form (raw and normalized), for what the channel records
    redactor: Redactor = field(default=NO_REDACTION, repr=False, compare=False)
    # the bid this post follows (``{{ ping.reference }}``, ``{{ ping.price }}``); None: not pinged
    ping_reference: str | None = None
    ping_price: float | None = None
    # the delivery's signed postback URL (``{{ postback.url }}``); None when the channel does not use it
    postback_url: str | None = None


def log_reason(result: AttemptResult, redactor: Redactor) -> str | None:
    """What a log line says of a failed attempt: leadrelay's own reason (a timeout, a refused connection),
    but of a buyer's answer only its status: the answer may quote the person, and a log file is not erased
    with the lead (the answer is kept, redacted, in the distribution's record)."""
    if result.status_code is not None:
        return f"HTTP {result.status_code}; its answer is in the distribution's record"
    return bounded(result.redacted(redactor).reason, 300)
