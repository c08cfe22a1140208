"""Where the worker's CPU per lead goes, without intake's HTTP: the other half of end to end.

`make bench`'s end-to-end figure is intake plus the worker; `bench/intake_floor.py` weighs intake alone.
This script weighs the worker, in one process on uvloop as `serve` runs it, with the garbage collector
tuned as a server's (`leadrelay.entrypoints.cli._long_running`):

1. aiohttp alone: one POST of a lead's JSON per lead to the simulated buyers, 32 at a time (the floor of
   the HTTP client every delivery goes through);
2. the worker: leads queued through leadrelay's ASGI intake beforehand (not measured), then
   ``Worker.run_until_idle``: claim → route → the webhook to a buyer answering at once → the outcome
   recorded, on a SQLite file (dedup on, as `make bench`), at the worker's own concurrency (64) and claim
   batch (100).

The buyers run in another process (`leadrelay simulate-buyers`, answering at once, every lead accepted as
in `make bench`). CPU per lead is this process's user + system time (every thread: the commit thread too)
over the measure, and the event loop thread's alone. ``--sql`` also lists the SQL statements the worker ran
per lead (grouped transactions run one statement for many rows; the COMMITs are not among them). One run:
compare figures of the same run, as the machine's speed drifts.

    python bench/worker_floor.py [--leads 5000] [--sql]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

import intake_floor
import run as bench

CONCURRENCY = 32


def server_gc() -> None:
    """The garbage collector as `serve` and `worker` set it (``entrypoints.cli._long_running``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


async def timed(work: Callable[[], Awaitable[Any]], count: int) -> tuple[float, float, float]:
    """(CPU µs per lead in all, on the event loop's thread, leads per second) of ``work`` over ``count``."""
    cpu, loop, wall = time.process_time(), time.thread_time(), time.perf_counter()
    await work()
    wall = time.perf_counter() - wall
    loop = time.thread_time() - loop
    return 1e6 * (time.process_time() - cpu) / count, 1e6 * loop / count, count / wall


async def aiohttp_alone(url: str, count: int) -> tuple[float, float, float]:
    bodies = intake_floor.bodies(count)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:

        async def lane(part: list[bytes]) -> None:
            for body in part:
                async with session.post(url, data=body, headers=headers) as answer:
                    await answer.read()

        async def send_all(leads: list[bytes]) -> None:
            await asyncio.gather(*(lane(leads[i::CONCURRENCY]) for i in range(CONCURRENCY)))

        await send_all(intake_floor.bodies(500))  # warm up: connections open
        server_gc()
        return await timed(lambda: send_all(bodies), count)


class Statements:
    """Counts the SQL statements run (and the rows of an executemany), by statement text."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, bool], list[int]] = {}

    def __call__(self, conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        seen = self.counts.setdefault((" ".join(sql.split())[:100], many), [0, 0])
        seen[0] += 1
        seen[1] += len(params) if many else 1


async def worker_alone(url: str, count: int, statements: Statements | None) -> tuple[float, float, float]:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from leadrelay.bootstrap import build_runtime
    from leadrelay.config import load_settings
    from leadrelay.entrypoints.api.app import create_app

    settings = load_settings()
    app = create_app(settings, workers=0)
    async with app.router.lifespan_context(app):
        runtime = build_runtime(settings)
        worker = runtime.new_worker()
        try:
            await intake_floor.drive(app, intake_floor.bodies(500))
            await worker.run_until_idle()  # warm up: statements built, connections open
            statuses = await intake_floor.drive(app, intake_floor.bodies(count))
            assert statuses == {202: count}, statuses
            server_gc()
            if statements is not None:
                event.listen(Engine, "before_cursor_execute", statements)
            try:
                return await timed(worker.run_until_idle, count)
            finally:
                if statements is not None:
                    event.remove(Engine, "before_cursor_execute", statements)
        finally:
            await runtime.channels.close()
            runtime.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=5_000, help="per measure (after 500 to warm up)")
    parser.add_argument("--sql", action="store_true", help="list the SQL statements per lead too")
    args = parser.parse_args()
    n = args.leads
    port = bench.free_port()
    env = {"LEADRELAY_ALLOWED_TARGET_NETWORKS": "127.0.0.0/8"}
    buyers = bench.start(
        [*bench.CLI, "simulate-buyers", "--port", str(port), "--latency-ms", "0", "--accept-rate", "1"], env
    )
    statements = Statements() if args.sql else None
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/worker.db"
        bench.prepare(url, port)
        os.environ.update(env, LEADRELAY_DATABASE_URL=url)
        try:
            bench.wait_up(f"http://127.0.0.1:{port}/stats")
            figures = [
                (
                    "aiohttp alone: a POST per lead",
                    uvloop.run(aiohttp_alone(f"http://127.0.0.1:{port}/buyer/p1", n)),
                ),
                ("worker: claim, route, webhook, record", uvloop.run(worker_alone(url, n, statements))),
            ]
        finally:
            bench.stop(buyers)
    print(
        f"the worker without intake — one process, uvloop, {n:,} leads per measure "
        f"(aiohttp {CONCURRENCY} at a time; the worker at its own concurrency and claim batch)"
    )
    width = max(len(name) for name, _ in figures)
    print(f"  {'measure':<{width}}  CPU µs/lead  of it on the loop  leads/s")
    for name, (us, loop, rate) in figures:
        print(f"  {name:<{width}}  {us:>11,.0f}  {loop:>16,.0f}  {rate:>7,.0f}")
    if statements is not None:
        print("\n  SQL per lead (statements, rows), most run first:")
        for (sql, many), (calls, rows) in sorted(statements.counts.items(), key=lambda kv: -kv[1][0]):
            print(f"  {calls / n:6.2f} {rows / n:6.2f} {'many' if many else '    '}  {sql}")


if __name__ == "__main__":
    main()
