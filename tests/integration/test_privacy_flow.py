"""Privacy through the real server: sensitive fields encrypted at rest, erasure, retention.

The plaintext test reads every byte of the SQLite database (file, WAL and shared memory) and, on
PostgreSQL, every text value of every table: a sensitive value posted with a lead, routed, delivered to a
buyer who echoes it back, must appear nowhere.
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import (
    attempts,
    audit_log,
    dedup_marks,
    deliveries,
    jobs,
    leads,
)
from leadrelay.simulate.buyers import BuyersThread
from tests.support import (
    ADMIN,
    ServerThread,
    base_config,
    everything_stored,
    lead,
    prepare,
    rows,
    run_cli,
    source_headers,
    wait_for,
)

SECRET = "a-test-secret-of-enough-length-0001"
SSN = "078-05-1120"
INCOME = "Income8675309"


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def sensitive_config(buyers: BuyersThread, **entity: Any) -> dict[str, Any]:
    doc = base_config(buyers.url)
    fields = doc["entities"]["solar"]["fields"]
    fields["ssn"] = {"type": "string", "sensitive": True}
    fields["income_note"] = {"type": "string", "sensitive": True}
    doc["entities"]["solar"].update(entity)
    # a rule on a sensitive field: its value would otherwise be quoted in the routing trace
    doc["profiles"]["solar-main"]["rules"].insert(
        0,
        {
            "name": "vip",
            "when": {"field": "income_note", "op": "eq", "value": "nobody"},
            "send_to": {"partner": "voltedge"},
        },
    )
    return doc


def post(server: ServerThread, body: dict[str, Any], wait: int = 10) -> dict[str, Any]:
    with server.client() as http:
        r = http.post(f"/v1/leads?wait={wait}", json=body, headers=source_headers())
    assert r.status_code in (200, 202, 422), r.text
    answer: dict[str, Any] = r.json()
    return answer


def test_no_plaintext_of_a_sensitive_value_in_the_database(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, sensitive_config(buyers))
    with ServerThread(db_url, secret_key=SECRET) as server:
        delivered = post(server, lead(ssn=SSN, income_note=INCOME))
        rejected = post(server, lead(ssn=SSN, income_note=INCOME, phone="12"))  # kept raw, still sealed
        with server.client() as http:
            masked = http.get(f"/v1/leads/{delivered['lead_id']}/record", headers=ADMIN).json()
            shown = http.get(f"/v1/leads/{delivered['lead_id']}/record?reveal=true", headers=ADMIN).json()
            job_id = http.get(f"/v1/distributions?lead={delivered['lead_id']}", headers=ADMIN).json()
            detail = http.get(f"/v1/distributions/{job_id['items'][0]['id']}", headers=ADMIN).json()
    assert delivered["status"] == "delivered"
    assert rejected["status"] == "rejected"
    # the buyer received the real values (decrypted only to deliver) ...
    sent = buyers.leads(delivered["partner"])[0]["body"]
    assert sent["ssn"] == SSN and sent["income_note"] == INCOME
    # ... an operator sees them masked, or revealed on request (audited) ...
    assert masked["data"]["ssn"] == "***" and masked["sensitive"] == ["income_note", "ssn"]
    assert shown["data"]["ssn"] == SSN and shown["raw"]["income_note"] == INCOME
    assert any(r.action == "lead.reveal" for r in rows(db_url, select(audit_log)))
    # ... the log's request record and the trace show no value ...
    assert SSN not in str(detail) and INCOME not in str(detail)
    # ... and not one byte of the database holds them
    stored = everything_stored(db_url)
    for secret in (SSN, INCOME, SSN.replace("-", "")):
        assert secret.encode() not in stored
    assert b"lr1:k1:" in stored  # what is there instead


@pytest.mark.sqlite_only
def test_sensitive_fields_need_the_secret(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, sensitive_config(buyers))
    with ServerThread(db_url) as server, server.client() as http:  # no LEADRELAY_SECRET_KEY
        r = http.post("/v1/leads", json=lead(ssn=SSN), headers=source_headers())
    assert r.status_code == 503
    assert "LEADRELAY_SECRET_KEY" in r.json()["detail"]
    assert rows(db_url, select(leads)) == []  # nothing half-written


def test_erase_a_lead_keeps_the_business_record(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, sensitive_config(buyers, dedup={"keys": ["email"]}))
    with ServerThread(db_url, secret_key=SECRET) as server:
        answer = post(server, lead(ssn=SSN, last_name="Byron-King"))
        other = post(server, lead(email="grace@example.com", phone="(512) 555-7777"))
        with server.client() as http:
            r = http.delete(f"/v1/leads/{answer['lead_id']}", headers=ADMIN)
            again = http.delete(f"/v1/leads/{answer['lead_id']}", headers=ADMIN)
            missing = http.delete("/v1/leads/lead_nope", headers=ADMIN)
            anonymous = http.delete(f"/v1/leads/{other['lead_id']}")
    assert r.status_code == 200 and r.json()["already_erased"] is False
    assert again.json()["already_erased"] is True
    assert missing.status_code == 404 and anonymous.status_code == 401
    erased = rows(db_url, select(leads).where(leads.c.id == answer["lead_id"]))[0]
    assert erased.data == {} and erased.raw == {} and erased.sealed is None and erased.erased_at is not None
    assert erased.status == "delivered" and erased.source == "web"  # the record stays
    delivery = rows(db_url, select(deliveries).where(deliveries.c.lead_id == answer["lead_id"]))[0]
    assert delivery.partner == answer["partner"] and delivery.price == answer["price"]
    attempt = rows(db_url, select(attempts).where(attempts.c.delivery_id == delivery.id))[0]
    assert attempt.request == {"erased": True} and attempt.response_body is None
    assert attempt.outcome == "success"
    assert rows(db_url, select(dedup_marks).where(dedup_marks.c.lead_id == answer["lead_id"])) == []
    kept = rows(db_url, select(leads).where(leads.c.id == other["lead_id"]))[0]
    assert kept.data["email"] == "grace@example.com"  # only that lead
    stored = everything_stored(db_url)  # not even in free pages or the write-ahead log
    assert b"Byron-King" not in stored and b"Lovelace" in stored


def erase_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`leadrelay leads erase ARGS` (in this process)."""
    return run_cli(["leads", "erase", *args, "--database-url", url], {"LEADRELAY_SECRET_KEY": SECRET})


