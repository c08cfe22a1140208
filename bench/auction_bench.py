"""`make bench`, the auction: the platform's own time around a ping-post auction, under open-loop arrivals.

Runs `leadrelay serve` (one worker loop in the API process) on SQLite, and on PostgreSQL when reachable, and
simulated bidding buyers in another subprocess (`leadrelay simulate-buyers`): 10 buyers that answer every
ping with a bid after a fixed 50 ms and accept every post at once. Every rule is an auction over the 10, so a
lead is pinged to all of them, the best bid wins and the lead is posted to it. A generator here (aiohttp)
posts one new person per arrival at fixed intervals — open loop: an arrival never waits for earlier answers
— each with ``?wait=5``, and times each answer from the moment its request is sent. The platform's
overhead is that time less the buyers' 50 ms.

Measures, on each database:

- the main run: ``--rate`` auctions/s for ``--seconds`` (100/s for 30 s), p50, p99 and max overhead, the
  answers by status, and the servers' CPU per auction;
- its reference, just before it on the same buyers: a bare client (aiohttp) doing an auction's HTTP by hand
  at the same rate (the 10 pings at once, the post to the best bid), after the same warm-up as the
  platform's, timed and printed the same way, its CPU the client's own; then the main run's p50 and p99
  less the reference's (about the platform's own part: a difference of quantiles, not a quantile). The
  simulated buyers answer later than 50 ms themselves (their timers, their HTTP on a shared core), and the
  overhead, as the budget defines it, counts that too;
- on SQLite, after the main run, the floor (bench/auction_floor.py): a minimal auction server in the same
  stack doing only an auction's necessary I/O (the pings, the lead with its bids and award stored durably,
  the post, the record), at the same rate on the same buyers, and the main run's p50 and p99 less the
  floor's;
- a rate sweep (``--sweep``, short runs, rising; it stops at the first rate whose p99 overhead reaches
  50 ms) and the highest rate whose p99 overhead stays under 50 ms;
- the API and the worker in two processes (`serve --workers 0` and `leadrelay worker`, the layout at
  scale): ``--split-rate`` auctions/s (20) for ``--split-seconds``;
- the slow buyer: one of the 10 answers its pings only after 5 s, the rule's deadline is 750 ms and the
  source waits ``?wait=0.75``; every answer must come within 760 ms of its request.

The budget on the reference machine (issue 10, point 11): p99 overhead at most 10 ms at 100 auctions/s, and
no answer later than 760 ms in the slow-buyer check. Prints figures and says which budget is missed; the
exit status is 0 either way (``--check`` makes a missed budget exit 1). ``--quick``: seconds, for a smoke
test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import CLI, KEY, SECRET, cpu_seconds, free_port, fresh_postgres, start, stop, wait_up  # noqa: E402

from leadrelay.adapters.db import config_store  # noqa: E402
from leadrelay.adapters.db.engine import Database  # noqa: E402
from leadrelay.adapters.db.migrate import upgrade  # noqa: E402
from leadrelay.adapters.db.unit_of_work import SqlStorage  # noqa: E402
from leadrelay.services import configure  # noqa: E402
from leadrelay.services.ports import STEPS  # noqa: E402

BUYERS = 10
PING_MS = 50.0  # every bidding buyer's answer time: the part of an answer that is not ours
BUDGET_P99_MS = 10.0  # p99 overhead at 100 auctions/s on the reference machine
SWEEP = [10.0, 25.0, 50.0, 100.0, 200.0, 400.0]  # auctions/s; each --sweep-seconds; stops at the first over
SWEEP_LIMIT_MS = 50.0  # the sweep's bar: the highest rate whose p99 overhead stays under it
SLOW_DEADLINE_MS = 750.0
SLOW_LIMIT_MS = 760.0  # the source's deadline plus the few ms we allow ourselves
WARM_UP_RATE = 20.0  # auctions/s before every measure (connections, caches, the configuration)
_serial = iter(range(10**9))  # every posted lead is a new person


def config(buyers_port: int, slow_port: int | None, deadline: str) -> dict[str, Any]:
    """10 partners, each a post channel and a ping beside it; every lead goes to an auction over all of
    them. With ``slow_port``, the last partner's ping and post go to the slow buyer there."""

    def partner(name: str, port: int) -> dict[str, Any]:
        base = f"http://127.0.0.1:{port}/buyer/{name}"
        mapping = {
            "first_name": "{{ lead.first_name }}",
            "phone": "{{ lead.phone }}",
            "ping_reference": "{{ ping.reference }}",
        }
        # breakers off: an overloaded server's own lateness would count as the buyers' timeouts, open
        # their breakers and leave the next measures' leads unsold
        return {
            "channel": {"webhook": {"url": base, "timeout": "5s", "mapping": mapping}},
            "ping": {"url": f"{base}/ping", "timeout": "2s"},
            "breaker": "off",
        }

    names = [f"buyer{i}" for i in range(1, BUYERS + 1)]
    partners = {name: partner(name, buyers_port) for name in names}
    if slow_port is not None:  # its breaker is off too: every auction waits for it until the deadline
        partners[names[-1]] = partner("slow", slow_port)
    return {
        "entities": {
            "solar": {
                "fields": {
                    "first_name": {"type": "string", "required": True},
                    "last_name": {"type": "string"},
                    "email": {"type": "email"},
                    "phone": {"type": "phone", "required": True},
                    "zip": {"type": "postal_code", "required": True},
                    "state": {"type": "state"},
                    "monthly_bill": {"type": "number"},
                },
                "dedup": {"keys": [["email"], ["phone"]], "window": "1d"},
            }
        },
        "sources": {"bench": {"entities": ["solar"]}},
        "partners": partners,
        "profiles": {
            "main": {
                "entity": "solar",
                "default": {"partners": names, "strategy": "auction", "deadline": deadline},
            }
        },
    }


