"""Reports at the hour grain in a zone on the day its clock falls back (America/New_York, 2026-11-01:
01:00-02:00 is lived twice, 05:00 and 06:00 UTC): each UTC hour is its own line, live and from the rollup,
through the API, and in the dashboard's leads per hour."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import leads
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.services import reports
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.dashboard import dashboard_query, dashboard_tx
from tests.support import ADMIN, ServerThread, base_config, prepare

FALL_BACK = datetime(2026, 11, 1, tzinfo=UTC)
# one lead in each UTC hour from 04:00 to 07:00: local 00:00 EDT, 01:00 EDT, 01:00 EST, 02:00 EST
TIMES = [FALL_BACK + timedelta(hours=h, minutes=30) for h in (4, 5, 6, 7)]
EXPECTED = [
    ("2026-11-01T00:00:00-04:00", 1),
    ("2026-11-01T01:00:00-04:00", 1),
    ("2026-11-01T01:00:00-05:00", 1),
    ("2026-11-01T02:00:00-05:00", 1),
]


def _seed(db_url: str) -> Database:
    db = Database(db_url)
    db.transaction(
        lambda c: c.execute(
            insert(leads),
            [
                {"id": f"lead_dst{i}", "entity": "solar", "source": "web", "status": "queued", "data": {},
                 "raw": {}, "created_at": t, "updated_at": t}
                for i, t in enumerate(TIMES)
            ],
        )
    )  # fmt: skip
    return db


def _hourly(storage: SqlStorage, now: datetime) -> list[tuple[str, int]]:
    query = reports.report_query(
        by="source",
        grain="hour",
        since="2026-11-01",
        until="2026-11-01T06:00",
        tz="America/New_York",
        now=now,
    )
    report = storage.read(lambda tx: reports.report_tx(tx, query, now))
    return [(r["start"], r["received"]) for r in report.records()]


def test_an_hour_grain_report_keeps_both_hours_of_the_fall_back(db_url: str) -> None:
    db = _seed(db_url)
    try:
        storage = SqlStorage(db)
        now = FALL_BACK + timedelta(days=2)
        assert _hourly(storage, now) == EXPECTED  # live from the tables
        reports.roll_up_now(storage, now)
        assert _hourly(storage, now) == EXPECTED  # from the rollup
    finally:
        db.dispose()


def test_the_dashboard_keeps_both_hours_of_the_fall_back(db_url: str) -> None:
    prepare(db_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    db = _seed(db_url)
    try:
        storage = SqlStorage(db)
        now = FALL_BACK + timedelta(hours=7, minutes=40)  # the window: 04:00 to 08:00 UTC
        query = dashboard_query(hours=4, zone="America/New_York")
        board = storage.read(lambda tx: dashboard_tx(tx, ConfigCache().current(tx), query, now)).as_dict()
        assert [(h["start"], h["received"]) for h in board["leads"]] == EXPECTED
    finally:
        db.dispose()


def test_get_reports_keeps_both_hours_of_the_fall_back(db_url: str) -> None:
    """The same through ``GET /v1/reports`` (and its CSV) of a running server."""
    prepare(db_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    _seed(db_url).dispose()
    params = {"by": "source", "grain": "hour", "since": "2026-11-01", "until": "2026-11-01T06:00",
              "tz": "America/New_York"}  # fmt: skip
    with ServerThread(db_url) as server, server.client() as http:
        r = http.get("/v1/reports", params=params, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert [(i["start"], i["received"]) for i in r.json()["items"]] == EXPECTED
        r = http.get("/v1/reports", params={**params, "format": "csv"}, headers=ADMIN)
        assert r.status_code == 200, r.text
        table = csv.DictReader(io.StringIO(r.text))
        assert [(row["start"], int(row["received"])) for row in table] == EXPECTED
