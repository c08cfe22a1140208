"""`make bench`: intake and end-to-end throughput against a bare app, CPU per lead, and the routing decision.

Runs `leadrelay serve` (and `leadrelay worker`) as subprocesses against SQLite, and PostgreSQL when it is
reachable, simulated buyers answering at once in another subprocess, and a load generator here (aiohttp,
bounded: N leads at concurrency C, every lead a new person). The same generator loads a bare Starlette app
(bench/bare_app.py: parse the JSON, answer 202) under the same uvicorn settings, in rounds that alternate
with leadrelay's, so each figure is printed as a ratio to the bare app measured minutes apart; the machine's
speed drifts too much for absolute figures to compare across runs. CPU per lead is the servers' own user +
system time (/proc) over the measured window. Prints figures; no pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from leadrelay.adapters.db import config_store  # noqa: E402
from leadrelay.adapters.db.engine import Database  # noqa: E402
from leadrelay.adapters.db.migrate import upgrade  # noqa: E402
from leadrelay.adapters.db.unit_of_work import SqlStorage  # noqa: E402
from leadrelay.services import configure  # noqa: E402

KEY = "lr_bench_source_key_000"
PG_URL = os.environ.get("LEADRELAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range (32768 and up on Linux), where no outgoing
    connection can take it before our server binds it; above the test suite's (20000-29999)."""
    import random
    import socket

    for _ in range(1000):
        port = random.randrange(30000, 32768)
        if port in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError("no free port in 30000-32767")


_GIVEN: set[int] = set()  # the ports handed out by this run (two asked in a row must differ)


def config(buyers_port: int) -> dict[str, Any]:
    def partner(name: str, **extra: Any) -> dict[str, Any]:
        return {
            "channel": {"webhook": {"url": f"http://127.0.0.1:{buyers_port}/buyer/{name}", "timeout": "10s"}},
            **extra,
        }

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
                }
            }
        },
        "sources": {"bench": {"entities": ["solar"]}},
        "partners": {
            "p1": partner("p1", caps={"day": 1_000_000}),
            "p2": partner("p2", filters={"field": "monthly_bill", "op": "gte", "value": 50}),
            "p3": partner("p3"),
        },
        "profiles": {
            "main": {
                "entity": "solar",
                "rules": [
                    {
                        "name": "west",
                        "when": {"field": "state", "op": "in", "value": ["CA", "OR", "WA"]},
                        "send_to": {"partners": ["p1", "p2"], "strategy": "round_robin"},
                    }
                ],
                "default": {"partners": ["p2", "p3"], "strategy": "round_robin"},
            }
        },
    }


QUALITY = False  # --quality: a 100,000-entry suppression list and an encrypted field on every lead too
SECRET = "bench-secret-key-0123456789"
_serial = iter(range(10**9))  # every posted lead is a new person: dedup looks and finds nothing


def with_dedup(doc: dict[str, Any]) -> dict[str, Any]:
    """Dedup as in the demo: the same email or phone within a day is a duplicate."""
    doc["entities"]["solar"]["dedup"] = {"keys": [["email"], ["phone"]], "window": "1d"}
    return doc


def quality(doc: dict[str, Any]) -> dict[str, Any]:
    solar = doc["entities"]["solar"]
    solar["fields"]["ssn"] = {"type": "string", "sensitive": True}
    solar["suppression"] = ["dnc"]
    doc["partners"]["p1"]["dedup"] = {"keys": ["phone"], "window": "90d"}
    return doc


def fill_dnc(db: Database, n: int = 100_000) -> None:
    from leadrelay.adapters.db import suppression_store
    from leadrelay.domain.suppression import list_hash

    def tx(conn: Any) -> None:
        suppression_store.create_list(conn, "dnc", "phone", None, datetime.now(UTC))
        hashes = [list_hash("phone", f"+1212{i:07d}") for i in range(n)]
        suppression_store.add_hashes(conn, "dnc", [h for h in hashes if h])

    db.transaction(tx)


def prepare(url: str, buyers_port: int, *, dedup: bool = True) -> None:
    upgrade(url)
    db = Database(url)
    try:
        if QUALITY:
            fill_dnc(db)
        doc = with_dedup(config(buyers_port)) if dedup else config(buyers_port)
        configure.apply_document_sync(SqlStorage(db), quality(doc) if QUALITY else doc, actor="bench")
        db.transaction(lambda c: config_store.add_api_key(c, "bench", KEY, datetime.now(UTC)))
    finally:
        db.dispose()


