"""A console save is checked against its preview in the transaction that writes it (``config_editing.save``),
on SQLite and PostgreSQL: an ``apply`` landing between the preview and the save makes the save stale (409,
nothing saved, the other change kept); of two saves previewed against the same configuration at once,
exactly one wins and the other is stale; a stale deletion deletes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, text

from leadrelay.adapters.db import config_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage, SqlTx
from leadrelay.errors import Conflict
from leadrelay.services import config_editing as editing
from leadrelay.services import configure, suppression
from tests.support import base_config, prepare, run_async, wait_for


@pytest.fixture
def storage(db_url: str) -> Iterator[SqlStorage]:
    prepare(db_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    db = Database(db_url)
    try:
        yield SqlStorage(db)
    finally:
        db.dispose()


def with_cap(objects: dict[str, Any], partner: str, day: int) -> dict[str, Any]:
    doc = dict(objects["partners"][partner])
    doc["caps"] = {**doc.get("caps", {}), "day": day}
    return doc


async def previewed(storage: SqlStorage, partner: str, day: int) -> tuple[dict[str, Any], str]:
    """A console edit of ``partner``'s day cap: the object as the form sends it, and its preview's base."""
    objects = await editing.exported(storage)
    doc = with_cap(objects, partner, day)
    shown = await editing.preview(
        storage, editing.document_with(objects, "partners", partner, doc), sealer=None
    )
    assert shown.changed
    return doc, shown.base


def caps(storage: SqlStorage) -> dict[str, Any]:
    partners = storage.read(configure.stored_objects)["partners"]
    return {name: doc.get("caps", {}).get("day") for name, doc in partners.items()}


def save(storage: SqlStorage, partner: str, doc: dict[str, Any] | None, base: str) -> Any:
    return editing.save(storage, "partners", partner, doc, base=base, actor="console:ada", sealer=None)


def test_an_apply_after_the_preview_makes_the_save_stale_and_is_kept(storage: SqlStorage) -> None:
    before = caps(storage)
    doc, base = run_async(previewed(storage, "sunco", 7))
    # another change lands between the preview and the save: `leadrelay apply` of voltedge's cap
    stored = storage.read(configure.stored_objects)
    applied = {"partners": {"voltedge": with_cap(stored, "voltedge", 9)}}
    configure.apply_document_sync(storage, applied, actor="cli")
    with pytest.raises(Conflict) as caught:
        run_async(save(storage, "sunco", doc, base))
    assert caught.value.detail == editing.STALE
    assert caps(storage) == {**before, "voltedge": 9}  # the apply kept, the stale change not saved
    doc, base = run_async(previewed(storage, "sunco", 7))  # previewed again: saved
    changes = run_async(save(storage, "sunco", doc, base))
    assert [(c.name, c.action) for c in changes if c.action != "unchanged"] == [("sunco", "updated")]
    assert caps(storage) == {**before, "voltedge": 9, "sunco": 7}


def test_a_stale_deletion_deletes_nothing(storage: SqlStorage) -> None:
    stored = storage.read(configure.stored_objects)
    configure.apply_document_sync(storage, {"partners": {"spare": stored["partners"]["sunco"]}}, actor="t")
    shown = run_async(editing.preview(storage, {}, sealer=None, deleting=("partners", "spare")))
    configure.apply_document_sync(storage, {"partners": {"sunco": with_cap(stored, "sunco", 3)}}, actor="cli")
    with pytest.raises(Conflict):
        run_async(save(storage, "spare", None, shown.base))
    assert "spare" in caps(storage) and caps(storage)["sunco"] == 3
    shown = run_async(editing.preview(storage, {}, sealer=None, deleting=("partners", "spare")))
    assert run_async(save(storage, "spare", None, shown.base))[0].action == "deleted"
    assert "spare" not in caps(storage)


def _lock_waiters(conn: Connection) -> int:
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return int(conn.execute(query).scalar_one())


def test_of_two_saves_of_one_preview_base_exactly_one_wins(db_url: str, storage: SqlStorage) -> None:
    """Two users save different changes previewed against the same configuration, at the same time. On
    PostgreSQL a third transaction holds the configuration's lock until both saves wait on it (seen in
    ``pg_stat_activity``), so they truly overlap; SQLite's writers are one at a time anyway."""
    before = caps(storage)
    sunco, base = run_async(previewed(storage, "sunco", 7))
    voltedge, same_base = run_async(previewed(storage, "voltedge", 9))
    assert base == same_base
    db = storage.db
    postgres = db.dialect == "postgresql"
    holding, release = threading.Event(), threading.Event()

    def hold(conn: Connection) -> None:
        config_store.lock_config(conn)
        holding.set()
        release.wait(60)

    blocker = threading.Thread(target=db.transaction, args=(hold,))
    if postgres:
        blocker.start()
        assert holding.wait(30)

    async def race() -> list[Any]:
        tasks = [
            asyncio.create_task(save(storage, "sunco", sunco, base)),
            asyncio.create_task(save(storage, "voltedge", voltedge, base)),
        ]
        if postgres:
            await asyncio.to_thread(wait_for, lambda: db.read(_lock_waiters) >= 2, timeout=30)
            release.set()
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    try:
        results = run_async(race())
    finally:
        release.set()
        if postgres:
            blocker.join(30)
    conflicts = [r for r in results if isinstance(r, Conflict)]
    wins = [r for r in results if isinstance(r, list)]
    assert len(conflicts) == 1 and len(wins) == 1, results
    won = "sunco" if isinstance(results[0], list) else "voltedge"
    expected = {**before, won: 7 if won == "sunco" else 9}
    assert caps(storage) == expected  # the winner's change only: the loser overwrote nothing


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_list_is_not_deleted_while_a_change_naming_it_is_being_applied(storage: SqlStorage) -> None:
    """A suppression list's deletion takes the configuration's lock first, as every change does: while an
    apply that names the list holds it, the deletion waits, then sees the reference and is refused. (It used
    to read the configuration unlocked, delete the list and commit: the apply then committed a partner
    naming a list that no longer existed, and its suppression silently matched nothing.)"""
    db = storage.db
    lists = suppression.SuppressionLists(storage)
    run_async(lists.create("dnc", "email", None, actor="t"))
    doc = dict(storage.read(configure.stored_objects)["partners"]["sunco"])
    doc["suppression"] = ["dnc"]
    applied, release = threading.Event(), threading.Event()

    def apply(conn: Connection) -> None:  # an apply naming the list, held open before its commit
        configure.apply_in(SqlTx(conn), {"partners": {"sunco": doc}}, actor="cli")
        applied.set()
        release.wait(60)

    applier = threading.Thread(target=db.transaction, args=(apply,))
    applier.start()
    try:
        assert applied.wait(30)
        deletion = threading.Thread(target=lambda: outcome.append(_delete(lists)))
        outcome: list[Any] = []
        deletion.start()
        with contextlib.suppress(AssertionError):  # without the lock it never waits: it is done already
            wait_for(lambda: db.read(_lock_waiters) >= 1 or bool(outcome), timeout=10)
    finally:
        release.set()
        applier.join(30)
    deletion.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], Conflict), outcome
    assert "sunco" in outcome[0].detail
    assert storage.read(lambda tx: tx.suppression_names.list_names()) == {"dnc"}
    assert storage.read(configure.stored_objects)["partners"]["sunco"]["suppression"] == ["dnc"]


def _delete(lists: suppression.SuppressionLists) -> Any:
    try:
        return run_async(lists.delete("dnc", actor="console:bob"))
    except Conflict as exc:
        return exc
