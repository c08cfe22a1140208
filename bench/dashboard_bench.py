"""`make bench`, the dashboard: the console's dashboard over 1,000,000 leads must be read in under 200 ms, on
SQLite and on PostgreSQL (issue 12 points 2 and 9).

Seeds a fresh database with ``report_bench``'s traffic (``--leads`` leads over the last ``--days`` days,
8 sources, 12 partners, sales, payouts, cancellations, returns, attempts), applies a configuration naming
those sources and partners (each with a day cap, half of them paced ``even``), a few thousand open jobs
for the queue, rolls the closed hours up as the workers do, then reads the dashboard
(``services.dashboard.dashboard_tx``, with its JSON rendering) for 24 hours and for a week, each five
times: the median and the slowest.

Prints the figures; ``--check``: exit 1 when a dashboard takes 200 ms or more. ``--quick``: 20,000 leads
on SQLite, a smoke test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

from report_bench import PARTNERS, SOURCES, seed, timed  # noqa: E402
from run import fresh_postgres  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from leadrelay.adapters.db.engine import Database  # noqa: E402
from leadrelay.adapters.db.migrate import upgrade  # noqa: E402
from leadrelay.adapters.db.tables import jobs  # noqa: E402
from leadrelay.adapters.db.unit_of_work import SqlStorage  # noqa: E402
from leadrelay.services import configure  # noqa: E402
from leadrelay.services.config_in_force import ConfigCache  # noqa: E402
from leadrelay.services.dashboard import dashboard_query, dashboard_tx  # noqa: E402
from leadrelay.services.intake_writes import new_job_row  # noqa: E402
from leadrelay.services.reports import roll_up_now  # noqa: E402

LIMIT_S = 0.2


def document() -> dict[str, Any]:
    partner: dict[str, Any] = {"channel": {"webhook": {"url": "https://buyer.example/leads"}}}
    return {
        "entities": {
            e: {"fields": {"email": {"type": "email"}, "phone": {"type": "phone", "required": True}}}
            for e in ("solar", "roofing", "insurance")
        },
        "sources": {s: {"entities": ["solar", "roofing", "insurance"]} for s in SOURCES},
        "partners": {
            p: {
                **partner,
                "timezone": "America/New_York",
                "caps": {"day": 5000, "hour": 400},
                **({"pacing": "even"} if i % 2 else {}),
            }
            for i, p in enumerate(PARTNERS)
        },
    }


def open_jobs(db: Database, now: datetime, count: int = 3000) -> None:
    rows = [
        new_job_row(f"lead_{n:010d}", "solar-a", now, ids=lambda _p, n=n: f"job_open_{n}")
        | {"run_at": now - timedelta(seconds=n % 600)}
        for n in range(count)
    ]
    db.transaction(lambda conn: conn.execute(insert(jobs), rows))


def run_db(label: str, url: str, args: argparse.Namespace) -> list[float]:
    upgrade(url)
    db = Database(url)
    try:
        now = datetime.now(UTC)
        seconds = seed(db, args.leads, args.days, now)
        print(f"  [{label}] seeded {args.leads:,} leads in {seconds:.1f} s")
        storage = SqlStorage(db)
        configure.apply_document_sync(storage, document(), actor="bench")
        open_jobs(db, now)
        t = time.perf_counter()
        roll_up_now(storage, now, max_hours=48)
        print(f"  [{label}] rollup: {time.perf_counter() - t:.1f} s")
        configs = ConfigCache()
        worst = []
        for hours in (24, 168):
            query = dashboard_query(hours=hours, zone="America/New_York")

            def one(q: Any = query) -> Any:
                return storage.read(
                    lambda tx: dashboard_tx(tx, configs.current(tx), q, datetime.now(UTC))
                ).as_dict()

            median, slowest, out = timed(one)
            print(
                f"  [{label}] dashboard, {hours:>3} h: {median * 1000:>6.0f} ms median,"
                f" {slowest * 1000:>6.0f} ms slowest ({sum(h['received'] for h in out['leads']):,} leads,"
                f" {len(out['caps'])} caps,"
                f" {out['queue']['due']:,} jobs due)"
            )
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
    parser.add_argument("--check", action="store_true", help="exit 1 when a dashboard takes 200 ms or more")
    args = parser.parse_args(argv)
    if args.quick:
        args.leads, args.only = 20_000, "sqlite"
    print(f"the dashboard over {args.leads:,} leads ({args.days} days)")
    worst: list[float] = []
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            worst += run_db("sqlite", f"sqlite:///{tmp}/dashboard.db", args)
    if args.only in (None, "postgres"):
        with fresh_postgres() as url:
            if url is not None:
                worst += run_db("postgres", url, args)
    slowest = max(worst, default=0.0)
    print(
        f"slowest dashboard: {slowest * 1000:.0f} ms ({'under' if slowest < LIMIT_S else 'NOT under'} 200 ms)"
    )
    if args.check and slowest >= LIMIT_S:
        sys.exit(1)


if __name__ == "__main__":
    main()
