"""Selection by load and availability, and pacing, end to end through the real HTTP API on SQLite and
PostgreSQL: ``least_loaded`` reads the cap counters, ``pacing: even`` holds a partner back with a trace
line, and a partner marked unavailable is skipped with the reason in the trace."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_routing_flow import buyers as buyers
from tests.integration.test_routing_flow import job_of, post, serve, with_target
from tests.support import base_config


def _least_loaded(doc: dict[str, Any], *partners: str) -> dict[str, Any]:
    return with_target(doc, "rule", {"partners": list(partners), "strategy": "least_loaded"})


def test_least_loaded_fills_partners_relative_to_their_caps(db_url: str, buyers: BuyersThread) -> None:
    doc = _least_loaded(
        base_config(buyers.url, sunco={"caps": {"day": 4}}, voltedge={"caps": {"day": 2}}),
        "sunco",
        "voltedge",
    )
    with serve(db_url, doc) as server, server.client() as http:
        answers = [post(http, state="CA", monthly_bill=180) for _ in range(6)]
        first, second = (job_of(http, a["lead_id"]) for a in answers[:2])
    assert [a["partner"] for a in answers[:2]] == ["sunco", "voltedge"]  # tie: list order
    assert Counter(a["partner"] for a in answers) == {"sunco": 4, "voltedge": 2}
    assert "loads: sunco 0/4 day, voltedge 0/2 day" in first["trace"]
    assert "sunco: chosen (least_loaded)" in first["trace"]
    assert "loads: sunco 1/4 day, voltedge 0/2 day" in second["trace"]
    assert "voltedge: chosen (least_loaded)" in second["trace"]


def test_least_loaded_counts_the_day_of_uncapped_partners(db_url: str, buyers: BuyersThread) -> None:
    doc = _least_loaded(base_config(buyers.url), "sunco", "voltedge")
    with serve(db_url, doc) as server, server.client() as http:
        answers = [post(http, state="CA", monthly_bill=180) for _ in range(5)]
        last = job_of(http, answers[-1]["lead_id"])
    assert [a["partner"] for a in answers] == ["sunco", "voltedge", "sunco", "voltedge", "sunco"]
    assert "loads: sunco 2 today (no cap), voltedge 2 today (no cap)" in last["trace"]


def _a_zone_at_morning() -> str:
    """An ``Etc/GMT±N`` zone where it is now between 02:00 and 10:59 (so a 10-hour window fits the day)."""
    hour = datetime.now(UTC).hour
    for offset in range(-12, 15):
        if 2 <= (hour + offset) % 24 <= 10:
            return f"Etc/GMT{-offset:+d}" if offset else "UTC"
    raise AssertionError("unreachable")


def test_even_pacing_holds_a_partner_back_with_a_trace_line(db_url: str, buyers: BuyersThread) -> None:
    """sunco takes 600 a day over 600 minutes that open now: one lead a minute (two if the minute turns
    during the test), so of three leads in a row at least one goes to the next partner."""
    zone = _a_zone_at_morning()
    from zoneinfo import ZoneInfo

    local = datetime.now(UTC).astimezone(ZoneInfo(zone))
    start = local.hour * 60 + local.minute
    window = f"{start // 60:02d}:{start % 60:02d}-{(start + 600) // 60:02d}:{(start + 600) % 60:02d}"
    doc = base_config(
        buyers.url,
        sunco={"timezone": zone, "caps": {"day": 600}, "hours": {"daily": window}, "pacing": "even"},
    )
    with serve(db_url, doc) as server, server.client() as http:
        answers = [post(http, state="CA", monthly_bill=180) for _ in range(3)]
        jobs = [job_of(http, a["lead_id"]) for a in answers]
    partners = [a["partner"] for a in answers]
    assert partners[0] == "sunco"
    assert "brightpath" in partners, partners
    held = [j for j in jobs if j["deliveries"][0]["partner"] == "brightpath"]
    assert any(
        line.startswith("sunco: held back by pacing (even: ") and "of 600 today" in line
        for line in held[0]["trace"]
    ), held[0]["trace"]
