"""The leads per hour read the leads' own rows of the rollup (``ix_report_hours_leads``, migration 0028):
a report of the lead counters alone (the dashboard's bars) gives the same sums as the same report over
every row, and the statement ``SqlReportFacts.rolled`` runs for it reads that index, never every partner's
row of every hour, on SQLite (``EXPLAIN QUERY PLAN``) and PostgreSQL (``EXPLAIN`` after ``ANALYZE``).
Dropping the index fails the plan's check on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, event

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.report_store import SqlReportFacts
from leadrelay.domain.reports import COUNTERS, HOUR, LEAD_COUNTERS, Row

START = datetime(2026, 11, 1, tzinfo=UTC)
HOURS = 24 * 10
PARTNERS = [f"buyer{i:02d}" for i in range(12)]
SOURCES = ("web", "calls", "affiliates")


def _rows() -> list[Row]:
    """Each hour: each source's own row (its leads by outcome, and a payout), and a row per source and
    partner (offers, sales, revenue): what the rollup stores, the leads' counts on the rows of no partner."""
    out = []
    for h in range(HOURS):
        hour = START + h * HOUR
        for s, source in enumerate(SOURCES):
            own = {"received": 10 + h % 7 + s, "rejected": h % 3, "duplicates": s, "suppressed": h % 2}
            out.append(Row(hour, (source, "loan", "", ""), own | {"payout": 500}))
            for p, partner in enumerate(PARTNERS):
                sold = {"offered": 3 + p % 4, "sold": 1 + (h + p) % 3, "revenue": 1200 + p, "attempts": 3}
                out.append(Row(hour, (source, "loan", partner, "main"), sold))
    return out


def _plan(conn: Connection, since: datetime, until: datetime) -> tuple[list[Row], str]:
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        seen.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", capture)
    rows = SqlReportFacts(conn).rolled(since, until, (), counters=LEAD_COUNTERS)
    event.remove(conn, "before_cursor_execute", capture)
    statement, parameters = seen[-1]
    explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    plan = "\n".join(str(row[-1]) for row in conn.exec_driver_sql(explain + statement, parameters))
    return rows, plan


def test_the_leads_per_hour_read_the_leads_own_rows_and_sum_as_every_row_does(db_url: str) -> None:
    db = Database(db_url)
    try:
        db.transaction(lambda conn: SqlReportFacts(conn).store(_rows()))
        db.transaction(lambda conn: conn.exec_driver_sql("ANALYZE"))
        since, until = START + 24 * HOUR, START + 8 * 24 * HOUR  # a week of the ten days
        with db.engine.connect() as conn:
            leads, plan = _plan(conn, since, until)
            everything = SqlReportFacts(conn).rolled(since, until, (), counters=COUNTERS)
        # the same sums, hour by hour, as the same report read from every row
        assert len(leads) == 24 * 7
        expected = {r.hour: {n: r.values[n] for n in LEAD_COUNTERS} for r in everything}
        assert {r.hour: dict(r.values) for r in leads} == expected
        first = START + 24 * HOUR
        assert expected[first] == {
            "received": 33 + 3 * (24 % 7),
            "rejected": 0,
            "duplicates": 3,
            "suppressed": 0,
        }
        assert "ix_report_hours_leads" in plan, plan
        if db.dialect == "sqlite":
            assert "COVERING INDEX ix_report_hours_leads" in plan, plan  # the index alone: no table read
        else:
            assert "Seq Scan on report_hours" not in plan, plan
    finally:
        db.dispose()


def test_a_report_naming_other_counters_reads_every_row(db_url: str) -> None:
    """The payout sits on the same rows as the leads, the sales on the partners' rows: a report naming
    either besides the leads sums every row (the filter is only for the leads' counters alone)."""
    db = Database(db_url)
    try:
        db.transaction(lambda conn: SqlReportFacts(conn).store(_rows()))
        db.transaction(lambda conn: SqlReportFacts(conn).sum_days([START + 2 * 24 * HOUR]))
        since = START + 2 * 24 * HOUR
        with db.engine.connect() as conn:
            (day,) = SqlReportFacts(conn).rolled(
                since, since + 24 * HOUR, (), cuts=[since], counters=("received", "sold", "payout")
            )
        assert day.values["payout"] == 500 * len(SOURCES) * 24
        assert day.values["sold"] == sum(
            1 + (h + p) % 3 for h in range(48, 72) for p in range(len(PARTNERS))
        ) * len(SOURCES)
        assert day.values["received"] == sum(10 + h % 7 + s for h in range(48, 72) for s in range(3))
    finally:
        db.dispose()


def test_the_whole_days_of_a_report_of_the_leads_sum_as_the_hours_do(db_url: str) -> None:
    """A day bucket's whole days come from the daily rollup, with the same filter: the same leads."""
    db = Database(db_url)
    try:
        rows = _rows()
        db.transaction(lambda conn: SqlReportFacts(conn).store(rows))
        days = [START + d * 24 * HOUR for d in range(HOURS // 24)]
        db.transaction(lambda conn: SqlReportFacts(conn).sum_days(days))
        since, until = START + 5 * HOUR, START + 4 * 24 * HOUR + 7 * HOUR  # partial days at both ends
        starts = [
            since,
            START + 24 * HOUR,
            START + 2 * 24 * HOUR,
            START + 3 * 24 * HOUR,
            START + 4 * 24 * HOUR,
        ]
        with db.engine.connect() as conn:
            buckets = SqlReportFacts(conn).rolled(
                since, until, ("source",), cuts=starts, counters=LEAD_COUNTERS
            )
        got: dict[tuple[datetime, str], int] = {}
        for r in buckets:
            got[(r.hour, r.group[0])] = got.get((r.hour, r.group[0]), 0) + r.values["received"]
        want: dict[tuple[datetime, str], int] = {}
        for r in rows:
            if since <= r.hour < until and r.group[2] == "":
                start = max(s for s in starts if s <= r.hour)
                want[(start, r.group[0])] = want.get((start, r.group[0]), 0) + r.values["received"]
        assert got == want
        assert len(want) == len(starts) * len(SOURCES)
    finally:
        db.dispose()
