"""A job's lead values with its sealed (encrypted) sensitive fields opened, for routing and delivery only.

Opened values live in memory for the length of a routing or delivery step; what is written back (the
trace, the recorded request of an attempt) goes through ``redact`` first, so a sensitive value never
reaches the database in plaintext.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from leadrelay.domain.attempts import AttemptResult
from leadrelay.domain.privacy import NO_REDACTION, Redactor
from leadrelay.services.ports import Record, Sealer, Tx

__all__ = ["OpenedJob", "open_jobs", "redact", "redact_lines", "redact_result", "redactor_of", "sensitive_of"]


class OpenedJob:
    """A job row (``Record``) whose ``lead_values`` include the opened sensitive values; ``redactor`` finds
    them (raw and normalized, in every derived form) in what is written back."""

    __slots__ = ("_row", "lead_values", "redactor", "sensitive")

    def __init__(
        self, row: Record, values: dict[str, Any], redactor: Redactor, sensitive: frozenset[str]
    ) -> None:
        self._row = row
        self.lead_values = values
        self.redactor = redactor
        self.sensitive = sensitive

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)


def open_jobs(tx: Tx, rows: Iterable[Record], sealer: Sealer) -> list[Record]:
    out: list[Record] = []
    for row in rows:
        token = row.lead_sealed
        if not token:
            out.append(row)
            continue
        ring = sealer.ring_sync(token, tx=tx)
        doc = ring.open_json(token, row.lead_id.encode())
        values = {**row.lead_values, **doc["data"]}
        redactor = Redactor.of(sensitive=[*doc["data"].values(), *doc["raw"].values()])
        sensitive = frozenset(doc["data"]) | frozenset(doc["raw"])
        out.append(OpenedJob(row, values, redactor, sensitive))
    return out


_NONE_SENSITIVE: frozenset[str] = frozenset()


def redactor_of(job: Any) -> Redactor:
    """What finds the job's sensitive values (nothing for a lead without any: only ``open_jobs`` makes a
    job with sensitive values, an ``OpenedJob``; asking a stored row for a missing attribute costs an
    exception, so it is not asked)."""
    return job.redactor if isinstance(job, OpenedJob) else NO_REDACTION


def sensitive_of(job: Any) -> frozenset[str]:
    """The names of the job's lead fields that are sensitive (opened)."""
    return job.sensitive if isinstance(job, OpenedJob) else _NONE_SENSITIVE


def redact_lines(job: Any, lines: Sequence[str]) -> list[str]:
    return redactor_of(job).lines(lines)


def redact(job: Any, value: Any) -> Any:
    """A JSON-like value with every sensitive value of the job's lead replaced by ``***``."""
    return redactor_of(job).value(value)


def redact_result(job: Any, result: AttemptResult) -> AttemptResult:
    """The one gate of a delivery attempt's outcome before anything of it is stored (the attempt, the
    delivery's reason, the job's trace): the lead's sensitive values and everything the channel says it
    sent in secret (credentials, text rendered from sensitive fields) are replaced by ``***``."""
    return result.redacted(redactor_of(job))