def prepare(url: str, doc: dict[str, Any]) -> None:
    upgrade(url)
    db = Database(url)
    try:
        configure.apply_document_sync(SqlStorage(db), doc, actor="bench")
        db.transaction(lambda c: config_store.add_api_key(c, "bench", KEY, datetime.now(UTC)))
    finally:
        db.dispose()


def lead() -> bytes:
    k = next(_serial)
    return orjson.dumps(
        {
            "first_name": f"Bid{k}",
            "last_name": "Bench",
            "email": f"bid{k}@example.com",
            "phone": f"512{200 + (k // 10_000) % 800:03d}{k % 10_000:04d}",
            "zip": "94103",
            "state": "CA",
            "monthly_bill": 40 + k % 200,
        }
    )


@dataclass
class Run:
    rate: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)  # every answer, from its request's send
    statuses: Counter[str] = field(default_factory=Counter)  # delivered, unsold, queued, error
    lag_ms: float = 0.0  # how late the generator sent its latest-sent request (its own health)
    cpu_us: float = 0.0  # the servers' CPU per arrival (the bare client's own, in its reference)
    steps: dict[str, tuple[float, float]] = field(default_factory=dict)  # database step: (count, seconds)

    def overhead(self, q: float) -> float:
        """The q quantile (0..1; 1 the max) of the answers' time less the buyers' PING_MS."""
        lat = sorted(self.latencies_ms)
        if not lat:
            return float("nan")
        return lat[min(len(lat) - 1, max(0, int(len(lat) * q + 0.5) - 1))] - PING_MS


async def arrivals(run: Run, bodies: list[bytes], one: Callable[[bytes], Awaitable[None]]) -> None:
    """Open loop: ``one(body)`` for each body, as a task of its own started at its scheduled time
    (``run.rate`` a second), whatever the earlier ones are doing; returns when all have ended.
    ``run.lag_ms``: how late the latest-started one started."""
    loop = asyncio.get_running_loop()
    start_at = loop.time() + 0.05
    tasks = []
    for i, body in enumerate(bodies):
        due = start_at + i / run.rate
        if (delay := due - loop.time()) > 0:
            await asyncio.sleep(delay)
        run.lag_ms = max(run.lag_ms, (loop.time() - due) * 1e3)
        tasks.append(asyncio.create_task(one(body)))
    await asyncio.gather(*tasks)


