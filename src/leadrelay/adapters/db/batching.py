"""Group commit: the writes of many concurrent requests go into one transaction.

One commit per lead costs more than the rest of intake together; with a batcher, requests arriving while a
transaction is in flight wait for the next one and share it. Each caller still gets its own answer, and
nothing is answered before its transaction committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy import Connection

from leadrelay.adapters.db.engine import Database

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")


class GroupCommit(Generic[I, R]):
    def __init__(
        self,
        db: Database,
        handler: Callable[[Connection, Sequence[I]], Sequence[R]],
        *,
        max_batch: int = 256,
        background: bool = False,
        relaxed: bool = False,
    ) -> None:
        self._db = db
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
                results = await self._db.run(
                    lambda conn, items=items: self._handler(conn, items),  # type: ignore[misc]
                    background=self._background,
                    relaxed=self._relaxed,
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
