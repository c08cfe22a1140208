"""Erasure leaves no buyer's postback note quoting the person: the note is redacted in the postback, in
the event relayed to the source (sent or not), and is not copied into the audit log. On SQLite and
PostgreSQL, with real buyers and a real source endpoint on loopback."""

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
