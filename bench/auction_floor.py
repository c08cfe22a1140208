"""The floor under the auction budget: the least a platform in leadrelay's stack must do for one auction.

`make bench`'s auction benchmark (bench/auction_bench.py) sets leadrelay against a bare client that does an
auction's HTTP by hand. This script adds the other bound: a minimal auction server in the same stack
(uvicorn with uvloop and httptools, Starlette, aiohttp, SQLite in WAL mode through the standard library),
with none of the product: no validation, dedup, rules, caps, trace, ledger or configuration. For each
``POST /v1/leads?wait=…`` it checks the source's key and does only what a ping-post auction cannot skip
without losing a sold lead or selling one twice after a crash:

1. pings the 10 buyers at once (a few fields, no personal data, under the 750 ms deadline) and reads each
   bid;
2. stores the lead, its bids and the award in one transaction, durably (``synchronous=FULL``), before the
   post (a crash after the post must not let the lead be sold again; a crash before it loses only a lead
   whose source got no answer);
3. posts the lead to the best bid;
4. records the post's outcome without waiting for the disk (redoing the post is safe, as in leadrelay's
   ``record`` step), and answers the source.

Where the transactions run (``--writes``): ``loop``, on the event loop's thread, blocking it while SQLite
writes and the disk syncs; ``commit-thread`` (the default, as leadrelay's SQLite path does), the statements
on the loop and the durable COMMIT on a thread of its own while the loop goes on; ``thread``, the whole
transaction on one database thread. ``--no-fsync``: no commit waits for the disk. The same simulated
buyers, generator and open-loop arrivals as the auction benchmark; the same bare client as the reference,
run just before. Prints p50, p99 and max overhead (the answer time less the buyers' 50 ms) and the server's
CPU per auction. No pass/fail.

    python bench/auction_floor.py [--rate 100] [--seconds 20] [--writes commit-thread|loop|thread]
        [--no-fsync]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

BUYERS = 10  # as auction_bench's
DEADLINE_S = 0.75  # the pings' (auction_bench's rule deadline)
POST_TIMEOUT_S = 5.0  # the post's (auction_bench's webhook timeout)
WRITES = ("commit-thread", "loop", "thread")
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS leads (id TEXT PRIMARY KEY, data TEXT NOT NULL, status TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bids (lead_id TEXT NOT NULL, buyer TEXT NOT NULL, price REAL)",
    "CREATE TABLE IF NOT EXISTS sales (lead_id TEXT PRIMARY KEY, buyer TEXT, price REAL, status TEXT)",
)
Statement = tuple[str, Any]  # SQL and its parameters (a list of tuples: executemany)


def server_app(db_path: str, buyers_url: str, key: str, writes: str, fsync: bool) -> Any:
    """The minimal auction server's ASGI app (run in its own process by ``--serve``)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    for statement in SCHEMA:
        conn.execute(statement)
    thread = ThreadPoolExecutor(1, "floor-db")
    one_at_a_time = asyncio.Lock()  # the connection is one transaction's until its COMMIT returns
    names = [f"buyer{i}" for i in range(1, BUYERS + 1)]
    session: list[aiohttp.ClientSession] = []
    bearer = f"Bearer {key}"

    def statements(durable: bool, work: list[Statement]) -> None:
        conn.execute(f"PRAGMA synchronous={'FULL' if durable and fsync else 'NORMAL'}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in work:
                (conn.executemany if isinstance(params, list) else conn.execute)(sql, params)
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled it back itself (an I/O error)
                conn.execute("ROLLBACK")
            raise

    def commit() -> None:
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def transaction(durable: bool, work: list[Statement]) -> None:
        statements(durable, work)
        commit()

    async def write(durable: bool, *work: Statement) -> None:
        loop = asyncio.get_running_loop()
        if writes == "thread":
            await loop.run_in_executor(thread, transaction, durable, list(work))
        elif writes == "loop":
            transaction(durable, list(work))
        else:
            async with one_at_a_time:
                statements(durable, list(work))
                await loop.run_in_executor(thread, commit)

    async def ping(name: str, body: bytes) -> tuple[float, str] | None:
        try:
            async with session[0].post(f"{buyers_url}/buyer/{name}/ping", data=body) as answer:
                got = orjson.loads(await answer.read())
            return (float(got["price"]), name) if answer.status == 200 and got.get("accepted") else None
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError):
            return None  # refused, late or unreadable: no bid

    async def post(name: str, body: bytes) -> bool:
        try:
            timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT_S)
            async with session[0].post(f"{buyers_url}/buyer/{name}", data=body, timeout=timeout) as answer:
                await answer.read()
                return answer.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def leads(request: Request) -> Response:
        if request.headers.get("authorization") != bearer:
            return JSONResponse({"code": "unauthorized"}, status_code=401)
        body = await request.body()
        data = orjson.loads(body)
        lead_id = uuid.uuid4().hex
        preview = orjson.dumps({k: data.get(k) for k in ("zip", "state", "monthly_bill")})
        bids = [bid for bid in await asyncio.gather(*(ping(n, preview) for n in names)) if bid]
        lead = (
            "INSERT INTO leads VALUES (?, ?, ?)",
            (lead_id, body.decode(), "posting" if bids else "unsold"),
        )
        if not bids:
            await write(True, lead)
            return JSONResponse({"id": lead_id, "status": "unsold"})
        price, best = max(bids)
        await write(
            True,
            lead,
            ("INSERT INTO bids VALUES (?, ?, ?)", [(lead_id, name, p) for p, name in bids]),
            ("INSERT INTO sales VALUES (?, ?, ?, 'posting')", (lead_id, best, price)),
        )
        status = "delivered" if await post(best, body) else "failed"
        await write(
            False,
            ("UPDATE sales SET status = ? WHERE lead_id = ?", (status, lead_id)),
            ("UPDATE leads SET status = ? WHERE id = ?", (status, lead_id)),
        )
        return JSONResponse({"id": lead_id, "status": status})

    async def health(_: Request) -> Response:
        return JSONResponse({"writes": writes, "fsync": fsync})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=DEADLINE_S)
        session.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout))
        try:
            yield
        finally:
            await session[0].close()
            thread.shutdown()
            conn.close()

    routes = [Route("/v1/leads", leads, methods=["POST"]), Route("/health", health)]
    return Starlette(routes=routes, lifespan=lifespan)


