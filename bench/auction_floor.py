"""The floor under the auction budget: the least a platform in leadrelay's stack must do for one auction.

`make bench`'s auction benchmark (bench/auction_bench.py) sets leadrelay against a bare client that does an
auction's HTTP by hand. This script adds the other bound: a minimal auction server in the same stack
(uvicorn with uvloop and httptools, Starlette, aiohttp, SQLite in WAL mode through the standard library),
with none of the product: no validation, dedup, rules, caps, trace, ledger or configuration. For each
``POST /v1/leads?wait=…`` it does only what a ping-post auction cannot skip without losing a lead or
selling one twice after a crash:

1. stores the lead, durably (``synchronous=FULL``), while it
2. pings the 10 buyers at once (a few fields, no personal data) and reads each bid;
3. stores the bids and the award, durably, before the post (a crash after the post must not let the lead
   be sold again);
4. posts the lead to the best bid;
5. records the post's outcome (not waiting for the disk: redoing the post is safe, as leadrelay's
   ``record`` step), and answers the source.

Each write is one transaction, run on the event loop's thread (blocking it while SQLite works and the disk
syncs): measured, that gave the least tail of the ways tried (``--db-thread`` hands them to one database
thread instead; ``--no-fsync`` has no commit wait for the disk). The same
simulated buyers, generator and open-loop arrivals as the auction benchmark; the same bare client as the
reference, run just before. Prints p50, p99 and max overhead (the answer time less the buyers' 50 ms) and
the server's CPU per auction. No pass/fail.

    python bench/auction_floor.py [--rate 100] [--seconds 20] [--db-thread] [--no-fsync]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import auction_bench as ab
from run import cpu_seconds, free_port, start, stop, wait_up

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS leads (id TEXT PRIMARY KEY, data TEXT NOT NULL, status TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bids (lead_id TEXT NOT NULL, buyer TEXT NOT NULL, price REAL)",
    "CREATE TABLE IF NOT EXISTS sales (lead_id TEXT PRIMARY KEY, buyer TEXT, price REAL, status TEXT)",
)


def server_app(db_path: str, buyers_url: str, fsync: bool, on_loop: bool) -> Any:
    """The minimal auction server's ASGI app (run in its own process by ``--serve``); without ``fsync``
    no commit waits for the disk; without ``on_loop`` the transactions go to one database thread."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    for statement in SCHEMA:
        conn.execute(statement)
    thread = ThreadPoolExecutor(1, "floor-db")
    names = [f"buyer{i}" for i in range(1, ab.BUYERS + 1)]
    session: list[aiohttp.ClientSession] = []

    def transaction(durable: bool, statements: list[tuple[str, Any]]) -> None:
        conn.execute(f"PRAGMA synchronous={'FULL' if durable and fsync else 'NORMAL'}")
        conn.execute("BEGIN IMMEDIATE")
        for sql, params in statements:
            if isinstance(params, list):
                conn.executemany(sql, params)
            else:
                conn.execute(sql, params)
        conn.execute("COMMIT")

    async def write(durable: bool, *statements: tuple[str, Any]) -> None:
        if on_loop:
            transaction(durable, list(statements))
            return
        await asyncio.get_running_loop().run_in_executor(thread, transaction, durable, list(statements))

    async def ping(name: str, body: bytes) -> tuple[float, str] | None:
        try:
            async with session[0].post(f"{buyers_url}/buyer/{name}/ping", data=body) as answer:
                got = orjson.loads(await answer.read())
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        return (float(got["price"]), name) if answer.status == 200 and got.get("accepted") else None

    async def leads(request: Request) -> Response:
        body = await request.body()
        data = orjson.loads(body)
        lead_id = uuid.uuid4().hex
        stored = asyncio.ensure_future(
            write(True, ("INSERT INTO leads VALUES (?, ?, 'auction')", (lead_id, body.decode())))
        )
        preview = orjson.dumps({k: data.get(k) for k in ("zip", "state", "monthly_bill")})
        bids = [bid for bid in await asyncio.gather(*(ping(n, preview) for n in names)) if bid]
        await stored  # the lead is on disk before anything is sold
        if not bids:
            await write(True, ("UPDATE leads SET status = 'unsold' WHERE id = ?", (lead_id,)))
            return JSONResponse({"id": lead_id, "status": "unsold"})
        price, best = max(bids)
        await write(
            True,
            ("INSERT INTO bids VALUES (?, ?, ?)", [(lead_id, name, p) for p, name in bids]),
            ("INSERT INTO sales VALUES (?, ?, ?, 'posting')", (lead_id, best, price)),
        )
        async with session[0].post(f"{buyers_url}/buyer/{best}", data=body) as answer:
            await answer.read()
            sold = answer.status == 200
        status = "delivered" if sold else "failed"
        await write(
            False,
            ("UPDATE sales SET status = ? WHERE lead_id = ?", (status, lead_id)),
            ("UPDATE leads SET status = ? WHERE id = ?", (status, lead_id)),
        )
        return JSONResponse({"id": lead_id, "status": status})

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=ab.SLOW_DEADLINE_MS / 1000)
        session.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout))
        try:
            yield
        finally:
            await session[0].close()
            thread.shutdown()
            conn.close()

    routes = [Route("/v1/leads", leads, methods=["POST"]), Route("/health", health)]
    return Starlette(routes=routes, lifespan=lifespan)