async def open_loop(url: str, rate: float, seconds: float, wait: float) -> Run:
    """``rate`` arrivals per second for ``seconds``, each a coroutine of its own sent at its scheduled
    time, whatever the earlier ones are doing; bounded: ``rate * seconds`` posts, each under a timeout."""
    n = max(1, round(rate * seconds))
    bodies = [lead() for _ in range(n)]  # built before the clock starts
    run = Run(rate, seconds)
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    target = f"{url}/v1/leads?wait={wait:g}"
    timeout = aiohttp.ClientTimeout(total=wait + 30)
    # idle connections dropped after 4 s, before uvicorn's 5 s: a post does not go out on a connection the
    # server is closing between two runs (aiohttp keeps them 15 s, and sends a POST only once)
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=4)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(body: bytes) -> None:
            t0 = time.perf_counter()
            try:
                async with session.post(target, data=body, headers=headers) as r:
                    payload = await r.read()
                    took = (time.perf_counter() - t0) * 1e3
                    status = orjson.loads(payload).get("status", "?") if r.status in (200, 202) else "error"
            except (aiohttp.ClientError, TimeoutError):
                run.statuses["error"] += 1
                return
            run.statuses[str(status)] += 1
            if status != "error":
                run.latencies_ms.append(took)

        await arrivals(run, bodies, one)
    return run


async def bare_auctions(buyers_url: str, rate: float, seconds: float, warm_up: float) -> Run:
    """The reference, run in the same hour on the same buyers: a bare client (aiohttp, no platform) doing
    an auction's HTTP by hand at ``rate`` open-loop arrivals for ``seconds`` — the 10 pings at once, the best
    bid taken, the post to it — timed like the platform's answers, after the same warm-up as the
    platform's (``warm_up`` seconds at WARM_UP_RATE, in the same session). What it takes beyond PING_MS is
    the buyers' and plain HTTP's part (the buyers' timers, their HTTP on a shared core, the client's own
    aiohttp), which the platform's overhead also counts. A lead no buyer bids on is ``unsold`` (no post),
    as the platform's would be; an answer that cannot be read is an ``error``."""
    names = [f"buyer{i}" for i in range(1, BUYERS + 1)]
    headers = {"Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:

        async def ping(name: str, body: bytes) -> tuple[float, str] | None:
            """The buyer's bid, or None when it refused."""
            async with session.post(f"{buyers_url}/buyer/{name}/ping", data=body, headers=headers) as r:
                answer = orjson.loads(await r.read())
                if r.status != 200 or not answer.get("accepted"):
                    return None
            return float(answer["price"]), name

        async def measured(run: Run) -> Run:
            async def one(body: bytes) -> None:
                t0 = time.perf_counter()
                try:
                    bids = [bid for bid in await asyncio.gather(*(ping(n, body) for n in names)) if bid]
                    status = "unsold"
                    if bids:  # the best bid gets the post (a tie: either)
                        _, best = max(bids)
                        async with session.post(
                            f"{buyers_url}/buyer/{best}", data=body, headers=headers
                        ) as r:
                            await r.read()
                            status = "delivered" if r.status == 200 else "error"
                except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
                    status = "error"
                run.statuses[status] += 1
                if status != "error":
                    run.latencies_ms.append((time.perf_counter() - t0) * 1e3)

            n = max(1, round(run.rate * run.seconds))
            bodies = [lead() for _ in range(n)]  # built before the clock starts
            cpu = time.process_time()
            await arrivals(run, bodies, one)
            run.cpu_us = (time.process_time() - cpu) / n * 1e6  # the bare client's own, per auction
            return run

        await measured(Run(WARM_UP_RATE, warm_up))
        return await measured(Run(rate, seconds))


@dataclass
class Platform:
    proc: subprocess.Popen[bytes]
    url: str
    db: Database
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)  # a worker process beside it

    def backlog(self) -> int:
        """Jobs not finished yet (ready or claimed)."""
        from sqlalchemy import func, select

        from leadrelay.adapters.db.tables import jobs

        query = select(func.count()).select_from(jobs).where(jobs.c.queue_state.in_(["ready", "claimed"]))
        return self.db.read(lambda c: int(c.execute(query).scalar_one()))

    def drain(self, limit_s: float = 120.0) -> None:
        """Waits (bounded) for the jobs in hand to finish: before a run, so that it starts on an idle server,
        and after it, so that its figures hold all of its work; says so when they do not."""
        deadline = time.monotonic() + limit_s
        while (left := self.backlog()) and time.monotonic() < deadline:
            time.sleep(0.2)
        if left:
            print(f"    ({left} jobs of the runs before still unfinished after {limit_s:g} s)", flush=True)


