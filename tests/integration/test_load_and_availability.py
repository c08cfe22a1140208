"""Selection by load and availability, and pacing, end to end through the real HTTP API on SQLite and
PostgreSQL: ``least_loaded`` reads the cap counters, ``pacing: even`` holds a partner back with a trace
line, and a partner marked unavailable is skipped with the reason in the trace."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx

from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_cli import cli
from tests.integration.test_routing_flow import buyers as buyers
from tests.integration.test_routing_flow import job_of, post, serve, with_target
from tests.support import ADMIN, ServerThread, base_config, prepare


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


# ---------------------------------------------------------------- availability


def _availability(http: httpx.Client, name: str, available: bool, note: str | None = None) -> Any:
    r = http.put(
        f"/v1/partners/{name}/availability", json={"available": available, "note": note}, headers=ADMIN
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_an_unavailable_partner_is_skipped_at_once_with_the_reason(db_url: str, buyers: BuyersThread) -> None:
    with serve(db_url, base_config(buyers.url)) as server, server.client() as http:
        out = _availability(http, "sunco", False, "lunch break")
        skipped = post(http, state="CA", monthly_bill=180)
        job = job_of(http, skipped["lead_id"])
        one = http.get("/v1/partners/sunco/availability", headers=ADMIN).json()
        every = http.get("/v1/availability", headers=ADMIN).json()["items"]
        back = _availability(http, "sunco", True)
        again = post(http, state="CA", monthly_bill=180)
        trail = [e for e in http.get("/v1/audit", headers=ADMIN).json()["items"] if e["object_id"] == "sunco"]
    assert (out["partner"], out["available"], out["note"], out["changed_by"]) == (
        "sunco",
        False,
        "lunch break",
        out["changed_by"],
    )
    assert out["changed_by"] and out["changed_at"]
    assert skipped["partner"] == "brightpath"
    assert "sunco: partner unavailable (checked out)" in job["trace"]
    assert "brightpath: chosen (priority)" in job["trace"]
    assert one["available"] is False and one["note"] == "lunch break"
    assert {row["partner"]: row["available"] for row in every} == {
        "brightpath": True,
        "sunco": False,
        "voltedge": True,
    }
    assert back["available"] is True
    assert again["partner"] == "sunco"
    actions = [(e["action"], e["detail"]["before"]) for e in trail if e["action"].startswith("partner.")]
    assert sorted(actions) == [("partner.available", False), ("partner.unavailable", True)]


def test_availability_of_an_unknown_partner_is_404_and_the_body_is_checked(
    db_url: str, buyers: BuyersThread
) -> None:
    with serve(db_url, base_config(buyers.url)) as server, server.client() as http:
        missing = http.put("/v1/partners/nobody/availability", json={"available": False}, headers=ADMIN)
        unknown = http.get("/v1/partners/nobody/availability", headers=ADMIN)
        bad = http.put("/v1/partners/sunco/availability", json={"available": "maybe"}, headers=ADMIN)
    assert missing.status_code == 404 and "nobody" in missing.text
    assert unknown.status_code == 404
    assert bad.status_code == 422


def test_the_cli_checks_partners_out_and_in(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, base_config(buyers.url))
    out = cli(db_url, "partners", "unavailable", "voltedge", "--note", "paused by the buyer")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "voltedge: unavailable"
    listing = cli(db_url, "partners", "availability")
    rows = {line.split("\t")[0]: line.split("\t") for line in listing.stdout.strip().splitlines()[1:]}
    assert (
        rows["voltedge"][1] == "no"
        and rows["voltedge"][3].startswith("cli")
        and rows["voltedge"][4] == ("paused by the buyer")
    )
    assert rows["sunco"][1] == "yes"
    with ServerThread(db_url) as server, server.client() as http:
        answer = post(http, state="TX", monthly_bill=180)
        job = job_of(http, answer["lead_id"])
        assert answer["partner"] == "brightpath"
        assert "voltedge: partner unavailable (checked out)" in job["trace"]
        back = cli(db_url, "partners", "available", "voltedge")
        assert back.returncode == 0, back.stderr
        later = [post(http, state="TX", monthly_bill=180)["partner"] for _ in range(2)]
    assert "voltedge" in later  # round robin again over both
    assert cli(db_url, "partners", "availability", "voltedge").stdout.splitlines()[1].split("\t")[1] == "yes"
    missing = cli(db_url, "partners", "unavailable", "nobody")
    assert missing.returncode == 1 and "no partner named 'nobody'" in missing.stderr
