"""Group commit: the writes of many concurrent requests go into one transaction.

One commit per lead costs more than the rest of intake together; with a batcher, requests arriving while a
transaction is in flight wait for the next one and share it. Each caller still gets its own answer, and
nothing is answered before its transaction committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from leadrelay.services.ports import Storage, Tx

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
            items = [item for item, _ in batch]
            try:
                results = await self._storage.run(
                    lambda tx, items=items: self._handler(tx, items),  # type: ignore[misc]
                    background=self._background,
                    relaxed=self._relaxed,
                    quick=True,  # a batch is bounded by max_batch
                )
            except BaseException as exc:  # the whole transaction rolled back: nobody's write happened
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, fut), res in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(res)


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
