"""``RowWriter`` (the hot paths' executemany) stores exactly what SQLAlchemy's Core insert stores, on both
databases: the same text for datetimes and JSON (None included), the same booleans and defaults, and a
row that names a column the table lacks is refused instead of silently dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, String, cast, select

from leadrelay.adapters.db import dedup_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.privacy_tables import dedup_marks
from leadrelay.adapters.db.row_writer import RowWriter, UnknownColumn
from leadrelay.adapters.db.tables import jobs, leads
from leadrelay.domain.states import JobStatus, LeadStatus, QueueState

NOW = datetime(2026, 12, 3, 1, 2, 3, 456789, tzinfo=timezone(timedelta(hours=-5)))


def lead_row(lead_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": lead_id,
        "entity": "solar",
        "source": "web",
        "status": LeadStatus.QUEUED,
        "data": {"email": "a@example.com", "bill": 12.5, "tags": ["x", None]},
        "raw": {"email": "A@example.com"},
        "problems": None,
        "flags": None,
        "sealed": None,
        "duplicate_of": None,
        "erased_at": None,
        "idempotency_key": None,
        "request_hash": None,
        "answer_code": None,
        "answer": None,
        "created_at": NOW,
        "updated_at": NOW,
        **extra,
    }


def job_row(job_id: str, lead_id: str) -> dict[str, Any]:
    return {
        "id": job_id,
        "lead_id": lead_id,
        "profile": "main",
        "kind": "route",
        "status": JobStatus.RECEIVED,
        "parent_id": None,
        "target_partner": None,
        "rule": None,
        "trace": [],
        "error": None,
        "excluded": [],
        "queue_state": QueueState.READY,
        "run_at": NOW,
        "lease_owner": None,
        "lease_until": None,
        "created_at": NOW,
        "updated_at": NOW,
        "finished_at": None,
    }


def stored(conn: Connection, table: Any, key: str) -> dict[str, Any]:
    """A row as the database holds it: every column as text, and as SQLAlchemy reads it back."""
    as_text = conn.execute(
        select(*(cast(c, String).label(c.name) for c in table.columns)).where(table.c.id == key)
    ).one()
    typed = conn.execute(select(table).where(table.c.id == key)).one()
    return {"text": dict(as_text._mapping), "typed": dict(typed._mapping)}


def test_rows_are_stored_as_the_core_insert_stores_them(db_url: str) -> None:
    db = Database(db_url)
    try:
        core = lead_row("lead_core", problems=[{"field": "zip", "error": "bad"}], is_test=True)
        fast = dict(core, id="lead_fast")
        plain_core, plain_fast = lead_row("lead_core2"), lead_row("lead_fast2")  # is_test left to its default

        def write(conn: Connection) -> None:
            conn.execute(leads.insert(), [core])
            conn.execute(leads.insert(), [plain_core])
            RowWriter(leads).write(conn, [fast, plain_fast])
            conn.execute(jobs.insert(), [job_row("job_core", "lead_core")])
            RowWriter(jobs).write(conn, [job_row("job_fast", "lead_fast")])

        db.transaction(write)

        def same(table: Any, a: str, b: str) -> None:
            left, right = db.read(lambda c: (stored(c, table, a), stored(c, table, b)))
            for view in ("text", "typed"):
                del left[view]["id"], right[view]["id"]
                left[view].pop("lead_id", None), right[view].pop("lead_id", None)
                assert left[view] == right[view], view

        same(leads, "lead_core", "lead_fast")
        same(leads, "lead_core2", "lead_fast2")
        same(jobs, "job_core", "job_fast")
        typed = db.read(lambda c: stored(c, leads, "lead_fast2"))["typed"]
        assert typed["is_test"] is False and typed["created_at"] == NOW.astimezone(UTC)
        assert typed["problems"] is None and typed["data"]["tags"] == ["x", None]
    finally:
        db.dispose()


def test_rows_leaving_out_different_columns_in_one_write_each_get_their_own_defaults(db_url: str) -> None:
    """One executemany of rows of several shapes (columns left out, the same columns in another order, a
    row naming every column): each stored as the Core insert stores it, whatever shape came before."""
    full = lead_row("x", problems=[{"field": "zip", "error": "bad"}], sealed="ciphertext")
    shapes: list[dict[str, Any]] = [
        {k: v for k, v in full.items() if k not in ("flags", "answer")},
        dict(reversed(list(full.items()))),
        {k: v for k, v in full.items() if k not in ("problems", "sealed", "request_hash")},
        dict(full, is_test=True),
        {k: v for k, v in full.items() if k not in ("flags", "answer")},  # the first shape again
    ]
    db = Database(db_url)
    try:

        def write(conn: Connection) -> None:
            for i, row in enumerate(shapes):
                conn.execute(leads.insert(), [dict(row, id=f"lead_core{i}")])
            RowWriter(leads).write(conn, [dict(row, id=f"lead_fast{i}") for i, row in enumerate(shapes)])

        db.transaction(write)
        for i in range(len(shapes)):
            left, right = db.read(
                lambda c, i=i: (stored(c, leads, f"lead_core{i}"), stored(c, leads, f"lead_fast{i}"))
            )
            for view in ("text", "typed"):
                del left[view]["id"], right[view]["id"]
                assert left[view] == right[view], (i, view)
        typed = db.read(lambda c: stored(c, leads, "lead_fast3"))["typed"]
        assert typed["is_test"] is True and typed["raw"] == {"email": "A@example.com"}
        assert db.read(lambda c: stored(c, leads, "lead_fast2"))["typed"]["sealed"] is None
    finally:
        db.dispose()


def test_an_unknown_column_or_a_naive_datetime_is_refused_and_nothing_is_written(db_url: str) -> None:
    db = Database(db_url)
    try:
        with pytest.raises(UnknownColumn, match="leads has no column colour"):
            db.transaction(lambda c: RowWriter(leads).write(c, [lead_row("a"), lead_row("b", colour="red")]))
        naive = lead_row("c", created_at=datetime(2026, 12, 3))
        with pytest.raises(ValueError, match="naive datetime"):
            db.transaction(lambda c: RowWriter(leads).write(c, [naive]))
        assert db.read(lambda c: c.execute(select(leads.c.id)).all()) == []
    finally:
        db.dispose()


def test_dedup_marks_move_to_their_latest_lead(db_url: str) -> None:
    db = Database(db_url)
    try:
        first = {"scope": "entity:solar", "key_hash": "h1", "lead_id": "lead_1", "seen_at": NOW}
        db.transaction(lambda c: dedup_store.put_marks(c, [first]))
        later = NOW + timedelta(hours=1)
        moved = dict(first, lead_id="lead_2", seen_at=later)
        other = dict(first, key_hash="h2", lead_id="lead_2", seen_at=later)
        db.transaction(lambda c: dedup_store.put_marks(c, [moved, other]))
        rows = db.read(
            lambda c: c.execute(
                select(dedup_marks.c.key_hash, dedup_marks.c.lead_id, dedup_marks.c.seen_at).order_by(
                    dedup_marks.c.key_hash
                )
            ).all()
        )
        assert [tuple(r) for r in rows] == [("h1", "lead_2", later), ("h2", "lead_2", later)]
    finally:
        db.dispose()


def test_updates_by_id_store_what_the_core_update_stores(db_url: str) -> None:
    db = Database(db_url)
    try:
        later = NOW + timedelta(minutes=5)
        change = {"status": JobStatus.ROUTING, "trace": ["matched west"], "lease_until": later, "error": None}

        def write(conn: Connection) -> None:
            RowWriter(jobs).write(conn, [job_row("job_core", "lead_1"), job_row("job_fast", "lead_1")])
            conn.execute(jobs.update().where(jobs.c.id == "job_core").values(change))
            RowWriter(jobs).update(conn, {"job_fast": change})

        db.transaction(write)
        core, fast = db.read(lambda c: (stored(c, jobs, "job_core"), stored(c, jobs, "job_fast")))
        for view in ("text", "typed"):
            core[view].pop("id"), fast[view].pop("id")
            assert core[view] == fast[view], view
        assert fast["typed"]["lease_until"] == later and fast["typed"]["trace"] == ["matched west"]
        with pytest.raises(UnknownColumn, match="jobs has no column colour"):
            db.transaction(lambda c: RowWriter(jobs).update(c, {"job_fast": {"colour": "red"}}))
    finally:
        db.dispose()