def lead() -> dict[str, Any]:
    """A new person on every call: an email and a valid US phone never posted before in this run."""
    k = next(_serial)
    values: dict[str, Any] = {
        "first_name": f"Lead{k}",
        "last_name": "Bench",
        "email": f"lead{k}@example.com",
        "phone": f"512{200 + (k // 10_000) % 800:03d}{k % 10_000:04d}",
        "zip": "94103",
        "state": random.choice(["CA", "TX", "NY", "WA"]),
        "monthly_bill": 40 + k % 200,
    }
    if QUALITY:
        values["ssn"] = f"{k % 900 + 100}-{k % 90 + 10}-{k % 9000 + 1000}"
    return values


async def post_all(url: str, n: int, concurrency: int) -> tuple[float, list[float], int]:
    """Posts n leads at the given concurrency; (seconds, latencies, answers other than 202)."""
    latencies: list[float] = []
    errors = 0
    bodies = [orjson.dumps(lead()) for _ in range(n)]  # built before the clock starts
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def worker() -> None:
            nonlocal errors
            while bodies:
                body = bodies.pop()
                t0 = time.perf_counter()
                async with session.post(f"{url}/v1/leads", data=body, headers=headers) as r:
                    await r.read()
                    if r.status != 202:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start, latencies, errors


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(procs: list[subprocess.Popen[bytes]]) -> float:
    """User + system CPU of the processes so far, every thread included (Linux /proc)."""
    total = 0
    for proc in procs:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat(5))
    return total / _TICK


class Outcomes:
    """Counts settled jobs with one engine for the whole measure (never a new engine per poll)."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import func, select

        from leadrelay.adapters.db.tables import jobs

        self._db = Database(url)
        self._query = (
            select(func.count()).select_from(jobs).where(jobs.c.status.in_(["delivered", "unsold", "failed"]))
        )

    def settled(self) -> int:
        return self._db.read(lambda c: int(c.execute(self._query).scalar_one()))

    def wait_for(self, count: int, deadline: float) -> int:
        while (done := self.settled()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return done

    def close(self) -> None:
        self._db.dispose()


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 120  # a loaded 2-core machine can take half a minute to start a server
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@dataclass
class Figure:
    rate: float  # leads per second
    cpu_us: float  # server CPU per lead, every server process of the measure together
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Load:
    accepted: int  # 202 answers
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # other answers and socket errors


CLI = [sys.executable, "-m", "leadrelay"]
WRK_SCRIPT = ROOT / "bench" / "new_person.lua"


@dataclass
class Generator:
    """The load: wrk (C, new person per request from bench/new_person.lua) for a fixed time when it is
    installed, else the aiohttp loop here for a fixed count. Both bound themselves."""

    concurrency: int
    leads: int
    seconds: float
    use_wrk: bool
    _offset: int = 10_000_000  # wrk's people are numbered apart from the aiohttp generator's

    def describe(self) -> str:
        if self.use_wrk:
            return f"wrk, {self.seconds:g} s per measure, {self.concurrency} connections"
        return f"aiohttp generator, {self.leads} leads per measure at concurrency {self.concurrency}"

    def run(self, url: str, warm_up: bool = False) -> Load:
        if not self.use_wrk:
            n = 200 if warm_up else self.leads
            took, lat, errors = asyncio.run(post_all(url, n, self.concurrency))
            lat.sort()
            return Load(
                n - errors, took, statistics.median(lat) * 1e3, lat[int(len(lat) * 0.99) - 1] * 1e3, errors
            )
        self._offset += 100_000  # a run posts far fewer: phones stay unique for 80 runs (8M numbers)
        threads = 2
        seconds = 1.0 if warm_up else self.seconds
        out = subprocess.run(
            [
                "wrk",
                "-t",
                str(threads),
                "-c",
                str(self.concurrency),
                "-d",
                f"{max(1, round(seconds))}s",
                "-s",
                str(WRK_SCRIPT),
                f"{url}/v1/leads",
                "--",
                str(self._offset),
                str(threads),
                KEY,
                "ssn" if QUALITY else "",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        ).stdout
        res = orjson.loads(out.strip().splitlines()[-1])
        errors = int(res["non2xx"]) + int(res["socket_errors"])
        return Load(
            int(res["requests"]) - int(res["non2xx"]),
            res["micros"] / 1e6,
            res["p50_us"] / 1e3,
            res["p99_us"] / 1e3,
            errors,
        )


def measure_intake(procs: list[subprocess.Popen[bytes]], port: int, gen: Generator) -> Figure:
    """Loads a server already up; the rate of 202 answers and the servers' CPU for them."""
    url = f"http://127.0.0.1:{port}"
    gen.run(url, warm_up=True)
    cpu0 = cpu_seconds(procs)
    load = gen.run(url)
    cpu = cpu_seconds(procs) - cpu0
    return Figure(
        load.accepted / load.seconds, cpu / max(load.accepted, 1) * 1e6, load.p50_ms, load.p99_ms, load.errors
    )


