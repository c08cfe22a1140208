"""The dashboard's use case on the in-memory fakes: its parameters (bad ones named), and a day of seeded
traffic (``tests/dashboard_seed.py``) read back as the figures per hour, partner and source, the caps with
pacing, the queue, the open breakers and the newest alerts — the same whether the hours come from the
rollup or from the tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadrelay.domain.reports import Line
from leadrelay.errors import ValidationFailed
from leadrelay.services import configure, reports
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.dashboard import MAX_HOURS, dashboard_query, dashboard_tx, show_dashboard
from leadrelay.services.dashboard_figures import Dashboard, lead_hours
from tests import dashboard_seed as seeded
from tests.fakes import FakeIds, FakeStorage
from tests.unit.in_memory import run


def test_parameters_and_their_defaults() -> None:
    q = dashboard_query()
    assert (q.hours, q.zone, q.zone_name) == (24, UTC, "UTC")
    q = dashboard_query(hours="48", zone="America/New_York")
    assert (q.hours, str(q.zone), q.zone_name) == (48, "America/New_York", "America/New_York")
    assert dashboard_query(hours=MAX_HOURS).hours == MAX_HOURS


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"hours": 0}, ["hours"]),
        ({"hours": MAX_HOURS + 1}, ["hours"]),
        ({"hours": "a day"}, ["hours"]),
        ({"zone": "Mars/Olympus_Mons"}, ["zone"]),
        ({"zone": "America"}, ["zone"]),  # a directory of the zone database, not a zone
        ({"hours": -1, "zone": "Nowhere"}, ["hours", "zone"]),
    ],
)
def test_bad_parameters_are_named(params: dict[str, Any], fields: list[str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        dashboard_query(**params)
    assert [p.field for p in caught.value.problems] == fields


def test_every_hour_of_the_window_is_there_empty_or_not() -> None:
    since = datetime(2026, 11, 22, 10, tzinfo=UTC)
    lines = [Line(since + timedelta(hours=1), ("web", ""), {"received": 3, "rejected": 1})]
    got = lead_hours(lines, since, since + timedelta(hours=3), UTC)
    assert [(h.start.hour, dict(h.counts), h.received) for h in got] == [
        (10, {"accepted": 0, "rejected": 0, "duplicates": 0, "suppressed": 0}, 0),
        (11, {"accepted": 2, "rejected": 1, "duplicates": 0, "suppressed": 0}, 3),
        (12, {"accepted": 0, "rejected": 0, "duplicates": 0, "suppressed": 0}, 0),
    ]


def seeded_storage() -> FakeStorage:
    storage = FakeStorage(ids=FakeIds())
    seeded.seed(storage)
    return storage


def board(storage: FakeStorage, **params: Any) -> Dashboard:
    query = dashboard_query(**params)
    configs = ConfigCache()
    return storage.read(lambda tx: dashboard_tx(tx, configs.current(tx), query, seeded.NOW))


def test_a_day_of_traffic_on_the_dashboard() -> None:
    seeded.check(board(seeded_storage()).as_dict())


def test_rolled_hours_and_live_hours_give_the_same_dashboard() -> None:
    storage = seeded_storage()
    live = board(storage).as_dict()
    assert live.pop("rolled_until") is None
    assert reports.roll_up_now(storage, seeded.NOW) > 0
    rolled = board(storage).as_dict()
    assert rolled.pop("rolled_until") == "2026-11-22T15:00:00+00:00"  # the hour closed 5 minutes ago
    assert rolled == live


def test_the_hours_are_shown_in_the_zone_asked_for() -> None:
    storage = seeded_storage()
    ny = board(storage, zone="America/New_York").as_dict()
    assert ny["zone"] == "America/New_York"
    assert ny["leads"][-2]["start"] == "2026-11-22T09:00:00-05:00"  # 14:00 UTC
    assert (ny["leads"][-2]["accepted"], ny["leads"][-1]["accepted"]) == (1, 2)
    kolkata = board(storage, zone="Asia/Kolkata", hours=2).as_dict()  # half an hour off UTC: hours are kept
    assert [h["start"] for h in kolkata["leads"]] == [
        "2026-11-22T19:30:00+05:30",
        "2026-11-22T20:30:00+05:30",
    ]
    assert [h["received"] for h in kolkata["leads"]] == [3, 3]


def test_a_shorter_window_leaves_older_hours_out() -> None:
    body = board(seeded_storage(), hours=1).as_dict()
    assert [h["received"] for h in body["leads"]] == [3]
    sunco = next(p for p in body["partners"] if p["partner"] == "sunco")
    assert (sunco["sold"], sunco["revenue"]) == (1, "5.00")  # 30 sold at 15:05, 25 cancelled at 15:20


def test_an_empty_installation_shows_zeros_and_every_configured_name() -> None:
    storage = FakeStorage(ids=FakeIds())
    configure.apply_document_sync(storage, seeded.document(), actor="test")
    got = run(show_dashboard(storage, ConfigCache(), dashboard_query(hours=3), seeded.NOW)).as_dict()
    assert [h["received"] for h in got["leads"]] == [0, 0, 0]
    assert [p["partner"] for p in got["partners"]] == ["brightpath", "sunco", "voltedge"]
    assert all(p["acceptance_rate"] is None and p["latency_p50_ms"] is None for p in got["partners"])
    assert [s["source"] for s in got["sources"]] == ["ads", "web"]
    assert got["queue"]["oldest_due"] is None and got["queue"]["oldest_age_s"] == 0.0
    assert got["breakers"] == [] and got["alerts"] == []