def test_erase_a_person_by_email_through_the_cli(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, sensitive_config(buyers))
    with ServerThread(db_url, secret_key=SECRET) as server:
        first = post(server, lead(email="Ada@Example.com"))
        second = post(server, lead(phone="(512) 555-9000"))  # same email, typed in lower case
        third = post(server, lead(email="grace@example.com", phone="(512) 555-7777"))
    bad = erase_cli(db_url, "--email", "nope")
    assert bad.returncode == 1 and "email: not a valid email address" in bad.stderr
    done = erase_cli(db_url, "--email", "ADA@example.com")
    assert done.returncode == 0, done.stderr
    assert "2 lead(s) found and erased" in done.stdout
    by_id = {r.id: r for r in rows(db_url, select(leads))}
    assert by_id[first["lead_id"]].erased_at is not None and by_id[second["lead_id"]].erased_at is not None
    assert by_id[third["lead_id"]].erased_at is None
    audit = [r for r in rows(db_url, select(audit_log)) if r.action == "lead.erase"]
    assert (
        audit[0].actor.startswith("cli")
        and audit[0].detail["by"] == "email"
        and audit[0].detail["erased"] == 2
    )


def test_retention_purges_old_leads(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, sensitive_config(buyers))
    with ServerThread(db_url, secret_key=SECRET) as server:
        old = post(server, lead(ssn=SSN))
        new = post(server, lead(email="grace@example.com"))
    db = Database(db_url)
    long_ago = datetime.now(UTC) - timedelta(days=100)
    db.transaction(
        lambda c: c.execute(update(leads).where(leads.c.id == old["lead_id"]).values(created_at=long_ago))
    )
    db.dispose()
    # the workers of a server started with a retention setting purge at start-up, then hourly
    with ServerThread(db_url, secret_key=SECRET, retention_days=90):
        wait_for(lambda: rows(db_url, select(leads.c.erased_at).where(leads.c.id == old["lead_id"]))[0][0])
    by_id = {r.id: r for r in rows(db_url, select(leads))}
    assert by_id[old["lead_id"]].data == {} and by_id[new["lead_id"]].data != {}
    assert any(
        r.action == "lead.erase" and r.detail["by"] == "retention" for r in rows(db_url, select(audit_log))
    )


def test_trace_of_a_rule_on_a_sensitive_field_is_redacted(db_url: str, buyers: BuyersThread) -> None:
    doc = sensitive_config(buyers)
    doc = copy.deepcopy(doc)
    prepare(db_url, doc)
    with ServerThread(db_url, secret_key=SECRET) as server:
        answer = post(server, lead(income_note=INCOME))
    trace = rows(db_url, select(jobs.c.trace).where(jobs.c.lead_id == answer["lead_id"]))[0][0]
    assert INCOME not in str(trace)


@pytest.mark.sqlite_only
def test_an_erasure_request_needs_a_valid_email_or_phone(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, sensitive_config(buyers))
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        empty = http.post("/v1/erasures", json={}, headers=ADMIN)
        bad = http.post("/v1/erasures", json={"email": "nope", "phone": "12"}, headers=ADMIN)
        unknown_key = http.post("/v1/erasures", json={"name": "Ada"}, headers=ADMIN)
        nobody = http.post("/v1/erasures", json={"email": "nobody@example.com"}, headers=ADMIN)
    assert empty.status_code == 422 and "give an email or a phone" in empty.text
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"email", "phone"}
    assert unknown_key.status_code == 422
    assert nobody.status_code == 200 and nobody.json() == {"leads": [], "count": 0}
