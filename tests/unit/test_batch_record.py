"""Recording a batch's outcome after its file went out: a deadlock or a lost connection (which the storage
reports as StorageError) is tried again, with the recording alone; the send is never repeated for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from leadrelay.errors import StorageError
from leadrelay.services.batches import Batcher


class FlakyStorage:
    """A fake of the storage port: its first ``failures`` transactions fail as the engine reports a
    deadlock or a dropped connection; then it runs the work."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def run(self, fn: Callable[[Any], Any], **_: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise StorageError("database connection lost: server closed the connection unexpectedly")
        return fn("tx")


class NoFiles:
    """A fake of the file sender: this test ships nothing."""

    def render(self, fmt: Any, rows: Any) -> bytes:
        raise AssertionError("no file in this test")

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no file in this test")


def batcher(storage: FlakyStorage) -> Batcher:
    return Batcher(storage, None, None, NoFiles(), owner="test", record_backoff_s=0)  # type: ignore[arg-type]


def test_a_lost_connection_while_recording_is_tried_again_and_recorded_once() -> None:
    storage = FlakyStorage(failures=2)
    recorded: list[str] = []

    def record(tx: Any) -> str:
        recorded.append(tx)
        return "sent"

    assert asyncio.run(batcher(storage)._record(record)) == "sent"
    assert storage.calls == 3 and recorded == ["tx"]


def test_recording_gives_up_after_five_tries_with_the_storage_error() -> None:
    storage = FlakyStorage(failures=5)
    with pytest.raises(StorageError, match="connection lost"):
        asyncio.run(batcher(storage)._record(lambda tx: "sent"))
    assert storage.calls == 5
