"""Privacy at its edges, on a real server over SQLite and PostgreSQL: an erasure finds a person through
sealed fields and deleted entities and leaves nothing in an import's rejects, a relayed postback's answer or
its own reason; a short sensitive value is not quoted in the trace; a listed email is found in either
writing of its domain; a rerun checks the lists again (a review of 2026-12-06 found each)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from leadrelay.adapters.db.tables import leads
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_privacy_flow import SECRET, buyers, post  # noqa: F401
from tests.support import (
    ADMIN,
    ServerThread,
    base_config,
    everything_stored,
    lead,
    prepare,
    rows,
    source_headers,
)

EMAIL = "ada.sealed@example.com"


def sealed_contact_config(buyers: BuyersThread) -> dict[str, Any]:  # noqa: F811
    """The solar entity with its email and phone marked sensitive (encrypted at rest)."""
    doc = base_config(buyers.url)
    fields = doc["entities"]["solar"]["fields"]
    fields["email"] = {"type": "email", "sensitive": True}
    fields["phone"] = {"type": "phone", "required": True, "sensitive": True}
    return doc


def test_an_erasure_by_email_finds_a_lead_whose_email_field_is_sensitive(
    db_url: str,
    buyers: BuyersThread,  # noqa: F811
) -> None:
    """POST /v1/erasures {"email"} must erase the person's leads even when the entity seals its email
    field: the console's lead_lookup keys (HMAC) of sensitive email/phone fields are there to find them."""
    prepare(db_url, sealed_contact_config(buyers))
    with ServerThread(db_url, secret_key=SECRET, workers=0) as server:
        sent = post(server, lead(email=EMAIL, last_name="Sealedperson"), wait=0)
        with server.client() as http:
            by_email = http.post("/v1/erasures", json={"email": EMAIL}, headers=ADMIN)
            by_phone = http.post("/v1/erasures", json={"phone": "(512) 555-1212"}, headers=ADMIN)
    assert by_email.status_code == 200, by_email.text
    assert by_email.json()["leads"] == [sent["lead_id"]], (
        f"erasure by email found {by_email.json()} — the lead with a sensitive email field was missed"
    )
    assert by_phone.status_code == 200, by_phone.text
    [row] = rows(db_url, select(leads).where(leads.c.id == sent["lead_id"]))
    assert row.erased_at is not None and row.sealed is None, "the person's sealed values survive the erasure"
    assert b"Sealedperson" not in everything_stored(db_url)


def test_an_erasure_finds_the_leads_of_an_entity_deleted_from_the_configuration(
    db_url: str,
    buyers: BuyersThread,  # noqa: F811
) -> None:
    """A retired entity's leads still hold the person: erasure by email must find them (it scans only the
    entities of the configuration in force)."""
    doc = base_config(buyers.url)
    doc["entities"]["roofing"] = {"fields": {"email": {"type": "email"}, "last_name": {"type": "string"}}}
    del doc["sources"]["web"]["entities"]  # the source may post any entity
    prepare(db_url, doc)
    email = "retired.entity@example.com"
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        r = http.post(
            "/v1/leads?entity=roofing",
            json={"email": email, "last_name": "Roofperson"},
            headers=source_headers(),
        )
        assert r.status_code in (200, 202), r.text
        lead_id = r.json()["lead_id"]
        gone = http.delete("/v1/entities/roofing", headers=ADMIN)
        assert gone.status_code == 200, gone.text
        erased = http.post("/v1/erasures", json={"email": email}, headers=ADMIN)
    assert erased.status_code == 200, erased.text
    assert erased.json()["leads"] == [lead_id], f"erasure by email found {erased.json()}"
    assert b"Roofperson" not in everything_stored(db_url)


def test_a_listed_email_suppresses_the_lead_whether_its_domain_is_written_in_unicode_or_punycode(
    db_url: str,
    buyers: BuyersThread,  # noqa: F811
) -> None:
    """``ada@bücher.example`` and ``ada@xn--bcher-kva.example`` are one mailbox (IDNA): a do-not-contact
    list published in ASCII form must refuse the lead typed in Unicode, and the other way round."""
    prepare(db_url, base_config(buyers.url))
    lists = "/v1/suppression-lists"
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        assert http.post(lists, json={"name": "dnc-mail", "kind": "email"}, headers=ADMIN).status_code == 201
        added = http.post(
            f"{lists}/dnc-mail/entries",
            json={"values": ["ada@xn--bcher-kva.example", "grace@müller.example", "plain@example.com"]},
            headers=ADMIN,
        )
        assert added.status_code == 200 and added.json()["added"] == 3, added.text
        doc = base_config(buyers.url)
        doc["entities"]["solar"]["suppression"] = ["dnc-mail"]
        applied = http.post("/v1/config", json=doc, headers=ADMIN)
        assert applied.status_code == 200, applied.text
        checks = {
            value: http.get(f"{lists}/dnc-mail/check", params={"value": value}, headers=ADMIN).json()[
                "listed"
            ]
            for value in ("ada@bücher.example", "grace@xn--mller-kva.example")
        }
        control = post(server, lead(email="Plain@Example.com", phone="(512) 555-5656"), wait=0)
        unicode_lead = post(server, lead(email="ada@bücher.example"), wait=0)
        ascii_lead = post(server, lead(email="grace@xn--mller-kva.example", phone="(512) 555-3434"), wait=0)
    [plain] = rows(db_url, select(leads.c.status).where(leads.c.id == control["lead_id"]))
    assert plain.status == "suppressed"  # the list is in force
    statuses = {
        row.data.get("email"): row.status
        for row in rows(db_url, select(leads))
        if row.id in (unicode_lead["lead_id"], ascii_lead["lead_id"])
    }
    assert set(statuses.values()) == {"suppressed"}, f"listed mailboxes got through: {statuses}"
    assert checks == {"ada@bücher.example": True, "grace@xn--mller-kva.example": True}, checks


