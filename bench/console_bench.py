"""`make bench`, the console's pages: each page must render in under 200 ms with 1,000,000 leads in the
database, on SQLite and on PostgreSQL (issue 12 point 9).

Seeds a fresh database as ``dashboard_bench`` does (``report_bench``'s traffic: ``--leads`` leads over the
last ``--days`` days, 8 sources, 12 partners; a configuration naming them with caps and pacing; 3,000 open
jobs; the closed hours rolled up), creates an admin, starts the real app (``leadrelay serve``'s
``create_app`` under uvicorn on loopback, no workers), logs in through the console's form, then asks for
each page of ``--paths`` over HTTP (one warm-up, then ``--runs`` times: the median and the slowest), the
whole page as the browser gets it: the data read, the SVG charts drawn, the template rendered. Each timed
request is followed by one with the reports' cache of the process emptied first (``ReportCache``: the
rolled sums and the settled hours it keeps), printed as the "first view": what the first dashboard after
the process starts costs (and, in part, the first after each hour turns). ``--check`` holds the repeated
views to the budget; the first view is printed beside them.

``--paths`` takes any console pages: by default the dashboard for the last 24 hours and for a week, the
distribution log (all, and one partner's), the lead search by a phone, the audit log and a partner's leads. A
path written ``partner:/console/partner/leads`` is asked by a partner's user (of ``buyer00``) instead of the
admin. Besides the leads, the seed writes a routing job per delivery (the distribution log's rows, one in
1,000 matched by a rare rule) and a
lookup key per lead (the lead search's index; ``/console/leads?q=`` with a phone answers through it), so that
those pages read tables of the bench's size. Prints the figures; ``--check``: exit 1 when a page takes 200 ms
or more (or does not answer 200). ``--quick``: 20,000 leads on SQLite, a smoke test.
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from argon2 import PasswordHasher  # noqa: E402
from dashboard_bench import document, open_jobs  # noqa: E402
from report_bench import seed  # noqa: E402
from run import fresh_postgres  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from leadrelay.adapters.db.engine import Database  # noqa: E402
from leadrelay.adapters.db.migrate import upgrade  # noqa: E402
from leadrelay.adapters.db.privacy_tables import lead_lookup  # noqa: E402
from leadrelay.adapters.db.unit_of_work import SqlStorage  # noqa: E402
from leadrelay.adapters.dedup_keys import DedupKeys  # noqa: E402
from leadrelay.adapters.passwords import Argon2Passwords  # noqa: E402
from leadrelay.config import Settings  # noqa: E402
from leadrelay.domain.access import Role  # noqa: E402
from leadrelay.domain.lookup import parse_query  # noqa: E402
from leadrelay.entrypoints.api.app import create_app  # noqa: E402
from leadrelay.services import configure  # noqa: E402
from leadrelay.services.reports import ReportCache, roll_up_now  # noqa: E402
from leadrelay.services.users import Accounts  # noqa: E402

LIMIT_S = 0.2
EMAIL, PASSWORD = "bench@example.com", "console bench password"
PARTNER_EMAIL = "buyer00@example.com"
PHONE = "(512) 789-1111"  # three leads of the seed have it
DEFAULT_PATHS = (
    "/console?hours=24&zone=America/New_York",
    "/console?hours=168&zone=America/New_York",
    "/console/log",
    "/console/log?partner=buyer03",
    "/console/log?rule=rare-rule",  # a filter matching one row in 1,000: an index range, not a scan
    f"/console/leads?q={PHONE}",
    "/console/audit",
    "partner:/console/partner/leads",
)


@contextmanager
def serving(url: str) -> Iterator[tuple[str, Callable[[], None]]]:
    """The app on a loopback port in a thread (no workers): its base URL, and a function that empties what
    its process keeps of the reports (``ReportCache``): the next dashboard reads everything, as the first
    one after the process starts does."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    app = create_app(Settings(database_url=url, host="127.0.0.1", port=port), workers=0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)

    def forget() -> None:
        app.state.runtime.reports_cache = ReportCache()

    try:
        yield f"http://127.0.0.1:{port}", forget
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def log_in(http: httpx.Client, email: str = EMAIL) -> None:
    form = http.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None, form.text
    done = http.post("/console/login", data={"email": email, "password": PASSWORD, "csrf_token": token[1]})
    if done.status_code != 303:
        raise RuntimeError(f"the login answered {done.status_code}")


Timed = tuple[str, int, float, float, float, float, int]


