"""Accepting a lead (``services/intake.py``) against the fakes: what is stored, what the source is told,
and that a failed write leaves nothing behind."""

from __future__ import annotations

import asyncio
import copy

import pytest

from leadrelay.domain.states import JobStatus, LeadStatus, QueueState
from leadrelay.errors import StorageError, ValidationFailed
from leadrelay.services.intake_answers import IntakeAnswer, IntakeRequest
from leadrelay.services.ports import Tx
from tests.documents import lead
from tests.fakes import FakeRow, IntegrityViolation, job_row, lead_row
from tests.unit.in_memory import Installation, document, run


def two_profiles() -> dict[str, object]:
    doc = document()
    doc["profiles"]["solar-backup"] = copy.deepcopy(doc["profiles"]["solar-main"])
    return doc


def test_a_valid_lead_is_stored_normalized_with_one_ready_job_per_enabled_profile() -> None:
    world = Installation(two_profiles())
    answer = world.accept(lead(phone="(512) 555-1212", email="Ada@Example.com"))

    assert (answer.code, answer.body()) == (202, {"lead_id": answer.lead_id, "status": "queued"})
    stored = world.one("leads", id=answer.lead_id)
    assert stored.status == LeadStatus.QUEUED and stored.source == "web" and stored.entity == "solar"
    assert stored.data["phone"] == "+15125551212" and stored.raw["phone"] == "(512) 555-1212"
    assert stored.created_at == world.clock.now and stored.problems is None
    jobs = world.all("jobs", lead_id=answer.lead_id)
    assert sorted(j.profile for j in jobs) == ["solar-backup", "solar-main"]
    assert all(
        (j.status, j.queue_state, j.kind, j.run_at) == ("received", "ready", "route", world.clock.now)
        for j in jobs
    )
    assert world.notifier._work.is_set()  # the workers were told


def test_a_lead_for_an_entity_without_an_enabled_profile_is_unsold_at_once() -> None:
    doc = document()
    doc["profiles"]["solar-main"]["enabled"] = False
    world = Installation(doc)
    answer = world.accept()
    assert answer.code == 200
    assert answer.body() == {
        "lead_id": answer.lead_id,
        "status": "unsold",
        "reason": "no enabled profile for entity solar",
    }
    assert world.one("leads", id=answer.lead_id).status == LeadStatus.UNSOLD
    assert world.all("jobs") == []


def test_a_duplicate_within_the_window_is_refused_and_points_at_the_original() -> None:
    doc = document()
    doc["entities"]["solar"]["dedup"] = {"keys": ["email"], "window": "1d"}
    world = Installation(doc)
    first = world.accept()
    world.clock.advance(hours=2)
    again = world.accept(lead(phone="(512) 555-9999", email="ADA@example.com"))  # the same email

    assert (again.code, again.body()["status"]) == (200, "duplicate")
    stored = world.one("leads", id=again.lead_id)
    assert (stored.status, stored.duplicate_of) == (LeadStatus.DUPLICATE, first.lead_id)
    job = world.job_of(again.lead_id)
    assert (job.status, job.queue_state) == (JobStatus.DUPLICATE, QueueState.DONE)
    assert job.finished_at == world.clock.now and "duplicate" in job.trace[0]
    assert [m.lead_id for m in world.storage.rows("dedup_marks")] == [first.lead_id]

    world.clock.advance(days=1)  # past the window: a new lead, and the mark moves to it
    later = world.accept()
    assert later.body()["status"] == "queued"
    assert [m.lead_id for m in world.storage.rows("dedup_marks")] == [later.lead_id]


def test_an_idempotency_key_repeat_gets_the_first_answer_and_another_body_is_refused() -> None:
    world = Installation()
    first = world.accept(idempotency_key="req-1")
    repeat = world.accept(idempotency_key="req-1")
    assert repeat.repeat and repeat.lead_id == first.lead_id
    assert (repeat.code, repeat.body()) == (first.code, first.as_dict())
    with pytest.raises(ValidationFailed) as refused:
        world.accept(lead(zip="10001"), idempotency_key="req-1")
    assert [p.field for p in refused.value.problems] == ["Idempotency-Key"]
    assert len(world.storage.rows("leads")) == 1 and len(world.storage.rows("jobs")) == 1


def test_a_repeat_that_read_the_lead_before_its_first_answer_was_kept_gets_that_answer() -> None:
    """The first request answered and stored its answer while the repeat was reading the lead: the repeat
    holds a read from before that write (no answer yet) and the first is no longer being kept in this
    process. It reads the lead again and replays the stored answer, not a 409 (seen on PostgreSQL)."""
    world = Installation()
    first = world.accept(idempotency_key="req-1")
    stored = world.one("leads", id=first.lead_id)
    assert stored.answer_code is not None
    before_the_write = FakeRow({**stored._asdict(), "answer_code": None, "answer": None})

    repeat = run(world.intake._replay(before_the_write))

    assert repeat.repeat and repeat.lead_id == first.lead_id
    assert repeat.replay == (first.code, first.as_dict())


def test_an_invalid_lead_is_a_422_naming_each_field_and_is_kept_rejected_without_jobs() -> None:
    world = Installation()
    answer = world.accept(lead(zip=None, phone="12", email="not an email"))

    assert answer.code == 422 and answer.status == LeadStatus.REJECTED
    assert answer.body()["errors"] == [
        {"field": "phone", "error": "not a valid US number"},
        {"field": "zip", "error": "required"},
    ]
    stored = world.one("leads", id=answer.lead_id)
    assert stored.status == LeadStatus.REJECTED
    assert [p["field"] for p in stored.problems] == ["phone", "zip"]
    # an optional field's bad value does not reject the lead: it is flagged
    assert stored.flags == {"email": ["invalid: not a valid email address"]}
    assert world.all("jobs") == []


