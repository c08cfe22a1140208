"""Reports through a real server and real simulated buyers, on SQLite and PostgreSQL: leads of two sources
sold to three partners (one sale cancelled, one lead rejected, one duplicate), then ``GET /v1/reports`` by
source, by partner and by both as CSV checked against the stored rows; the rollup and a live report
agree, and so do rolled hours plus live ones."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.money_tables import ledger_entries, report_days
from leadrelay.adapters.db.tables import deliveries, jobs, leads
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.domain.ledger import Entry, EntryKind, Party, Totals
from leadrelay.domain.reports import floor_hour
from leadrelay.services import reports
from leadrelay.simulate.buyers import BuyersThread
from tests.support import (
    ADMIN,
    ServerThread,
    base_config,
    lead,
    prepare,
    rows,
    run_async,
    run_cli,
    source_headers,
)

D = Decimal


@pytest.fixture
def server(db_url: str) -> Iterator[ServerThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as buyers:
        doc = base_config(
            buyers.url, sunco={"price_from_answer": False}, brightpath={"price": 15}, voltedge={"price": 10}
        )
        doc["entities"]["solar"]["dedup"] = {"keys": [["phone"]], "window": "1d"}
        doc["sources"]["web"]["payout"] = {"share": "60%"}
        doc["sources"]["ads"] = {"entities": ["solar"], "payout": {"fixed": 4}}
        prepare(db_url, doc)
        with ServerThread(db_url) as s:
            yield s


def post(http: httpx.Client, source: str, **values: Any) -> dict[str, Any]:
    r = http.post("/v1/leads?wait=10", json=lead(**values), headers=source_headers(source))
    assert r.status_code in (200, 202, 422), r.text
    body: dict[str, Any] = r.json()
    return body


def traffic(http: httpx.Client, url: str) -> None:
    for i in range(3):  # CA: sunco at 25
        post(http, "web", phone=f"(512) 555-01{i:02d}")
    post(http, "web", phone="(512) 555-0100")  # a duplicate
    post(http, "web", phone="(512) 555-0150", state="TX", monthly_bill=150)  # brightpath or voltedge
    post(http, "web", phone="(512) 555-0151", state="TX", monthly_bill=150)
    for i in range(2):
        post(http, "ads", phone=f"(512) 555-02{i:02d}")
    post(http, "ads", phone=None)  # rejected: no phone
    q = (
        select(deliveries.c.job_id)
        .join(leads, leads.c.id == deliveries.c.lead_id)
        .where(leads.c.source == "web", deliveries.c.partner == "sunco", deliveries.c.status == "delivered")
        .order_by(deliveries.c.created_at)
    )
    first = rows(url, q)[0].job_id
    r = http.post(f"/v1/distributions/{first}/cancel", json={"reason": "test"}, headers=ADMIN)
    assert r.status_code == 200, r.text


def report(http: httpx.Client, **params: str) -> dict[str, Any]:
    r = http.get("/v1/reports", params={"grain": "day", **params}, headers=ADMIN)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def from_scratch(url: str, dim: str) -> dict[str, dict[str, Any]]:
    """Per source or per partner, what the report should say, from every stored row."""
    lead_rows = {r.id: r for r in rows(url, select(leads))}
    delivery_rows = {r.id: r for r in rows(url, select(deliveries))}
    entries = [
        Entry(
            r.id,
            r.at,
            EntryKind(r.kind),
            Party(r.party_kind),
            r.party,
            r.amount,
            r.currency,
            r.actor,
            r.lead_id,
            r.delivery_id,
            r.reverses,
            r.margin,
        )
        for r in rows(url, select(ledger_entries))
    ]
    out: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[Entry]] = {}
    for e in entries:
        if dim == "partner":
            key = e.party if e.party_kind is Party.PARTNER else delivery_rows[e.delivery_id].partner
        else:
            key = e.party if e.party_kind is Party.SOURCE else lead_rows[e.lead_id].source
        groups.setdefault(key, []).append(e)
    for key, mine in groups.items():
        t = Totals.of(mine)
        out[key] = {"revenue": str(t.revenue), "payout": str(t.payout), "margin": str(t.margin)}
    resends = {r.id for r in rows(url, select(jobs)) if r.kind == "resend"}
    sold = Counter(  # a resend is sold when it is billed: its partner's sale entry
        (d.partner if dim == "partner" else lead_rows[d.lead_id].source)
        for d in delivery_rows.values()
        if d.delivered_at is not None and d.job_id not in resends
    )
    sold.update(
        (e.party if dim == "partner" else lead_rows[e.lead_id or ""].source)
        for e in entries
        if e.kind is EntryKind.SALE
        and e.party_kind is Party.PARTNER
        and delivery_rows[e.delivery_id or ""].job_id in resends
    )
    for key, n in sold.items():
        out.setdefault(key, {})["sold"] = n
    if dim == "source":
        for key, n in Counter(r.source for r in lead_rows.values()).items():
            out.setdefault(key, {})["received"] = n
    return out


def share(amount: Decimal, part: str) -> str:
    return str((amount * D(part)).quantize(D("0.01")))


def figures(body: dict[str, Any], dim: str, names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    return {i[dim]: {n: i[n] for n in names} for i in body["items"]}


def test_a_report_by_source_and_by_partner_counts_the_traffic(server: ServerThread, db_url: str) -> None:
    with server.client() as http:
        traffic(http, db_url)
        by_source = report(http, by="source")
        by_partner = report(http, by="partner")
        both = http.get("/v1/reports", params={"by": "partner,source", "format": "csv"}, headers=ADMIN)
    assert by_source["rolled_until"] is None  # every hour live
    names = (
        "received",
        "accepted",
        "rejected",
        "duplicates",
        "sold",
        "cancelled",
        "revenue",
        "payout",
        "margin",
    )
    src = figures(by_source, "source", names)
    # web: 3 sales at 25 (one cancelled), 2 TX sales at 15 or 10; 60% of each live sale paid out
    revenue = D(src["web"]["revenue"])
    tx_revenue = revenue - D("50.00")
    assert tx_revenue in (D("20.00"), D("25.00"), D("30.00"))
    assert src["web"] | {"revenue": None} == {
        "received": 6,
        "accepted": 5,
        "rejected": 0,
        "duplicates": 1,
        "sold": 5,
        "cancelled": 1,
        "revenue": None,
        "payout": share(revenue, "0.6"),
        "margin": share(revenue, "0.4"),
    }
    assert src["ads"] == {
        "received": 3,
        "accepted": 2,
        "rejected": 1,
        "duplicates": 0,
        "sold": 2,
        "cancelled": 0,
        "revenue": "50.00",
        "payout": "8.00",
        "margin": "42.00",
    }
    scratch = from_scratch(db_url, "source")
    for name in ("web", "ads"):
        assert {k: src[name][k] for k in scratch[name]} == scratch[name]

    names = ("offered", "sold", "acceptance_rate", "cancelled", "revenue", "average_price")
    part = figures(by_partner, "partner", names)
    assert part["sunco"] == {
        "offered": 5,
        "sold": 5,
        "acceptance_rate": "1.0000",
        "cancelled": 1,
        "revenue": "100.00",
        "average_price": "20.00",
    }
    scratch = from_scratch(db_url, "partner")
    for name, expected in scratch.items():
        got = figures(by_partner, "partner", tuple(expected))[name]
        assert got == expected, name
    lead_row = figures(by_partner, "partner", ("received", "effective_price"))[""]
    assert lead_row == {"received": 9, "effective_price": "0.00"}  # a lead's counts have no partner

    assert both.status_code == 200 and both.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(both.text)))
    sunco_web = next(r for r in table if (r["partner"], r["source"]) == ("sunco", "web"))
    assert (sunco_web["sold"], sunco_web["revenue"], sunco_web["payout"]) == ("3", "50.00", "30.00")
    assert sum(int(r["attempts"]) for r in table) == 7
    assert all(r["latency_p50_ms"] for r in table if r["partner"])
    assert sum(D(r["revenue"]) for r in table) == D(src["web"]["revenue"]) + D("50.00")


def test_rolled_hours_and_live_hours_agree_with_a_live_report(server: ServerThread, db_url: str) -> None:
    now = datetime.now(UTC)
    earlier = floor_hour(now) - timedelta(hours=3)
    db = Database(db_url)
    try:  # two rejected leads three hours ago, rolled up with the hours before this one
        db.transaction(
            lambda c: c.execute(
                insert(leads),
                [
                    {
                        "id": f"lead_old{i}",
                        "entity": "solar",
                        "source": "ads",
                        "status": "rejected",
                        "data": {},
                        "raw": {},
                        "created_at": earlier + timedelta(minutes=i),
                        "updated_at": earlier,
                    }
                    for i in range(2)
                ],
            )
        )
        with server.client() as http:
            traffic(http, db_url)
            params = {"by": "source,partner", "grain": "hour", "since": earlier.isoformat()}
            live = report(http, **params)
            storage = SqlStorage(db)
            rolled = run_async(reports.roll_up(storage, now))
            assert rolled == floor_hour(now - reports.SETTLE)
            mixed = report(http, **params)
            assert mixed["rolled_until"] == rolled.isoformat()
            assert mixed["items"] == live["items"]
            assert live["items"][0]["start"] == earlier.isoformat()
            assert (live["items"][0]["source"], live["items"][0]["rejected"]) == ("ads", 2)

            later = now + timedelta(hours=2)  # every hour closed: all from the rollup
            assert reports.roll_up_now(storage, later) == 1
            rolled_only = storage.read(
                lambda tx: reports.report_tx(
                    tx,
                    reports.report_query(
                        by="source,partner",
                        grain="hour",
                        since=earlier.isoformat(),
                        until=None,
                        tz=None,
                        now=now,
                    ),
                    later,
                )
            )
            assert rolled_only.rolled_until is not None and rolled_only.rolled_until > now
            assert rolled_only.records() == live["items"]
    finally:
        db.dispose()


def test_of_two_rollups_of_the_same_hours_one_stores(db_url: str) -> None:
    db = Database(db_url)
    try:
        at = datetime.now(UTC) - timedelta(hours=5)
        db.transaction(
            lambda c: c.execute(
                insert(leads),
                {
                    "id": "lead_one",
                    "entity": "solar",
                    "source": "web",
                    "status": "rejected",
                    "data": {},
                    "raw": {},
                    "created_at": at,
                    "updated_at": at,
                },
            )
        )
        storage = SqlStorage(db)
        now = datetime.now(UTC)
        plans = [storage.read(lambda tx: reports._plan(tx, now, reports.SETTLE, 24)) for _ in range(2)]
        assert [storage.transaction(lambda tx, p=p: reports._store(tx, p)) for p in plans] == [True, False]
        got = storage.read(lambda tx: tx.reports.rolled(floor_hour(at), now, ["source"]))
        assert [(r.group, r.values["received"], r.values["rejected"]) for r in got] == [(("web",), 1, 1)]
    finally:
        db.dispose()


def test_bad_parameters_are_422_naming_them(server: ServerThread) -> None:
    with server.client() as http:
        r = http.get("/v1/reports", params={"by": "buyer", "grain": "week", "format": "xml"}, headers=ADMIN)
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["by", "grain", "format"]
        r = http.get("/v1/reports", params={"by": "partner,partner", "tz": "Asia/Kolkata"}, headers=ADMIN)
        assert r.status_code == 422
        assert [e["field"] for e in r.json()["errors"]] == ["by", "tz"]
        r = http.get("/v1/reports", params={"since": "2026-12-02", "until": "2026-12-01"}, headers=ADMIN)
        assert (r.status_code, [e["field"] for e in r.json()["errors"]]) == (422, ["since"])
        assert http.get("/v1/reports").status_code == 401
        assert http.get("/v1/reports", headers=source_headers()).status_code in (401, 403)


LEADS = [("web", "rejected"), ("web", "queued"), ("ads", "duplicate")]


def test_the_report_command_prints_a_table_or_csv(db_url: str) -> None:
    at = floor_hour(datetime.now(UTC)) - timedelta(hours=2)
    db = Database(db_url)
    try:
        db.transaction(
            lambda c: c.execute(
                insert(leads),
                [
                    {"id": f"lead_c{i}", "entity": "solar", "source": src, "status": status, "data": {},
                     "raw": {}, "created_at": at, "updated_at": at}
                    for i, (src, status) in enumerate(LEADS)
                ],
            )
        )  # fmt: skip
    finally:
        db.dispose()
    env = {"LEADRELAY_DATABASE_URL": db_url, "COLUMNS": None, "LINES": None}
    done = run_cli(["report", "--by", "source", "--grain", "hour", "--csv", "--roll-up"], env)
    assert done.returncode == 0, done.stderr
    table = {r["source"]: r for r in csv.DictReader(io.StringIO(done.stdout))}
    assert {s: (r["received"], r["accepted"], r["rejected"], r["duplicates"]) for s, r in table.items()} == {
        "web": ("2", "1", "1", "0"),
        "ads": ("1", "0", "0", "1"),
    }
    assert table["web"]["start"] == at.isoformat() and table["web"]["acceptance_rate"] == ""
    plain = run_cli(["report", "--by", "source,entity"], env)
    assert plain.returncode == 0, plain.stderr
    header, *lines = plain.stdout.splitlines()
    assert header.split("\t")[:4] == ["start", "source", "entity", "received"]
    assert sorted(line.split("\t")[1] for line in lines) == ["ads", "web"]
    bad = run_cli(["report", "--by", "buyer", "--grain", "week"], env)
    assert bad.returncode == 2
    assert "--by" in bad.stderr and "--grain" in bad.stderr


SHAPES = [
    ("source", "day", None),
    ("partner,source", "month", None),
    ("source", "day", "Asia/Tokyo"),  # a UTC day plus nine hours before it, less its last nine
    ("source,partner", "day", "America/New_York"),  # a UTC day less its first hours plus the next day's
    ("partner", "day", "America/Los_Angeles"),
]


def test_days_read_from_the_daily_rollup_agree_with_live_ones(db_url: str) -> None:
    now = datetime.now(UTC)
    first = floor_hour(now) - timedelta(days=3, hours=5)
    at = [first + timedelta(hours=7 * i, minutes=i) for i in range(12)]
    # and in the first hours of the last two whole UTC days: the day before's in America
    midnight = floor_hour(now).replace(hour=0)
    at += [midnight - timedelta(days=1, hours=-2), midnight - timedelta(days=2, hours=-4, minutes=-30)]
    lead_rows = [
        {"id": f"lead_d{i}", "entity": "solar", "source": ("web", "ads")[i % 2],
         "status": ("queued", "rejected")[i % 3 == 0], "data": {}, "raw": {}, "created_at": t,
         "updated_at": t}
        for i, t in enumerate(at)
    ]  # fmt: skip
    sales = [
        Entry(f"le_d{i}", t + timedelta(minutes=1), EntryKind.SALE, Party.PARTNER, "sunco", D(10 + i), "USD",
              "system", f"lead_d{i}", margin=D(3))
        for i, t in enumerate(at) if i % 3
    ]  # fmt: skip
    db = Database(db_url)
    try:
        db.transaction(lambda c: c.execute(insert(leads), lead_rows))
        SqlStorage(db).transaction(lambda tx: tx.ledger.post(sales))
        storage = SqlStorage(db)
        queries = [
            reports.report_query(by=by, grain=grain, since=first.isoformat(), until=None, tz=tz, now=now)
            for by, grain, tz in SHAPES
        ]  # fmt: skip
        live = [storage.read(lambda tx, q=q: reports.report_tx(tx, q, now)).records() for q in queries]  # type: ignore[misc]
        assert sum(r["received"] for r in live[0]) == 14
        assert sum(D(r["revenue"]) for r in live[0]) == sum((e.amount for e in sales), D(0))
        reports.roll_up_now(storage, now)
        days = rows(db_url, select(report_days.c.day).distinct())
        assert len(days) >= 3  # every whole day before today's
        rolled = [storage.read(lambda tx, q=q: reports.report_tx(tx, q, now)) for q in queries]  # type: ignore[misc]
        assert all(r.rolled_until == floor_hour(now - reports.SETTLE) for r in rolled)
        assert [r.records() for r in rolled] == live
    finally:
        db.dispose()


def test_a_day_is_read_from_the_daily_rollup_only_once_it_is_rolled_up(db_url: str) -> None:
    """Fixed times (whatever the hour the test runs at): the 14th's hours are rolled up and summed into its
    day, the 15th's only up to 22:00. A day in New York is read as the 14th less its first hours plus the
    15th's first ones; the 15th up to 22:00 is read from its hours (its day is not summed yet), and so is
    the bucket of no dimension whose edge hours hold nothing."""
    day = datetime(2026, 1, 14, tzinfo=UTC)
    at = [day + timedelta(hours=h) for h in (2, 10, 23, 27, 36)]
    lead_rows = [
        {"id": f"lead_r{i}", "entity": "solar", "source": "web", "status": "queued", "data": {}, "raw": {},
         "created_at": t, "updated_at": t}
        for i, t in enumerate(at)
    ]  # fmt: skip
    db = Database(db_url)
    try:
        db.transaction(lambda c: c.execute(insert(leads), lead_rows))
        storage = SqlStorage(db)
        reports.roll_up_now(storage, day + timedelta(hours=46) + reports.SETTLE)
        assert [r.day for r in rows(db_url, select(report_days.c.day))] == [day]

        def received(since: int, until: int, dims: tuple[str, ...] = ("source",)) -> list[int]:
            low, high = day + timedelta(hours=since), day + timedelta(hours=until)
            got = storage.read(lambda tx: tx.reports.rolled(low, high, dims, cuts=[low]))
            return [r.values["received"] for r in got]

        assert received(5, 29) == [3]  # the 14th in New York: 10:00, 23:00, 03:00 the next day
        assert received(24, 46) == [2]  # the 15th's hours: its day is not rolled up
        assert received(1, 25, ()) == [3]  # [00:00, 01:00) of the 14th and of the 15th hold nothing
    finally:
        db.dispose()


def test_the_parts_of_an_hour_add_up_to_the_hour(server: ServerThread, db_url: str) -> None:
    """``facts`` of a part of an hour (what a process keeps of the settled minutes of the current hour,
    ``services.reports.ReportCache``): cut at the fifth lead's time, the two parts' counters sum to the
    hour's, group by group, and each part has some of them."""
    with server.client() as http:
        traffic(http, db_url)
    times = sorted(r.created_at for r in rows(db_url, select(leads.c.created_at)))
    cut = times[4]
    hour = floor_hour(cut)
    db = Database(db_url)
    storage = SqlStorage(db)

    def summed(found: list[Any]) -> dict[tuple[str, ...], dict[str, int]]:
        out: dict[tuple[str, ...], dict[str, int]] = {}
        for row in found:
            into = out.setdefault(row.group, {})
            for name, value in row.values.items():
                into[name] = into.get(name, 0) + value
        return out

    try:
        whole = storage.read(lambda tx: tx.reports.facts(hour))
        before = storage.read(lambda tx: tx.reports.facts(hour, until=cut))
        after = storage.read(lambda tx: tx.reports.facts(hour, since=cut))
    finally:
        db.dispose()
    assert all(row.hour == hour for row in [*before, *after])
    assert summed([*before, *after]) == summed(whole)
    assert sum(row.values.get("received", 0) for row in before) == sum(1 for t in times if hour <= t < cut)
    if floor_hour(times[0]) == floor_hour(times[-1]):  # (not when the traffic ran across an hour's end)
        for part in (before, after):
            totals = Counter[str]()
            for row in part:
                totals.update(row.values)
            assert totals["received"] > 0 and totals["offered"] > 0, part
