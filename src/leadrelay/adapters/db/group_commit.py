"""Group commit: the writes of many concurrent requests go into one transaction.

One commit per lead costs more than the rest of intake together; with a batcher, requests arriving while a
transaction is in flight wait for the next one and share it. Each caller still gets its own answer, and
nothing is answered before its transaction committed.

A batch whose transaction fails because of one item (a value the database or its JSON encoder refuses)
is written again item by item, each in its own transaction, so that only that item's caller gets the
error. A failure of the database itself (a lost connection, a deadlock: ``faults.database_failed``) is
everyone's: every caller of the batch gets it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from leadrelay.adapters.db.faults import database_failed, deadlocked
from leadrelay.services.ports import Storage, Tx

log = logging.getLogger("leadrelay.storage")

DEADLOCK_RETRIES = 2

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")


class GroupCommit(Generic[I, R]):
    """``leadrelay.services.ports.GroupCommit`` on a ``Storage``: ``handler`` runs a batch of items in
    one transaction and returns one result per item."""

    def __init__(
        self,
        storage: Storage,
        handler: Callable[[Tx, Sequence[I]], Sequence[R]],
        *,
        max_batch: int = 256,
        background: bool = False,
        relaxed: bool = False,
    ) -> None:
        self._storage = storage
        self._handler = handler
        self._max_batch = max_batch
        self._background = background
        self._relaxed = relaxed
        self._pending: list[tuple[I, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: I) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            try:
                results = await self._run_again_if_deadlocked([item for item, _ in batch])
            except Exception as exc:  # the whole transaction rolled back: nobody's write happened
                if len(batch) == 1 or database_failed(exc):
                    _fail(batch, exc)
                else:  # one item's write (a value the database refuses): it alone gets the error
                    # by type: the error's text may hold the rows' values
                    log.warning(
                        "a group commit of %d items failed (%s): writing each alone",
                        len(batch),
                        type(exc).__name__,
                    )
                    await self._each_alone(batch)
                continue
            except BaseException as exc:
                _fail(batch, exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, fut), res in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(res)

    async def _each_alone(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        """Each item of a failed batch in a transaction of its own, in the batch's order: each gets its
        own result or error (the handler left the items as they were when it raised)."""
        for index, (item, fut) in enumerate(batch):
            try:
                (res,) = await self._run([item])
            except Exception as exc:
                _fail([(item, fut)], exc)
                continue
            except BaseException as exc:  # cancelled (the loop is closing): nothing more is written
                _fail(batch[index:], exc)
                raise
            if not fut.done():
                fut.set_result(res)

    async def _run_again_if_deadlocked(self, items: list[I]) -> Sequence[R]:
        """The batch's transaction; one PostgreSQL chose to roll back for another (a deadlock between two
        processes' batches taking the same counters in other orders) is run again at once with the same
        items, up to ``DEADLOCK_RETRIES`` times, instead of failing every caller: the worker would put its
        jobs back for a second, and an auction's bids would be lost with them."""
        for tries in range(DEADLOCK_RETRIES + 1):
            try:
                return await self._run(items)
            except Exception as exc:
                if tries == DEADLOCK_RETRIES or not deadlocked(exc):
                    raise
                log.info("a group commit of %d items deadlocked: running it again", len(items))
        raise AssertionError("unreachable")

    def _run(self, items: list[I]) -> Awaitable[Sequence[R]]:
        return self._storage.run(
            lambda tx: self._handler(tx, items),
            background=self._background,
            relaxed=self._relaxed,
            quick=True,  # a batch is bounded by max_batch
        )


def _fail(batch: Sequence[tuple[Any, asyncio.Future[Any]]], exc: BaseException) -> None:
    for _, fut in batch:
        if not fut.done():
            fut.set_exception(exc)


class GroupCommits:
    """``leadrelay.services.ports.GroupCommits``: makes group commits on one ``Storage``."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def __call__(
        self,
        handler: Callable[[Tx, Sequence[I]], Sequence[R]],
        *,
        max_batch: int = 256,
        background: bool = False,
        relaxed: bool = False,
    ) -> GroupCommit[I, R]:
        return GroupCommit(
            self._storage, handler, max_batch=max_batch, background=background, relaxed=relaxed
        )
