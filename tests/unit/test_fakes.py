"""What the fakes do beyond the SQL they mirror: transactions that commit all or nothing, the refusals that
keep a use case honest, an injected storage failure, and the clock, ids and keys."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from leadrelay.adapters.crypto import DecryptError, SecretKeyError
from leadrelay.domain.dedup import MarkHasher
from leadrelay.errors import StorageError
from leadrelay.services.ports import Clock, DedupKeys, IdSource, Ring, Sealer, Storage, Tx
from tests.fakes import (
    START,
    FakeClock,
    FakeDedupKeys,
    FakeIds,
    FakeRing,
    FakeSealer,
    FakeStorage,
    FakeTx,
    ReadOnlyTransaction,
    job_row,
    lead_row,
)
from tests.fakes.keys import DEDUP_KEY


def seed(tx: Tx) -> None:
    tx.leads.insert_leads([lead_row("lead_1")])
    tx.jobs.insert_jobs([job_row("job_1", "lead_1")])


def test_the_fakes_are_the_ports() -> None:
    storage: Storage = FakeStorage()
    tx: Tx = storage.transaction(lambda tx: tx)
    clock: Clock = FakeClock()
    ids: IdSource = FakeIds()
    sealer: Sealer = FakeSealer()
    ring: Ring = FakeRing()
    keys: DedupKeys = FakeDedupKeys()
    assert isinstance(tx, FakeTx)
    assert all(x is not None for x in (clock, ids, sealer, ring, keys))


def test_a_transaction_that_raises_leaves_nothing_and_one_that_returns_commits() -> None:
    storage = FakeStorage()

    def fails(tx: Tx) -> None:
        seed(tx)
        assert tx.leads.get_lead("lead_1") is not None  # its own writes are visible inside
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        storage.transaction(fails)
    assert storage.rows("leads") == [] and storage.rows("jobs") == []
    storage.transaction(seed)
    assert [row.id for row in storage.rows("jobs")] == ["job_1"]
    assert storage.transactions == 1  # the failed one did not count


def test_a_read_sees_the_last_commit_not_the_writes_under_way() -> None:
    storage = FakeStorage()
    storage.transaction(seed)

    def meanwhile(tx: Tx) -> str | None:
        tx.jobs.update_job("job_1", profile="changed")
        row = storage.read(lambda r: r.jobs.load_jobs(["job_1"])[0])
        return str(row.profile)

    assert storage.transaction(meanwhile) == "main"
    assert storage.read(lambda tx: tx.jobs.load_jobs(["job_1"])[0].profile) == "changed"


def test_a_write_in_a_read_and_a_write_inside_a_write_are_refused() -> None:
    storage = FakeStorage()
    with pytest.raises(ReadOnlyTransaction):
        storage.read(seed)
    with pytest.raises(RuntimeError, match="inside another"):
        storage.transaction(lambda tx: storage.transaction(seed))
    storage.transaction(seed)  # the storage is usable afterwards
    assert len(storage.rows("leads")) == 1


def test_an_injected_failure_drops_the_transaction() -> None:
    storage = FakeStorage()
    storage.fail_next(StorageError("database error: deadlock detected"))
    with pytest.raises(StorageError):
        storage.transaction(seed)
    assert storage.rows("leads") == []
    storage.transaction(seed)  # the next one goes through
    assert len(storage.rows("leads")) == 1


def test_run_and_run_read() -> None:
    storage = FakeStorage()

    async def main() -> int:
        await storage.run(seed, background=True, relaxed=True)
        return len(await storage.run_read(lambda tx: tx.deliveries.job_deliveries("job_1")))

    assert asyncio.run(main()) == 0
    assert (storage.transactions, storage.background, storage.relaxed, storage.reads) == (1, 1, 1, 1)


def test_stored_json_is_a_copy() -> None:
    storage = FakeStorage()
    data = {"email": "a@x.com"}
    storage.transaction(lambda tx: tx.leads.insert_leads([lead_row("lead_1", data=data)]))
    data["email"] = "changed"
    row = storage.read(lambda tx: tx.leads.get_lead("lead_1"))
    assert row is not None
    row.data["email"] = "changed too"
    assert storage.rows("leads")[0].data == {"email": "a@x.com"}


def test_an_unknown_column_is_refused() -> None:
    storage = FakeStorage()  # the SQL ignores it silently on insert, and refuses it on update
    with pytest.raises(KeyError):
        storage.transaction(lambda tx: tx.leads.insert_leads([{**lead_row("lead_1"), "colour": "red"}]))
    with pytest.raises(KeyError):
        storage.transaction(lambda tx: tx.jobs.update_job("job_1", colour="red"))


def test_the_ids_the_repositories_make_come_from_the_storage_ids() -> None:
    storage = FakeStorage(ids=FakeIds(start=7))
    key_id = storage.transaction(lambda tx: tx.credentials.add_api_key("web", "k" * 32, START))
    assert key_id == "key_00000007"


def test_the_clock() -> None:
    clock = FakeClock()
    assert clock() == clock() == START
    assert clock.advance(minutes=2) == START + timedelta(minutes=2)
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    assert clock() == datetime(2027, 1, 1, tzinfo=UTC)
    ticking = FakeClock(tick=timedelta(seconds=1))
    assert ticking() < ticking()
    with pytest.raises(ValueError):
        FakeClock(datetime(2026, 1, 1))


def test_the_ids() -> None:
    ids = FakeIds()
    made = [ids("lead"), ids("job"), ids("lead")]
    assert made == ["lead_00000001", "job_00000002", "lead_00000003"] == ids.issued


def test_the_ring_opens_what_it_sealed_for_the_same_record_only() -> None:
    ring = FakeRing()
    token = ring.seal_json({"ssn": "123"}, b"lead_1")
    assert "123" not in token
    assert ring.open_json(token, b"lead_1") == {"ssn": "123"}
    with pytest.raises(DecryptError):
        ring.open(token, b"lead_2")
    with pytest.raises(DecryptError):
        ring.open("lr1:k1:abc", b"lead_1")


def test_the_sealer_and_the_dedup_keys() -> None:
    sealer = FakeSealer()
    assert sealer.available and sealer.ring_sync() is sealer.key_ring
    assert asyncio.run(sealer.ring("t")) is sealer.key_ring
    without = FakeSealer(available=False)
    with pytest.raises(SecretKeyError):
        without.ring_sync()
    keys = FakeDedupKeys()
    assert keys.hasher_sync()(b"x") == MarkHasher(DEDUP_KEY)(b"x") == asyncio.run(keys.hasher())(b"x")
