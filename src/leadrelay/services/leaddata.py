"""A job's lead values with its sealed (encrypted) sensitive fields opened, for routing and delivery only.

Opened values live in memory for the length of a routing or delivery step; what is written back (the
trace, the recorded request of an attempt) goes through ``redact`` first, so a sensitive value never
reaches the database in plaintext.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Row

from leadrelay.adapters.crypto import Sealer
from leadrelay.domain.privacy import redact_text, secret_forms

__all__ = ["OpenedJob", "open_jobs", "redact", "redact_lines", "secrets_of"]


class OpenedJob:
    """A job row (``Row``) whose ``lead_values`` include the opened sensitive values."""

    __slots__ = ("_row", "lead_values", "secrets")

    def __init__(self, row: Row[Any], values: dict[str, Any], secrets: tuple[str, ...]) -> None:
        self._row = row
        self.lead_values = values
        self.secrets = secrets

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)


def open_jobs(conn: Connection, rows: Iterable[Row[Any]], sealer: Sealer) -> list[Row[Any]]:
    out: list[Row[Any]] = []
    for row in rows:
        token = row.lead_sealed
        if not token:
            out.append(row)
            continue
        ring = sealer.ring_sync(token, conn=conn)
        doc = ring.open_json(token, row.lead_id.encode())
        values = {**row.lead_values, **doc["data"]}
        forms = secret_forms([*doc["data"].values(), *doc["raw"].values()])
        out.append(cast(Row[Any], OpenedJob(row, values, forms)))
    return out


def secrets_of(job: Any) -> tuple[str, ...]:
    forms: tuple[str, ...] = getattr(job, "secrets", ())
    return forms


def redact_lines(job: Any, lines: Sequence[str]) -> list[str]:
    forms = secrets_of(job)
    return [redact_text(line, forms) for line in lines] if forms else list(lines)


def redact(job: Any, value: Any) -> Any:
    """A JSON-like value with every sensitive value of the job's lead replaced by ``***``."""
    forms = secrets_of(job)
    if not forms:
        return value
    if isinstance(value, str):
        return redact_text(value, forms)
    if isinstance(value, dict):
        return {k: redact(job, v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(job, v) for v in value]
    return value