def bare(port: int, gen: Generator) -> Figure:
    proc = start([sys.executable, str(ROOT / "bench" / "bare_app.py"), str(port)], {})
    try:
        wait_up(f"http://127.0.0.1:{port}/health")
        return measure_intake([proc], port, gen)
    finally:
        stop(proc)


def intake(env: dict[str, str], port: int, gen: Generator) -> Figure:
    api = start([*CLI, "serve", "--port", str(port), "--workers", "0"], env)
    try:
        wait_up(f"http://127.0.0.1:{port}/health")
        return measure_intake([api], port, gen)
    finally:
        stop(api)


def end_to_end(url: str, env: dict[str, str], port: int, gen: Generator, worker_procs: int) -> Figure:
    """Accept → route → webhook to a buyer answering at once → recorded. worker_procs 0: `serve` with one
    worker loop in the API process; else `serve --workers 0` and that many `leadrelay worker` processes.
    The rate is the leads accepted over the time from the first post to the last one settled."""
    if worker_procs == 0:
        procs = [start([*CLI, "serve", "--port", str(port), "--workers", "1"], env)]
    else:
        procs = [start([*CLI, "serve", "--port", str(port), "--workers", "0"], env)]
        procs += [start([*CLI, "worker", "--loops", "1"], env) for _ in range(worker_procs)]
    outcomes = Outcomes(url)
    try:
        wait_up(f"http://127.0.0.1:{port}/health")
        api = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        before = outcomes.settled()
        warm = gen.run(api, warm_up=True)
        base = outcomes.wait_for(before + warm.accepted, deadline)
        cpu0 = cpu_seconds(procs)
        t0 = time.perf_counter()
        load = gen.run(api)
        done = outcomes.wait_for(base + load.accepted, deadline)
        total = time.perf_counter() - t0
        # wrk does not count the requests still in flight when its time is up; they settle too
        while (later := outcomes.wait_for(done + 1, time.monotonic() + 0.3)) > done:
            done, total = later, time.perf_counter() - t0
        done -= base
        cpu = cpu_seconds(procs) - cpu0
    finally:
        outcomes.close()
        for proc in procs:
            stop(proc)
    return Figure(
        done / total,
        cpu / max(done, 1) * 1e6,
        load.p50_ms,
        load.p99_ms,
        load.errors + max(0, load.accepted - done),
    )


def run_http(
    db_label: str,
    urls: dict[str, str],
    gen: Generator,
    rounds: int,
    e2e_setups: list[tuple[str, int]],
) -> None:
    """Rounds alternate the bare app, intake and each end-to-end setup, so a drift in the machine's speed
    touches them alike; the median of the rounds is printed, with each measure as a ratio to the bare app."""
    buyers_port, port = free_port(), free_port()
    for url in urls.values():
        prepare(url, buyers_port)
    env = {"LEADRELAY_SECRET_KEY": SECRET, "LEADRELAY_ALLOWED_TARGET_NETWORKS": "127.0.0.0/8"}
    buyers = start(
        [*CLI, "simulate-buyers", "--port", str(buyers_port), "--latency-ms", "0", "--accept-rate", "1"], env
    )
    results: dict[str, list[Figure]] = {}
    try:
        wait_up(f"http://127.0.0.1:{buyers_port}/stats")
        for r in range(rounds):
            results.setdefault("bare Starlette app", []).append(bare(port, gen))
            ienv = {**env, "LEADRELAY_DATABASE_URL": urls["intake"]}
            results.setdefault("intake (API, no workers)", []).append(intake(ienv, port, gen))
            for label, worker_procs in e2e_setups:
                key = f"end to end ({label})"
                eurl = urls[f"e2e-{worker_procs}"]
                eenv = {**env, "LEADRELAY_DATABASE_URL": eurl}
                results.setdefault(key, []).append(end_to_end(eurl, eenv, port, gen, worker_procs))
            print(
                f"  [{db_label}] round {r + 1}/{rounds}: "
                + ", ".join(f"{k.split(' (')[0]} {v[-1].rate:,.0f}/s" for k, v in results.items()),
                flush=True,
            )
    finally:
        stop(buyers)
    bare_rate = statistics.median(f.rate for f in results["bare Starlette app"])
    print(f"  [{db_label}] median of {rounds} rounds ({gen.describe()}):")
    print(
        f"    {'measure':44s} {'leads/s':>9s} {'× bare':>7s} {'CPU µs/lead':>12s} "
        f"{'p50 ms':>7s} {'p99 ms':>7s}"
    )
    for key, figures in results.items():
        rate = statistics.median(f.rate for f in figures)
        errors = sum(f.errors for f in figures)
        print(
            f"    {key:44s} {rate:9,.0f} {rate / bare_rate:7.2f} "
            f"{statistics.median(f.cpu_us for f in figures):12,.0f} "
            f"{statistics.median(f.p50_ms for f in figures):7.1f} "
            f"{statistics.median(f.p99_ms for f in figures):7.1f}"
            + (f"  ({errors} not accepted or not settled)" if errors else "")
        )


