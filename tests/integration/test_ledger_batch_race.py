"""A batch sent while another transaction fails one of its deliveries (an erasure, a rerun) on
PostgreSQL: the sender returns, and so bills (post_sales) and relays, only the deliveries it delivered.
SQLite runs one writer at a time: there the other transaction comes wholly before or after."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, select, text, update

from leadrelay.adapters.db import batch_outcomes, store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import batches, deliveries, jobs
from leadrelay.services.intake_writes import new_job_row


def _seed(conn: Connection, now: datetime) -> None:
    for i in (1, 2):
        store.insert_leads(
            conn,
            [
                {
                    "id": f"lead_{i}", "entity": "solar", "source": "web", "status": "queued", "data": {},
                    "raw": {}, "problems": None, "idempotency_key": None, "request_hash": None,
                    "is_test": False, "created_at": now, "updated_at": now,
                }
            ],
        )  # fmt: skip
        store.insert_jobs(conn, [new_job_row(f"lead_{i}", "p", now, id=f"job_{i}", queue_state="waiting")])
        conn.execute(
            deliveries.insert().values(
                id=f"dlv_{i}", job_id=f"job_{i}", lead_id=f"lead_{i}", partner="sunco", profile="p",
                channel="file", channel_step=0, status="batched", idempotency_key=f"job_{i}:sunco",
                attempts=0, cap_windows=[], invoiced=False, is_test=False, created_at=now, batch_id="bat_1",
            )
        )  # fmt: skip
    conn.execute(
        batches.insert().values(
            id="bat_1", partner="sunco", channel="file", channel_step=0, status="sending", trigger="t",
            filename="f.csv", lead_count=2, attempts=0, lease_owner="me",
            lease_until=now + timedelta(minutes=5), is_test=False, created_at=now,
        )
    )  # fmt: skip


def test_a_delivery_failed_meanwhile_is_not_returned_as_delivered(pg_url: str) -> None:
    db = Database(pg_url)
    try:
        now = datetime.now(UTC)
        db.transaction(lambda c: _seed(c, now))
        row = db.read(lambda c: c.execute(select(batches).where(batches.c.id == "bat_1")).one())
        got: list[list[str]] = []

        def send() -> None:
            got.append(
                db.transaction(
                    lambda c: batch_outcomes.record_success(
                        c, row, "me", location="file://f", size=1, started=now, duration_ms=1.0,
                        price=10.0, now=now,
                    )
                )
            )  # fmt: skip

        with db.engine.connect() as other:  # an erasure: the job locked, its delivery failed, not yet done
            other.execute(select(jobs.c.id).where(jobs.c.id == "job_2").with_for_update())
            other.execute(update(deliveries).where(deliveries.c.id == "dlv_2").values(status="failed"))
            sender = threading.Thread(target=send)
            sender.start()
            waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            waiting += " AND datname = current_database()"
            deadline = time.monotonic() + 10
            # (asked on a connection of its own: a transaction sees the activity as it first read it)
            while not db.read(lambda c: c.execute(text(waiting)).scalar()) and time.monotonic() < deadline:
                time.sleep(0.01)  # the sender has read the batch's deliveries and waits for the job's lock
            other.commit()
        sender.join(10)
        assert got == [["dlv_1"]]
        status = db.read(lambda c: dict(c.execute(select(deliveries.c.id, deliveries.c.status)).all()))
        assert status == {"dlv_1": "delivered", "dlv_2": "failed"}
    finally:
        db.dispose()
