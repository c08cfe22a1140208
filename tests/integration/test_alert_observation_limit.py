"""An alert check reads each watched partner's requests on its own: a busy partner never crowds another's
out of the read. (It read every partner's at once, newest first, at most 50,000: with 50,000 healthy posts of
voltedge in the last 20 minutes, sunco's 10 failures of 30 minutes ago fell off the read and its
failure-rate rule never fired.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import attempts, deliveries
from leadrelay.bootstrap import build_runtime
from leadrelay.config import Settings
from leadrelay.services.alerts import Alerting
from leadrelay.services.ports import Sent
from leadrelay.simulate.buyers import BuyersThread
from tests.support import base_config, prepare

BUSY = 50_000


class _Quiet:
    async def send(self, spec: Any, message: Any) -> list[Any]:
        return [Sent(target) for target in spec.targets()]


def _delivery(id_: str, partner: str, now: datetime) -> dict[str, Any]:
    return {
        "id": id_,
        "job_id": f"job_{id_}",
        "lead_id": f"led_{id_}",
        "partner": partner,
        "profile": "default",
        "channel": "webhook",
        "status": "failed",
        "idempotency_key": f"job_{id_}:{partner}",
        "cap_windows": [],
        "created_at": now,
    }


def _attempts(delivery: str, n: int, at: datetime, outcome: str, step: timedelta) -> list[dict[str, Any]]:
    return [
        {
            "id": f"att_{delivery}_{i}",
            "delivery_id": delivery,
            "job_id": f"job_{delivery}",
            "number": i + 1,
            "started_at": at + i * step,
            "duration_ms": 20.0,
            "outcome": outcome,
            "reason": "HTTP 500" if outcome == "error" else None,
        }
        for i in range(n)
    ]


def test_a_failing_partner_fires_however_busy_the_others_are(db_url: str, healthy: BuyersThread) -> None:
    document = base_config(healthy.url)
    document["alerts"] = [
        {
            "name": "sunco-failing",
            "kind": "failure_rate",
            "threshold": 50,
            "window": "1h",
            "partners": ["sunco"],
            "min_requests": 3,
            "notify": {"email": ["ops@example.com"]},
        }
    ]
    prepare(db_url, document)
    now = datetime.now(UTC)
    db = Database(db_url)
    try:

        def load(conn: Any) -> None:
            conn.execute(
                insert(deliveries), [_delivery("dsun", "sunco", now), _delivery("dvol", "voltedge", now)]
            )
            # sunco: 10 posts 30 minutes ago, every one a 500
            conn.execute(
                insert(attempts),
                _attempts("dsun", 10, now - timedelta(minutes=30), "error", timedelta(seconds=1)),
            )
            # voltedge: busy and healthy over the last 20 minutes
            conn.execute(
                insert(attempts),
                _attempts("dvol", BUSY, now - timedelta(minutes=20), "success", timedelta(milliseconds=20)),
            )

        db.transaction(load)
    finally:
        db.dispose()

    async def check() -> list[tuple[str, str]]:
        rt = build_runtime(Settings(database_url=db_url))
        try:
            alerts = Alerting(rt.storage, rt.configs, _Quiet(), clock=lambda: now)
            return [(s.message.alert, str(s.message.state)) for s in await alerts.check()]
        finally:
            await rt.channels.close()
            rt.db.dispose()

    # sunco: 10 of 10 posts failed in the last hour, at or above 50 %
    assert asyncio.run(check()) == [("sunco-failing", "firing")]