def run_routing() -> None:
    from leadrelay.domain.condition_tree import AllOf, Leaf, Op
    from leadrelay.domain.model import (
        PartnerSpec,
        ProfileSpec,
        Strategy,
        Target,
        WebhookChannel,
    )
    from leadrelay.domain.routing import compile_config, evaluate

    lead_values = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "+15125551212",
        "zip": "94103",
        "state": "CA",
        "monthly_bill": 180.0,
        "roof": "tile",
        "credit": 720,
        "age": 44,
        "homeowner": True,
        "source_id": "s-19",
        "utm": "fb",
        "city": "San Francisco",
        "lead_type": "new",
    }
    now = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)
    for n in (10, 100, 1000):
        rng = random.Random(n)
        partners = {}
        for i in range(n):
            filt = AllOf(
                (
                    Leaf("monthly_bill", Op.GTE, rng.randint(50, 200)),
                    Leaf("state", Op.IN, tuple(rng.sample(["CA", "OR", "WA", "TX", "NY", "FL"], 3))),
                    Leaf("credit", Op.BETWEEN, (600, 850)),
                    Leaf("zip", Op.STARTS_WITH, rng.choice(["9", "94", "7"])),
                    Leaf("roof", Op.NE, "metal"),
                )
            )
            partners[f"p{i}"] = PartnerSpec(
                name=f"p{i}", filters=filt, channel=WebhookChannel(url="http://127.0.0.1:1/")
            )
        target = Target(tuple(partners), Strategy.PRIORITY)
        profile = ProfileSpec(name="main", entity="solar", default=target)
        compiled = compile_config(1, partners, {"main": profile})
        prof = compiled.profiles["main"]
        loops = max(200, 20_000 // n)
        for _ in range(50):
            evaluate(lead_values, prof, compiled, now)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(loops):
                evaluate(lead_values, prof, compiled, now)
            times.append((time.perf_counter() - t0) / loops)
        print(
            f"  routing decision, {n:5d} partners × 5 conditions: "
            f"{statistics.median(times) * 1e6:8.1f} µs/lead"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=2000, help="per measure, with the aiohttp generator")
    parser.add_argument("--seconds", type=float, default=5.0, help="per measure, with wrk")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--generator",
        choices=["wrk", "aiohttp"],
        default=None,
        help="default: wrk when it is installed (apt-get install wrk), else aiohttp",
    )
    parser.add_argument("--only", choices=["routing", "sqlite", "postgres"], default=None)
    parser.add_argument(
        "--quality",
        action="store_true",
        help="also a 100k suppression list, per-partner dedup and an encrypted field",
    )
    args = parser.parse_args()
    global QUALITY
    QUALITY = args.quality
    use_wrk = args.generator == "wrk" or (args.generator is None and shutil.which("wrk") is not None)
    gen = Generator(args.concurrency, args.leads, args.seconds, use_wrk)
    print(
        f"leadrelay benchmark — {os.cpu_count()} cores, {gen.describe()}; every lead a new person, dedup on "
        "(email or phone, 1 day)" + (", a 100k suppression list and an encrypted field" if QUALITY else "")
    )
    if args.only in (None, "routing"):
        run_routing()
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            urls = {
                "intake": f"sqlite:///{tmp}/intake.db",
                "e2e-0": f"sqlite:///{tmp}/e2e.db",
                "e2e-1": f"sqlite:///{tmp}/e2e-1.db",
            }
            setups = [("serve, 1 worker loop", 0), ("1 API + 1 worker process", 1)]
            run_http("sqlite", urls, gen, args.rounds, setups)
    if args.only in (None, "postgres"):
        with fresh_postgres() as intake_url, fresh_postgres() as one, fresh_postgres() as two:
            if intake_url and one and two:
                urls = {"intake": intake_url, "e2e-1": one, "e2e-2": two}
                run_http(
                    "postgres",
                    urls,
                    gen,
                    args.rounds,
                    [("1 API + 1 worker process", 1), ("1 API + 2 worker processes", 2)],
                )


@contextlib.contextmanager
def fresh_postgres() -> Iterator[str | None]:
    """A new PostgreSQL database for one run, dropped afterwards; None (said once) when not reachable."""
    try:
        import psycopg

        name = f"lr_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        print(f"  [postgres] skipped: not reachable ({exc})")
        yield None
        return
    try:
        yield f"{PG_URL.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
