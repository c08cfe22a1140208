"""The console's CSV imports as stored (``services.lead_import.ConsoleImports`` over ``lead_imports``), on
SQLite and PostgreSQL, with an injected clock: the same file posted again by the same user is answered with
the earlier import while it runs and for a day after it finished; an import whose heartbeat stopped is
taken for interrupted when read (and audited, and then not reused); a finished import is audited with who,
the file and its counts; its rejects are shown to its owner only and dropped a day after it finished."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select, update

from leadrelay.adapters.crypto import Sealer
from leadrelay.adapters.db.console_tables import lead_imports
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import audit_log
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.domain.imports import ImportState
from leadrelay.services.csv_leads import ImportProgress
from leadrelay.services.lead_import import ConsoleImports
from tests.fakes.clock import FakeClock, FakeIds

SHA = "a" * 64


@pytest.fixture
def stored(db_url: str) -> Iterator[tuple[ConsoleImports, FakeClock, Database]]:
    db = Database(db_url)
    clock = FakeClock()
    yield ConsoleImports(SqlStorage(db), clock=clock, ids=FakeIds()), clock, db
    db.dispose()


def begin(
    imports: ConsoleImports,
    owner: str = "usr_1",
    sha256: str = SHA,
    source: str = "web",
    entity: str = "solar",
) -> Any:
    return asyncio.run(
        imports.begin(
            owner=owner,
            actor=f"user:{owner}@example.com",
            filename="leads.csv",
            sha256=sha256,
            source=source,
            entity=entity,
            total_bytes=100,
        )
    )


def audits(db: Database) -> list[Any]:
    query = select(audit_log).where(audit_log.c.action == "lead.import").order_by(audit_log.c.at)
    return db.read(lambda c: list(c.execute(query)))


def finished(imports: ConsoleImports, import_id: str, rejects: bytes | None = None) -> ImportProgress:
    progress = ImportProgress(import_id, "web", "solar", "leads.csv", 100, read_bytes=100, rows=3)
    progress.accepted, progress.rejected, progress.state = 2, 1, ImportState.DONE
    progress.counts = {"accepted": 2, "rejected": 1}
    asyncio.run(imports.finish(progress, rejects))
    return progress


def test_the_same_file_again_answers_with_the_earlier_import_for_a_day(
    stored: tuple[ConsoleImports, FakeClock, Database],
) -> None:
    imports, clock, _ = stored
    first = begin(imports)
    assert not first.reused and first.view["state"] == "running"
    clock.advance(minutes=1)
    again = begin(imports)  # still running
    assert again.reused and again.view["id"] == first.view["id"] and again.view["reused"]
    other_owner = begin(imports, owner="usr_2")
    other_file = begin(imports, sha256="b" * 64)
    assert not other_owner.reused and not other_file.reused
    assert len({first.view["id"], other_owner.view["id"], other_file.view["id"]}) == 3

    finished(imports, first.view["id"])
    clock.advance(hours=23, minutes=58)
    assert begin(imports).view["id"] == first.view["id"]  # finished within the day
    clock.advance(minutes=3)
    later = begin(imports)  # a day after it finished: imported again
    assert not later.reused and later.view["id"] != first.view["id"]


def test_a_running_import_without_a_heartbeat_is_interrupted_when_read_and_not_reused(
    stored: tuple[ConsoleImports, FakeClock, Database],
) -> None:
    imports, clock, db = stored
    started = begin(imports)
    import_id = started.view["id"]
    progress = ImportProgress(import_id, "web", "solar", "leads.csv", 100, read_bytes=40, rows=2, accepted=2)
    clock.advance(minutes=3)
    assert asyncio.run(imports.save(progress))  # the heartbeat
    clock.advance(minutes=4)
    view = asyncio.run(imports.view(import_id, "usr_1"))
    assert view is not None and view["state"] == "running" and view["rows"] == 2 and view["percent"] == 40

    clock.advance(minutes=2)  # 6 minutes without a heartbeat: its process is gone
    view = asyncio.run(imports.view(import_id, "usr_1"))
    assert view is not None and view["state"] == "interrupted" and "interrupted" in view["error"]
    stored_state = db.read(lambda c: c.execute(select(lead_imports.c.state)).scalar_one())
    assert stored_state == "interrupted"
    assert not asyncio.run(imports.save(progress))  # a late heartbeat does not revive it
    (entry,) = audits(db)
    assert entry.actor == "user:usr_1@example.com" and entry.object_id == import_id
    assert entry.detail["state"] == "interrupted" and entry.detail["accepted"] == 2

    again = begin(imports)  # an interrupted import is not reused: posting the file again redoes it
    assert not again.reused and again.view["id"] != import_id
    assert len(audits(db)) == 1  # read again: audited once


def test_a_finished_import_is_audited_and_its_rejects_shown_to_its_owner_for_a_day(
    stored: tuple[ConsoleImports, FakeClock, Database],
) -> None:
    imports, clock, db = stored
    import_id = begin(imports).view["id"]
    assert asyncio.run(imports.rejects(import_id, "usr_1")) is None  # running: no rejects yet
    rejects = b"row,first_name,errors\n3,Bad,phone: not a phone number\n"
    finished(imports, import_id, rejects)

    (entry,) = audits(db)
    assert entry.actor == "user:usr_1@example.com" and entry.object_kind == "lead_import"
    assert entry.detail == {
        "filename": "leads.csv",
        "sha256": SHA,
        "source": "web",
        "entity": "solar",
        "state": "done",
        "rows": 3,
        "accepted": 2,
        "rejected": 1,
        "errors": 0,
    }
    view = asyncio.run(imports.view(import_id, "usr_1"))
    assert view is not None and view["state"] == "done" and view["has_rejects"] and view["percent"] == 100
    assert (view["rows"], view["accepted"], view["rejected"]) == (3, 2, 1)
    assert asyncio.run(imports.view(import_id, "usr_2")) is None  # someone else's: not there
    assert asyncio.run(imports.rejects(import_id, "usr_2")) is None
    assert asyncio.run(imports.rejects(import_id, "usr_1")) == rejects

    clock.advance(hours=23)
    assert asyncio.run(imports.forget_old()) == 0
    clock.advance(hours=2)
    assert asyncio.run(imports.forget_old()) == 1
    assert asyncio.run(imports.rejects(import_id, "usr_1")) is None
    view = asyncio.run(imports.view(import_id, "usr_1"))
    assert view is not None and not view["has_rejects"] and view["state"] == "done"


def test_the_heartbeat_writes_the_progress_any_reader_sees(
    stored: tuple[ConsoleImports, FakeClock, Database], db_url: str
) -> None:
    imports, clock, _ = stored
    import_id = begin(imports).view["id"]
    progress = ImportProgress(import_id, "web", "solar", "leads.csv", 100, read_bytes=50, rows=5)
    progress.accepted, progress.counts = 5, {"accepted": 5}
    assert asyncio.run(imports.save(progress))
    elsewhere = Database(db_url)  # another process's view of the same database
    try:
        view = asyncio.run(ConsoleImports(SqlStorage(elsewhere), clock=clock).view(import_id, "usr_1"))
    finally:
        elsewhere.dispose()
    assert view is not None and (view["rows"], view["accepted"], view["percent"]) == (5, 5, 50)
    assert view["counts"] == {"accepted": 5}


def test_the_same_file_posted_twice_at_once_starts_one_import(db_url: str) -> None:
    """Two processes take the same post at the same moment: the file lock (PostgreSQL's advisory lock,
    SQLite's write lock) lets one start the import and answers the other with it."""
    dbs = [Database(db_url) for _ in range(4)]
    barrier = threading.Barrier(len(dbs))

    def post(db: Database) -> Any:
        imports = ConsoleImports(SqlStorage(db))
        barrier.wait()
        return begin(imports)

    try:
        with ThreadPoolExecutor(len(dbs)) as pool:
            answers = list(pool.map(post, dbs))
        rows = dbs[0].read(lambda c: list(c.execute(select(lead_imports.c.id))))
    finally:
        for db in dbs:
            db.dispose()
    assert len(rows) == 1
    assert {a.view["id"] for a in answers} == {rows[0].id}
    assert sorted(a.reused for a in answers) == [False, True, True, True]


def test_with_a_secret_key_the_rejects_are_stored_sealed(db_url: str) -> None:
    """The rejects hold the rows' values as sent (sensitive ones too): with the installation's secret they
    are sealed under its data keys, bound to the import, like a lead's sensitive fields."""
    db = Database(db_url)
    try:
        imports = ConsoleImports(
            SqlStorage(db), clock=FakeClock(), ids=FakeIds(), sealer=Sealer(db, "s" * 32)
        )
        import_id = begin(imports).view["id"]
        rejects = b"row,email,errors\n3,ada@example.com,phone: not a phone number\n"
        finished(imports, import_id, rejects)
        stored = db.read(
            lambda c: c.execute(select(lead_imports.c.rejects).where(lead_imports.c.id == import_id)).scalar()
        )
        assert stored is not None and stored[:1] == b"s"
        assert b"ada@example.com" not in stored and gzip.compress(rejects)[10:30] not in stored
        assert asyncio.run(imports.rejects(import_id, "usr_1")) == rejects
    finally:
        db.dispose()


def test_the_same_file_for_another_source_or_entity_is_a_new_import(
    stored: tuple[ConsoleImports, FakeClock, Database],
) -> None:
    imports, _, _ = stored
    first = begin(imports)
    for source, entity in (("partner_feed", "solar"), ("web", "roofing")):
        other = begin(imports, source=source, entity=entity)
        assert not other.reused and other.view["id"] != first.view["id"]
        assert (other.view["source"], other.view["entity"]) == (source, entity)
    assert begin(imports).reused  # the same file, source and entity again: the first one


def test_rejects_stored_before_the_mark_existed_are_still_read(
    stored: tuple[ConsoleImports, FakeClock, Database],
) -> None:
    """The day after the upgrade that added the plain/sealed mark, an import's rejects are plain gzip."""
    imports, _, db = stored
    import_id = begin(imports).view["id"]
    rejects = b"row,first_name,errors\n3,Bad,phone: not a phone number\n"
    finished(imports, import_id, rejects)
    legacy = update(lead_imports).where(lead_imports.c.id == import_id).values(rejects=gzip.compress(rejects))
    db.transaction(lambda c: c.execute(legacy))
    assert asyncio.run(imports.rejects(import_id, "usr_1")) == rejects
