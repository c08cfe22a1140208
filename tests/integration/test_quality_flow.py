"""Dedup and suppression through the HTTP API, on SQLite and PostgreSQL, with real buyers on loopback."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from leadrelay.adapters.db import suppression_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.privacy_tables import dedup_marks
from leadrelay.adapters.db.tables import jobs, leads
from leadrelay.domain.suppression import list_hash
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, rows, source_headers, wait_for


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def make_lists(url: str, entries: dict[str, tuple[str, list[str]]]) -> None:
    db = Database(url)
    now = datetime.now(UTC)

    def tx(conn: Any) -> None:
        for name, (kind, values) in entries.items():
            suppression_store.create_list(conn, name, kind, None, now)
            hashes = [list_hash(kind, v) for v in values]
            suppression_store.add_hashes(conn, name, [h for h in hashes if h is not None])

    try:
        db.transaction(tx)
    finally:
        db.dispose()


def config(buyers: BuyersThread, **entity: Any) -> dict[str, Any]:
    doc = base_config(buyers.url)
    doc["entities"]["solar"].update(entity)
    return doc


def post(server: ServerThread, body: dict[str, Any], wait: int = 0) -> dict[str, Any]:
    with server.client() as http:
        r = http.post(f"/v1/leads?wait={wait}", json=body, headers=source_headers())
    assert r.status_code in (200, 202), r.text
    answer: dict[str, Any] = r.json()
    return answer


# ---------------------------------------------------------------- dedup


def test_entity_dedup_by_email_or_phone_with_link_to_original(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, config(buyers, dedup={"keys": [["email"], ["phone"]], "window": "30d"}))
    with ServerThread(db_url) as server:
        first = post(server, lead(), wait=10)
        assert first["status"] == "delivered"
        # the same person, typed differently: the email's domain case, the phone's punctuation
        by_email = post(server, lead(email="ada@EXAMPLE.com", phone="(512) 555-0000"))
        by_phone = post(server, lead(email="other@example.com", phone="+1 512.555.1212"))
        fresh = post(server, lead(email="grace@example.com", phone="(512) 555-7777"), wait=10)
    assert by_email["status"] == "duplicate"
    assert by_phone["status"] == "duplicate"
    assert fresh["status"] == "delivered"
    stored = {r.id: r for r in rows(db_url, select(leads))}
    assert stored[by_email["lead_id"]].status == "duplicate"
    assert stored[by_email["lead_id"]].duplicate_of == first["lead_id"]
    assert stored[by_phone["lead_id"]].duplicate_of == first["lead_id"]
    job = rows(db_url, select(jobs).where(jobs.c.lead_id == by_email["lead_id"]))[0]
    assert job.status == "duplicate" and job.queue_state == "done"
    assert f"duplicate of lead {first['lead_id']} by email" in job.trace[0]
    assert buyers.stats()["total_received"] == 2  # the duplicates never reached a buyer


def test_a_phone_extension_is_kept_and_dedup_compares_the_number_without_it(
    db_url: str, buyers: BuyersThread
) -> None:
    prepare(db_url, config(buyers, dedup={"keys": [["phone"]], "window": "30d"}))
    with ServerThread(db_url) as server:
        first = post(server, lead(phone="(512) 555-1212 x123"), wait=10)
        same_desk = post(server, lead(email="b@example.com", phone="512-555-1212 ext 123"))
        other_desk = post(server, lead(email="c@example.com", phone="5125551212 x 43"))
        no_extension = post(server, lead(email="d@example.com", phone="+1 512.555.1212"))
    assert first["status"] == "delivered"
    assert same_desk["status"] == other_desk["status"] == no_extension["status"] == "duplicate"
    stored = {r.id: r for r in rows(db_url, select(leads))}
    assert stored[first["lead_id"]].data["phone"] == "+15125551212;ext=123"  # nothing the lead sent is lost
    assert stored[other_desk["lead_id"]].duplicate_of == first["lead_id"]
    assert stored[no_extension["lead_id"]].duplicate_of == first["lead_id"]


def test_dedup_window_expires(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, config(buyers, dedup={"keys": ["email"], "window": "1h"}))
    with ServerThread(db_url) as server:
        first = post(server, lead())
        assert post(server, lead())["status"] == "duplicate"
        db = Database(db_url)  # the original was seen two hours ago
        db.transaction(
            lambda c: c.execute(update(dedup_marks).values(seen_at=datetime.now(UTC) - timedelta(hours=2)))
        )
        db.dispose()
        again = post(server, lead())
    assert again["status"] == "queued"
    mark = rows(db_url, select(dedup_marks))[0]
    assert mark.lead_id == again["lead_id"] != first["lead_id"]  # the window starts again from this lead


def test_profile_dedup_closes_only_that_profiles_job(db_url: str, buyers: BuyersThread) -> None:
    doc = config(buyers)
    second = copy.deepcopy(doc["profiles"]["solar-main"])
    second["dedup"] = {"keys": ["phone"], "window": "7d"}
    doc["profiles"]["solar-deduped"] = second
    prepare(db_url, doc)
    with ServerThread(db_url) as server:
        post(server, lead(), wait=10)
        again = post(server, lead(), wait=10)
    assert again["status"] == "delivered"  # solar-main still takes it
    by_profile = {j.profile: j for j in rows(db_url, select(jobs).where(jobs.c.lead_id == again["lead_id"]))}
    assert by_profile["solar-deduped"].status == "duplicate"
    assert "(profile solar-deduped)" in by_profile["solar-deduped"].trace[0]
    assert by_profile["solar-main"].status == "delivered"


def test_global_dedup_spans_entities(db_url: str, buyers: BuyersThread) -> None:
    doc = config(buyers, dedup={"keys": ["email"], "scope": "global"})
    roofing = copy.deepcopy(doc["entities"]["solar"])
    doc["entities"]["roofing"] = roofing
    doc["sources"]["web"]["entities"] = ["solar", "roofing"]
    prepare(db_url, doc)
    with ServerThread(db_url) as server:
        assert post(server, {"entity": "solar", **lead()})["status"] == "queued"
        assert post(server, {"entity": "roofing", **lead()})["status"] == "duplicate"


def test_partner_never_receives_the_same_person_twice(db_url: str, buyers: BuyersThread) -> None:
    doc = config(buyers)
    doc["partners"]["sunco"]["dedup"] = {"keys": [["email"], ["phone"]], "window": "30d"}
    prepare(db_url, doc)
    with ServerThread(db_url) as server:
        first = post(server, lead(), wait=10)
        second = post(server, lead(email="ada2@example.com"), wait=10)  # same phone
    assert first["partner"] == "sunco"
    assert second["status"] == "delivered" and second["partner"] == "brightpath"
    job = rows(db_url, select(jobs).where(jobs.c.lead_id == second["lead_id"]))[0]
    assert any("sunco: already received this person (phone" in line for line in job.trace)
    assert buyers.stats()["buyers"]["sunco"]["received"] == 1


def test_partner_dedup_mark_is_given_back_when_the_delivery_fails(db_url: str) -> None:
    with BuyersThread(count=3, latency_ms=0, accept_rate=0.0) as refusing:
        doc = config(refusing)  # every buyer refuses: sunco never really got the person
        doc["partners"]["sunco"]["dedup"] = {"keys": ["phone"]}
        prepare(db_url, doc)
        with ServerThread(db_url) as server:
            post(server, lead(), wait=10)
            assert rows(db_url, select(dedup_marks)) == []
            post(server, lead(), wait=10)
        assert refusing.stats()["buyers"]["sunco"]["received"] == 2


# ---------------------------------------------------------------- suppression


def test_entity_suppression_list(db_url: str, buyers: BuyersThread) -> None:
    make_lists(db_url, {"dnc": ("phone", ["512-555-1212"]), "litigators": ("email", ["sue@law.example"])})
    prepare(db_url, config(buyers, suppression=["dnc", "litigators"]))
    with ServerThread(db_url) as server:
        by_phone = post(server, lead(phone="+1 (512) 555 1212"))
        by_email = post(server, lead(email="SUE@law.example", phone="(512) 555-9999"))
        clean = post(server, lead(phone="(512) 555-3333"), wait=10)
        with server.client() as http:
            seen = http.get(f"/v1/leads/{by_phone['lead_id']}", headers=source_headers()).json()
    assert by_phone == {"lead_id": by_phone["lead_id"], "status": "unsold", "reason": "suppressed"}
    assert seen["status"] == "unsold" and seen["reason"] == "suppressed"  # the list's name stays private
    assert by_email["status"] == "unsold"
    assert clean["status"] == "delivered"
    stored = {r.id: r for r in rows(db_url, select(leads))}
    assert stored[by_phone["lead_id"]].status == "suppressed"
    job = rows(db_url, select(jobs).where(jobs.c.lead_id == by_email["lead_id"]))[0]
    assert job.status == "suppressed" and job.trace == ["suppressed by list litigators"]
    assert buyers.stats()["total_received"] == 1


def test_a_phone_with_an_extension_is_suppressed_by_its_number(db_url: str, buyers: BuyersThread) -> None:
    make_lists(db_url, {"dnc": ("phone", ["512-555-1212"])})
    prepare(db_url, config(buyers, suppression=["dnc"]))
    with ServerThread(db_url) as server:
        answer = post(server, lead(phone="(512) 555-1212 x123"))
    assert answer["status"] == "unsold" and answer["reason"] == "suppressed"


def test_partner_suppression_list_only_removes_that_partner(db_url: str, buyers: BuyersThread) -> None:
    make_lists(db_url, {"sunco-customers": ("email", ["ada@example.com"])})
    doc = config(buyers)
    doc["partners"]["sunco"]["suppression"] = ["sunco-customers"]
    prepare(db_url, doc)
    with ServerThread(db_url) as server:
        answer = post(server, lead(), wait=10)
        with server.client() as http:
            detail = http.get(f"/v1/distributions?lead={answer['lead_id']}", headers=ADMIN).json()
            job = http.get(f"/v1/distributions/{detail['items'][0]['id']}", headers=ADMIN).json()
    assert answer["partner"] == "brightpath"
    assert "sunco: suppressed by list sunco-customers (partner list)" in job["trace"]


@pytest.mark.sqlite_only
def test_unknown_suppression_list_is_refused_at_apply(db_url: str, buyers: BuyersThread) -> None:
    from leadrelay.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        prepare(db_url, config(buyers, suppression=["dcn"]))
    problem = caught.value.problems[0]
    assert problem.path == "entities.solar.suppression[0]"
    assert "unknown suppression list 'dcn'" in problem.message


@pytest.mark.sqlite_only
def test_optional_invalid_field_is_kept_raw_and_flagged(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, config(buyers))
    with ServerThread(db_url) as server:
        answer = post(server, lead(email="not-an-email", state="Atlantis"), wait=10)
        with server.client() as http:
            record = http.get(f"/v1/leads/{answer['lead_id']}/record", headers=ADMIN).json()
    assert answer["status"] == "delivered"
    assert "email" not in record["data"] and record["raw"]["email"] == "not-an-email"
    assert record["flags"]["email"] == ["invalid: not a valid email address"]
    assert record["flags"]["state"][0].startswith("invalid: ")


def test_resend_to_partner_bypasses_its_dedup(db_url: str, buyers: BuyersThread) -> None:
    doc = config(buyers)
    doc["partners"]["sunco"]["dedup"] = {"keys": ["phone"], "window": "30d"}
    prepare(db_url, doc)
    with ServerThread(db_url) as server:
        first = post(server, lead(), wait=10)
        with server.client() as http:
            job = http.get(f"/v1/distributions?lead={first['lead_id']}", headers=ADMIN).json()["items"][0]
            r = http.post(f"/v1/distributions/{job['id']}/resend", json={"reason": "lost"}, headers=ADMIN)
            assert r.status_code == 200, r.text
        wait_for(lambda: buyers.stats()["buyers"]["sunco"]["received"] == 2)
    assert first["partner"] == "sunco"


def test_profile_suppression_closes_only_that_profiles_job(db_url: str, buyers: BuyersThread) -> None:
    make_lists(db_url, {"competitors": ("email", ["ada@example.com"])})
    doc = config(buyers)
    second = copy.deepcopy(doc["profiles"]["solar-main"])
    second["suppression"] = ["competitors"]
    doc["profiles"]["solar-strict"] = second
    prepare(db_url, doc)
    with ServerThread(db_url) as server:
        answer = post(server, lead(), wait=10)
    assert answer["status"] == "delivered"
    by_profile = {j.profile: j for j in rows(db_url, select(jobs).where(jobs.c.lead_id == answer["lead_id"]))}
    assert by_profile["solar-strict"].status == "suppressed"
    assert by_profile["solar-strict"].trace == ["suppressed by list competitors (profile solar-strict)"]
    assert by_profile["solar-main"].status == "delivered"
