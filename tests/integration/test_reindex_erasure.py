"""``leadrelay leads reindex`` against a concurrent erasure: an erased lead never gets its lookup keys back.

Reindex reads a batch of leads and computes their keys in a read transaction, then writes them in a write
transaction that keeps only the leads still not erased, each lead's row held until the commit
(``dedup_store.replace_lookups``). The interleavings are driven step by step, on SQLite and PostgreSQL:
an erasure committed between the read and the write, and (PostgreSQL, where the two can overlap) an erasure
in flight while the keys are being written, either way round."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text

from leadrelay.adapters.crypto import Sealer
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.privacy_tables import lead_lookup
from leadrelay.adapters.db.unit_of_work import SqlStorage, SqlTx
from leadrelay.adapters.dedup_keys import DedupKeys
from leadrelay.services import lead_pages
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.lead_pages import KeyBatch, LeadPages, reindex_one, reindex_read, reindex_write
from leadrelay.services.privacy import Privacy, erase_leads
from tests.integration.test_console_leads import EMAIL, PHONE, SECRET, post_lead
from tests.integration.test_console_leads import site as site  # the fixture: a server on the database
from tests.support import ServerThread


class Parts:
    """The services ``leadrelay leads reindex`` builds (``reindex_leads``), on the test's database."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.storage = SqlStorage(self.db)
        self.sealer = Sealer(self.db, SECRET)
        self.privacy = Privacy(self.storage, self.sealer, ConfigCache(), self.db)
        self.pages = LeadPages(self.storage, DedupKeys(self.db, SECRET), self.privacy)

    def read_batch(self, tx: SqlTx) -> KeyBatch:
        entities = self.privacy.configs.current(tx).specs.entities
        return reindex_read(tx, entities, self.pages.keys.hasher_sync(), self.sealer, None)

    def erase(self, tx: SqlTx, lead_id: str) -> int:
        return erase_leads(tx, [lead_id], self.sealer, datetime.now(UTC))

    def keys_of(self, lead_id: str) -> int:
        q = select(func.count()).select_from(lead_lookup).where(lead_lookup.c.lead_id == lead_id)
        return int(self.db.read(lambda c: c.execute(q).scalar_one()))


@pytest.fixture
def parts(site: ServerThread, db_url: str) -> Iterator[Parts]:
    made = Parts(db_url)
    yield made
    made.db.dispose()


def test_a_lead_erased_between_the_reindex_read_and_write_gets_no_keys_back(
    site: ServerThread, parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    erased = post_lead(site, phone=PHONE, email=EMAIL, work_phone="+1 512 789 4444")
    kept = post_lead(site, phone="(512) 789-2222", email="kept@example.com")
    assert parts.keys_of(erased) == 3 and parts.keys_of(kept) == 2
    read = lead_pages.reindex_read
    seen: list[KeyBatch] = []

    def read_then_erase(*args: Any, **kwargs: Any) -> KeyBatch:
        batch = read(*args, **kwargs)
        seen.append(batch)
        # the erasure commits after reindex has read the lead (and computed its keys), before it writes
        assert parts.storage.transaction(lambda tx: parts.erase(tx, erased)) == 1
        assert parts.keys_of(erased) == 0
        return batch

    monkeypatch.setattr(lead_pages, "reindex_read", read_then_erase)
    assert parts.pages.reindex_sync() == 1  # two read, one written: the erased one is not counted
    assert sorted(seen[0].lead_ids) == sorted([erased, kept])
    assert (
        sum(lead == erased for lead, _ in seen[0].pairs) == 3
    )  # its keys were computed: the write left them
    assert parts.keys_of(erased) == 0
    assert parts.keys_of(kept) == 2


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_an_erasure_in_flight_during_the_reindex_write_waits_and_deletes_its_keys(
    site: ServerThread, parts: Parts
) -> None:
    """PostgreSQL (on SQLite the two write transactions never overlap): the write holds the lead's row,
    so the erasure's UPDATE waits for its commit and its DELETE then sees the keys written."""
    lead_id = post_lead(site, phone=PHONE, email=EMAIL)
    batch = parts.storage.read(parts.read_batch)
    erased: list[int] = []
    with parts.db.engine.connect() as conn:
        assert reindex_write(SqlTx(conn), batch) == (1, [])  # written, not committed yet
        eraser = threading.Thread(
            target=lambda: erased.append(parts.storage.transaction(lambda tx: parts.erase(tx, lead_id)))
        )
        eraser.start()
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        waiting += " AND datname = current_database()"
        deadline = time.monotonic() + 10
        while not parts.db.read(lambda c: c.execute(text(waiting)).scalar()) and time.monotonic() < deadline:
            time.sleep(0.01)  # the erasure waits for the lead's row
        assert parts.db.read(lambda c: c.execute(text(waiting)).scalar()) == 1
        conn.commit()
    eraser.join(10)
    assert erased == [1]
    assert parts.keys_of(lead_id) == 0


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_lead_an_erasure_in_flight_holds_is_skipped_then_found_erased(
    site: ServerThread, parts: Parts
) -> None:
    """PostgreSQL: the erasure has updated the lead's row and not committed; the reindex write skips the
    lead (never waiting while holding other leads' rows: no deadlock), and doing it again alone after the
    erasure's commit finds it erased."""
    lead_id = post_lead(site, phone=PHONE, email=EMAIL)
    other = post_lead(site, phone="(512) 789-2222")
    batch = parts.storage.read(parts.read_batch)
    with parts.db.engine.connect() as conn:
        assert parts.erase(SqlTx(conn), lead_id) == 1  # not committed
        assert parts.storage.transaction(lambda tx: reindex_write(tx, batch)) == (1, [lead_id])  # other
        conn.commit()
    assert parts.keys_of(other) == 2  # its email and phone
    entities = parts.storage.read(lambda tx: parts.privacy.configs.current(tx).specs.entities)
    hasher = parts.pages.keys.hasher_sync()
    assert parts.storage.transaction(lambda tx: reindex_one(tx, entities, hasher, parts.sealer, lead_id)) == 0
    assert parts.keys_of(lead_id) == 0
