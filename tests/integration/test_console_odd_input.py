"""Odd input to the console and the API that answered 500 (a filter time off the calendar, an integer past
a float's range in a lead or a configuration) and a lead's value that a spreadsheet would run as a formula
in the holds CSV (a review of 2026-12-06 found each); on a real server over SQLite, through the console's
login form and the API as an operator would use them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from leadrelay.adapters.db.tables import deliveries
from leadrelay.domain.access import Role
from tests.integration.test_console_portals import Browser, make_users
from tests.support import (
    ADMIN,
    ServerThread,
    base_config,
    free_port,
    lead,
    prepare,
    rows,
    source_headers,
    wait_for,
)

Site = tuple[ServerThread, httpx.Client]


def _nowhere(name: str) -> str:
    return f"http://127.0.0.1:{free_port()}/{name}"  # nothing listens: no test here needs a sale


@pytest.fixture
def site(sqlite_url: str) -> Iterator[Site]:
    prepare(sqlite_url, base_config(_nowhere))
    make_users(sqlite_url, [("viewer", Role.VIEWER, None), ("admin", Role.ADMIN, None)])
    with ServerThread(sqlite_url) as server, server.client() as http:
        yield server, http


# ---------------------------------------------------------------- a 500 on odd input


@pytest.mark.parametrize("bound", ["until=0001-01-01T00:00%2B05:00", "since=9999-12-31T23:59-05:00"])
def test_a_log_filter_time_whose_offset_leaves_the_calendar_is_a_422_not_a_500(
    site: Site, bound: str
) -> None:
    """``/console/log?until=0001-01-01T00:00+05:00``: ``_instant`` converts to UTC with ``astimezone``,
    which overflows (year 0) and the page answers 500; any other bad time is a 422 next to its field."""
    _, http = site
    viewer = Browser(http, "viewer")
    answer = viewer.get(f"/console/log?{bound}")
    assert answer.status_code == 422, (
        f"the log's filter {bound!r} answered {answer.status_code}, not the 422 page naming the field"
    )


HUGE = "1" + "0" * 400  # a JSON integer past float's range (json.loads takes it whole)


def _bill(value: str) -> str:
    return '{"first_name": "Ada", "phone": "(512) 555-1212", "zip": "94103", "monthly_bill": ' + value + "}"


def test_a_simulated_lead_with_a_huge_number_is_read_as_any_bad_number(site: Site) -> None:
    """A viewer pastes a lead into the simulator with ``monthly_bill`` (a number field) as a 401-digit
    integer: ``parse_number`` called ``float(raw)`` on it (OverflowError) and the page answered 500. It is
    not a number, as ``"abc"`` is not: the page shows the same simulation."""
    _, http = site
    viewer = Browser(http, "viewer")
    pages = [
        viewer.post("/console/simulator", {"entity": "solar", "source": "web", "lead": _bill(value)})
        for value in ('"abc"', HUGE)
    ]
    assert [p.status_code for p in pages] == [200, 200], [p.text[-500:] for p in pages]


def test_the_simulate_api_with_a_huge_number_is_read_as_any_bad_number(site: Site) -> None:
    """The same lead through ``POST /v1/simulate`` (a viewer's token may simulate)."""
    _, http = site
    headers = {**ADMIN, "Content-Type": "application/json"}
    answers = [
        http.post(
            "/v1/simulate",
            content=f'{{"entity": "solar", "source": "web", "lead": {_bill(v)}}}',
            headers=headers,
        )
        for v in ('"abc"', HUGE)
    ]
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert answers[0].json()["profiles"] == answers[1].json()["profiles"]


def test_a_test_delivery_with_a_huge_number_is_a_422_not_a_500(site: Site) -> None:
    """``POST /v1/partners/{name}/test-delivery`` with the lead given: the same ``parse_number`` overflow."""
    _, http = site
    body = (
        '{"lead": {"first_name": "Ada", "phone": "(512) 555-1212", "zip": "94103", "monthly_bill": '
        + HUGE
        + "}}"
    )
    answer = http.post(
        "/v1/partners/sunco/test-delivery",
        content=body,
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, (
        f"a test delivery's lead with a number past float's range answered {answer.status_code}, not a 422"
    )


WEBHOOK = '"channel": {"webhook": {"url": "https://buyer.example/leads"'


@pytest.mark.parametrize(
    ("where", "document"),
    [
        (
            "channel.webhook.timeout",
            '{"timezone": "UTC", "price": 25, ' + WEBHOOK + ', "timeout": ' + HUGE + "}}}",
        ),
        (
            "filters.value",
            '{"timezone": "UTC", "price": 25, "filters": {"field": "monthly_bill", "op": "gte", "value": '
            + HUGE
            + "}, "
            + WEBHOOK
            + "}}}",
        ),
    ],
)
def test_a_partner_with_a_huge_integer_is_a_422_naming_it_not_a_500(
    site: Site, where: str, document: str
) -> None:
    """``PUT /v1/partners/sunco`` with a 401-digit integer: as a webhook timeout ``parse_duration`` calls
    ``float()`` on it (OverflowError); as a filter's value it passes the checks and the JSON column's
    encoder refuses it at the write (``Integer exceeds 64-bit range``). Both answer 500; the price or a
    cap's count given the same integer answer a 422 naming the field."""
    _, http = site
    answer = http.put(
        "/v1/partners/sunco", content=document, headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert answer.status_code == 422, (
        f"a partner whose {where} is a 401-digit integer answered {answer.status_code}"
    )


# ---------------------------------------------------------------- formula injection in downloads

FORMULA = '=HYPERLINK("http://evil.example","Open")'  # within first_name's 50 characters


def test_the_holds_export_does_not_hand_a_spreadsheet_a_formula_from_a_lead(sqlite_url: str) -> None:
    """``GET /v1/holds.csv`` writes the lead's values as sent: a first name a consumer typed as a formula
    arrives in the admin's spreadsheet as a live formula (the invoice CSV guards its memo cell with a
    leading quote, ``adapters.documents.invoices._safe_cell``; this download does not)."""
    doc = base_config(_nowhere)
    doc["partners"] = {"sunco": {"channel": {"hold": {}}}}
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partner": "sunco"}
    prepare(sqlite_url, doc)
    with ServerThread(sqlite_url) as server, server.client() as http:
        posted = http.post("/v1/leads", json=lead(first_name=FORMULA), headers=source_headers())
        assert posted.status_code in (200, 202), posted.text
        wait_for(lambda: rows(sqlite_url, select(deliveries).where(deliveries.c.status == "held")))
        exported = http.get("/v1/holds.csv", headers=ADMIN)
    assert exported.status_code == 200, exported.text
    [row] = list(csv.DictReader(io.StringIO(exported.text)))
    assert not row["first_name"].startswith(("=", "+", "-", "@")), (
        f"holds.csv hands the spreadsheet a formula from the lead: {row['first_name']!r}"
    )