def time_pages(base: str, forget: Callable[[], None], paths: Sequence[str], runs: int) -> list[Timed]:
    """Each page: (path, status, median s, slowest s, then the same with the reports' cache emptied before
    each request, bytes)."""
    out = []
    with httpx.Client(base_url=base, timeout=60) as http, httpx.Client(base_url=base, timeout=60) as partner:
        log_in(http)
        log_in(partner, PARTNER_EMAIL)
        for shown in paths:
            client, path = (
                (partner, shown[len("partner:") :]) if shown.startswith("partner:") else (http, shown)
            )
            client.get(path)  # warm-up: templates compiled, configuration cached
            times, cold, answer = [], [], None
            for _ in range(runs):
                t = time.perf_counter()
                answer = client.get(path)
                times.append(time.perf_counter() - t)
                forget()
                t = time.perf_counter()
                again = client.get(path)
                cold.append(time.perf_counter() - t)
                assert again.status_code == answer.status_code
            assert answer is not None
            out.append(
                (
                    shown,
                    answer.status_code,
                    statistics.median(times),
                    max(times),
                    statistics.median(cold),
                    max(cold),
                    len(answer.content),
                )
            )
    return out


def log_rows(db: Database) -> None:
    """A finished routing job for each delivery of the seed (the distribution log's rows, with their
    times, profile and outcome) and a lookup key per lead (a stand-in hash: the lead search's index at
    its size), plus the real key of ``PHONE`` (under the installation's dedup key) for three leads: the
    search by that phone finds them."""
    job_status = "CASE status WHEN 'delivered' THEN 'delivered' ELSE 'unsold' END"
    hashed = "'k' || substr(id, 6)" if db.dialect == "sqlite" else "md5(id)"
    tail = "substr(lead_id, -3)" if db.dialect == "sqlite" else "right(lead_id, 3)"
    rule = f"CASE {tail} WHEN '007' THEN 'rare-rule' ELSE 'main-rule' END"  # one job in 1,000 is rare's
    statements = (
        "INSERT INTO jobs (id, lead_id, profile, rule, kind, status, trace, excluded, queue_state, run_at,"
        " claims, created_at, updated_at, finished_at)"
        f" SELECT job_id, lead_id, profile, {rule}, 'route', {job_status}, '[]', '[]', 'done', created_at, 1,"
        " created_at, created_at, created_at FROM deliveries",
        f"INSERT INTO lead_lookup (key_hash, lead_id) SELECT {hashed}, id FROM leads",
        "ANALYZE",
    )

    def write(conn: Any) -> None:
        for sql in statements:
            conn.exec_driver_sql(sql)

    db.transaction(write)
    keys = parse_query(PHONE).keys(DedupKeys(db, None).hasher_sync())
    found = [{"key_hash": key, "lead_id": f"lead_{n:010d}"} for key in keys for n in (1, 2, 3)]
    db.transaction(lambda conn: conn.execute(insert(lead_lookup), found))


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
        log_rows(db)
        print(f"  [{label}] routing jobs and lookup keys: {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        roll_up_now(storage, now, max_hours=48)
        print(f"  [{label}] rollup: {time.perf_counter() - t:.1f} s")
        fast = Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        accounts = Accounts(storage, fast)
        accounts.create_user(EMAIL, Role.ADMIN, password=PASSWORD, actor="bench")
        accounts.create_user(PARTNER_EMAIL, Role.PARTNER, password=PASSWORD, actor="bench", tenant="buyer00")
    finally:
        db.dispose()
    worst = []
    with serving(url) as (base, forget):
        for path, status, median, slowest, cold, cold_slowest, size in time_pages(
            base, forget, args.paths, args.runs
        ):
            print(
                f"  [{label}] {path}: {median * 1000:>6.0f} ms median, {slowest * 1000:>6.0f} ms slowest;"
                f" first view {cold * 1000:>4.0f} / {cold_slowest * 1000:>4.0f} ms ({status}, {size:,} bytes)"
            )
            worst.append(slowest if status == 200 else float("inf"))
    return worst


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", default=list(DEFAULT_PATHS), help="console pages to time")
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30, help="the leads are spread over the last DAYS days")
    parser.add_argument("--runs", type=int, default=5, help="timed requests per page (after one warm-up)")
    parser.add_argument("--only", choices=["sqlite", "postgres"], default=None)
    parser.add_argument("--quick", action="store_true", help="20,000 leads on SQLite: a smoke test")
    parser.add_argument("--check", action="store_true", help="exit 1 when a page takes 200 ms or more")
    args = parser.parse_args(argv)
    if args.quick:
        args.leads, args.only = 20_000, "sqlite"
    print(f"the console's pages over {args.leads:,} leads ({args.days} days), through HTTP")
    worst: list[float] = []
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            worst += run_db("sqlite", f"sqlite:///{tmp}/console.db", args)
    if args.only in (None, "postgres"):
        with fresh_postgres() as url:
            if url is not None:
                worst += run_db("postgres", url, args)
    slowest = max(worst, default=0.0)
    print(f"slowest page: {slowest * 1000:.0f} ms ({'under' if slowest < LIMIT_S else 'NOT under'} 200 ms)")
    if args.check and slowest >= LIMIT_S:
        sys.exit(1)


if __name__ == "__main__":
    main()
