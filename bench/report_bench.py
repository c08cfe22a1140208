"""`make bench`, the reports: a report over 1,000,000 leads must answer in under a second, on SQLite and on
PostgreSQL (issue 11 point 7).

Seeds a fresh database (migrated to head) with ``--leads`` leads spread over the last ``--days`` days (8
sources, 3 entities, 6 profiles, 12 partners): about 85% accepted and offered to one partner, 80% of those
sold (a sale and a payout in the ledger), 1% of sales cancelled and 0.5% returned, one attempt per delivery
and, for a fifth of the sales, an auction's two best bids. Rows go in by executemany (SQLite) or COPY
(PostgreSQL), straight into the tables. Then:

- the rollup (``services.reports.roll_up_now``): every closed hour into ``report_hours``, timed;
- the reports (``services.reports.report_tx`` and their rendering), several shapes, each run five times:
  the median and the slowest; the hours after the watermark are computed live, as in production.

Prints the figures; exits 0 either way (``--check``: 1 when a report takes a second or more). ``--quick``:
20,000 leads on SQLite, for a smoke test.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

from run import fresh_postgres  # noqa: E402

from leadrelay.adapters.db.engine import Database  # noqa: E402
from leadrelay.adapters.db.migrate import upgrade  # noqa: E402
from leadrelay.adapters.db.unit_of_work import SqlStorage  # noqa: E402
from leadrelay.services.reports import report_query, report_tx, roll_up_now  # noqa: E402

SOURCES = [f"src{i}" for i in range(8)]
ENTITIES = ["solar", "roofing", "insurance"]
PARTNERS = [f"buyer{i:02d}" for i in range(12)]
CHUNK = 50_000

SHAPES: list[tuple[str, dict[str, str | None]]] = [
    ("by partner, day, 30 days", {"by": "partner", "grain": "day"}),
    (
        "by source x partner, day, New York",
        {"by": "source,partner", "grain": "day", "tz": "America/New_York"},
    ),
    ("by profile, hour, 7 days", {"by": "profile", "grain": "hour", "days": "7"}),
    ("by entity x source, month, 90 days", {"by": "entity,source", "grain": "month", "days": "90"}),
    ("by partner x profile, day, CSV", {"by": "partner,profile", "grain": "day", "csv": "1"}),
]


def _columns(table: str) -> list[str]:
    return {
        "leads": ["id", "entity", "source", "status", "data", "raw", "is_test", "created_at", "updated_at"],
        "deliveries": [
            "id", "job_id", "lead_id", "partner", "profile", "channel", "channel_step", "status",
            "idempotency_key", "attempts", "cap_windows", "price", "invoiced", "is_test", "created_at",
            "delivered_at",
        ],
        "attempts": ["id", "delivery_id", "job_id", "number", "started_at", "duration_ms", "outcome"],
        "ledger_entries": [
            "id", "at", "kind", "party_kind", "party", "amount", "currency", "actor", "lead_id",
            "delivery_id", "reverses", "margin",
        ],
        "bids": [
            "id", "job_id", "lead_id", "partner", "profile", "status", "tier", "price", "rank", "delivery_id",
            "sold_as", "superseded", "is_test", "started_at", "created_at",
        ],
    }[table]  # fmt: skip


def generate(
    count: int, days: int, now: datetime, seed: int = 7
) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """Chunks of rows per table, times as aware datetimes, money in cents, booleans as bool."""
    rng = random.Random(seed)
    start = now - timedelta(days=days)
    span = (now - start).total_seconds() - 60
    for base in range(0, count, CHUNK):
        out: dict[str, list[tuple[Any, ...]]] = {
            t: [] for t in ("leads", "deliveries", "attempts", "ledger_entries", "bids")
        }
        for n in range(base, min(count, base + CHUNK)):
            at = start + timedelta(seconds=span * n / count)
            lid, jid, did = f"lead_{n:010d}", f"job_{n:010d}", f"dlv_{n:010d}"
            source, entity = SOURCES[n % 8], ENTITIES[rng.randrange(3)]
            r = rng.random()
            status = "rejected" if r < 0.08 else "duplicate" if r < 0.15 else "queued"
            sold = False
            if status == "queued":
                partner, profile = PARTNERS[rng.randrange(12)], f"{entity}-{'ab'[rng.randrange(2)]}"
                sold = rng.random() < 0.8
                status = "delivered" if sold else "unsold"
                done = at + timedelta(milliseconds=rng.randrange(20, 900))
                out["deliveries"].append((
                    did, jid, lid, partner, profile, "webhook", 0, "delivered" if sold else "failed",
                    f"{jid}:{partner}", 1, "[]", 25.0, False, False, at, done if sold else None,
                ))  # fmt: skip
                out["attempts"].append(
                    (
                        f"att_{n:010d}",
                        did,
                        jid,
                        1,
                        at,
                        rng.lognormvariate(5.3, 0.6),
                        "success" if sold else "failure",
                    )
                )
                if sold:
                    price = rng.choice((1500, 2000, 2500, 3000, 4000))
                    payout = price * 6 // 10
                    out["ledger_entries"] += [
                        (f"le_s{n}", done, "sale", "partner", partner, price, "USD", "system", lid, did, None,
                         price - payout),
                        (f"le_p{n}", done, "payout", "source", source, -payout, "USD", "system", lid, did,
                         None, None),
                    ]  # fmt: skip
                    kind = "cancellation" if r > 0.99 else "return" if r > 0.985 else None
                    if kind:
                        later = done + timedelta(hours=rng.randrange(1, 48))
                        if later < now - timedelta(minutes=1):
                            out["ledger_entries"] += [
                                (f"le_xs{n}", later, kind, "partner", partner, -price, "USD", "admin:ops",
                                 lid, did, f"le_s{n}", payout - price),
                                (f"le_xp{n}", later, kind, "source", source, payout, "USD", "admin:ops",
                                 lid, did, f"le_p{n}", None),
                            ]  # fmt: skip
                    if n % 5 == 0:
                        second = PARTNERS[(PARTNERS.index(partner) + 1) % 12]
                        out["bids"] += [
                            (f"bid_a{n}", jid, lid, partner, profile, "accepted", 0, price / 100, 1, did,
                             "exclusive", False, False, at, at),
                            (f"bid_b{n}", jid, lid, second, profile, "accepted", 0,
                             price / 100 - rng.choice((1, 2.5, 5)), 2, None, "exclusive", False, False, at,
                             at),
                        ]  # fmt: skip
            out["leads"].insert(len(out["leads"]), (lid, entity, source, status, "{}", "{}", False, at, at))
        yield out


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, bool):
        return int(value)
    return value


def seed(db: Database, count: int, days: int, now: datetime) -> float:
    started = time.perf_counter()
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        if db.dialect == "sqlite":
            cur.execute("PRAGMA synchronous=OFF")
        for chunk in generate(count, days, now):
            for table, rows in chunk.items():
                cols = _columns(table)
                if db.dialect == "sqlite":
                    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                    cur.executemany(sql, [tuple(map(_sqlite_value, row)) for row in rows])
                else:
                    with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                        for row in rows:
                            copy.write_row(row)
            raw.commit()
        if db.dialect == "postgresql":
            raw.commit()
            cur.execute("ANALYZE")
        else:
            cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


def timed(fn: Callable[[], Any], runs: int = 5) -> tuple[float, float, Any]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), max(times), result


def run_db(label: str, url: str, args: argparse.Namespace) -> list[float]:
    upgrade(url)
    db = Database(url)
    try:
        now = datetime.now(UTC)
        seconds = seed(db, args.leads, args.days, now)
        print(
            f"  [{label}] seeded {args.leads:,} leads (and their deliveries, attempts, ledger, bids) "
            f"in {seconds:.1f} s"
        )
        storage = SqlStorage(db)
        t = time.perf_counter()
        roll_up_now(storage, now, max_hours=48)
        rolled = storage.read(lambda tx: tx.reports.rolled_until())
        count = db.read(lambda c: c.exec_driver_sql("SELECT count(*) FROM report_hours").scalar())
        print(f"  [{label}] rollup of {args.days} days into {count:,} rows: {time.perf_counter() - t:.1f} s"
              f" (rolled until {rolled:%H:%M}; the rest is live)")  # fmt: skip
        worst = []
        print(f"  [{label}] {'report':<40} {'median':>8} {'slowest':>8} {'lines':>6}")
        for name, shape in SHAPES:
            days = int(shape.get("days") or args.days)
            since = (now - timedelta(days=days)).isoformat()
            query = report_query(
                by=shape["by"], grain=shape["grain"], since=since, until=None, tz=shape.get("tz"), now=now
            )

            def one(q: Any = query, csv: bool = bool(shape.get("csv"))) -> Any:
                rep = storage.read(lambda tx: report_tx(tx, q, datetime.now(UTC)))
                return rep.to_csv() if csv else rep.records()

            median, slowest, out = timed(one)
            lines = out.count("\n") - 1 if isinstance(out, str) else len(out)
            print(f"  [{label}] {name:<40} {median * 1000:>6.0f}ms {slowest * 1000:>6.0f}ms {lines:>6}")
            worst.append(slowest)
        return worst
    finally:
        db.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30, help="the leads are spread over the last DAYS days")
    parser.add_argument("--only", choices=["sqlite", "postgres"], default=None)
    parser.add_argument("--quick", action="store_true", help="20,000 leads on SQLite: a smoke test")
    parser.add_argument("--check", action="store_true", help="exit 1 when a report takes a second or more")
    args = parser.parse_args(argv)
    if args.quick:
        args.leads, args.only = 20_000, "sqlite"
    print(f"reports over {args.leads:,} leads ({args.days} days)")
    worst: list[float] = []
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            worst += run_db("sqlite", f"sqlite:///{tmp}/reports.db", args)
    if args.only in (None, "postgres"):
        with fresh_postgres() as url:
            if url is not None:
                worst += run_db("postgres", url, args)
    slowest = max(worst, default=0.0)
    print(f"slowest report: {slowest * 1000:.0f} ms ({'under' if slowest < 1 else 'NOT under'} a second)")
    if args.check and slowest >= 1:
        sys.exit(1)


if __name__ == "__main__":
    main()
