"""The state machine in the database and through the services, on SQLite and PostgreSQL: every state
column refuses a value outside its enum (CHECK constraints of migration 0005, as in the table modules), and an
illegal transition asked of a service is refused with nothing changed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import pytest
from sqlalchemy import Connection, Table, inspect, select, update
from sqlalchemy.exc import IntegrityError

from leadrelay.adapters.db import store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import batches, deliveries, jobs, leads
from leadrelay.domain.states import BatchStatus, DeliveryStatus, JobStatus, LeadStatus, QueueState
from leadrelay.services.intake_writes import new_job_row
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, rows, source_headers, wait_for

COLUMNS: list[tuple[Table, str, type[StrEnum]]] = [
    (leads, "status", LeadStatus),
    (jobs, "status", JobStatus),
    (jobs, "queue_state", QueueState),
    (deliveries, "status", DeliveryStatus),
    (batches, "status", BatchStatus),
]


def _one_of_each(conn: Connection) -> None:
    now = datetime.now(UTC)
    store.insert_leads(
        conn,
        [
            {
                "id": "lead_1",
                "entity": "solar",
                "source": "web",
                "status": LeadStatus.QUEUED,
                "data": {},
                "raw": {},
                "idempotency_key": None,
                "is_test": False,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    store.insert_jobs(conn, [new_job_row("lead_1", "solar-main", now, id="job_1")])
    store.insert_delivery(
        conn,
        {
            "id": "dlv_1",
            "job_id": "job_1",
            "lead_id": "lead_1",
            "partner": "sunco",
            "profile": "solar-main",
            "channel": "webhook",
            "status": DeliveryStatus.PENDING,
            "idempotency_key": "job_1:sunco",
            "cap_windows": [],
            "created_at": now,
        },
    )
    conn.execute(
        batches.insert().values(
            id="bat_1",
            partner="sunco",
            channel="file",
            channel_step=0,
            status=BatchStatus.READY,
            trigger="test",
            filename="f.csv",
            lead_count=1,
            attempts=0,
            created_at=now,
        )
    )


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.transaction(_one_of_each)
    yield database
    database.dispose()


@pytest.mark.parametrize(("table", "column", "states"), COLUMNS, ids=lambda x: getattr(x, "name", x))
def test_a_state_column_holds_its_enum_values_and_nothing_else(
    db: Database, table: Table, column: str, states: type[StrEnum]
) -> None:
    for state in states:  # every value of the enum is accepted
        db.transaction(lambda c, s=state: c.execute(update(table).values({column: s})))  # type: ignore[misc]
        assert db.read(lambda c: c.execute(select(table.c[column])).scalar_one()) == state
    for bogus in ("bogus", "DONE", ""):  # short enough for every column: the CHECK refuses them
        with pytest.raises(IntegrityError):
            db.transaction(lambda c, b=bogus: c.execute(update(table).values({column: b})))  # type: ignore[misc]


def test_every_state_column_has_its_named_check_constraint(db: Database) -> None:
    def checks(conn: Connection) -> dict[str, set[str]]:
        insp = inspect(conn)
        return {
            t: {str(c["name"]) for c in insp.get_check_constraints(t)}
            for t in {t.name for t, _, _ in COLUMNS}
        }

    found = db.read(checks)
    for table, column, _ in COLUMNS:
        assert f"ck_{table.name}_{column}" in found[table.name]
        assert any(c.name == f"ck_{table.name}_{column}" for c in table.constraints)  # the metadata too


def test_releasing_a_held_lead_of_a_cancelled_distribution_is_refused(db_url: str) -> None:
    """A broadcast sold to sunco and held for brightpath, then cancelled: the held copy goes with the
    cancel (failed, no longer listed for pick-up: it stayed listed and could never be released), and a
    release of it cannot bring the cancelled distribution back."""
    with BuyersThread(count=1, latency_ms=0, accept_rate=1.0) as buyers:
        doc: dict[str, Any] = base_config(buyers.url, brightpath={"channel": {"hold": {}}})
        doc["profiles"]["solar-main"]["rules"][0]["send_to"]["strategy"] = "broadcast"
        prepare(db_url, doc)
        with ServerThread(db_url) as server, server.client() as http:
            answer = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers()).json()
            assert answer["status"] == "delivered" and answer["partner"] == "sunco", answer
            job_id = rows(db_url, select(jobs.c.id).where(jobs.c.lead_id == answer["lead_id"]))[0].id
            held = http.get("/v1/holds?partner=brightpath", headers=ADMIN).json()["items"]
            assert len(held) == 1
            cancel = http.post(f"/v1/distributions/{job_id}/cancel", json={}, headers=ADMIN)
            assert cancel.status_code == 200, cancel.text
            assert http.get("/v1/holds?partner=brightpath", headers=ADMIN).json()["items"] == []
            release = http.post(f"/v1/holds/{held[0]['delivery_id']}/release", headers=ADMIN)
            assert release.status_code in (404, 409), release.text
            job = wait_for(lambda: rows(db_url, select(jobs).where(jobs.c.id == job_id))[0])
    assert (job.status, job.queue_state) == (JobStatus.CANCELLED, QueueState.DONE)
    statuses = {r.partner: r.status for r in rows(db_url, select(deliveries))}
    assert statuses == {"sunco": DeliveryStatus.CANCELLED, "brightpath": DeliveryStatus.FAILED}
