"""The in-process wake-ups (``services.notify.Notifier``) and what they hand to the relay between processes
(a fake ``WakeRelay`` here; PostgreSQL's in ``tests/integration/test_wakeups.py``)."""

from __future__ import annotations

import asyncio
from itertools import islice

from leadrelay.adapters.db.wake_words import PAYLOAD_BYTES, payloads
from leadrelay.services.notify import Notifier


class FakeRelay:
    def __init__(self, listening: bool = True) -> None:
        self.listening = listening
        self.work = 0
        self.done: list[str] = []

    def work_added(self) -> None:
        self.work += 1

    def lead_done(self, lead_id: str) -> None:
        self.done.append(lead_id)


def test_new_jobs_wake_this_process_and_are_told_to_the_others() -> None:
    async def main() -> tuple[int, int]:
        notifier, relay = Notifier(), FakeRelay()
        notifier.relay = relay
        notifier.jobs_added()
        await asyncio.wait_for(notifier.wait_work(30), 1)  # set: returns at once
        told = relay.work
        notifier.heard_work()  # another process's word: woken, and not told again
        await asyncio.wait_for(notifier.wait_work(30), 1)
        return told, relay.work

    assert asyncio.run(main()) == (1, 1)


def test_a_lead_done_is_told_to_the_others_only_when_nobody_here_waits_for_it() -> None:
    async def main() -> tuple[bool, list[str]]:
        notifier, relay = Notifier(), FakeRelay()
        notifier.relay = relay
        here = notifier.watch("lead_here")
        notifier.lead_done("lead_here")  # its waiting request is in this process
        notifier.lead_done("lead_elsewhere")  # maybe in another's
        return here.is_set(), relay.done

    assert asyncio.run(main()) == (True, ["lead_elsewhere"])


def test_word_heard_from_another_process_wakes_the_waiting_request_and_is_not_told_back() -> None:
    async def main() -> tuple[bool, bool, list[str]]:
        notifier, relay = Notifier(), FakeRelay()
        notifier.relay = relay
        event = notifier.watch("lead_1")
        notifier.heard_done("lead_2")
        before = event.is_set()
        notifier.heard_done("lead_1")
        return before, event.is_set(), relay.done

    assert asyncio.run(main()) == (False, True, [])


def test_a_waiting_request_reads_rarely_when_word_reaches_it_and_soon_when_not() -> None:
    def steps(notifier: Notifier) -> list[float]:
        return list(islice(notifier.poll_steps(), 5))

    alone = Notifier()  # no worker here, no relay: the workers elsewhere are only seen in the database
    assert steps(alone) == [0.02, 0.04, 0.08, 0.16, 0.25]
    alone.relay = FakeRelay(listening=False)  # a relay that is not connected (yet) does not count
    assert steps(alone)[0] == 0.02
    alone.relay = FakeRelay(listening=True)
    assert steps(alone) == [0.25, 0.5, 1.0, 1.0, 1.0]
    local = Notifier()
    local.local_workers = True
    assert steps(local) == [0.25, 0.5, 1.0, 1.0, 1.0]


def test_lead_ids_go_in_as_few_notifications_as_fit() -> None:
    ids = [f"lead_{i:024d}" for i in range(1000)]  # 29 bytes each
    notes = payloads(ids)
    assert all(len(note.encode()) <= PAYLOAD_BYTES for note in notes)
    assert [i for note in notes for i in note.split()] == ids  # every id, once, in order
    per_note = (PAYLOAD_BYTES + 1) // 30
    assert len(notes) == -(-len(ids) // per_note)
    assert payloads([]) == []
    assert payloads(["lead_1"]) == ["lead_1"]
