"""The admin API over a real server on loopback, on SQLite and PostgreSQL: authentication, configuration
CRUD (all or nothing), the audit log, source keys, OpenAPI, test deliveries, and an email partner against a
real aiosmtpd server."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import cap_counters, deliveries, leads
from leadrelay.simulate.buyers import BuyersThread
from tests.support import (
    ADMIN,
    Mailbox,
    ServerThread,
    base_config,
    lead,
    prepare,
    source_headers,
    wait_for,
)

NEW_PARTNER = {"timezone": "Europe/Berlin", "caps": {"day": 20}, "price": 12}


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


@pytest.fixture
def server(db_url: str, buyers: BuyersThread) -> Iterator[ServerThread]:
    prepare(db_url, base_config(buyers.url, sunco={"caps": {"day": 50}}))
    with ServerThread(db_url) as s:
        yield s


@pytest.fixture
def http(server: ServerThread) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def in_db(url: str, fn: Callable[[Any], Any]) -> Any:
    db = Database(url)
    try:
        return db.read(fn)
    finally:
        db.dispose()


def audit(http: httpx.Client) -> list[dict[str, Any]]:
    r = http.get("/v1/audit", headers=ADMIN)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def config(http: httpx.Client) -> dict[str, Any]:
    r = http.get("/v1/config", headers=ADMIN)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def paths(r: httpx.Response) -> list[str]:
    return [e["path"] for e in r.json()["errors"]]


# ---------------------------------------------------------------- authentication


ADMIN_ENDPOINTS = [
    ("GET", "/v1/partners"),
    ("GET", "/v1/partners/sunco"),
    ("GET", "/v1/config"),
    ("POST", "/v1/config"),
    ("PUT", "/v1/partners/nova"),
    ("DELETE", "/v1/partners/voltedge"),
    ("GET", "/v1/distributions"),
    ("GET", "/v1/audit"),
    ("POST", "/v1/sources/web/keys"),
    ("POST", "/v1/partners/sunco/test-delivery"),
    ("GET", "/v1/availability"),
    ("GET", "/v1/partners/sunco/availability"),
    ("PUT", "/v1/partners/sunco/availability"),
    ("GET", "/v1/partners/health"),
    ("GET", "/v1/partners/sunco/health"),
]
BAD_CREDENTIALS = [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": "Basic dGVzdDp0ZXN0"},
    {"X-API-Key": "wrong-token"},
    source_headers(),  # a source's API key is not an admin token
]


@pytest.mark.sqlite_only
def test_admin_endpoints_need_an_admin_token(http: httpx.Client, db_url: str) -> None:
    before = config(http)
    audit_before = audit(http)
    for method, path in ADMIN_ENDPOINTS:
        for headers in BAD_CREDENTIALS:
            body = {} if method in ("POST", "PUT") else None
            r = http.request(method, path, json=body, headers=headers)
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.json()["code"] == "unauthorized"
            assert r.headers["www-authenticate"] == "Bearer"
    assert config(http) == before
    assert in_db(db_url, lambda c: c.execute(select(deliveries.c.id)).first()) is None
    assert audit(http) == audit_before


# ---------------------------------------------------------------- CRUD


@pytest.mark.sqlite_only
def test_list_and_get_objects(http: httpx.Client) -> None:
    r = http.get("/v1/partners", headers=ADMIN)
    assert r.status_code == 200
    assert [p["name"] for p in r.json()["items"]] == ["brightpath", "sunco", "voltedge"]
    sunco = http.get("/v1/partners/sunco", headers=ADMIN).json()
    assert sunco["name"] == "sunco"
    assert sunco["caps"] == {"day": 50}
    assert sunco["timezone"] == "America/Los_Angeles"
    assert [p["name"] for p in http.get("/v1/profiles", headers=ADMIN).json()["items"]] == ["solar-main"]
    assert [e["name"] for e in http.get("/v1/entities", headers=ADMIN).json()["items"]] == ["solar"]
    assert [s["name"] for s in http.get("/v1/sources", headers=ADMIN).json()["items"]] == ["web"]
    r = http.get("/v1/partners/nobody", headers=ADMIN)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    assert http.get("/v1/widgets", headers=ADMIN).status_code == 422


def test_put_creates_then_is_unchanged_then_updates_and_audits(http: httpx.Client) -> None:
    r = http.put("/v1/partners/nova", json=NEW_PARTNER, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json() == {"kind": "partners", "name": "nova", "action": "created"}
    got = http.get("/v1/partners/nova", headers=ADMIN).json()
    assert got["caps"] == {"day": 20} and got["price"] == 12 and got["timezone"] == "Europe/Berlin"

    r = http.put("/v1/partners/nova", json=NEW_PARTNER, headers=ADMIN)
    assert r.json()["action"] == "unchanged"
    r = http.put("/v1/partners/nova", json=got, headers=ADMIN)  # its "name" key is ignored
    assert r.json()["action"] == "unchanged"  # the same object, read back and sent again

    r = http.put("/v1/partners/nova", json={**NEW_PARTNER, "caps": {"day": 30}}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "updated"
    assert http.get("/v1/partners/nova", headers=ADMIN).json()["caps"] == {"day": 30}

    entries = [e for e in audit(http) if e["object_id"] == "nova"]
    assert [e["action"] for e in entries] == ["config.updated", "config.created"]  # newest first
    assert all(e["actor"] == "admin:tester" and e["object_kind"] == "partners" for e in entries)
    assert entries[0]["detail"]["doc"]["caps"] == {"day": 30}


@pytest.mark.parametrize(
    ("document", "path", "words"),
    [
        ({"caps": {"day": -5}}, "partners.nova.caps.day", "positive integer"),
        ({"caps": {"daily": 5}}, "partners.nova.caps.daily", "did you mean 'day'"),
        ({"timezone": "Mars/Olympus"}, "partners.nova.timezone", "unknown time zone"),
        ({"colour": "blue"}, "partners.nova.colour", "unknown key"),
        ({"channel": {"webhook": {"url": "ftp://x"}}}, "partners.nova.channel.webhook.url", "http"),
    ],
)
@pytest.mark.sqlite_only
def test_put_with_a_bad_value_is_422_with_the_path(
    http: httpx.Client, document: dict[str, Any], path: str, words: str
) -> None:
    before = audit(http)
    r = http.put("/v1/partners/nova", json=document, headers=ADMIN)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invalid_config"
    assert path in paths(r), body
    assert any(words in e["error"] for e in body["errors"] if e["path"] == path), body
    assert http.get("/v1/partners/nova", headers=ADMIN).status_code == 404
    assert audit(http) == before


def test_numbers_storage_cannot_hold_are_422_with_the_path_not_a_500(http: httpx.Client) -> None:
    """``caps.day: 10**30`` and a 401-digit price used to answer a plain-text 500."""
    before = audit(http)
    for body, path in [
        ('{"caps": {"day": ' + "1" + "0" * 30 + "}}", "partners.nova.caps.day"),
        ('{"caps": {"day": 9999999999}}', "partners.nova.caps.day"),
        ('{"price": ' + "9" * 401 + "}", "partners.nova.price"),
        ('{"price": 1e300}', "partners.nova.price"),
    ]:
        r = http.put("/v1/partners/nova", content=body, headers={**ADMIN, "Content-Type": "application/json"})
        assert r.status_code == 422, (body[:40], r.text)
        assert r.json()["code"] == "invalid_config"
        assert paths(r) == [path]
    assert http.get("/v1/partners/nova", headers=ADMIN).status_code == 404
    assert audit(http) == before


@pytest.mark.parametrize(
    "path",
    ["/v1/erasures", "/v1/returns", "/v1/ledger", "/v1/suppression-lists", "/v1/distributions/job_x/cancel"],
)
def test_a_body_that_is_not_json_is_a_400_as_documented(http: httpx.Client, path: str) -> None:
    """It was a 422 naming a field "1" (FastAPI's json_invalid), where the OpenAPI document says 400."""
    r = http.post(path, content="{bad", headers={**ADMIN, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "malformed_body" and "not valid JSON" in r.json()["detail"], r.text


def test_deeply_nested_configuration_is_answered_in_the_error_shape(http: httpx.Client) -> None:
    before = config(http)
    for depth, status, code in [(300, 422, "invalid_config"), (2000, 400, "malformed_body")]:
        nested = "[" * depth + "]" * depth
        for method, path, body in [
            ("POST", "/v1/config", '{"partners": {"nova": {"filters": ' + nested + "}}}"),
            ("PUT", "/v1/partners/nova", '{"filters": ' + nested + "}"),
        ]:
            r = http.request(
                method, path, content=body, headers={**ADMIN, "Content-Type": "application/json"}
            )
            assert r.status_code == status, (depth, path, r.text[:200])
            assert r.headers["content-type"] == "application/json"
            answer = r.json()
            assert answer["code"] == code and answer["detail"], answer
            if status == 422:
                assert paths(r)[0].startswith("partners.nova.filters[0]")
    assert config(http) == before


CONTROL_CHARACTER_URLS = [
    ("/v1/distributions?partner=a%00b", "partner"),
    ("/v1/distributions?cursor=%00", "cursor"),
    ("/v1/distributions?profile=x%0A", "profile"),
    ("/v1/audit?cursor=%00", "cursor"),
    ("/v1/holds?partner=%00", "partner"),
    ("/v1/holds.csv?partner=%00", "partner"),
    ("/v1/batches?partner=%00", "partner"),
    ("/v1/suppression-lists/dnc/check?value=%00", "value"),
    ("/v1/partners/a%00b", "path"),
    ("/v1/distributions/job%00", "path"),
    ("/v1/batches/b%00", "path"),
    ("/v1/leads/lead%00/record", "path"),
]


def test_control_characters_in_the_path_or_query_are_422_naming_the_parameter(http: httpx.Client) -> None:
    """On PostgreSQL a NUL used to give a 500 (text may not hold it); ``holds.csv`` put it into a header,
    and the server closed the connection without an answer."""
    for url, field in CONTROL_CHARACTER_URLS:
        r = http.get(url, headers=ADMIN)
        assert r.status_code == 422, (url, r.text)
        answer = r.json()
        assert answer["code"] == "validation_failed"
        assert answer["errors"][0]["field"] == field, (url, answer)
    r = http.post("/v1/leads?entity=sol%00ar", json=lead(), headers=source_headers())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "entity", r.text
    assert http.get("/v1/distributions?partner=a%2500b", headers=ADMIN).status_code == 200  # a '%' is fine


def test_a_body_over_the_installations_limit_is_413_whether_declared_or_streamed(http: httpx.Client) -> None:
    """``max_request_bytes`` (4 MiB): no route reads more of a body into memory (the lead routes have
    their own, smaller bound; the upload routes a larger one)."""
    big = b'{"lead": {"email": "' + b"a" * (4 * 1024 * 1024) + b'@example.com"}}'
    headers = {**ADMIN, "Content-Type": "application/json"}
    declared = http.post("/v1/simulate", content=big, headers=headers)
    assert declared.status_code == 413, declared.text  # refused before a byte is read (Starlette's text)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked, refused once past the limit
        yield big[: 1 << 20]
        for i in range(1 << 20, len(big), 1 << 20):
            yield big[i : i + (1 << 20)]

    streamed = http.post("/v1/simulate", content=chunks(), headers=headers)
    assert streamed.status_code == 413, streamed.text
    assert streamed.json() == {"code": "body_too_large", "detail": "the body is larger than 4194304 bytes"}
    assert "content-length" not in streamed.request.headers
    small = http.post("/v1/simulate", json={"lead": {"email": "a@example.com"}}, headers=ADMIN)
    assert small.status_code != 413


def test_framework_errors_use_the_error_shape(http: httpx.Client) -> None:
    for method, path, status in [("GET", "/nothing-here", 404), ("PATCH", "/v1/config", 405)]:
        r = http.request(method, path, headers=ADMIN)
        assert r.status_code == status
        assert set(r.json()) >= {"code", "detail"}, r.text


@pytest.mark.sqlite_only
def test_put_of_a_profile_naming_an_unknown_partner_is_422(http: httpx.Client) -> None:
    profile = http.get("/v1/profiles/solar-main", headers=ADMIN).json()
    profile.pop("name")
    profile["default"] = {"partners": ["voltedge", "ghost"], "strategy": "round_robin"}
    r = http.put("/v1/profiles/solar-main", json=profile, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert "profiles.solar-main.default.partners[1]" in paths(r)
    assert config(http)["profiles"]["solar-main"]["default"]["partners"] == ["brightpath", "voltedge"]


@pytest.mark.sqlite_only
def test_delete_of_a_referenced_partner_is_refused_naming_the_profile(http: httpx.Client) -> None:
    before = config(http)
    r = http.delete("/v1/partners/brightpath", headers=ADMIN)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invalid_config"
    assert any(p.startswith("profiles.solar-main.") for p in paths(r)), body
    assert any("brightpath" in e["error"] for e in body["errors"]), body
    assert http.get("/v1/partners/brightpath", headers=ADMIN).status_code == 200
    r = http.delete("/v1/entities/solar", headers=ADMIN)
    assert r.status_code == 422, r.text
    assert {"sources.web.entities[0]", "profiles.solar-main.entity"} <= set(paths(r))
    assert config(http) == before
    assert not [e for e in audit(http) if e["action"] == "config.deleted"]


def test_delete_of_an_unreferenced_partner(http: httpx.Client) -> None:
    assert http.put("/v1/partners/nova", json=NEW_PARTNER, headers=ADMIN).status_code == 200
    r = http.delete("/v1/partners/nova", headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json() == {"kind": "partners", "name": "nova", "action": "deleted"}
    assert http.get("/v1/partners/nova", headers=ADMIN).status_code == 404
    assert "nova" not in config(http)["partners"]
    assert http.delete("/v1/partners/nova", headers=ADMIN).status_code == 404
    deleted = [e for e in audit(http) if e["action"] == "config.deleted"]
    assert [(e["object_kind"], e["object_id"], e["actor"]) for e in deleted] == [
        ("partners", "nova", "admin:tester")
    ]


# ---------------------------------------------------------------- whole documents


def test_a_document_with_one_bad_value_stores_nothing(http: httpx.Client) -> None:
    before = config(http)
    audit_before = audit(http)
    document = {
        "sources": {"affiliate": {"entities": ["solar"]}},
        "partners": {
            "nova": NEW_PARTNER,
            "sunco": {**before["partners"]["sunco"], "price": 99},
            "orbit": {"timezone": "UTC", "caps": {"week": 0}},
        },
    }
    r = http.post("/v1/config", json=document, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert paths(r) == ["partners.orbit.caps.week"]
    after = config(http)
    assert after == before
    assert "affiliate" not in after["sources"] and "nova" not in after["partners"]
    assert after["partners"]["sunco"]["price"] == 25
    assert audit(http) == audit_before


@pytest.mark.sqlite_only
def test_a_document_reports_every_bad_path_at_once(http: httpx.Client) -> None:
    document = {
        "partners": {"nova": {"caps": {"day": "ten"}}},
        "profiles": {
            "solar-main": {
                "entity": "solar",
                "rules": [
                    {
                        "name": "zip",
                        "when": {"field": "zip", "op": "startswith", "value": "90"},
                        "send_to": {"partner": "sunco"},
                    }
                ],
            }
        },
        "widgets": {},
    }
    r = http.post("/v1/config", json=document, headers=ADMIN)
    assert r.status_code == 422, r.text
    errors = {e["path"]: e["error"] for e in r.json()["errors"]}
    assert "partners.nova.caps.day" in errors
    assert (
        errors["profiles.solar-main.rules[0].when.op"]
        == "unknown operator 'startswith'; did you mean 'starts_with'?"
    )
    assert "widgets" in errors


def test_dry_run_reports_and_changes_nothing(http: httpx.Client) -> None:
    before = config(http)
    audit_before = audit(http)
    document = {"partners": {"nova": NEW_PARTNER, "sunco": {**before["partners"]["sunco"], "price": 99}}}
    r = http.post("/v1/config", params={"dry_run": "true"}, json=document, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] is True
    assert {(c["name"], c["action"]) for c in r.json()["changes"]} == {
        ("nova", "created"),
        ("sunco", "updated"),
    }
    assert config(http) == before
    assert audit(http) == audit_before

    r = http.post("/v1/config", json=document, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] is False
    after = config(http)
    assert after["partners"]["nova"]["caps"] == {"day": 20}
    assert after["partners"]["sunco"]["price"] == 99
    actions = {(e["action"], e["object_id"]) for e in audit(http)} - {
        (e["action"], e["object_id"]) for e in audit_before
    }
    assert actions == {("config.created", "nova"), ("config.updated", "sunco")}


@pytest.mark.sqlite_only
def test_get_config_reapplies_unchanged(http: httpx.Client) -> None:
    stored = config(http)
    r = http.post("/v1/config", json=stored, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert {c["action"] for c in r.json()["changes"]} == {"unchanged"}


# ---------------------------------------------------------------- keys, OpenAPI


def test_a_new_source_key_works_for_intake(http: httpx.Client) -> None:
    r = http.post("/v1/sources/web/keys", headers=ADMIN)
    assert r.status_code == 200, r.text
    key = r.json()["key"]
    assert len(key) >= 16 and r.json()["source"] == "web"
    r = http.post("/v1/leads", json=lead(), headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 202, r.text
    r = http.post("/v1/leads", json=lead(first_name="Bo"), headers={"X-API-Key": key})
    assert r.status_code == 202, r.text
    created = [e for e in audit(http) if e["action"] == "source.key_created"]
    assert len(created) == 1 and created[0]["object_id"] == "web" and created[0]["actor"] == "admin:tester"
    assert key not in str(created[0])  # only a prefix is kept
    assert http.post("/v1/sources/nobody/keys", headers=ADMIN).status_code == 404
    chosen = "lr_chosen_key_0123456789"
    assert http.post("/v1/sources/web/keys", json={"key": chosen}, headers=ADMIN).json()["key"] == chosen
    assert (
        http.post("/v1/leads", json=lead(first_name="Cy"), headers={"X-API-Key": chosen}).status_code == 202
    )


@pytest.mark.sqlite_only
def test_openapi_and_docs(http: httpx.Client) -> None:
    r = http.get("/openapi.json")
    assert r.status_code == 200
    spec_paths = r.json()["paths"]
    for path in ("/v1/leads", "/v1/distributions", "/v1/distributions/{job_id}/cancel", "/v1/config"):
        assert path in spec_paths
    r = http.get("/docs")
    assert r.status_code == 200
    assert "swagger" in r.text.lower()


# ---------------------------------------------------------------- test deliveries


def test_test_delivery_is_delivered_marked_and_never_counted(
    http: httpx.Client, buyers: BuyersThread, db_url: str
) -> None:
    def caps() -> list[tuple[str, str, int]]:
        rows = in_db(db_url, lambda c: list(c.execute(select(cap_counters))))
        return sorted((r.partner, r.window, r.used) for r in rows)

    caps_before = caps()
    r = http.post("/v1/partners/sunco/test-delivery", headers=ADMIN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "delivered", body
    assert body["kind"] == "test"
    assert [(d["partner"], d["status"], d["test"]) for d in body["deliveries"]] == [
        ("sunco", "delivered", True)
    ]
    assert buyers.stats()["buyers"]["sunco"]["tests"] == 1
    assert buyers.leads("sunco")[0]["body"]["test"] is True
    assert caps() == caps_before
    row = in_db(db_url, lambda c: c.execute(select(deliveries)).one())
    assert row.is_test is True
    lead_row = in_db(db_url, lambda c: c.execute(select(leads)).one())
    assert lead_row.is_test is True
    entries = [e for e in audit(http) if e["action"] == "partner.test_delivery"]
    assert len(entries) == 1 and entries[0]["actor"] == "admin:tester"
    assert entries[0]["detail"]["partner"] == "sunco"
    # a real lead still routes normally afterwards and takes a cap slot
    assert (
        http.post("/v1/leads?wait=10", json=lead(), headers=source_headers()).json()["status"] == "delivered"
    )
    assert sum(used for partner, _, used in caps() if partner == "sunco") == 1


@pytest.mark.sqlite_only
def test_test_delivery_of_an_unknown_partner_is_404(http: httpx.Client) -> None:
    r = http.post("/v1/partners/nobody/test-delivery", headers=ADMIN)
    assert r.status_code == 404
    assert "nobody" in r.json()["detail"]


# ---------------------------------------------------------------- email partner against aiosmtpd


@pytest.mark.sqlite_only
def test_a_lead_routed_to_an_email_partner_arrives_by_smtp(
    db_url: str, buyers: BuyersThread, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    email_channel = {
        "email": {"to": ["x@example.com"], "subject": "New lead: {{ lead.first_name }}", "attach": "csv"}
    }
    document = base_config(buyers.url, sunco={"channel": email_channel})
    document["smtp"] = {"host": "127.0.0.1", "port": port, "security": "none", "sender": "relay@example.com"}
    prepare(db_url, document)
    with ServerThread(db_url) as server, server.client() as http:
        r = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "delivered", r.json()
        assert r.json()["partner"] == "sunco"
        wait_for(lambda: box.messages, timeout=5)
        job = http.get("/v1/distributions", headers=ADMIN).json()["items"][0]
        detail = http.get(f"/v1/distributions/{job['id']}", headers=ADMIN).json()
    assert detail["deliveries"][0]["channel"] == "email"
    assert len(box.messages) == 1
    message = box.messages[0]
    assert message["Subject"] == "New lead: Ada"
    assert box.recipients[0] == ["x@example.com"]
    attachments = list(message.iter_attachments())
    assert len(attachments) == 1
    assert attachments[0].get_filename().endswith(".csv")
    content = attachments[0].get_content()
    text = content.decode() if isinstance(content, bytes) else content
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1
    assert rows[0]["first_name"] == "Ada"
    assert rows[0]["zip"] == "94103"
    assert buyers.stats()["total_received"] == 0  # nothing went to a webhook


@pytest.mark.sqlite_only
def test_a_profile_can_send_a_partners_email_to_other_recipients(
    db_url: str, buyers: BuyersThread, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    document = base_config(buyers.url, sunco={"channel": {"email": {"to": ["partner@example.com"]}}})
    document["smtp"] = {"host": "127.0.0.1", "port": port, "security": "none"}
    document["profiles"]["solar-main"]["email_to"] = ["desk@example.com", "boss@example.com"]
    prepare(db_url, document)
    with ServerThread(db_url) as server, server.client() as http:
        r = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
        assert r.json()["status"] == "delivered", r.json()
        wait_for(lambda: box.messages, timeout=5)
    assert box.recipients == [["desk@example.com", "boss@example.com"]]


def test_the_audit_log_keeps_no_secret_of_a_configuration_change(db_url: str) -> None:
    prepare(db_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    partner = {
        "channel": {
            "webhook": {
                "url": "http://127.0.0.1:9/secretive",
                "headers": {"Authorization": "Bearer s3cr3t-value", "X-Source": "leadrelay"},
            }
        }
    }
    secret = "a-test-secret-of-enough-length-0003"
    with ServerThread(db_url, workers=0, secret_key=secret) as server, server.client() as http:
        assert http.put("/v1/partners/secretive", json=partner, headers=ADMIN).status_code == 200
        audit = http.get("/v1/audit", headers=ADMIN).text
        shown = http.get("/v1/partners/secretive", headers=ADMIN).json()
        again = http.put("/v1/partners/secretive", json=shown | {"name": "secretive"}, headers=ADMIN)
    assert "s3cr3t-value" not in audit
    assert '"Authorization":"***"' in audit.replace(" ", "")
    assert "leadrelay" in audit  # what is not secret stays readable
    assert shown["channel"]["webhook"]["headers"] == {"Authorization": "***", "X-Source": "leadrelay"}
    assert again.json()["action"] == "unchanged"  # "***" keeps the stored secret


@pytest.mark.sqlite_only
def test_a_literal_secret_needs_the_secret_key(db_url: str) -> None:
    prepare(db_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    partner = {"channel": {"webhook": {"url": "http://127.0.0.1:9/x", "headers": {"X-Api-Key": "k-123"}}}}
    env_ref = {
        "channel": {"webhook": {"url": "http://127.0.0.1:9/x", "headers": {"X-Api-Key": "${ACME_KEY}"}}}
    }
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        refused = http.put("/v1/partners/acme", json=partner, headers=ADMIN)
        referenced = http.put("/v1/partners/acme", json=env_ref, headers=ADMIN)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["path"] == "partners.acme.channel.webhook.headers.X-Api-Key"
    assert referenced.status_code == 200
