"""The whole exception tree of leadrelay.

    LeadrelayError                  base of everything raised on purpose
    ├── ValidationFailed            input (a lead, a request body) broke the rules; carries per-field problems
    ├── ConfigError                 a configuration document is invalid; carries every bad path
    ├── NotFound                    an object named in a request does not exist
    ├── Conflict                    the request contradicts stored state (idempotency key reuse, …)
    ├── Gone                        the object existed but its time is over (an expired offer)
    ├── InvalidTransition           an action's precondition failed (resend a job that was not delivered, …)
    ├── Unauthorized                missing or wrong credentials
    ├── Forbidden                   good credentials, but not for this (a source posting another entity)
    ├── Expired                     what the request carries ran out (a ping token past its life)
    ├── TooManyRequests             a limit of attempts was reached (failed logins): wait and try again
    └── StorageError                the database failed in a way the caller cannot fix

Business outcomes (no partner matched, a cap was reached, a buyer said no) are values, never exceptions.
Foreign exceptions are translated once, at the adapter boundary, with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class LeadrelayError(Exception):
    """Base class; ``code`` is the stable machine-readable name used by the API."""

    code = "error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    error: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "error": self.error}


class ValidationFailed(LeadrelayError):
    code = "validation_failed"

    def __init__(self, problems: Sequence[FieldProblem], detail: str = "the input is invalid") -> None:
        super().__init__(detail)
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(LeadrelayError):
    code = "invalid_config"

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems) or "invalid configuration")


class NotFound(LeadrelayError):
    code = "not_found"


class Conflict(LeadrelayError):
    code = "conflict"


class Gone(LeadrelayError):
    code = "gone"


class InvalidTransition(LeadrelayError):
    code = "invalid_transition"


class Unauthorized(LeadrelayError):
    code = "unauthorized"


class Forbidden(LeadrelayError):
    code = "forbidden"


class Expired(LeadrelayError):
    """Something the request carries was good once and has run out (a ping token past its life)."""

    code = "expired"


class TooManyRequests(LeadrelayError):
    """Too many attempts in a while (failed logins); ``retry_after`` seconds until the next may pass."""

    code = "too_many_requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class SourceCapReached(TooManyRequests):
    """A source has sent as many valid leads as one of its caps allows in the window (``sources.X.caps``);
    ``retry_after`` seconds until the window ends."""

    code = "source_cap"


class Unavailable(LeadrelayError):
    """The server cannot do this because of how it runs (e.g. a missing secret): not the caller's fault."""

    code = "unavailable"


class StorageError(LeadrelayError):
    code = "storage_error"
