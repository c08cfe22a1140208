"""The ids a log line carries where they are known: ``bind(lead_id=…, job_id=…, delivery_id=…)`` for the
rest of the current task (an intake request, a worker's job), read by the log formatter
(``adapters.observability.logs``) into every line. Context variables: a task started afterwards (a
delivery's send under ``asyncio.gather``) inherits them, other tasks never see them."""

from __future__ import annotations

from structlog.contextvars import bind_contextvars, clear_contextvars


def bind(**ids: str | None) -> None:
    bind_contextvars(**{k: v for k, v in ids.items() if v is not None})


def clear() -> None:
    clear_contextvars()
