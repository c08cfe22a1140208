"""`make bench`: intake and end-to-end throughput, intake latency, and the routing decision alone.

Runs `leadrelay serve` as a subprocess against SQLite (and PostgreSQL when reachable), simulated buyers in
another subprocess, and a load generator here (aiohttp, bounded: N leads at concurrency C). Prints figures;
no pass/fail. On a 2-core machine the load generator, the server and the buyers share the cores: read the
figures as ratios between runs and designs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from leadrelay.adapters.db import config_store  # noqa: E402
from leadrelay.adapters.db.engine import Database  # noqa: E402
from leadrelay.adapters.db.migrate import upgrade  # noqa: E402
from leadrelay.services import configure  # noqa: E402

KEY = "lr_bench_source_key_000"
PG_URL = os.environ.get("LEADRELAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(buyers_port: int) -> dict[str, Any]:
    def partner(name: str, **extra: Any) -> dict[str, Any]:
        return {"channel": {"webhook": {"url": f"http://127.0.0.1:{buyers_port}/buyer/{name}", "timeout": "10s"}},
                **extra}

    return {
        "entities": {"solar": {"fields": {
            "first_name": {"type": "string", "required": True},
            "last_name": {"type": "string"},
            "email": {"type": "email"},
            "phone": {"type": "phone", "required": True},
            "zip": {"type": "postal_code", "required": True},
            "state": {"type": "state"},
            "monthly_bill": {"type": "number"},
        }}},
        "sources": {"bench": {"entities": ["solar"]}},
        "partners": {
            "p1": partner("p1", caps={"day": 1_000_000}),
            "p2": partner("p2", filters={"field": "monthly_bill", "op": "gte", "value": 50}),
            "p3": partner("p3"),
        },
        "profiles": {"main": {
            "entity": "solar",
            "rules": [{"name": "west", "when": {"field": "state", "op": "in", "value": ["CA", "OR", "WA"]},
                       "send_to": {"partners": ["p1", "p2"], "strategy": "round_robin"}}],
            "default": {"partners": ["p2", "p3"], "strategy": "round_robin"},
        }},
    }


QUALITY = False  # --quality: dedup, a 100,000-entry suppression list and an encrypted field on every lead
SECRET = "bench-secret-key-0123456789"
_serial = iter(range(10**9))  # every posted lead is a new person (dedup on)


def quality(doc: dict[str, Any]) -> dict[str, Any]:
    solar = doc["entities"]["solar"]
    solar["fields"]["ssn"] = {"type": "string", "sensitive": True}
    solar["dedup"] = {"keys": [["email"], ["phone"]], "window": "30d"}
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


def prepare(url: str, buyers_port: int) -> None:
    upgrade(url)
    db = Database(url)
    try:
        if QUALITY:
            fill_dnc(db)
        configure.apply_document_sync(db, quality(config(buyers_port)) if QUALITY else config(buyers_port), actor="bench")
        db.transaction(lambda c: config_store.add_api_key(c, "bench", KEY, datetime.now(UTC)))
    finally:
        db.dispose()


def lead(i: int) -> dict[str, Any]:
    if QUALITY:
        k = next(_serial)
        return {
            "first_name": f"Lead{k}", "last_name": "Bench", "email": f"lead{k}@example.com",
            "phone": f"{512 + k // 10_000_000}{2000000 + k % 8_000_000:07d}", "zip": "94103",
            "state": random.choice(["CA", "TX", "NY", "WA"]), "monthly_bill": 40 + k % 200,
            "ssn": f"{k % 900 + 100}-{k % 90 + 10}-{k % 9000 + 1000}",
        }
    return {
        "first_name": f"Lead{i}", "last_name": "Bench", "email": f"lead{i}@example.com",
        "phone": f"512555{i % 10000:04d}", "zip": "94103", "state": random.choice(["CA", "TX", "NY", "WA"]),
        "monthly_bill": 40 + i % 200,
    }


async def post_all(url: str, n: int, concurrency: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    queue = list(range(n))
    headers = {"Authorization": f"Bearer {KEY}"}
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def worker() -> None:
            nonlocal errors
            while queue:
                i = queue.pop()
                t0 = time.perf_counter()
                async with session.post(f"{url}/v1/leads", json=lead(i), headers=headers) as r:
                    await r.read()
                    if r.status != 202:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start, latencies, errors


def delivered_count(url: str) -> int:
    from sqlalchemy import func, select

    from leadrelay.adapters.db.tables import jobs

    db = Database(url)
    try:
        return db.read(lambda c: int(c.execute(
            select(func.count()).select_from(jobs).where(jobs.c.status.in_(["delivered", "unsold", "failed"]))
        ).scalar_one()))
    finally:
        db.dispose()


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=ROOT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def run_http(db_label: str, url: str, n: int, concurrency: int) -> None:
    buyers_port, api_port = free_port(), free_port()
    prepare(url, buyers_port)
    cli = [sys.executable, "-m", "leadrelay.entrypoints.cli"]
    env = {"LEADRELAY_DATABASE_URL": url, "LEADRELAY_SECRET_KEY": SECRET,
           "LEADRELAY_ALLOWED_TARGET_NETWORKS": "127.0.0.0/8"}
    buyers = start([*cli, "simulate-buyers", "--port", str(buyers_port), "--latency-ms", "0",
                    "--accept-rate", "1"], env)
    try:
        # 1. intake alone: the API with no worker loops
        api = start([*cli, "serve", "--port", str(api_port), "--workers", "0"], env)
        try:
            wait_up(f"http://127.0.0.1:{api_port}/health")
            wait_up(f"http://127.0.0.1:{buyers_port}/stats")
            asyncio.run(post_all(f"http://127.0.0.1:{api_port}", 200, concurrency))  # warm-up
            took, lat, errors = asyncio.run(post_all(f"http://127.0.0.1:{api_port}", n, concurrency))
        finally:
            stop(api)
        lat.sort()
        print(f"  [{db_label}] intake:      {n / took:8.0f} leads/s accepted  "
              f"p50 {statistics.median(lat) * 1000:6.1f} ms  p99 {lat[int(len(lat) * 0.99) - 1] * 1000:6.1f} ms"
              + (f"  ({errors} errors)" if errors else ""))
        # 2. end to end: the queued leads above are drained by the workers, then fresh leads flow through
        before = delivered_count(url)
        api = start([*cli, "serve", "--port", str(api_port), "--workers", "1"], env)
        try:
            wait_up(f"http://127.0.0.1:{api_port}/health")
            deadline = time.monotonic() + 120
            while delivered_count(url) < before + n + 200 and time.monotonic() < deadline:
                time.sleep(0.1)
            base = delivered_count(url)
            t0 = time.perf_counter()
            took, lat, errors = asyncio.run(post_all(f"http://127.0.0.1:{api_port}", n, concurrency))
            while delivered_count(url) < base + n and time.monotonic() < deadline:
                time.sleep(0.02)
            total = time.perf_counter() - t0
            done = delivered_count(url) - base
        finally:
            stop(api)
        print(f"  [{db_label}] end to end:  {done / total:8.0f} leads/s accepted → delivered "
              f"({done}/{n} in {total:.2f} s; intake meanwhile {n / took:.0f}/s)")
    finally:
        stop(buyers)


def run_routing() -> None:
    from leadrelay.domain.model import AllOf, Leaf, Op, PartnerSpec, ProfileSpec, Strategy, Target, WebhookChannel
    from leadrelay.domain.routing import compile_config, evaluate

    lead_values = {
        "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "phone": "+15125551212",
        "zip": "94103", "state": "CA", "monthly_bill": 180.0, "roof": "tile", "credit": 720, "age": 44,
        "homeowner": True, "source_id": "s-19", "utm": "fb", "city": "San Francisco", "lead_type": "new",
    }
    now = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)
    for n in (10, 100, 1000):
        rng = random.Random(n)
        partners = {}
        for i in range(n):
            filt = AllOf((
                Leaf("monthly_bill", Op.GTE, rng.randint(50, 200)),
                Leaf("state", Op.IN, tuple(rng.sample(["CA", "OR", "WA", "TX", "NY", "FL"], 3))),
                Leaf("credit", Op.BETWEEN, (600, 850)),
                Leaf("zip", Op.STARTS_WITH, rng.choice(["9", "94", "7"])),
                Leaf("roof", Op.NE, "metal"),
            ))
            partners[f"p{i}"] = PartnerSpec(name=f"p{i}", filters=filt, channel=WebhookChannel(url="http://127.0.0.1:1/"))
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
        print(f"  routing decision, {n:5d} partners × 5 conditions: {statistics.median(times) * 1e6:8.1f} µs/lead")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--only", choices=["routing", "sqlite", "postgres"], default=None)
    parser.add_argument("--quality", action="store_true", help="dedup, suppression and an encrypted field on")
    args = parser.parse_args()
    global QUALITY
    QUALITY = args.quality
    print(f"leadrelay benchmark — {os.cpu_count()} cores, {args.leads} leads at concurrency {args.concurrency}"
          + (" — with dedup, a 100k suppression list and an encrypted field" if QUALITY else ""))
    if args.only in (None, "routing"):
        run_routing()
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            run_http("sqlite", f"sqlite:///{tmp}/bench.db", args.leads, args.concurrency)
    if args.only in (None, "postgres"):
        with fresh_postgres() as url:
            if url is not None:
                run_http("postgres", url, args.leads, args.concurrency)


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
