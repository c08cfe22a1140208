"""The dashboard on SQLite and PostgreSQL: a day of traffic seeded through the repositories
(``tests/dashboard_seed.py``) read back with the real figures, live and after the rollup; then, on
SQLite, ``GET /v1/dashboard`` through a real server: its answer's shape, the admin token it needs, bad
parameters named in a 422, and its response model in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.services import reports
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.dashboard import dashboard_query, dashboard_tx
from leadrelay.services.ports import Tx
from leadrelay.services.reports import ReportCache
from tests import dashboard_seed as seeded
from tests.fakes import lead_row
from tests.support import ADMIN, ServerThread, prepare


def board(storage: SqlStorage, cache: ReportCache | None = None, **params: Any) -> dict[str, Any]:
    query = dashboard_query(**params)
    configs = ConfigCache()
    return storage.read(
        lambda tx: dashboard_tx(tx, configs.current(tx), query, seeded.NOW, cache=cache)
    ).as_dict()


def test_a_day_of_traffic_live_and_rolled_up(db_url: str) -> None:
    db = Database(db_url)
    try:
        storage = SqlStorage(db)
        seeded.seed(storage)
        live = board(storage)
        seeded.check(board(storage))
        assert reports.roll_up_now(storage, seeded.NOW) > 0
        rolled = board(storage)
        # through a process's cache, filled then read: the same board (the leads per hour from their own
        # rollup rows, the settled part of 15:00 kept)
        cache = ReportCache()
        assert board(storage, cache) == board(storage, cache) == rolled
        assert (live.pop("rolled_until"), rolled.pop("rolled_until")) == (None, "2026-11-22T15:00:00+00:00")
        assert rolled == live
        day = datetime(2026, 11, 22, tzinfo=UTC)
        sold = storage.read(
            lambda tx: tx.reports.rolled(day, day + timedelta(days=1), ["partner"], counters=["sold"])
        )
        assert sorted((r.group, dict(r.values)) for r in sold) == [
            (("",), {"sold": 0}),  # the leads' own counts, summed away but for "sold"
            (("sunco",), {"sold": 1}),  # 14:00 is rolled up, 15:00 not yet
        ]
        ny = board(storage, zone="America/New_York", hours=2)
        assert [(h["start"], h["received"]) for h in ny["leads"]] == [
            ("2026-11-22T09:00:00-05:00", 3),
            ("2026-11-22T10:00:00-05:00", 3),
        ]
    finally:
        db.dispose()


@pytest.fixture
def server(db_url: str) -> Iterator[ServerThread]:
    prepare(db_url, seeded.document())
    now = datetime.now(UTC)
    db = Database(db_url)
    try:

        def two_leads(tx: Tx) -> None:  # this minute: inside any window
            tx.leads.insert_leads(
                [lead_row("lead_a", now=now), lead_row("lead_b", now=now, status="rejected")]
            )

        SqlStorage(db).transaction(two_leads)
    finally:
        db.dispose()
    with ServerThread(db_url) as s:
        yield s


@pytest.mark.sqlite_only
def test_the_dashboard_over_the_api(server: ServerThread) -> None:
    with server.client() as http:
        r = http.get("/v1/dashboard", params={"hours": 6, "zone": "America/New_York"}, headers=ADMIN)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {
            "zone", "since", "until", "now", "rolled_until", "currency", "lead_statuses", "leads", "partners",
            "sources", "caps", "queue", "breakers", "alerts",
        }  # fmt: skip
        assert body["zone"] == "America/New_York"
        assert len(body["leads"]) == 6
        assert all(h["start"].endswith(("-05:00", "-04:00")) for h in body["leads"])
        assert sum(h["received"] for h in body["leads"]) == 2
        assert sum(h["rejected"] for h in body["leads"]) == 1
        assert [p["partner"] for p in body["partners"]] == ["brightpath", "sunco", "voltedge"]
        assert [s["source"] for s in body["sources"]] == ["ads", "web"]
        assert {(c["partner"], c["period"], c["used"], c["limit"]) for c in body["caps"]} == {
            ("brightpath", "day", 0, 100),
            ("sunco", "day", 0, 10),
        }
        assert set(body["queue"]) == {"due", "scheduled", "claimed", "waiting", "oldest_due", "oldest_age_s"}
        until = datetime.fromisoformat(body["until"])
        assert until - datetime.fromisoformat(body["since"]) == timedelta(hours=6)
        assert until > datetime.now(UTC) >= until - timedelta(hours=1)

        default = http.get("/v1/dashboard", headers=ADMIN).json()
        assert (default["zone"], len(default["leads"])) == ("UTC", 24)


@pytest.mark.sqlite_only
def test_the_dashboard_needs_an_admin_token(server: ServerThread) -> None:
    with server.client() as http:
        assert http.get("/v1/dashboard").status_code == 401
        assert http.get("/v1/dashboard", headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"hours": 0}, "hours"),
        ({"hours": 169}, "hours"),
        ({"hours": "a day"}, "hours"),
        ({"zone": "Mars/Olympus_Mons"}, "zone"),
        ({"zone": "../etc"}, "zone"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(
    server: ServerThread, params: dict[str, Any], field: str
) -> None:
    with server.client() as http:
        r = http.get("/v1/dashboard", params=params, headers=ADMIN)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "validation_failed"
    assert [e["field"] for e in body["errors"]] == [field]


@pytest.mark.sqlite_only
def test_the_openapi_document_describes_the_answer(server: ServerThread) -> None:
    with httpx.Client(base_url=server.url) as http:
        doc = http.get("/openapi.json").json()
    op = doc["paths"]["/v1/dashboard"]["get"]
    assert {p["name"] for p in op["parameters"]} == {"hours", "zone"}
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"leads", "partners", "sources", "caps", "queue", "breakers", "alerts"} <= set(
        schema["properties"]
    )
    assert "422" in op["responses"]