def step_times(url: str) -> dict[str, tuple[float, float]]:
    """The server's ``leadrelay_step_seconds`` so far, per database step: (count, seconds)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found: dict[str, list[float]] = {step: [0.0, 0.0] for step in STEPS}
    for family in text_string_to_metric_families(text):
        if family.name == "leadrelay_step_seconds":
            for sample in family.samples:
                kept = found.setdefault(sample.labels["step"], [0.0, 0.0])
                if sample.name.endswith("_count"):
                    kept[0] = sample.value
                elif sample.name.endswith("_sum"):
                    kept[1] = sample.value
    return {step: (count, total) for step, (count, total) in found.items()}


def settled_step_times(url: str, limit_s: float = 5.0) -> dict[str, tuple[float, float]]:
    """``step_times`` once two reads 0.2 s apart agree (bounded): a job is done in the database when its
    last transaction commits, and its step is counted when the worker's task resumes after it, which on a
    busy loop may come after the drain saw no job left."""
    deadline = time.monotonic() + limit_s
    last = step_times(url)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = step_times(url)
        if now == last:
            break
        last = now
    return last


def measure(server: Platform, rate: float, seconds: float, wait: float) -> Run:
    server.drain()
    steps0 = step_times(server.url)
    cpu0 = cpu_seconds([server.proc, *server.others])
    run = asyncio.run(open_loop(server.url, rate, seconds, wait))
    # a sale may still be recording its post's outcome after its source's answer (the answer keeps the
    # source's deadline): the run's CPU and steps are read once its jobs are done
    server.drain()
    steps1 = settled_step_times(server.url)
    run.cpu_us = (
        (cpu_seconds([server.proc, *server.others]) - cpu0) / max(1, sum(run.statuses.values())) * 1e6
    )
    run.steps = {k: (steps1[k][0] - c, steps1[k][1] - t) for k, (c, t) in steps0.items() if k in steps1}
    return run


@contextlib.contextmanager
def platform(
    db_url: str, doc: dict[str, Any], env: dict[str, str], *, split: bool = False
) -> Iterator[Platform]:
    """`leadrelay serve` with one worker loop on a database prepared with ``doc``; ``split``: `serve
    --workers 0` and a `leadrelay worker` process beside it (the CPU figure is both processes')."""
    prepare(db_url, doc)
    port = free_port()
    server_env = {**env, "LEADRELAY_DATABASE_URL": db_url}
    counts = tempfile.TemporaryDirectory() if split else None
    if counts is not None:  # the worker's counts reach the API's /metrics (prometheus-client multiprocess)
        server_env["PROMETHEUS_MULTIPROC_DIR"] = counts.name
    proc = start([*CLI, "serve", "--port", str(port), "--workers", "0" if split else "1"], server_env)
    worker = start([*CLI, "worker"], server_env) if split else None
    db = Database(db_url)
    try:
        wait_up(f"http://127.0.0.1:{port}/health")
        yield Platform(proc, f"http://127.0.0.1:{port}", db, [worker] if worker is not None else [])
    finally:
        if worker is not None:
            stop(worker)
        stop(proc)
        db.dispose()
        if counts is not None:
            counts.cleanup()


def buyers(port: int, env: dict[str, str], ping: str, *extra: str) -> subprocess.Popen[bytes]:
    args = [*CLI, "simulate-buyers", "--port", str(port), "--count", str(BUYERS), "--latency-ms", "0"]
    args += ["--ping-latency", ping, "--accept-rate", "1", "--refusal-rate", "0", "--bid-min", "5"]
    proc = start([*args, "--bid-max", "25", *extra], env)
    wait_up(f"http://127.0.0.1:{port}/stats")
    return proc


def load_bench_module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def profiler(proc: subprocess.Popen[bytes], out: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy sampling the server (`make profile` installs it) for the main run; raw collapsed stacks."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    args = [
        py_spy,
        "record",
        "--pid",
        str(proc.pid),
        "--format",
        "raw",
        "--rate",
        "250",
        "--gil",
        "--nonblocking",
    ]
    args += ["--duration", str(round(seconds) + 1), "--output", str(out)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


HEADER = (
    f"    {'measure':34s} {'rate/s':>7s} {'answers':>8s} {'p50 ms':>7s} {'p99 ms':>7s} {'max ms':>7s} "
    f"{'CPU µs':>7s} {'gen lag':>8s}  outcomes"
)


def row(label: str, run: Run, offset: float = PING_MS) -> str:
    def q(x: float) -> float:
        return run.overhead(x) + PING_MS - offset

    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(run.statuses.items()))
    return (
        f"    {label:34s} {run.rate:7.0f} {len(run.latencies_ms):8d} {q(0.5):7.1f} {q(0.99):7.1f} "
        f"{q(1.0):7.1f} {run.cpu_us:7,.0f} {run.lag_ms:6.1f}ms  {outcomes}"
    )


def steps_row(run: Run) -> str:
    """Where an auction's overhead goes, in the database: each step's mean time (its wait for the shared
    transaction and the transaction) and how many per auction."""
    answers = max(1, len(run.latencies_ms))
    parts = [
        f"{step} {total / count * 1e3:.1f} ms ×{count / answers:.1f}"
        for step, (count, total) in run.steps.items()
        if count
    ]
    return "      database steps, mean (per auction): " + (", ".join(parts) or "none counted")


def less(main: Run, other: Run, name: str, about: str = "") -> str:
    """The main run's p50 and p99 less ``other``'s (a difference of quantiles, not a quantile)."""
    parts = [f"{q} {main.overhead(x) - other.overhead(x):.1f} ms" for q, x in (("p50", 0.5), ("p99", 0.99))]
    return f"    the main run less {name}, quantile by quantile{about}: " + ", ".join(parts)


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)