def test_an_erasure_takes_the_person_out_of_a_console_imports_rejects_file(
    db_url: str,
) -> None:
    """A CSV row rejected at import is a stored (rejected) lead and a line of the import's rejects file
    (kept a day, downloadable). Erasing the person erases the lead; the rejects file still hands out the
    person's name, email and phone."""
    from leadrelay.domain.access import Role
    from tests.integration.test_console_lead_imports import make_site, wait_done
    from tests.integration.test_console_lead_imports import post as upload
    from tests.integration.test_console_leads import session

    header = "first_name,last_name,email,phone,zip,state\n"
    text = (
        header
        + "Ana,Lopez,ana@example.com,(512) 555-0101,78704,TX\n"
        + (
            "Rejectee,Importperson,rejectee@example.com,12,78704,TX\n"  # a bad phone: rejected
        )
    )
    with make_site(db_url) as site:
        admin = session(site, Role.ADMIN)
        started = upload(admin, text)
        assert started.status_code == 202, started.text
        progress = wait_done(admin, started.json()["id"])
        assert progress["rejected"] == 1, progress
        before = admin.get(f"/console/leads/import/{progress['id']}/rejects.csv")
        assert "rejectee@example.com" in before.text  # the rejects file quotes the row
        with site.client() as http:
            erased = http.post("/v1/erasures", json={"email": "rejectee@example.com"}, headers=ADMIN)
        assert erased.status_code == 200 and erased.json()["count"] == 1, erased.text
        after = admin.get(f"/console/leads/import/{progress['id']}/rejects.csv")
    assert "rejectee@example.com" not in after.text and "Importperson" not in after.text, (
        f"the erased person is still in the import's rejects file: {after.text!r}"
    )


def test_a_rerun_does_not_send_a_lead_whose_phone_was_put_on_the_entitys_do_not_call_list(
    db_url: str,
    buyers: BuyersThread,  # noqa: F811
) -> None:
    """The consumer asks to stop; the operator adds the phone to the entity's do-not-call list. A rerun of
    the person's unsold distribution routes again under current rules (a partner's own list is checked
    then), but the entity's list is not: the lead is posted to a buyer anyway."""
    from tests.integration.test_actions import act, wait_final

    prepare(db_url, base_config(buyers.url))
    lists = "/v1/suppression-lists"
    with ServerThread(db_url) as server, server.client() as http:
        assert http.post(lists, json={"name": "dnc", "kind": "phone"}, headers=ADMIN).status_code == 201
        doc = base_config(buyers.url)
        doc["entities"]["solar"]["suppression"] = ["dnc"]
        doc["partners"]["voltedge"]["paused"] = True
        assert http.post("/v1/config", json=doc, headers=ADMIN).status_code == 200
        sent = http.post(
            "/v1/leads?wait=10", json=lead(state="TX", monthly_bill=50), headers=source_headers()
        ).json()
        [item] = http.get("/v1/distributions", params={"lead": sent["lead_id"]}, headers=ADMIN).json()[
            "items"
        ]
        assert wait_final(http, item["id"])["status"] == "unsold"
        listed = http.post(f"{lists}/dnc/entries", json={"values": ["+1 512 555 1212"]}, headers=ADMIN)
        assert listed.status_code == 200 and listed.json()["added"] == 1, listed.text
        doc["partners"]["voltedge"]["paused"] = False
        assert http.post("/v1/config", json=doc, headers=ADMIN).status_code == 200
        assert act(http, item["id"], "rerun").status_code == 200
        again = wait_final(http, item["id"])
    posted = [r for name in ("voltedge", "brightpath", "sunco") for r in buyers.leads(name)]
    assert posted == [] and again["status"] != "delivered", (
        f"a do-not-call phone was posted on rerun: job {again['status']}, trace {again['trace']}"
    )


