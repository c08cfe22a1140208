"""Where intake's CPU per lead goes without HTTP, and what SQLite alone takes to store a lead's rows.

`make bench` measures intake through uvicorn against a bare app; this script takes HTTP out, so the rest
can be weighed against the budget (intake at 0.40× the bare app, issue 9). In one process, on uvloop as
`serve` runs, with no socket in between:

1. the bare app (bench/bare_app.py: parse the JSON, answer 202) called as an ASGI app;
2. `POST /v1/leads` called on leadrelay's ASGI app (its intake path, the group commit, a durable commit
   per group on a SQLite file), 32 requests at a time, every lead a new person: with dedup on (email or
   phone, 1 day, as `make bench`), and with dedup off;
3. SQLite alone storing the rows that step 2 wrote (read back and written again under new ids, 32 leads a
   transaction, `synchronous=FULL` as intake), with and without the hash-keyed rows: the dedup marks and
   the lookup keys, whose keys are HMACs and so land on a random page of their index each.

CPU per lead is the process's user + system time (every thread: the commit thread too) over the measure.
Prints figures; no pass/fail.

    python bench/intake_floor.py [--leads 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bare_app
import run as bench

CONCURRENCY = 32
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def bodies(count: int) -> list[bytes]:
    """``count`` leads, each a new person (bench/run.py's), built before a measure starts."""
    return [orjson.dumps(bench.lead()) for _ in range(count)]


async def drive(app: App, leads: list[bytes]) -> dict[int, int]:
    """POST /v1/leads of each body straight into ``app``, CONCURRENCY at a time; answers by status."""
    statuses: dict[int, int] = {}
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer " + bench.KEY.encode()),
    ]

    async def one(body: bytes) -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            raise AssertionError

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/leads",
            "raw_path": b"/v1/leads",
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        await app(scope, receive, send)

    async def lane(part: list[bytes]) -> None:
        for body in part:
            await one(body)

    await asyncio.gather(*(lane(leads[i::CONCURRENCY]) for i in range(CONCURRENCY)))
    return statuses


async def timed(app: App, count: int) -> tuple[float, float, dict[int, int]]:
    """CPU µs per request of ``count`` requests, after a warm-up of 1,000: the process's (every thread),
    and the event loop thread's alone."""
    await drive(app, bodies(1_000))
    measured = bodies(count)
    gc.collect()
    cpu, loop = time.process_time(), time.thread_time()
    statuses = await drive(app, measured)
    loop = time.thread_time() - loop
    return 1e6 * (time.process_time() - cpu) / count, 1e6 * loop / count, statuses


async def leadrelay_intake(url: str, count: int) -> tuple[float, float, dict[int, int]]:
    os.environ["LEADRELAY_DATABASE_URL"] = url
    from leadrelay.config import load_settings
    from leadrelay.entrypoints.api.app import create_app

    app = create_app(load_settings(), workers=0)
    async with app.router.lifespan_context(app):
        return await timed(app, count)


_TABLES = ("leads", "jobs", "dedup_marks", "lead_lookup")


def read_rows(path: str) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """The rows intake wrote, per table: (columns, rows)."""
    conn = sqlite3.connect(path)
    try:
        out = {}
        for table in _TABLES:
            cursor = conn.execute(f"SELECT * FROM {table}")
            out[table] = ([d[0] for d in cursor.description], cursor.fetchall())
        return out
    finally:
        conn.close()


