"""Email digests with several `leadrelay worker` processes on one database, and a killed worker.

Every worker process runs the batch loop: cutting is serialized per partner and sending is leased, so with
three processes racing (a pass every 50 ms) each lead is in exactly one digest and each digest is mailed
once. Leads waiting for a digest survive kill -9 of the only worker: the next worker sends them.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from leadrelay.adapters.db.tables import batches, deliveries
from tests.acceptance.test_concurrency import (
    api_server,
    config,
    post_concurrently,
    read,
    wait_all_final,
    worker_process,
)
from tests.support import Mailbox, prepare, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(params=["postgres", "sqlite"])
def any_url(request: pytest.FixtureRequest) -> str:
    """A fresh PostgreSQL database or a fresh SQLite file, shared by the processes of one test."""
    return str(request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url"))


def lead_ids(box: Mailbox) -> list[str]:
    """The lead ids in every CSV attachment the mailbox received (the first column; a header first)."""
    ids: list[str] = []
    for message in list(box.messages):
        for part in message.iter_attachments():
            text = part.get_content()
            text = text.decode() if isinstance(text, bytes) else text
            ids.extend(line.split(",")[0] for line in text.splitlines()[1:] if line)
    return ids


def digest_config(port: int, digest: dict[str, Any]) -> dict[str, Any]:
    doc = config(lambda name: f"http://127.0.0.1:9/{name}", ["sunco"], "priority")
    doc["partners"]["sunco"]["email"] = "buyer@sunco.example"
    doc["partners"]["sunco"]["channel"] = {"email": {"digest": digest}}
    doc["smtp"] = {"host": "127.0.0.1", "port": port, "security": "none"}
    return doc


FAST = {"LEADRELAY_BATCH_INTERVAL": "0.05"}


def test_three_worker_processes_put_each_lead_in_exactly_one_digest(
    any_url: str, tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    prepare(any_url, digest_config(port, {"every": 7, "idle": "2s"}))
    total = 100
    with ExitStack() as stack:
        base = stack.enter_context(api_server(any_url, tmp_path))
        for i in range(3):
            stack.enter_context(worker_process(any_url, tmp_path, f"w{i}", **FAST))
        ids = post_concurrently(base, total)
        wait_all_final(any_url, total, timeout=90)
    sent = read(any_url, lambda c: list(c.execute(select(batches))))
    assert {b.status for b in sent} == {"sent"}
    assert sorted(b.lead_count for b in sent) == [2] + [7] * 14  # 14 full digests, the rest after 2s idle
    assert Counter(lead_ids(box)) == Counter(ids)  # every lead mailed, none twice
    assert len(box.messages) == len(sent)  # each digest mailed once
    assert len({m["Message-ID"] for m in box.messages}) == len(sent)
    dl = read(any_url, lambda c: list(c.execute(select(deliveries))))
    assert len(dl) == total and {d.status for d in dl} == {"delivered"}
    assert Counter(d.batch_id for d in dl) == {b.id: b.lead_count for b in sent}


def test_leads_waiting_for_a_digest_survive_kill_9_of_the_worker(
    any_url: str, tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    prepare(any_url, digest_config(port, {"every": 50, "idle": "3s"}))
    with api_server(any_url, tmp_path) as base:
        with worker_process(any_url, tmp_path, "first", **FAST) as first:
            ids = post_concurrently(base, 6)

            def waiting() -> bool:
                rows = read(any_url, lambda c: list(c.execute(select(deliveries))))
                return len(rows) == 6 and all(d.status == "batched" and d.batch_id is None for d in rows)

            wait_for(waiting, timeout=30)
            os.kill(first.pid, signal.SIGKILL)  # before the 3 s of quiet are up: nothing was cut
            first.wait(timeout=10)
        assert box.messages == []
        with worker_process(any_url, tmp_path, "second", **FAST):
            wait_all_final(any_url, 6, timeout=60)
    assert len(box.messages) == 1
    assert sorted(lead_ids(box)) == sorted(ids)
    assert [b.lead_count for b in read(any_url, lambda c: list(c.execute(select(batches))))] == [6]
