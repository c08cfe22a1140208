"""Failover chains and the hold channel, through a real server and real buyers on loopback, on both
databases: a partner whose webhook is down gets the lead by its next channel, or holds it for pick-up."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from leadrelay.adapters.db.tables import audit_log, deliveries, jobs
from leadrelay.simulate.buyers import BuyersThread
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

SECRET = "a-test-secret-of-enough-length-0002"


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/nobody-listens"  # a closed port: connection refused


def only_sunco(buyers: BuyersThread, sunco: dict[str, Any]) -> dict[str, Any]:
    doc = base_config(buyers.url)
    doc["partners"] = {"sunco": sunco}
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partner": "sunco"}
    return doc


def dead_webhook() -> dict[str, Any]:
    return {"webhook": {"url": dead_url(), "timeout": "2s", "max_attempts": 1}}


def post(server: ServerThread, body: dict[str, Any]) -> dict[str, Any]:
    with server.client() as http:
        r = http.post("/v1/leads?wait=10", json=body, headers=source_headers())
    assert r.status_code in (200, 202), r.text
    answer: dict[str, Any] = r.json()
    return answer


def test_a_dead_webhook_fails_over_to_the_next_channel(db_url: str, buyers: BuyersThread) -> None:
    sunco = {"channel": dead_webhook(), "failover": [{"webhook": {"url": buyers.url("sunco-backup")}}]}
    prepare(db_url, only_sunco(buyers, sunco))
    with ServerThread(db_url) as server:
        answer = post(server, lead())
    assert answer["status"] == "delivered" and answer["partner"] == "sunco"
    assert buyers.stats()["buyers"]["sunco-backup"]["accepted"] == 1
    job = rows(db_url, select(jobs).where(jobs.c.lead_id == answer["lead_id"]))[0]
    assert any(
        "sunco: webhook gave up after 1 attempt(s)" in line and "failover to webhook" in line
        for line in job.trace
    )
    assert "sunco: delivered by webhook (failover)" in job.trace[-1]
    delivery = rows(db_url, select(deliveries).where(deliveries.c.lead_id == answer["lead_id"]))[0]
    assert delivery.channel_step == 1 and delivery.status == "delivered"


def test_a_refusal_is_final_and_does_not_fail_over(db_url: str) -> None:
    with BuyersThread(count=1, latency_ms=0, accept_rate=0.0) as refusing:
        sunco = {"channel": {"webhook": {"url": refusing.url("sunco")}}, "failover": [{"hold": {}}]}
        prepare(db_url, only_sunco(refusing, sunco))
        with ServerThread(db_url) as server:
            answer = post(server, lead())
    assert answer["status"] == "unsold"
    assert rows(db_url, select(deliveries.c.status))[0].status == "failed"  # not held: the buyer said no


def test_hold_then_export_and_release(db_url: str, buyers: BuyersThread) -> None:
    sunco = {"channel": dead_webhook(), "failover": [{"hold": {}}]}
    prepare(db_url, only_sunco(buyers, sunco))
    with ServerThread(db_url, secret_key=SECRET) as server:
        answer = post(server, lead())
        with server.client() as http:
            # ?wait ends at the hold, or at 10 s on a loaded machine: the hold may come after the answer
            held = wait_for(lambda: http.get("/v1/holds", headers=ADMIN).json()["items"], timeout=60)
            exported = http.get("/v1/holds.csv?partner=sunco", headers=ADMIN)
            job = rows(db_url, select(jobs).where(jobs.c.lead_id == answer["lead_id"]))[0]
            early = http.post(f"/v1/holds/{held[0]['delivery_id']}/release", headers=ADMIN)
        assert answer["status"] == "queued"  # held: not sold yet, as far as the source knows
        assert [h["lead_id"] for h in held] == [answer["lead_id"]] and held[0]["partner"] == "sunco"
        table = list(csv.DictReader(io.StringIO(exported.text)))
        assert exported.headers["content-type"].startswith("text/csv")
        assert table[0]["lead_id"] == answer["lead_id"] and table[0]["email"] == "ada@example.com"
        assert job.status == "held" and "sunco: held for pick-up" in job.trace
        # the release goes through the first channel: still dead, so back to hold
        assert early.status_code == 200
        wait_for(lambda: rows(db_url, select(deliveries.c.status))[0].status == "held")
        # the buyer's endpoint is fixed: release again, now it is delivered by the webhook
        prepare(
            db_url,
            only_sunco(
                buyers, {"channel": {"webhook": {"url": buyers.url("sunco")}}, "failover": [{"hold": {}}]}
            ),
        )
        with server.client() as http:
            ok = http.post(
                f"/v1/holds/{held[0]['delivery_id']}/release", json={"reason": "fixed"}, headers=ADMIN
            )
            again = http.post(f"/v1/holds/{held[0]['delivery_id']}/release", headers=ADMIN)
            missing = http.post("/v1/holds/dlv_nope/release", headers=ADMIN)
        assert ok.status_code == 200
        wait_for(lambda: rows(db_url, select(deliveries.c.status))[0].status == "delivered")
    assert again.status_code == 409 and missing.status_code == 404
    assert buyers.stats()["buyers"]["sunco"]["accepted"] == 1
    actions = [r.action for r in rows(db_url, select(audit_log.c.action))]
    assert actions.count("hold.release") == 2 and "holds.export" in actions


def test_a_partner_whose_only_channel_is_hold(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, only_sunco(buyers, {"channel": {"hold": {}}}))
    with ServerThread(db_url) as server:
        answer = post(server, lead())
        with server.client() as http:
            held = http.get("/v1/holds?partner=sunco", headers=ADMIN).json()["items"]
    assert answer["status"] == "queued" and len(held) == 1
    job = rows(db_url, select(jobs).where(jobs.c.lead_id == answer["lead_id"]))[0]
    assert job.status == "held" and "sunco: held for pick-up (hold channel)" in job.trace


def test_hold_fields_limit_the_export_to_those_fields_in_that_order(
    db_url: str, buyers: BuyersThread
) -> None:
    ssn = "078-05-1120"
    doc = only_sunco(
        buyers, {"channel": dead_webhook(), "failover": [{"hold": {"fields": ["phone", "ssn"]}}]}
    )
    doc["partners"]["brightpath"] = {"channel": {"hold": {"fields": ["first_name", "fax"]}}}
    doc["partners"]["voltedge"] = {"channel": {"hold": {}}}  # no fields: every field
    doc["entities"]["solar"]["fields"]["ssn"] = {"type": "string", "sensitive": True}
    doc["entities"]["solar"]["fields"]["fax"] = {"type": "phone"}
    doc["profiles"]["solar-main"]["default"] = {
        "partners": ["sunco", "brightpath", "voltedge"],
        "strategy": "broadcast",
    }
    prepare(db_url, doc)
    with ServerThread(db_url, secret_key=SECRET) as server:
        answer = post(server, lead(ssn=ssn))
        wait_for(lambda: len(rows(db_url, select(deliveries).where(deliveries.c.status == "held"))) == 3)
        with server.client() as http:
            sunco = http.get("/v1/holds.csv?partner=sunco", headers=ADMIN)
            brightpath = http.get("/v1/holds.csv?partner=brightpath", headers=ADMIN)
            voltedge = http.get("/v1/holds.csv?partner=voltedge", headers=ADMIN)
            everyone = http.get("/v1/holds.csv", headers=ADMIN)
    fixed = ["delivery_id", "lead_id", "partner", "profile", "held_at", "reason"]
    header, row = list(csv.reader(io.StringIO(sunco.text)))
    assert header == [*fixed, "phone", "ssn"]  # the failover step's fields, in their order
    assert row[1] == answer["lead_id"] and row[-2:] == ["+15125551212", ssn]
    header, row = list(csv.reader(io.StringIO(brightpath.text)))
    assert header == [*fixed, "first_name", "fax"] and row[-2:] == ["Ada", ""]  # no fax: an empty cell
    assert "ada@example.com" not in brightpath.text and ssn not in brightpath.text
    table = list(csv.DictReader(io.StringIO(voltedge.text)))
    assert table[0]["email"] == "ada@example.com" and table[0]["ssn"] == ssn
    # all partners at once: each row shows only its partner's fields
    by_partner = {r["partner"]: r for r in csv.DictReader(io.StringIO(everyone.text))}
    assert by_partner["brightpath"]["email"] == "" and by_partner["brightpath"]["first_name"] == "Ada"
    assert by_partner["sunco"]["first_name"] == "" and by_partner["sunco"]["phone"] == "+15125551212"
    assert by_partner["voltedge"]["email"] == "ada@example.com"


def test_held_leads_are_listed_and_exported_a_page_at_a_time(db_url: str, buyers: BuyersThread) -> None:
    """Three leads held for voltedge (broadcast, every partner a hold): pages of two, by the ``next`` cursor
    (held_at, then id, as the database orders them), through the list and the CSV; a cursor that is none
    is a 422 naming ``cursor``."""
    doc = base_config(
        buyers.url, **{n: {"channel": {"hold": {}}} for n in ("sunco", "brightpath", "voltedge")}
    )
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partners": ["voltedge"], "strategy": "priority"}
    prepare(db_url, doc)
    with ServerThread(db_url) as server, server.client() as http:
        for n in range(3):
            http.post("/v1/leads", json=lead(email=f"p{n}@example.com"), headers=source_headers())
        wait_for(lambda: len(rows(db_url, select(deliveries).where(deliveries.c.status == "held"))) == 3)
        first = http.get("/v1/holds", params={"limit": 2}, headers=ADMIN).json()
        # pasted into the URL as it is, as a shell script would: nothing in it needs escaping
        second = http.get(f"/v1/holds?limit=2&cursor={first['next_cursor']}", headers=ADMIN).json()
        rest = http.get("/v1/holds.csv", params={"cursor": first["next_cursor"]}, headers=ADMIN)
        whole = http.get("/v1/holds", headers=ADMIN).json()
        bad = http.get("/v1/holds", params={"cursor": "yesterday"}, headers=ADMIN)
    listed = [h["delivery_id"] for h in (*first["items"], *second["items"])]
    assert listed == [h["delivery_id"] for h in whole["items"]] and len(set(listed)) == 3
    assert second["next_cursor"] is None and whole["next_cursor"] is None
    assert [r["delivery_id"] for r in csv.DictReader(io.StringIO(rest.text))] == listed[2:]
    assert "X-Next-Cursor" not in rest.headers
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor", bad.text
