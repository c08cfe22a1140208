"""``leadrelay serve --worker-processes N``: worker processes beside the API, and the metrics directory
they share with it.

prometheus-client's multiprocess mode: every process writes its counters to files in
``PROMETHEUS_MULTIPROC_DIR`` and the API's ``/metrics`` sums them. The directory must be set before
prometheus-client is first imported (:func:`metrics_directory` runs before the app is built) and must
start empty: unless the operator named one, ``serve`` makes a new one for the run and removes it at the
end. A worker process that ends is marked dead (``mark_process_dead``: its live gauges go, its counts
stay in the sums) and started again after a second.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("leadrelay.serve")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
RESTART_DELAY_S = 1.0


@contextmanager
def metrics_directory(needed: bool) -> Iterator[str | None]:
    """The run's multiprocess metrics directory: the operator's ``PROMETHEUS_MULTIPROC_DIR`` if set (kept
    as it is), else, when ``needed`` (worker processes share the counts), a new temporary directory that
    is removed when the block ends. None: one process, no directory."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        os.makedirs(given, exist_ok=True)
        yield given
        return
    if not needed:
        yield None
        return
    if "prometheus_client" in sys.modules:  # pragma: no cover - a programming error, not an input
        raise RuntimeError("prometheus_client was imported before the metrics directory was set")
    path = tempfile.mkdtemp(prefix="leadrelay-metrics-")
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


class WorkerProcesses:
    """``count`` ``leadrelay worker --loops LOOPS`` processes with this process's environment (the same
    database and settings); each is started again if it ends before :meth:`stop`."""

    def __init__(self, count: int, loops: int, database_url: str, grace_s: float) -> None:
        self.count = count
        self.loops = loops
        self.env = {**os.environ, "LEADRELAY_DATABASE_URL": database_url}
        self.grace_s = grace_s
        self.procs: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watchers: list[threading.Thread] = []

    def _spawn(self) -> subprocess.Popen[bytes]:
        args = [sys.executable, "-m", "leadrelay", "worker", "--loops", str(self.loops)]
        return subprocess.Popen(args, env=self.env)

    def start(self) -> None:
        for slot in range(self.count):
            with self._lock:
                self.procs.append(self._spawn())
            watcher = threading.Thread(target=self._watch, args=(slot,), name=f"worker-{slot}", daemon=True)
            watcher.start()
            self._watchers.append(watcher)

    def _watch(self, slot: int) -> None:
        while True:
            proc = self.procs[slot]
            code = proc.wait()
            _mark_dead(proc.pid)
            if self._stopping.is_set():
                return
            log.error("worker process %d ended (exit code %s); starting another", proc.pid, code)
            if self._stopping.wait(RESTART_DELAY_S):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.procs[slot] = self._spawn()

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self.procs]

    def stop(self) -> None:
        """SIGTERM to every worker (each finishes or hands back its jobs within the grace period), then
        SIGKILL to any still running."""
        with self._lock:
            self._stopping.set()
            procs = list(self.procs)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=self.grace_s + 5)
            except subprocess.TimeoutExpired:
                log.warning("worker process %d did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.wait()
        for watcher in self._watchers:
            watcher.join(timeout=5)


def _mark_dead(pid: int) -> None:
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