def serve(port: int, db_path: str, buyers_url: str, key: str, writes: str, fsync: bool) -> None:
    import uvicorn

    app = server_app(db_path, buyers_url, key, writes, fsync)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


def floor_run(
    buyers_url: str,
    rate: float,
    seconds: float,
    warm_up: float,
    *,
    writes: str = WRITES[0],
    fsync: bool = True,
    bench: Any = None,
) -> tuple[Any, str]:
    """The minimal server in a process of its own on a fresh SQLite file, warmed up like the platform, then
    ``rate`` open-loop arrivals for ``seconds``: the run (its CPU per auction in ``cpu_us``) and how the
    server says it writes. ``bench``: the auction benchmark's module (imported when not given)."""
    from run import KEY, cpu_seconds, free_port, start, stop, wait_up

    if bench is None:
        import auction_bench as bench
    assert bench.BUYERS == BUYERS
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, __file__, "--serve", str(port), f"{tmp}/floor.db", buyers_url, KEY]
        server = start([*command, "--writes", writes, *([] if fsync else ["--no-fsync"])], {})
        try:
            url = f"http://127.0.0.1:{port}"
            wait_up(f"{url}/health")
            with urllib.request.urlopen(f"{url}/health", timeout=10) as answer:
                said = json.loads(answer.read())
            mode = f"writes: {said['writes']}" + ("" if said["fsync"] else ", no fsync")
            asyncio.run(bench.open_loop(url, bench.WARM_UP_RATE, warm_up, 5))
            cpu = cpu_seconds([server])
            run = asyncio.run(bench.open_loop(url, rate, seconds, 5))
            run.cpu_us = (cpu_seconds([server]) - cpu) / max(1, sum(run.statuses.values())) * 1e6
            return run, mode
        finally:
            stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warm-up", type=float, default=3.0)
    parser.add_argument("--writes", choices=WRITES, default=WRITES[0], help="where the transactions run")
    parser.add_argument("--no-fsync", action="store_true", help="no commit waits for the disk")
    parser.add_argument(
        "--serve", nargs=4, metavar=("PORT", "DB", "BUYERS_URL", "KEY"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        port, db_path, buyers_url, key = args.serve
        serve(int(port), db_path, buyers_url, key, args.writes, not args.no_fsync)
        return
    import auction_bench as bench
    from run import free_port, stop

    buyers_port = free_port()
    env = {"LEADRELAY_ALLOWED_TARGET_NETWORKS": "127.0.0.0/8"}
    buyers = bench.buyers(buyers_port, env, f"fixed:{bench.PING_MS:g}")
    buyers_url = f"http://127.0.0.1:{buyers_port}"
    try:
        bare = asyncio.run(bench.bare_auctions(buyers_url, args.rate, args.seconds, args.warm_up))
        run, mode = floor_run(
            buyers_url, args.rate, args.seconds, args.warm_up, writes=args.writes, fsync=not args.no_fsync
        )
    finally:
        stop(buyers)
    print(
        f"the auction's floor in leadrelay's stack — {BUYERS} bidding buyers ({bench.PING_MS:g} ms pings), "
        f"open-loop arrivals; overhead = answer time - {bench.PING_MS:g} ms; ms below"
    )
    print(bench.HEADER)
    print(bench.row(f"bare client, {args.rate:g}/s (reference)", bare))
    print(bench.row(f"minimal server, {args.rate:g}/s", run) + f"  ({mode})")


if __name__ == "__main__":
    main()
