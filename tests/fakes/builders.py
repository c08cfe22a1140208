"""Complete rows to insert, with every column set, for tests that seed the storage directly (the use
cases make their own rows). Keyword arguments replace any column."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leadrelay.domain.states import DeliveryStatus, LeadStatus
from leadrelay.services.intake_writes import new_job_row
from tests.fakes.clock import START


def lead_row(lead_id: str, *, now: datetime = START, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": lead_id,
        "entity": "solar",
        "source": "web",
        "status": LeadStatus.QUEUED,
        "data": {"email": "ann@example.com"},
        "raw": {"email": "ann@example.com"},
        "problems": None,
        "flags": None,
        "sealed": None,
        "duplicate_of": None,
        "erased_at": None,
        "idempotency_key": None,
        "request_hash": None,
        "answer_code": None,
        "answer": None,
        "is_test": False,
        "created_at": now,
        "updated_at": now,
    }
    return {**row, **values}


def job_row(job_id: str, lead_id: str, *, now: datetime = START, **values: Any) -> dict[str, Any]:
    """A job row as intake writes it (``intake.new_job_row``), with ``values`` over it."""
    return new_job_row(lead_id, values.pop("profile", "main"), now, ids=lambda _prefix: job_id, **values)


def delivery_row(
    delivery_id: str, job_id: str, lead_id: str, partner: str, *, now: datetime = START, **values: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": delivery_id,
        "job_id": job_id,
        "lead_id": lead_id,
        "partner": partner,
        "profile": "main",
        "channel": "webhook",
        "channel_step": 0,
        "status": DeliveryStatus.PENDING,
        "idempotency_key": f"{job_id}:{partner}",
        "attempts": 0,
        "next_attempt_at": now,
        "cap_windows": [],
        "price": None,
        "reference": None,
        "reason": None,
        "invoiced": False,
        "is_test": False,
        "created_at": now,
        "delivered_at": None,
        "held_at": None,
        "cancelled_at": None,
        "cancel_reason": None,
        "batch_id": None,
    }
    return {**row, **values}


def attempt_row(
    attempt_id: str, delivery_id: str, job_id: str, number: int, *, now: datetime = START, **values: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": attempt_id,
        "delivery_id": delivery_id,
        "job_id": job_id,
        "number": number,
        "started_at": now,
        "duration_ms": 12.5,
        "request": {"url": "https://buyer.example/leads"},
        "status_code": 200,
        "response_body": "ok",
        "outcome": "success",
        "reason": None,
    }
    return {**row, **values}


def relay_row(relay_id: str, delivery_id: str, event: str, due: datetime) -> dict[str, Any]:
    """An outbound postback (a sale or outcome to tell the source), ready from ``due``."""
    return {
        "id": relay_id,
        "lead_id": "lead_1",
        "source": "web",
        "delivery_id": delivery_id,
        "event": event,
        "url": "http://127.0.0.1:9/pb",
        "body": {"type": f"lead.{event}"},
        "status": "ready",
        "attempts": 0,
        "next_attempt_at": due,
        "created_at": due,
    }