def test_nothing_is_half_written_when_a_step_of_the_write_raises() -> None:
    doc = document()
    doc["entities"]["solar"]["dedup"] = {"keys": ["email"], "window": "1d"}
    world = Installation(doc)
    # the next lead's job id is taken: the lead and its dedup marks are written first, then the job fails
    taken = f"job_{world.ids.next + 1:08d}"

    def seed(tx: Tx) -> None:
        tx.leads.insert_leads([lead_row("lead_other")])
        tx.jobs.insert_jobs([job_row(taken, "lead_other")])

    world.storage.transaction(seed)
    with pytest.raises(IntegrityViolation):
        world.accept()
    assert [r.id for r in world.storage.rows("leads")] == ["lead_other"]
    assert world.storage.rows("dedup_marks") == []

    world.storage.fail_next(StorageError("database error: deadlock detected"))
    with pytest.raises(StorageError):
        world.accept()  # the whole transaction is lost at its commit
    assert [r.id for r in world.storage.rows("leads")] == ["lead_other"]
    assert world.storage.rows("dedup_marks") == []

    answer = world.accept()  # and the next request goes through
    assert answer.code == 202 and world.job_of(answer.lead_id).status == JobStatus.RECEIVED
    assert len(world.storage.rows("dedup_marks")) == 1


def _outcomes_counted(world: Installation, settle_after: int) -> list[str]:
    """Replaces the intake's outcome read: the lead reads as queued until ``settle_after`` reads, then
    delivered; the list records every read."""
    reads: list[str] = []

    async def outcome(lead_id: str, *, source: str | None = None) -> IntakeAnswer:
        reads.append(lead_id)
        if len(reads) < settle_after:
            return IntakeAnswer(lead_id, LeadStatus.QUEUED)
        answer = IntakeAnswer(lead_id, LeadStatus.DELIVERED)
        answer.settled = True
        return answer

    world.intake.outcome = outcome  # type: ignore[method-assign]
    return reads


def test_a_waiting_request_reads_the_outcome_only_once_the_worker_says_the_lead_is_done() -> None:
    """The write answered queued: no read until the worker's word (not one read at once, then another)."""
    world = Installation()
    world.notifier.local_workers = True  # the worker's word will come: reads are a 0.25 s safety net
    reads = _outcomes_counted(world, settle_after=1)

    async def scenario() -> tuple[IntakeAnswer, float, int]:
        loop = asyncio.get_running_loop()
        waiting = asyncio.create_task(world.intake.accept(IntakeRequest("web", "solar", lead(), wait=5)))
        await asyncio.sleep(0.05)
        reads_before = len(reads)
        [job] = world.all("jobs")
        started = loop.time()
        world.notifier.lead_done(job.lead_id)
        answer = await waiting
        return answer, loop.time() - started, reads_before

    answer, took, reads_before = run(scenario())
    assert reads_before == 0
    assert answer.status == LeadStatus.DELIVERED and len(reads) == 1
    assert took < 0.1  # woken, not the next poll (0.25 s)


def test_a_lead_done_while_its_outcome_is_read_still_wakes_the_waiting_request() -> None:
    """The worker's word between the read (queued) and the wait is not lost: the request is watching
    from before it reads, so it reads again at once rather than at the next poll."""
    world = Installation()
    reads: list[str] = []

    async def outcome(lead_id: str, *, source: str | None = None) -> IntakeAnswer:
        reads.append(lead_id)
        if len(reads) == 1:
            world.notifier.lead_done(lead_id)  # done while this read still saw it queued
            return IntakeAnswer(lead_id, LeadStatus.QUEUED)
        answer = IntakeAnswer(lead_id, LeadStatus.DELIVERED)
        answer.settled = True
        return answer

    world.intake.outcome = outcome  # type: ignore[method-assign]

    async def scenario() -> tuple[IntakeAnswer, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = await world.intake.wait("lead_1", 5)
        return answer, loop.time() - started

    answer, took = run(scenario())
    assert answer.status == LeadStatus.DELIVERED and len(reads) == 2
    assert took < 0.1, took
    assert world.notifier._leads == {}  # nothing left watched


def test_without_workers_in_the_process_a_waiting_request_reads_soon_then_less_often() -> None:
    """``serve --workers 0``: nobody here will say the lead is done, so the request reads it 20 ms after the
    write, then at 40, 80, 160 ms… (at most every 0.25 s)."""
    world = Installation()
    assert world.notifier.local_workers is False
    reads = _outcomes_counted(world, settle_after=3)

    async def scenario() -> tuple[IntakeAnswer, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = await world.intake.accept(IntakeRequest("web", "solar", lead(), wait=5))
        return answer, loop.time() - started

    answer, took = run(scenario())
    assert answer.status == LeadStatus.DELIVERED and len(reads) == 3
    assert took >= 0.06, took  # it waited 20 + 40 ms between its reads (no upper bound: a loaded machine)
    steps = world.notifier.poll_steps()
    assert [next(steps) for _ in range(6)] == [0.02, 0.04, 0.08, 0.16, 0.25, 0.25]
