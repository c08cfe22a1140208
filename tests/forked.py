"""`leadrelay` processes for the tests, forked from a server that imported leadrelay once.

A `leadrelay serve` spends 1.5 s of CPU, and a `leadrelay worker` 0.9 s, on starting Python and importing
leadrelay and its libraries before its first line of work, and the multi-process tests start dozens of
them. Here each is forked instead from multiprocessing's fork server, which imported those modules once
(one fork server per xdist worker, started by its first such test). What runs is still a process of its
own running the real CLI, with its own pid, signals, environment, working directory, log file and exit
status: SIGTERM, kill -9 and exit codes are the operating system's, as in production. What is shared is
the interpreter's start and the imports, and with them what a module reads at import: that is the fork
server's (its environment with the terminal's variables removed, one string-hash seed, the ``PYTHON*``
variables), and the preloaded modules must not import prometheus_client (`serve --worker-processes` sets
its multiprocess directory first, and says so if it was imported). The tests run from the repository's
root, where the fork server finds ``tests.forked``.

Under coverage (`make coverage`), and for any command that is not ``python -m leadrelay``, the process is
started the usual way (``subprocess.Popen``), so that coverage measures it as it measures every
subprocess; the README tour and the CLI smoke tests run real commands too.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import multiprocessing
import multiprocessing.process
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Protocol

import pytest

# what `leadrelay serve` and `leadrelay worker` import before their first line of work
PRELOAD = [
    "leadrelay.entrypoints.cli",
    "leadrelay.entrypoints.api.app",
    "leadrelay.entrypoints.worker",
    "uvicorn",
    "alembic.command",
    "tests.forked",
]


class Process(Protocol):
    """What the tests use of a ``subprocess.Popen``."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


class Forked:
    """A forked `leadrelay` process, as a ``subprocess.Popen`` is used (exit codes too: ``-N`` when
    signal N ended it)."""

    def __init__(self, process: multiprocessing.process.BaseProcess, args: Sequence[str]) -> None:
        self._process = process
        self.args = list(args)

    @property
    def pid(self) -> int:
        pid = self._process.pid
        assert pid is not None
        return pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        code = self._process.exitcode
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return code

    def send_signal(self, sig: int) -> None:
        """Signal the process unless it has ended (as ``Popen`` does; it may end meanwhile)."""
        if self._process.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


@functools.cache
def _fork_server() -> ForkServerContext:
    """The fork server, started on first use with the environment of a process whose output goes to a
    file: what a module decides at import from the terminal (the CLI's Rich consoles: colours, width) is
    then what a subprocess writing to its log decides."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    with pytest.MonkeyPatch.context() as env:  # this process's own variables come back after
        env.setenv("TERM", "dumb")
        env.delenv("COLUMNS", raising=False)
        env.delenv("LINES", raising=False)
        forkserver.ensure_running()
    return context


def measured() -> bool:
    """Whether coverage.py measures this run (its subprocess patch starts it in every Python child)."""
    return any(name.startswith("COVERAGE_") for name in os.environ) or "coverage" in sys.modules


def _leadrelay_args(args: Sequence[str]) -> list[str] | None:
    """The CLI's arguments when ``args`` is ``python -m leadrelay …``, else None."""
    if len(args) >= 3 and args[0] == sys.executable and args[1:3] == ["-m", "leadrelay"]:
        return list(args[3:])
    return None


def start(args: Sequence[str], env: Mapping[str, str], *, log: Path, cwd: Path) -> Process:
    """``args`` with exactly ``env`` as its environment, in ``cwd``, its output (stdout and stderr)
    appended to ``log``: forked from the fork server when it is a `leadrelay` command, else a subprocess."""
    cli = _leadrelay_args(args)
    with log.open("ab") as fh:  # there when this returns, as the process's output will be
        if cli is None or measured():
            return subprocess.Popen(list(args), env=dict(env), stdout=fh, stderr=subprocess.STDOUT, cwd=cwd)
    process = _fork_server().Process(
        target=_run_cli, args=(cli, dict(env), str(log), str(cwd)), name="leadrelay", daemon=True
    )
    process.start()  # daemon: one a test left running gets SIGTERM when the xdist worker exits
    return Forked(process, args)


def _run_cli(cli: list[str], env: dict[str, str], log: str, cwd: str) -> None:
    """In the forked process: become `leadrelay CLI…` (environment, working directory, output), run it,
    then run the exit handlers a Python process runs on its way out (multiprocessing ends its children
    with ``os._exit``, which skips them; the trace exporter flushes there)."""
    out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["leadrelay", *cli]
    from leadrelay.entrypoints.cli import main

    gc.freeze()  # the imports out of the collector's sight, as `python -m leadrelay` leaves them
    try:
        main()
    finally:
        atexit._run_exitfuncs()  # what the interpreter would do at its exit
