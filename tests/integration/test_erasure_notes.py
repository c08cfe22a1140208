"""Erasure leaves no buyer's postback note and no operator's cancel reason quoting the person: the note is
redacted in the postback and in the event relayed to the source (sent or not), and is not copied into the
audit log; the reason in the delivery and the audit log. SQLite and PostgreSQL, real servers on loopback."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import select

from leadrelay.adapters.db.money_tables import outbound_postbacks, postbacks
from leadrelay.adapters.db.tables import audit_log
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_postbacks import SECRET, WAIT, Sink, document
from tests.integration.test_postbacks import buyers as buyers
from tests.integration.test_postbacks import sink as sink
from tests.support import ADMIN, ServerThread, everything_stored, lead, prepare, rows, source_headers

EMAIL = "ada.noted@example.com"


def test_erasure_leaves_no_postback_note_quoting_the_person(
    db_url: str,
    buyers: BuyersThread,
    sink: Sink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POSTBACK_TEST_WHSEC", SECRET)
    prepare(db_url, document(buyers, sink))
    with ServerThread(db_url, postback_interval=3600) as server, server.client() as http:
        sold = http.post(WAIT, json=lead(email=EMAIL), headers=source_headers())
        assert sold.json()["status"] == "delivered", sold.text
        lead_id = sold.json()["lead_id"]
        [first] = (orjson.loads(r["body"]) for r in buyers.requests("acme"))
        r = http.post(first["postback_url"], json={"outcome": "converted", "note": f"called {EMAIL}, sold"})
        assert r.status_code == 200 and r.json()["relayed"] is True, r.text
        erased = http.delete(f"/v1/leads/{lead_id}", headers=ADMIN)
        assert erased.status_code == 200, erased.text
    [pb] = rows(db_url, select(postbacks))
    assert EMAIL not in (pb.note or "")  # redacted here, as designed
    leftovers = {
        "outbound_postbacks.body": [str(r.body) for r in rows(db_url, select(outbound_postbacks))],
        "audit_log.reason": [r.reason for r in rows(db_url, select(audit_log)) if r.reason],
    }
    assert not [(where, v) for where, vs in leftovers.items() for v in vs if EMAIL in v], leftovers
    assert EMAIL.encode() not in everything_stored(db_url)


def test_erasure_leaves_no_cancel_reason_quoting_the_person(db_url: str, buyers: BuyersThread) -> None:
    """An operator's cancel reason quoting the person is redacted in the job's trace, the delivery's
    ``cancel_reason`` and the audit log's reason. (The ledger's cancellation memo is not: the ledger is
    append-only, its rows refused any change by the database.)"""
    from leadrelay.adapters.db.tables import deliveries, jobs
    from tests.support import base_config

    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        prepare(db_url, base_config(b.url))
        with ServerThread(db_url) as server, server.client() as http:
            sold = http.post(WAIT, json=lead(email=EMAIL), headers=source_headers()).json()
            assert sold["status"] == "delivered", sold
            [item] = http.get("/v1/distributions", params={"lead": sold["lead_id"]}, headers=ADMIN).json()[
                "items"
            ]
            why = f"consumer {EMAIL} asked us to stop"
            r = http.post(f"/v1/distributions/{item['id']}/cancel", json={"reason": why}, headers=ADMIN)
            assert r.status_code == 200, r.text
            assert http.delete(f"/v1/leads/{sold['lead_id']}", headers=ADMIN).status_code == 200
    [trace] = [r.trace for r in rows(db_url, select(jobs)) if r.lead_id == sold["lead_id"]]
    assert EMAIL not in str(trace)  # redacted here, as designed
    leftovers = {
        "deliveries.cancel_reason": [
            r.cancel_reason for r in rows(db_url, select(deliveries)) if r.cancel_reason
        ],
        "audit_log.reason": [r.reason for r in rows(db_url, select(audit_log)) if r.reason],
    }
    assert not [(where, v) for where, vs in leftovers.items() for v in vs if EMAIL in v], leftovers