class EchoSource:
    """A source's postback endpoint on loopback that answers 200 with the body it received (as many
    frameworks' debug or "accepted" answers do)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"accepted": ' + body + b"}")

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/postback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> EchoSource:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_erasure_leaves_no_person_in_the_sources_answer_to_a_relayed_postback(
    db_url: str, monkeypatch: Any
) -> None:
    """A buyer's postback note quoting the person is relayed to the source; the source's answer echoes it
    and is kept (``outbound_postbacks.last_answer``). Erasure redacts the relayed body but not the answer."""
    import orjson

    from leadrelay.adapters.db.money_tables import outbound_postbacks
    from tests.integration.test_postbacks import SECRET as WHSEC
    from tests.integration.test_postbacks import WAIT, document
    from tests.support import wait_for

    email = "ada.echoed@example.com"
    monkeypatch.setenv("POSTBACK_TEST_WHSEC", WHSEC)
    with BuyersThread(count=1, latency_ms=0, accept_rate=1.0) as b, EchoSource() as source:
        prepare(db_url, document(b, source))  # type: ignore[arg-type]
        with ServerThread(db_url) as server, server.client() as http:
            sold = http.post(WAIT, json=lead(email=email), headers=source_headers()).json()
            assert sold["status"] == "delivered", sold
            [first] = (orjson.loads(r["body"]) for r in b.requests("acme"))
            r = http.post(first["postback_url"], json={"outcome": "converted", "note": f"reached {email}"})
            assert r.status_code == 200 and r.json()["relayed"] is True, r.text
            wait_for(
                lambda: any(
                    email in (row.last_answer or "") for row in rows(db_url, select(outbound_postbacks))
                )
            )
            assert http.delete(f"/v1/leads/{sold['lead_id']}", headers=ADMIN).status_code == 200
    left = [
        (row.event, row.last_answer, row.reason)
        for row in rows(db_url, select(outbound_postbacks))
        if email in f"{row.last_answer} {row.reason} {row.body}"
    ]
    assert left == [], f"the erased person survives in the source's kept answer: {left}"
    assert email.encode() not in everything_stored(db_url)


def test_a_short_sensitive_value_is_not_shown_in_the_routing_trace(
    db_url: str,
    buyers: BuyersThread,  # noqa: F811
) -> None:
    """A partner filter on a sensitive field quotes the lead's value in the trace line it writes; values
    under 3 characters are left out of redaction, so a sensitive age (or score band) is stored and shown
    in plaintext by GET /v1/distributions/{id}."""
    doc = base_config(buyers.url)
    doc["entities"]["solar"]["fields"]["credit_band"] = {"type": "string", "sensitive": True}
    doc["partners"]["voltedge"]["filters"] = {"field": "credit_band", "op": "in", "value": ["A1", "A2"]}
    prepare(db_url, doc)
    with ServerThread(db_url, secret_key=SECRET) as server:
        sent = post(server, lead(state="TX", credit_band="D7"))
        with server.client() as http:
            [item] = http.get("/v1/distributions", params={"lead": sent["lead_id"]}, headers=ADMIN).json()[
                "items"
            ]
            shown = http.get(f"/v1/distributions/{item['id']}", headers=ADMIN).json()
            record = http.get(f"/v1/leads/{sent['lead_id']}/record", headers=ADMIN).json()
    assert record["data"]["credit_band"] == "***"  # masked in the lead's record ...
    lines = [line for line in shown["trace"] if "credit_band" in line]
    assert lines and not [line for line in lines if "D7" in line], f"... but shown in the trace: {lines}"


def test_the_reason_typed_for_an_erasure_in_the_console_does_not_keep_the_person(db_url: str) -> None:
    """Erasure redacts every audit reason about the lead (a cancel's, a return's), but the reason typed
    for the erasure itself ("request from ada@…") is written after that, as typed: the erased email is
    in the audit log, and shown on the lead's page."""
    from leadrelay.adapters.db.tables import audit_log
    from leadrelay.domain.access import Role
    from tests.integration.test_console_lead_imports import make_site
    from tests.integration.test_console_leads import csrf, session

    email = "ada.reason@example.com"
    with make_site(db_url) as site:
        with site.client() as http:
            r = http.post(
                "/v1/leads", json={"entity": "solar", **lead(email=email)}, headers=source_headers()
            )
            assert r.status_code in (200, 202), r.text
            lead_id = r.json()["lead_id"]
        admin = session(site, Role.ADMIN)
        why = f"GDPR request from {email}"
        done = admin.post(f"/console/leads/{lead_id}/erase", data={"csrf_token": csrf(admin), "reason": why})
        assert done.status_code == 303, done.text
        page = admin.get(f"/console/leads/{lead_id}")
    reasons = [row.reason for row in rows(db_url, select(audit_log)) if row.reason and email in row.reason]
    assert reasons == [], f"the erased email is kept in the audit log: {reasons}"
    assert email not in page.text
    assert email.encode() not in everything_stored(db_url)
