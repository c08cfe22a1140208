"""When to try a delivery again: a pure policy that returns a decision.

Only a retryable ERROR (connection trouble, timeout, 5xx, 429) is retried, while attempts remain. A
partner's refusal (FAILURE) is final: a validation rejection is never retried. The delay grows
exponentially (``base_s * factor ** (attempt - 1)``), is capped at ``max_delay_s`` and spread by
± ``jitter`` so many failed deliveries do not come back at the same instant. A partner's ``Retry-After``
is honoured: never retry sooner than it asked, and follow it above ``max_delay_s`` up to one hour.

The caller supplies the random number, so the policy is deterministic and easy to test.
"""

from __future__ import annotations

from dataclasses import dataclass

from leadrelay.domain.attempts import AttemptResult, Outcome

__all__ = ["MAX_RETRY_AFTER_S", "GiveUp", "RetryAt", "RetryDecision", "RetryPolicy"]

MAX_RETRY_AFTER_S = 3600.0
"""The longest Retry-After that is followed; a longer one is shortened to this."""


@dataclass(frozen=True, slots=True)
class RetryAt:
    """Try again after ``delay_s`` seconds."""

    delay_s: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop: the attempt that just ended is the last one, for ``reason``."""

    reason: str


RetryDecision = RetryAt | GiveUp


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    base_s: float = 1.0
    factor: float = 2.0
    max_delay_s: float = 300.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_s < 0 or self.max_delay_s < 0:
            raise ValueError("base_s and max_delay_s must not be negative")
        if self.factor < 1:
            raise ValueError("factor must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def backoff(self, attempt: int) -> float:
        """The delay before attempt ``attempt + 1``, before jitter and Retry-After."""
        try:
            raw = self.base_s * self.factor ** (attempt - 1)
        except OverflowError:
            raw = self.max_delay_s
        return min(raw, self.max_delay_s)

    def decide(self, result: AttemptResult, attempt: int, rand: float) -> RetryDecision:
        """What to do after attempt number ``attempt`` (1-based) ended with ``result``.

        ``rand`` is a random number in [0, 1) from the caller; 0.5 means no jitter.
        """
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        if not 0 <= rand < 1:
            raise ValueError("rand must be in [0, 1)")
        if result.outcome is Outcome.SUCCESS:
            return GiveUp("delivered")
        reason = result.reason or _default_reason(result)
        if result.outcome is Outcome.FAILURE:
            return GiveUp(f"partner refused: {reason}")
        if not result.retryable:
            return GiveUp(f"{reason} (not retryable)")
        if attempt >= self.max_attempts:
            noun = "attempt" if attempt == 1 else "attempts"
            return GiveUp(f"gave up after {attempt} {noun}: {reason}")
        delay = self.backoff(attempt) * (1 + self.jitter * (2 * rand - 1))
        delay = min(delay, self.max_delay_s)
        if result.retry_after_s is not None:
            # Never sooner than the partner asked; past max_delay_s only up to an hour.
            asked = min(result.retry_after_s, max(self.max_delay_s, MAX_RETRY_AFTER_S))
            delay = max(delay, asked)
        return RetryAt(delay_s=delay)


def _default_reason(result: AttemptResult) -> str:
    if result.status_code is not None:
        return f"HTTP {result.status_code}"
    return "no reason given" if result.outcome is Outcome.FAILURE else "error"
