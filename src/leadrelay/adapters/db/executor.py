"""A thread pool with two lanes: urgent work (intake, reads a request waits on) runs before background
work (worker batches) that was queued earlier, so a source never waits behind a routing batch."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

URGENT = 0
BACKGROUND = 1


class PriorityExecutor:
    def __init__(self, threads: int, name: str) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Callable[[], None] | None]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._threads = [
            threading.Thread(target=self._loop, name=f"{name}-{i}", daemon=True) for i in range(threads)
        ]
        self._closed = False
        for t in self._threads:
            t.start()

    def submit(self, priority: int, fn: Callable[..., T], *args: Any) -> Future[T]:
        if self._closed:
            raise RuntimeError("executor is shut down")
        future: Future[T] = Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        self._queue.put((priority, next(self._seq), work))
        return future

    def _loop(self) -> None:
        while True:
            _, _, work = self._queue.get()
            if work is None:
                return
            work()

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._queue.put((2, next(self._seq), None))  # after everything already queued
        for t in self._threads:
            if t is not threading.current_thread():
                t.join()
