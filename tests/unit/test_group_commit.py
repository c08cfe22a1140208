"""The group commit (``adapters/db/group_commit.py``) on the fakes' storage: concurrent leads written in
one transaction, and what happens to the others when that transaction fails. A failure that comes from
one item's write (a value the database or its JSON encoder refuses) is that item's alone: the batch is
written again item by item, and each caller gets its own answer. A failure of the database itself (a
lost connection) fails every item of the batch, with no second try; a transaction PostgreSQL rolled back
to break a deadlock is run again at once with the same items (twice at most)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from leadrelay.adapters.db.group_commit import GroupCommits
from leadrelay.domain.states import LeadStatus
from leadrelay.errors import StorageError
from leadrelay.services.intake import Intake
from leadrelay.services.intake_answers import IntakeAnswer, IntakeRequest
from leadrelay.services.ports import Tx
from tests.documents import lead
from tests.fakes import FakeStorage
from tests.fakes.delivery import FakeLeads
from tests.unit.in_memory import Installation, document


class Refused(TypeError):
    """What orjson raises for a value it cannot write ("Integer exceeds 64-bit range")."""


def _intake(world: Installation) -> Intake:
    """The installation's intake, but writing through the real group commit."""
    return Intake(
        world.storage,
        world.configs,
        world.notifier,
        world.sealer,
        group_commits=GroupCommits(world.storage),
        clock=world.clock,
        ids=world.ids,
    )


def _post_together(intake: Intake, bodies: Sequence[dict[str, Any]]) -> list[IntakeAnswer | BaseException]:
    async def post() -> list[IntakeAnswer | BaseException]:
        requests = [intake.accept(IntakeRequest("web", "solar", body)) for body in bodies]
        return await asyncio.gather(*requests, return_exceptions=True)

    return asyncio.run(post())


def test_one_leads_failing_write_fails_that_lead_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = document()
    doc["entities"]["solar"]["dedup"] = {"keys": ["email"], "window": "1d"}
    world = Installation(doc)
    world.accept(lead(email="warm@example.com", phone="5125550000"))  # the configuration read once
    batches: list[list[str]] = []
    real = FakeLeads.insert_leads

    def insert_leads(self: FakeLeads, rows: Sequence[dict[str, Any]]) -> set[str]:
        batches.append([row["raw"]["first_name"] for row in rows])
        if any(row["raw"]["first_name"] == "Bad" for row in rows):
            raise Refused("Integer exceeds 64-bit range")
        return real(self, rows)

    monkeypatch.setattr(FakeLeads, "insert_leads", insert_leads)
    answers = _post_together(
        _intake(world),
        [
            lead(first_name="Ann", email="ann@example.com", phone="5125551001"),
            lead(first_name="Bad", email="bad@example.com", phone="5125551002"),
            # a duplicate of the bad lead in the same batch: screened afresh once that lead is not stored
            lead(first_name="Dup", email="bad@example.com", phone="5125551003"),
            lead(first_name="Eve", email="eve@example.com", phone="5125551004"),
        ],
    )

    assert batches == [["Ann", "Bad", "Dup", "Eve"], ["Ann"], ["Bad"], ["Dup"], ["Eve"]]
    ann, bad, dup, eve = answers
    assert isinstance(bad, Refused)
    for answer in (ann, dup, eve):
        assert isinstance(answer, IntakeAnswer) and answer.code == 202, answer
    stored = {r.raw["first_name"]: r for r in world.storage.rows("leads")}
    assert sorted(stored) == ["Ada", "Ann", "Dup", "Eve"]
    assert stored["Dup"].status == LeadStatus.QUEUED and stored["Dup"].duplicate_of is None
    assert {j.lead_id for j in world.storage.rows("jobs")} == {r.id for r in stored.values()}
    assert all(j.status == "received" for j in world.storage.rows("jobs"))


def test_a_failure_of_the_database_itself_fails_the_whole_batch_once() -> None:
    storage = FakeStorage()
    seen: list[list[int]] = []

    def handler(tx: Tx, items: Sequence[int]) -> list[int]:
        seen.append(list(items))
        return [item * 10 for item in items]

    async def submit_three() -> list[int | BaseException]:
        commit = GroupCommits(storage)(handler)
        return await asyncio.gather(*(commit.submit(i) for i in (1, 2, 3)), return_exceptions=True)

    storage.fail_next(StorageError("database error: connection lost"))
    answers = asyncio.run(submit_three())
    assert seen == [[1, 2, 3]]
    assert all(isinstance(a, StorageError) for a in answers)

    assert asyncio.run(submit_three()) == [10, 20, 30]  # and the next batch goes through


def test_a_lone_items_failure_is_not_tried_again() -> None:
    storage = FakeStorage()
    seen: list[list[int]] = []

    def handler(tx: Tx, items: Sequence[int]) -> list[int]:
        seen.append(list(items))
        raise ValueError("refused")

    async def submit_one() -> None:
        await GroupCommits(storage)(handler).submit(1)

    with pytest.raises(ValueError, match="refused"):
        asyncio.run(submit_one())
    assert seen == [[1]]


class _Deadlock(Exception):
    """What psycopg raises for PostgreSQL's deadlock_detected."""

    sqlstate = "40P01"


def _deadlock() -> StorageError:
    try:
        try:
            raise _Deadlock("deadlock detected")
        except _Deadlock as driver:
            raise StorageError("database error: deadlock detected") from driver
    except StorageError as exc:
        return exc


def test_a_batch_rolled_back_to_break_a_deadlock_is_run_again_with_the_same_items() -> None:
    """Two worker processes' award batches took the same cap counters in other orders: the one PostgreSQL
    rolled back failed every job of it, and the auctions' bids were lost (black-box pass, 2026-12-06)."""
    storage = FakeStorage()
    seen: list[list[int]] = []

    def handler(tx: Tx, items: Sequence[int]) -> list[int]:
        seen.append(list(items))
        if len(seen) <= 2:
            raise _deadlock()
        return [item * 10 for item in items]

    async def submit_three() -> list[int | BaseException]:
        commit = GroupCommits(storage)(handler)
        return await asyncio.gather(*(commit.submit(i) for i in (1, 2, 3)), return_exceptions=True)

    assert asyncio.run(submit_three()) == [10, 20, 30]
    assert seen == [[1, 2, 3]] * 3  # twice rolled back, the third went through

    seen.clear()

    def always(tx: Tx, items: Sequence[int]) -> list[int]:
        seen.append(list(items))
        raise _deadlock()

    async def submit_one() -> None:
        await GroupCommits(storage)(always).submit(1)

    with pytest.raises(StorageError, match="deadlock"):
        asyncio.run(submit_one())
    assert len(seen) == 3  # tried three times in all, then the callers get the error
