"""A source's caps (PRODUCT.md: a cap limits what "a source may send" per hour, day, week, month or in
total), on SQLite and PostgreSQL: the valid leads beyond a cap are answered 429 (``source_cap``, with
``Retry-After`` until the window ends on the source's clock) and not stored; invalid leads and keyed repeats
take no slot; a total cap is 403; two servers taking leads of one source at once never let more through
than the cap; a bad cap is refused at apply with its path."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import cap_counters, leads
from leadrelay.configuration.load import validate_document
from leadrelay.domain.caps import window_end
from leadrelay.domain.model import CapPeriod
from leadrelay.errors import ConfigError
from leadrelay.simulate.buyers import BuyersThread
from tests.documents import base_config, lead
from tests.support import ServerThread, prepare, rows, source_headers


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as b:
        yield b


def capped(buyers: BuyersThread, **source: Any) -> dict[str, Any]:
    doc = base_config(buyers.url)
    doc["sources"]["web"].update(source)
    return doc


def stored_leads(url: str) -> int:
    db = Database(url)
    try:
        return int(db.read(lambda c: c.execute(select(func.count()).select_from(leads)).scalar_one()))
    finally:
        db.dispose()


def send(http: httpx.Client, i: int, **overrides: Any) -> httpx.Response:
    body = lead(phone=f"(512) 555-{1000 + i:04d}", email=f"p{i}@example.com", **overrides)
    return http.post("/v1/leads", json=body, headers=source_headers())


def test_leads_past_a_day_cap_are_429_until_the_sources_next_day_and_not_stored(
    db_url: str, buyers: BuyersThread
) -> None:
    prepare(db_url, capped(buyers, caps={"day": 3}, timezone="America/New_York"))
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        assert [send(http, i).status_code for i in range(3)] == [202, 202, 202]
        invalid = send(http, 3, zip="not a zip")  # rejected for its fields: takes no slot
        assert invalid.status_code == 422, invalid.text
        keyed = {**source_headers(), "Idempotency-Key": "k-1"}
        r = http.post("/v1/leads", json=lead(), headers=keyed)
        assert r.status_code == 429, r.text
        over = send(http, 4)
        assert over.status_code == 429, over.text
        body = over.json()
        assert body["code"] == "source_cap"
        assert "source web has sent its day cap of 3 leads; the next day starts in " in body["detail"]
        wait = int(over.headers["Retry-After"])
        assert 0 < wait <= 25 * 3600  # until midnight in New York (a fall-back day has 25 hours)
        assert body["detail"].endswith(f"starts in {wait} s")
    assert stored_leads(db_url) == 4  # the three valid ones and the invalid one (rejected), not the rest


def test_a_keyed_repeat_takes_no_slot_and_a_total_cap_is_403(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, capped(buyers, caps={"hour": 5, "total": 2}))
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        keyed = {**source_headers(), "Idempotency-Key": "k-1"}
        first = http.post("/v1/leads", json=lead(), headers=keyed)
        again = http.post("/v1/leads", json=lead(), headers=keyed)  # answered as the first: no slot
        assert (first.status_code, again.status_code) == (202, 202), again.text
        assert again.json()["lead_id"] == first.json()["lead_id"]
        assert send(http, 1).status_code == 202
        over = send(http, 2)
        assert over.status_code == 403, over.text
        assert over.json()["detail"] == "source web has sent its total cap of 2 leads"
        assert "Retry-After" not in over.headers
    assert stored_leads(db_url) == 2


def test_two_servers_taking_one_sources_leads_at_once_let_exactly_the_cap_through(
    db_url: str, buyers: BuyersThread
) -> None:
    """Two API processes' group commits (two servers here, each with its own engine) on one database."""
    prepare(db_url, capped(buyers, caps={"day": 10}))
    with ServerThread(db_url, workers=0) as one, ServerThread(db_url, workers=0) as two:

        def post(i: int) -> int:
            with (one if i % 2 else two).client() as http:
                return send(http, i).status_code

        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(post, range(40)))
    assert sorted(codes) == [202] * 10 + [429] * 30
    assert stored_leads(db_url) == 10


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ({"caps": {"day": 0}}, "sources.web.caps.day"),
        ({"caps": {"fortnight": 5}}, "sources.web.caps.fortnight"),
        ({"timezone": "Mars/Olympus"}, "sources.web.timezone"),
    ],
)
def test_a_bad_source_cap_is_refused_with_its_path(source: dict[str, Any], path: str) -> None:
    doc = base_config(lambda name: f"http://127.0.0.1:9/{name}")
    doc["sources"]["web"].update(source)
    with pytest.raises(ConfigError) as refused:
        validate_document(doc)
    assert path in {p.path for p in refused.value.problems}, refused.value.problems


