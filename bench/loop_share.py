"""How busy each thread of `leadrelay serve --workers 0` is under `make bench`'s intake load.

Intake's throughput is bounded by the event loop's thread (the durable COMMIT runs on a thread of its own).
If that thread is busy all the time, only less CPU per lead raises the rate; if it waits part of the time
(every open request waiting on the commit in flight), filling that wait could. This runs the intake measure
of `bench/run.py` (SQLite, dedup on, wrk with a new person per request, 32 connections) once and reads each
server thread's CPU time from /proc over the measure: its share of one core.

    python bench/loop_share.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench


def thread_cpu(pid: int) -> dict[tuple[str, str], float]:
    """CPU seconds (user + system) per thread of ``pid``: (thread id, name) -> seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[tuple[str, str], float] = {}
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            stat = Path(task, "stat").read_text()
            name = Path(task, "comm").read_text().strip()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[(task.rsplit("/", 1)[1], name)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="the measure, with wrk")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        bench.prepare(url, bench.free_port(), dedup=True)  # no buyers: intake only
        port = bench.free_port()
        server = bench.start(
            [*bench.CLI, "serve", "--port", str(port), "--workers", "0"], {"LEADRELAY_DATABASE_URL": url}
        )
        try:
            bench.wait_up(f"http://127.0.0.1:{port}/health")
            load = bench.Generator(32, 0, args.seconds, True)
            load.run(f"http://127.0.0.1:{port}", warm_up=True)
            before, started = thread_cpu(server.pid), time.monotonic()
            got = load.run(f"http://127.0.0.1:{port}")
            after, wall = thread_cpu(server.pid), time.monotonic() - started
        finally:
            bench.stop(server)
    print(
        f"intake, serve --workers 0, wrk 32 connections: {got.accepted / got.seconds:,.0f} leads/s, "
        f"p50 {got.p50_ms:.1f} ms, {got.errors} errors"
    )
    shares = {key: (seconds - before.get(key, 0.0)) / wall for key, seconds in after.items()}
    for (tid, name), share in sorted(shares.items(), key=lambda item: -item[1]):
        if share >= 0.005:
            what = "the main thread: the event loop" if tid == str(server.pid) else name
            print(f"  thread {tid} ({what}): {100 * share:5.1f} % of a core")


if __name__ == "__main__":
    main()
