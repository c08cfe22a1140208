"""Recording a batch's outcome after its file went out: a deadlock or a lost connection (which the engine
reports as StorageError) is tried again, with the recording alone; the send is never repeated for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from leadrelay.errors import StorageError
from leadrelay.services.batches import Batcher


class FlakyDatabase:
    """A fake of the database port: its first ``failures`` transactions fail as the engine reports a
    deadlock or a dropped connection; then it runs the work."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def run(self, fn: Callable[[Any], Any], **_: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise StorageError("database connection lost: server closed the connection unexpectedly")
        return fn("conn")


def batcher(db: FlakyDatabase) -> Batcher:
    async def smtp() -> Any:
        raise AssertionError("no mail in this test")

    return Batcher(db, None, None, smtp, owner="test", record_backoff_s=0)  # type: ignore[arg-type]


def test_a_lost_connection_while_recording_is_tried_again_and_recorded_once() -> None:
    db = FlakyDatabase(failures=2)
    recorded: list[str] = []

    def record(conn: Any) -> str:
        recorded.append(conn)
        return "sent"

    assert asyncio.run(batcher(db)._record(record)) == "sent"
    assert db.calls == 3 and recorded == ["conn"]


def test_recording_gives_up_after_five_tries_with_the_storage_error() -> None:
    db = FlakyDatabase(failures=5)
    with pytest.raises(StorageError, match="connection lost"):
        asyncio.run(batcher(db)._record(lambda conn: "sent"))
    assert db.calls == 5
