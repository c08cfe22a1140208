"""A group commit that runs each submitted item in its own fake transaction, and old pages that are
forgotten at no cost."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from leadrelay.services.ports import Storage, Tx

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")


class FakeGroupCommit(Generic[I, R]):
    """``GroupCommit``: ``submit`` runs the handler on ``[item]`` in one transaction of the storage (no
    waiting for company: a unit test submits one item at a time). ``batches`` keeps what each
    transaction was given; a transaction that raises raises to the submitter, its writes dropped."""

    def __init__(
        self,
        storage: Storage,
        handler: Callable[[Tx, Sequence[I]], Sequence[R]],
        *,
        max_batch: int,
        background: bool,
        relaxed: bool,
    ) -> None:
        self._storage = storage
        self._handler = handler
        self.max_batch = max_batch
        self.background = background
        self.relaxed = relaxed
        self.batches: list[list[I]] = []

    async def submit(self, item: I) -> R:
        self.batches.append([item])
        results = await self._storage.run(
            lambda tx: self._handler(tx, [item]), background=self.background, relaxed=self.relaxed
        )
        if len(results) != 1:
            raise AssertionError(f"the handler returned {len(results)} results for one item")
        return results[0]


class FakeGroupCommits:
    """``GroupCommits`` on one storage; ``made`` lists the group commits it made."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self.made: list[FakeGroupCommit[object, object]] = []

    def __call__(
        self,
        handler: Callable[[Tx, Sequence[I]], Sequence[R]],
        *,
        max_batch: int = 256,
        background: bool = False,
        relaxed: bool = False,
    ) -> FakeGroupCommit[I, R]:
        made = FakeGroupCommit(
            self._storage, handler, max_batch=max_batch, background=background, relaxed=relaxed
        )
        self.made.append(made)  # type: ignore[arg-type]
        return made


class FakeOldPages:
    """``OldPages``: nothing lingers in memory; ``forgotten`` counts the calls."""

    def __init__(self) -> None:
        self.forgotten = 0

    def forget_old_pages(self) -> None:
        self.forgotten += 1

    async def forget_old_pages_soon(self) -> None:
        self.forgotten += 1