def sqlite_alone(
    schema_from: str, rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]], keyed: bool
) -> tuple[float, float]:
    """CPU µs per lead to store intake's rows again (new ids and new keys), 32 leads a transaction, in a
    fresh database of the same schema, in all and without the COMMIT (which intake runs on a thread of its
    own: the rest is the event loop's); ``keyed``: the dedup marks and lookup keys too."""
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/alone.db"
        source = sqlite3.connect(schema_from)
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        for (sql,) in source.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
            "AND tbl_name IN ('leads', 'jobs', 'dedup_marks', 'lead_lookup') AND type IN ('table', 'index') "
            "ORDER BY type = 'index'"
        ):
            conn.execute(sql)
        source.close()
        by_lead: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
        for table, (cols, table_rows) in rows.items():
            at = cols.index("id" if table == "leads" else "lead_id")
            for row in table_rows:
                by_lead.setdefault(row[at], {}).setdefault(table, []).append(row)
        statements = {
            table: f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
            for table, (cols, _) in rows.items()
        }
        renames = {  # per table: the columns made new per copy (ids, and the keys: HMACs stay unique)
            "leads": ["id"],
            "jobs": ["id", "lead_id"],
            "dedup_marks": ["key_hash", "lead_id"],
            "lead_lookup": ["key_hash", "lead_id"],
        }
        positions = {t: [rows[t][0].index(c) for c in cs] for t, cs in renames.items()}
        tables = _TABLES if keyed else ("leads", "jobs")
        lead_ids = list(by_lead)

        def params(ids: list[str], suffix: str) -> list[tuple[str, list[tuple[Any, ...]]]]:
            out = []
            for table in tables:
                table_rows = []
                for lead_id in ids:
                    for row in by_lead[lead_id].get(table, ()):
                        values = list(row)
                        for i in positions[table]:
                            values[i] = f"{values[i]}{suffix}"
                        table_rows.append(tuple(values))
                out.append((statements[table], table_rows))
            return out

        clock = time.process_time
        writes = commits = 0.0
        for suffix in ("w", "m"):  # a copy to warm up, then the measured copy; the rows made beforehand
            batches = [
                params(lead_ids[i : i + CONCURRENCY], suffix) for i in range(0, len(lead_ids), CONCURRENCY)
            ]
            writes = commits = 0.0
            for batch in batches:
                started = clock()
                conn.execute("BEGIN IMMEDIATE")
                for sql, table_rows in batch:
                    conn.executemany(sql, table_rows)
                written = clock()
                conn.execute("COMMIT")
                writes += written - started
                commits += clock() - written
        conn.close()
        return 1e6 * (writes + commits) / len(lead_ids), 1e6 * writes / len(lead_ids)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=20_000, help="per measure (after 1,000 to warm up)")
    args = parser.parse_args()
    n = args.leads
    print(
        f"intake without HTTP — one process, uvloop, {CONCURRENCY} requests at a time, "
        f"{n:,} leads per measure"
    )
    rows_of: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
    figures: list[tuple[str, float, float, str]] = []  # name, CPU in all, the event loop's share, answers
    with tempfile.TemporaryDirectory() as tmp:
        bare_us, bare_loop, statuses = uvloop.run(timed(bare_app.app, n))
        figures.append(("bare app (parse the JSON, answer 202)", bare_us, bare_loop, _answers(statuses)))
        schema = ""
        for dedup in (True, False):
            path = f"{tmp}/intake_{int(dedup)}.db"
            bench.prepare(f"sqlite:///{path}", 9, dedup=dedup)
            us, loop, statuses = uvloop.run(leadrelay_intake(f"sqlite:///{path}", n))
            name = "leadrelay intake, dedup on (email or phone)" if dedup else "leadrelay intake, dedup off"
            figures.append((name, us, loop, _answers(statuses)))
            if dedup:
                rows_of, schema = read_rows(path), path
        keyed_rows = len(rows_of["dedup_marks"][1]) + len(rows_of["lead_lookup"][1])
        per_lead = keyed_rows / len(rows_of["leads"][1])
        figures.append(
            (
                f"SQLite alone: the lead, its job, {per_lead:.0f} hash-keyed rows",
                *sqlite_alone(schema, rows_of, keyed=True),
                "",
            )
        )
        figures.append(
            ("SQLite alone: the lead and its job", *sqlite_alone(schema, rows_of, keyed=False), "")
        )
    width = max(len(name) for name, *_ in figures)
    print(f"  {'measure':<{width}}  CPU µs/lead  of it on the loop  × bare app  answers")
    for name, us, loop, answers in figures:
        print(f"  {name:<{width}}  {us:>11,.0f}  {loop:>16,.0f}  {us / bare_us:>9.1f}  {answers}")
    print(
        "  (on the loop: the event loop thread's own CPU; for SQLite alone, all but the COMMIT, which intake "
        "runs on a thread of its own)"
    )


def _answers(statuses: dict[int, int]) -> str:
    return ", ".join(f"{count:,}×{status}" for status, count in sorted(statuses.items()))


if __name__ == "__main__":
    main()
