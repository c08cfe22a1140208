"""A partner's test delivery as the console shows it (``POST /console/config/partners/{name}/test``): sent
by the running workers like ``leadrelay partners test NAME``, waited for, and its attempts laid out request
by request, with the answer as it was read."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from leadrelay.domain.states import JobStatus

TEST_WAIT_S = 10.0
_ENDED = (JobStatus.DELIVERED, JobStatus.FAILED, JobStatus.UNSOLD)


def attempts(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """A test delivery's attempts: the request as rendered and the answer as read (JSON bodies shown as
    JSON)."""
    out = []
    for delivery in detail.get("deliveries") or []:
        for attempt in delivery.get("attempts") or []:
            request = dict(attempt.get("request") or {})
            if "body" in request:
                request["body"] = _json_or_text(request["body"])
            answer = {
                "outcome": attempt.get("outcome"),
                "reason": attempt.get("reason"),
                "status_code": attempt.get("status_code"),
                "duration_ms": attempt.get("duration_ms"),
                "body": _json_or_text(attempt.get("response_body")),
                "delivery": delivery.get("status"),
                "price": delivery.get("price"),
                "reference": delivery.get("reference"),
            }
            out.append({"outcome": attempt.get("outcome"), "request": request, "answer": answer})
    return out


def _json_or_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


async def sent_and_answered(rt: Any, name: str, actor: str) -> dict[str, Any]:
    """``leadrelay partners test NAME``: the test lead's job, delivered by the running workers, with its
    attempts' rendered requests and answers."""
    job_id = await rt.actions.test_delivery(name, actor=actor)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TEST_WAIT_S
    while True:
        detail: dict[str, Any] = await rt.logview.distribution(job_id, postback_urls=True)
        if detail["status"] in _ENDED or loop.time() >= deadline:
            return dict(await rt.batches.with_previews(detail))
        await asyncio.sleep(0.05)
