"""A real deadlock on PostgreSQL, as the storage reports it, is told from other failures
(``faults.deadlocked``): the group commit runs such a batch again at once rather than failing every caller
(tests/unit/test_group_commit.py). Two transactions take two cap counters crosswise."""

from __future__ import annotations

import threading
import time

import pytest

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.faults import deadlocked
from leadrelay.adapters.db.unit_of_work import SqlStorage, SqlTx
from leadrelay.errors import StorageError


@pytest.mark.postgres
def test_the_storages_report_of_a_deadlock_is_known_as_one(pg_url: str) -> None:
    db = Database(pg_url)
    storage = SqlStorage(db)
    storage.transaction(lambda tx: [tx.caps.reserve_cap(p, "", "d:2026-12-06", 100) for p in ("a", "b")])
    failures: list[BaseException] = []
    first_holds = threading.Event()

    def run(order: tuple[str, str], wait: bool) -> None:
        def work(tx: SqlTx) -> None:
            tx.caps.reserve_cap(order[0], "", "d:2026-12-06", 100)
            if wait:
                first_holds.set()
                time.sleep(0.5)
            tx.caps.reserve_cap(order[1], "", "d:2026-12-06", 100)

        try:
            storage.transaction(work)
        except BaseException as exc:
            failures.append(exc)

    try:
        one = threading.Thread(target=run, args=(("a", "b"), True))
        one.start()
        assert first_holds.wait(10)
        two = threading.Thread(target=run, args=(("b", "a"), False))
        two.start()
        one.join(20)
        two.join(20)
    finally:
        db.dispose()
    assert len(failures) == 1 and isinstance(failures[0], StorageError), failures
    assert deadlocked(failures[0])
    assert not deadlocked(StorageError("database connection lost: server closed the connection"))
