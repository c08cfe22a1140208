"""The ids a log line carries where they are known: the lead's, the job's and the delivery's, bound for
the rest of the current task (an intake request, a worker's job, a delivery's send) and read by the log
formatter (``adapters.observability.logs``) into every line written meanwhile.

Context variables: a task started afterwards (a delivery's send under ``asyncio.gather``) inherits them,
other tasks never see them. They are named as structlog's own (``structlog_<key>``) so that its
``merge_contextvars`` finds them; binding one is a single ``ContextVar.set`` (the intake hot path).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_PREFIX = "structlog_"  # structlog.contextvars.STRUCTLOG_KEY_PREFIX
_UNSET: Any = Ellipsis  # what structlog's merge skips

_LEAD: ContextVar[Any] = ContextVar(f"{_PREFIX}lead_id", default=_UNSET)
_JOB: ContextVar[Any] = ContextVar(f"{_PREFIX}job_id", default=_UNSET)
_DELIVERY: ContextVar[Any] = ContextVar(f"{_PREFIX}delivery_id", default=_UNSET)


def bind_lead(lead_id: str) -> None:
    _LEAD.set(lead_id)


def bind(*, lead_id: str | None = None, job_id: str | None = None, delivery_id: str | None = None) -> None:
    """Bind the ids given (None: left as it is)."""
    if lead_id is not None:
        _LEAD.set(lead_id)
    if job_id is not None:
        _JOB.set(job_id)
    if delivery_id is not None:
        _DELIVERY.set(delivery_id)


def clear() -> None:
    for var in (_LEAD, _JOB, _DELIVERY):
        var.set(_UNSET)
