"""Cap slots and rotation counters against the real databases: exact, and robust to a remembered
counter row that a rolled-back transaction took away."""

from __future__ import annotations

from sqlalchemy import Connection, delete

from leadrelay.adapters.db import cap_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import cap_counters, rotations


def test_cap_slots_are_exact_and_given_back(db_url: str) -> None:
    db = Database(db_url)

    def reserve(conn: Connection) -> tuple[bool, int]:
        return cap_store.reserve_cap(conn, "sunco", "", "d:2026-11-22", 3)

    try:
        taken = [db.transaction(reserve) for _ in range(5)]
        assert taken == [(True, -1)] * 3 + [(False, 3)] * 2
        db.transaction(lambda c: cap_store.release_caps(c, "sunco", [["", "d:2026-11-22"]]))
        assert db.transaction(reserve) == (True, -1)
        assert db.read(lambda c: cap_store.cap_usage(c, "sunco")) == {("", "d:2026-11-22"): 3}
    finally:
        db.dispose()


def test_a_counter_row_that_vanished_is_made_again(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert db.transaction(lambda c: cap_store.reserve_cap(c, "p", "", "w", 5)) == (True, -1)
        assert db.transaction(lambda c: cap_store.next_rotation(c, "profile:rule")) == 0
        # as if the transactions that created the rows had rolled back after the process remembered them
        db.transaction(lambda c: c.execute(delete(cap_counters)))
        db.transaction(lambda c: c.execute(delete(rotations)))
        assert db.transaction(lambda c: cap_store.reserve_cap(c, "p", "", "w", 5)) == (True, -1)
        assert db.read(lambda c: cap_store.cap_usage(c, "p")) == {("", "w"): 1}
        assert db.transaction(lambda c: cap_store.next_rotation(c, "profile:rule")) == 0
        assert db.transaction(lambda c: cap_store.next_rotation(c, "profile:rule")) == 1
    finally:
        db.dispose()


def test_a_batch_takes_consecutive_rotation_numbers(db_url: str) -> None:
    from leadrelay.adapters.db.unit_of_work import SqlTx
    from leadrelay.services.reservations import Rotations

    db = Database(db_url)
    try:
        assert db.transaction(lambda c: cap_store.next_rotation(c, "p:r", 3)) == 0

        def batch(conn: Connection) -> list[int]:
            rotations = Rotations(SqlTx(conn))
            rotations.reserve({"p:r": 2})
            return [rotations.next("p:r"), rotations.next("p:r"), rotations.next("p:r")]

        # two reserved for the batch (3, 4), then one more taken from the counter (5)
        assert db.transaction(batch) == [3, 4, 5]
        assert db.transaction(lambda c: cap_store.next_rotation(c, "p:r")) == 6
    finally:
        db.dispose()


def test_dedup_marks_of_many_scopes_are_found_in_packed_queries(db_url: str) -> None:
    """load_marks packs every scope's keys into queries of at most 500: a long scope is split, short ones
    share a query, and every mark comes back with its lead and its aware time."""
    from datetime import UTC, datetime, timedelta

    from leadrelay.adapters.db import dedup_store

    seen = datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=UTC)
    sizes = {"entity:solar:email": 700, "entity:solar:phone": 400, "global:phone": 100}
    marks = [
        {"scope": scope, "key_hash": f"h{i:04d}", "lead_id": f"lead_{scope[-5:]}_{i}", "seen_at": seen}
        for scope, n in sizes.items()
        for i in range(n)
    ]
    db = Database(db_url)
    try:
        db.transaction(lambda c: dedup_store.put_marks(c, marks))
        wanted = [(m["scope"], m["key_hash"]) for m in marks] + [
            ("global:phone", f"x{i}") for i in range(100)
        ]
        found = db.read(lambda c: dedup_store.load_marks(c, wanted))
        assert len(found) == 1200
        assert {key: (m.lead_id, m.seen_at) for key, m in found.items()} == {
            (m["scope"], m["key_hash"]): (m["lead_id"], seen) for m in marks
        }
        assert found[("global:phone", "h0007")].seen_at - seen == timedelta(0)
        assert db.read(lambda c: dedup_store.load_marks(c, [])) == {}
    finally:
        db.dispose()