def test_source_caps_are_kept_by_validation_as_written() -> None:
    doc = base_config(lambda name: f"http://127.0.0.1:9/{name}")
    doc["sources"]["web"].update(caps={"day": 500, "hour": 50}, timezone="Europe/London")
    web = validate_document(doc)["sources"]["web"]
    assert (web["caps"], web["timezone"]) == ({"hour": 50, "day": 500}, "Europe/London")


def test_repeats_of_keyed_leads_sent_at_once_take_one_slot_each(db_url: str, buyers: BuyersThread) -> None:
    """A source's retries (8 concurrent sends of each of 20 keyed leads) may share a group commit: the
    copies not written give their slots back, so each lead counts once. (Each copy kept its slot: the
    source was refused 429 before it had sent its cap.)"""
    prepare(db_url, capped(buyers, caps={"day": 10_000}))
    with ServerThread(db_url, workers=0) as server:

        def post(i: int) -> int:
            k = i // 8
            body = lead(phone=f"(512) 555-{1000 + k:04d}", email=f"p{k}@example.com")
            with server.client() as http:
                keyed = {**source_headers(), "Idempotency-Key": f"k-{k}"}
                return http.post("/v1/leads", json=body, headers=keyed).status_code

        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(post, range(160)))
    assert set(codes) <= {202, 409}, codes  # 409: a copy while the first is being answered
    counter = select(func.sum(cap_counters.c.used)).where(cap_counters.c.partner == "source:web")
    assert (stored_leads(db_url), rows(db_url, counter)[0][0]) == (20, 20)


@pytest.mark.sqlite_only
def test_a_spent_total_cap_is_403_even_when_the_day_cap_is_full_too(
    db_url: str, buyers: BuyersThread
) -> None:
    prepare(db_url, capped(buyers, caps={"day": 2, "total": 2}))
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        assert [send(http, i).status_code for i in range(2)] == [202, 202]
        over = send(http, 2)
    assert over.status_code == 403, (over.text, over.headers.get("Retry-After"))  # no later day takes one
    assert "Retry-After" not in over.headers


@pytest.mark.sqlite_only
def test_retry_after_waits_for_the_full_cap_that_ends_last(db_url: str, buyers: BuyersThread) -> None:
    """Day and month both full: a retry when the day ends would be refused again (the month still is)."""
    prepare(db_url, capped(buyers, caps={"day": 2, "month": 2}))
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        assert [send(http, i).status_code for i in range(2)] == [202, 202]
        now = datetime.now(UTC)
        over = send(http, 2)
    assert over.status_code == 429, over.text
    month_end = window_end(CapPeriod.MONTH, ZoneInfo("UTC"), now)
    assert month_end is not None
    assert int(over.headers["Retry-After"]) >= (month_end - now).total_seconds() - 5, over.json()["detail"]


def test_two_capped_sources_on_two_servers_never_fail_a_lead(pg_url: str, buyers: BuyersThread) -> None:
    """Two servers taking leads of two capped sources at once (PostgreSQL): every lead is taken. A group
    commit takes its leads' slots (row locks on ``cap_counters`` held to COMMIT) source by source; in the
    order the leads arrived, two groups holding leads of web and shop in opposite orders locked the two
    counters crosswise, and PostgreSQL failed one of them (503 for every lead of its group)."""
    doc = capped(buyers, caps={"hour": 100_000, "day": 100_000})
    doc["sources"]["shop"] = {"entities": ["solar"], "caps": {"hour": 100_000, "day": 100_000}}
    prepare(pg_url, doc)
    with ServerThread(pg_url, workers=0) as one, ServerThread(pg_url, workers=0) as two:

        def post(i: int) -> int:
            source = ("web", "shop")[i * 7 % 11 % 2]
            body = lead(phone=f"(512) 555-{1000 + i:04d}", email=f"p{i}@example.com")
            with (one if i % 2 else two).client() as http:
                return http.post("/v1/leads", json=body, headers=source_headers(source)).status_code

        with ThreadPoolExecutor(24) as pool:
            codes = list(pool.map(post, range(400)))
    assert codes == [202] * 400, sorted(set(codes))
