"""Where the suite's CPU goes, module by module: ``pytest -p tests.cpu_report -n 4 --dist worksteal``.

Each test's CPU is its process's (every thread: the in-process test servers are threads) and its children's
that ended meanwhile (the ``leadrelay`` subprocesses, Playwright's driver), from ``getrusage``; xdist workers
write theirs to ``$LEADRELAY_CPU_REPORT`` (default ``.cpu-report/``) and the run prints the 25 costliest
modules and the workers' and the controller's totals. What the table cannot see: PostgreSQL's backends and
Chromium's renderers (children of other processes), and the kernel's own work; compare its total with the
machine's busy time over the run (``/proc/stat``) to size them."""

from __future__ import annotations

import json
import os
import resource
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

OUT = Path(os.environ.get("LEADRELAY_CPU_REPORT", ".cpu-report"))
_rows: list[tuple[str, float, float, float]] = []  # nodeid, wall, own CPU, children's CPU


def _cpu(who: int) -> float:
    used = resource.getrusage(who)
    return used.ru_utime + used.ru_stime


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    own, children, started = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    try:
        return (yield)
    finally:
        _rows.append(
            (
                item.nodeid,
                time.perf_counter() - started,
                _cpu(resource.RUSAGE_SELF) - own,
                _cpu(resource.RUSAGE_CHILDREN) - children,
            )
        )


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller (or a run without xdist)
        OUT.mkdir(exist_ok=True)
        for old in OUT.glob("*.json"):
            old.unlink()


def pytest_sessionfinish(session: pytest.Session) -> None:
    worker = getattr(session.config, "workerinput", {}).get("workerid", "main")
    totals = {"own": _cpu(resource.RUSAGE_SELF), "children": _cpu(resource.RUSAGE_CHILDREN)}
    (OUT / f"{worker}.json").write_text(json.dumps({"tests": _rows, "totals": totals}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    runs = {path.stem: json.loads(path.read_text()) for path in sorted(OUT.glob("*.json"))}
    modules: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    for run in runs.values():
        for nodeid, wall, own, children in run["tests"]:
            row = modules[nodeid.split("::")[0]]
            row[0] += 1
            row[1], row[2], row[3] = row[1] + wall, row[2] + own, row[3] + children
    write = terminalreporter.write_line
    tested = sum(own + children for _, _, own, children in modules.values())
    write(f"CPU in the tests: {tested:.1f} s (own and children's), by module, the 25 costliest:")
    write(f"{'CPU s':>8} {'own':>7} {'children':>9} {'wall s':>8} {'tests':>6}  module")
    for name, (count, wall, own, children) in sorted(modules.items(), key=lambda kv: -(kv[1][2] + kv[1][3]))[
        :25
    ]:
        write(f"{own + children:8.1f} {own:7.1f} {children:9.1f} {wall:8.1f} {count:6.0f}  {name}")
    for worker, run in runs.items():  # whole processes, from their start
        own, children = run["totals"]["own"], run["totals"]["children"]
        if worker == "main" and len(runs) > 1:
            write(f"the xdist controller: {own:.1f} s (its ended children, the workers: {children:.1f} s)")
        else:
            write(f"{worker}: {own:.1f} s, its ended children {children:.1f} s")