def serve(port: int, db_path: str, buyers_url: str, fsync: bool, on_loop: bool) -> None:
    import uvicorn

    app = server_app(db_path, buyers_url, fsync, on_loop)
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
    buyers_url: str, rate: float, seconds: float, warm_up: float, *, fsync: bool = True, on_loop: bool = True
) -> ab.Run:
    """The minimal server in a process of its own on a fresh SQLite file, warmed up like the platform, then
    ``rate`` open-loop arrivals for ``seconds``; its CPU per auction in ``cpu_us``."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, __file__, "--serve", str(port), f"{tmp}/floor.db", buyers_url]
        options = [*([] if fsync else ["--no-fsync"]), *([] if on_loop else ["--db-thread"])]
        server = start([*command, *options], {})
        try:
            url = f"http://127.0.0.1:{port}"
            wait_up(f"{url}/health")
            asyncio.run(ab.open_loop(url, ab.WARM_UP_RATE, warm_up, 5))
            cpu = cpu_seconds([server])
            run = asyncio.run(ab.open_loop(url, rate, seconds, 5))
            run.cpu_us = (cpu_seconds([server]) - cpu) / max(1, sum(run.statuses.values())) * 1e6
            return run
        finally:
            stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warm-up", type=float, default=3.0)
    parser.add_argument(
        "--no-fsync", action="store_true", help="no commit waits for the disk (the disk's part of the tail)"
    )
    parser.add_argument("--db-thread", action="store_true", help="the transactions on one database thread")
    parser.add_argument("--serve", nargs=3, metavar=("PORT", "DB", "BUYERS_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2], not args.no_fsync, not args.db_thread)
        return
    buyers_port = free_port()
    buyers = ab.buyers(
        buyers_port, {"LEADRELAY_ALLOWED_TARGET_NETWORKS": "127.0.0.0/8"}, f"fixed:{ab.PING_MS:g}"
    )
    buyers_url = f"http://127.0.0.1:{buyers_port}"
    try:
        bare = asyncio.run(ab.bare_auctions(buyers_url, args.rate, args.seconds, args.warm_up))
        run = floor_run(
            buyers_url,
            args.rate,
            args.seconds,
            args.warm_up,
            fsync=not args.no_fsync,
            on_loop=not args.db_thread,
        )
    finally:
        stop(buyers)
    print(
        f"the auction's floor in leadrelay's stack — {ab.BUYERS} bidding buyers ({ab.PING_MS:g} ms pings), "
        f"open-loop arrivals; overhead = answer time - {ab.PING_MS:g} ms; ms below"
    )
    print(ab.HEADER)
    print(ab.row(f"bare client, {args.rate:g}/s (reference)", bare))
    label = f"minimal server, {args.rate:g}/s" + (", no fsync" if args.no_fsync else "")
    print(ab.row(label + (", database thread" if args.db_thread else ""), run))


if __name__ == "__main__":
    main()