def run_db(label: str, db_urls: tuple[str, str, str], args: argparse.Namespace, verdict: Verdict) -> None:
    env = {"LEADRELAY_SECRET_KEY": SECRET, "LEADRELAY_ALLOWED_TARGET_NETWORKS": "127.0.0.0/8"}
    fast_port, slow_port = free_port(), free_port()
    fast = buyers(fast_port, env, f"fixed:{PING_MS:g}")
    slow = buyers(slow_port, env, f"fixed:{PING_MS:g}", "--timeout-rate", "1", "--timeout-delay-ms", "5000")
    try:
        print(f"  [{label}] overhead = answer time - {PING_MS:g} ms (the buyers' ping time); ms below")
        print(HEADER)
        with platform(db_urls[0], config(fast_port, None, "750ms"), env) as server:
            asyncio.run(open_loop(server.url, WARM_UP_RATE, args.warm_up, 5))
            # the reference first, with the platform started and idle beside it, as in the main run
            server.drain()
            buyers_url = f"http://127.0.0.1:{fast_port}"
            bare = asyncio.run(bare_auctions(buyers_url, args.rate, args.seconds, args.warm_up))
            print(row(f"bare client, {args.rate:g}/s (reference)", bare), flush=True)  # CPU: the client's
            spy = profiler(server.proc, args.profile, args.seconds) if args.profile else None
            main = measure(server, args.rate, args.seconds, 5)
            if spy is not None:
                spy.wait(timeout=args.seconds + 60)
            print(row(f"{args.rate:g}/s for {args.seconds:g} s (overhead)", main), flush=True)
            print(steps_row(main), flush=True)
            print(less(main, bare, "the reference", " (the platform's own part, about)"), flush=True)
            if label == "sqlite":  # the other bound, on the same buyers: a minimal server in the same stack
                server.drain()  # leadrelay idle beside it, as beside the reference
                try:
                    floor_run = load_bench_module("auction_floor").floor_run
                    bench = sys.modules[__name__]
                    floor, mode = floor_run(buyers_url, args.rate, args.seconds, args.warm_up, bench=bench)
                except Exception as exc:  # a figure for the reader, never what stops the benchmark
                    print(f"    the floor did not run: {exc!r}", flush=True)
                else:
                    print(
                        row(f"minimal server, {args.rate:g}/s (the floor)", floor) + f"  ({mode})", flush=True
                    )
                    print(less(main, floor, "the floor"), flush=True)
            if main.overhead(0.99) > BUDGET_P99_MS or main.statuses.keys() - {"delivered"}:
                verdict.problems.append(
                    f"{label}: p99 overhead {main.overhead(0.99):.1f} ms at {args.rate:g}/s "
                    f"(budget {BUDGET_P99_MS:g} ms); outcomes {dict(main.statuses)}"
                )
            best: float | None = None
            for rate in args.sweep:
                run = measure(server, rate, args.sweep_seconds, 5)
                print(row(f"sweep {rate:g}/s for {args.sweep_seconds:g} s", run), flush=True)
                print(steps_row(run), flush=True)
                if run.overhead(0.99) >= SWEEP_LIMIT_MS or run.statuses.keys() - {"delivered"}:
                    break
                best = rate
            print(
                f"    highest rate with p99 overhead under {SWEEP_LIMIT_MS:g} ms: "
                + (f"{best:g}/s" if best is not None else f"none of {args.sweep}")
                + ("" if not args.sweep or best != args.sweep[-1] else " (the sweep's top: higher not tried)")
            )
        # the API and the worker in two processes (the layout at scale): the word between them
        # (PostgreSQL's LISTEN/NOTIFY, datagrams on SQLite) starts a lead at once and answers at once
        with platform(db_urls[2], config(fast_port, None, "750ms"), env, split=True) as server:
            asyncio.run(open_loop(server.url, WARM_UP_RATE, args.warm_up, 5))
            two = measure(server, args.split_rate, args.split_seconds, 5)
            print(row("API + worker process (overhead)", two), flush=True)
            print(steps_row(two), flush=True)
        slow_doc = config(fast_port, slow_port, f"{SLOW_DEADLINE_MS:g}ms")
        with platform(db_urls[1], slow_doc, env) as server:
            asyncio.run(open_loop(server.url, WARM_UP_RATE, args.warm_up, SLOW_DEADLINE_MS / 1000))
            check = measure(server, args.slow_rate, args.slow_seconds, SLOW_DEADLINE_MS / 1000)
            print(row("slow buyer, ?wait=0.75 (answer time)", check, offset=0.0))
            late = sum(1 for t in check.latencies_ms if t > SLOW_LIMIT_MS)
            print(
                f"    slow buyer: max answer {max(check.latencies_ms, default=float('nan')):.1f} ms; "
                f"{late} of {len(check.latencies_ms)} later than {SLOW_LIMIT_MS:g} ms"
            )
            if late or check.statuses.get("error"):
                verdict.problems.append(f"{label}: {late} answers later than {SLOW_LIMIT_MS:g} ms")
    finally:
        stop(fast)
        stop(slow)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=100.0, help="auctions per second of the main run")
    parser.add_argument("--seconds", type=float, default=30.0, help="the main run's length")
    parser.add_argument("--sweep", type=float, nargs="*", default=SWEEP, help="rates, rising")
    parser.add_argument("--sweep-seconds", type=float, default=10.0)
    parser.add_argument("--split-rate", type=float, default=20.0, help="auctions/s, API + worker process")
    parser.add_argument("--split-seconds", type=float, default=10.0)
    parser.add_argument("--slow-rate", type=float, default=20.0, help="arrivals per second, slow-buyer check")
    parser.add_argument("--slow-seconds", type=float, default=10.0)
    parser.add_argument(
        "--warm-up", type=float, default=2.0, help=f"seconds at {WARM_UP_RATE:g}/s before measuring"
    )
    parser.add_argument("--only", choices=["sqlite", "postgres"], default=None)
    parser.add_argument("--quick", action="store_true", help="a smoke test: a few seconds in all, SQLite")
    parser.add_argument("--check", action="store_true", help="exit 1 when a budget is missed")
    parser.add_argument(
        "--profile", type=Path, help="py-spy the server in the main run; collapsed stacks here"
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.sweep, args.sweep_seconds, args.slow_seconds = 2.0, [50.0], 1.0, 1.0
        args.rate, args.warm_up, args.only = 50.0, 0.5, args.only or "sqlite"
        args.split_seconds = 1.0
    if args.sweep != sorted(args.sweep) or any(
        r <= 0 for r in [args.rate, *args.sweep, args.slow_rate, args.split_rate]
    ):
        parser.error("--rate, --slow-rate, --split-rate and --sweep rates must be positive; --sweep rising")
    print(
        f"leadrelay auction benchmark — {BUYERS} bidding buyers ({PING_MS:g} ms pings, posts at once), "
        "`serve` with 1 worker loop, open-loop arrivals, every lead a new person"
    )
    verdict = Verdict()
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            urls = (f"sqlite:///{tmp}/auction.db", f"sqlite:///{tmp}/slow.db", f"sqlite:///{tmp}/split.db")
            run_db("sqlite", urls, args, verdict)
    if args.only in (None, "postgres"):
        with fresh_postgres() as one, fresh_postgres() as two, fresh_postgres() as three:
            if one and two and three:
                run_db("postgres", (one, two, three), args, verdict)
    for problem in verdict.problems:
        print(f"  over budget: {problem}")
    if not verdict.problems:
        print("  within budget")
    if args.profile:
        summarize = load_bench_module("profile").summarize  # bench/profile.py, not the standard library's
        print(f"  profile of the main run (the server process): {args.profile}")
        summarize(args.profile, 30)
    if args.check and verdict.problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
