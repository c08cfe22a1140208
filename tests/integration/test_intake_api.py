"""Intake through a real server on loopback, on SQLite and PostgreSQL: happy paths and bad input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import jobs, leads
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ServerThread, base_config, lead, prepare, source_headers


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


@pytest.fixture
def server(db_url: str, buyers: BuyersThread) -> Iterator[ServerThread]:
    prepare(db_url, base_config(buyers.url))
    with ServerThread(db_url) as s:
        yield s


def count(url: str, table: object) -> int:
    db = Database(url)
    try:
        return db.read(lambda c: int(c.execute(select(func.count()).select_from(table)).scalar_one()))  # type: ignore[arg-type]
    finally:
        db.dispose()


def test_json_lead_is_delivered_and_answered_with_partner_and_price(server: ServerThread) -> None:
    with server.client() as http:
        r = http.post("/v1/leads?wait=10", json={"entity": "solar", **lead()}, headers=source_headers())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "delivered"
    assert body["partner"] == "sunco"
    assert body["price"] == 10.0  # the buyer's answer names a price; it wins over the list price
    assert body["lead_id"].startswith("lead_")


@pytest.mark.sqlite_only
def test_default_answer_is_queued_202(server: ServerThread) -> None:
    with server.client() as http:
        r = http.post("/v1/leads", json=lead(), headers=source_headers())
    assert r.status_code == 202
    assert r.json()["status"] == "queued"


@pytest.mark.sqlite_only
def test_form_encoded_lead_with_x_api_key(server: ServerThread) -> None:
    key = source_headers()["Authorization"].split()[1]
    with server.client() as http:
        r = http.post("/v1/leads?wait=10", data={**lead(), "monthly_bill": "180"}, headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivered"


def test_invalid_lead_is_422_per_field_and_recorded_as_rejected(server: ServerThread, db_url: str) -> None:
    with server.client() as http:
        r = http.post("/v1/leads", json=lead(phone="12", zip=None), headers=source_headers())
    assert r.status_code == 422
    body = r.json()
    assert body["status"] == "rejected"
    assert {"field": "phone", "error": "not a valid US number"} in body["errors"]
    assert {"field": "zip", "error": "required"} in body["errors"]
    db = Database(db_url)
    try:
        row = db.read(lambda c: c.execute(select(leads).where(leads.c.id == body["lead_id"])).one())
    finally:
        db.dispose()
    assert row.status == "rejected"
    assert {"field": "zip", "error": "required"} in row.problems
    assert count(db_url, jobs) == 0


@pytest.mark.parametrize(
    ("content_type", "payload", "status", "code"),
    [
        ("application/json", b"{not json", 400, "malformed_body"),
        ("application/json", b"[1, 2]", 400, "malformed_body"),
        ("text/plain", b"first_name=Ada", 415, "unsupported_media_type"),
        ("application/json", b'{"entity": "mortgage", "first_name": "A"}', 404, "not_found"),
    ],
)
@pytest.mark.sqlite_only
def test_bad_bodies_get_clear_4xx(
    server: ServerThread, content_type: str, payload: bytes, status: int, code: str
) -> None:
    with server.client() as http:
        r = http.post(
            "/v1/leads", content=payload, headers={**source_headers(), "Content-Type": content_type}
        )
    assert r.status_code == status, r.text
    assert r.json()["code"] == code


@pytest.mark.sqlite_only
def test_body_over_the_limit_is_413(server: ServerThread) -> None:
    with server.client() as http:
        r = http.post("/v1/leads", json=lead(note="x" * 70_000), headers=source_headers())
    assert r.status_code == 413
    assert "larger than 65536 bytes" in r.json()["detail"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"X-API-Key": "nope"}])
@pytest.mark.sqlite_only
def test_missing_or_bad_key_is_401(server: ServerThread, headers: dict[str, str], db_url: str) -> None:
    with server.client() as http:
        r = http.post("/v1/leads", json=lead(), headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == "unauthorized"
    assert count(db_url, leads) == 0


def test_idempotency_key_repeat_returns_original_and_creates_nothing(
    server: ServerThread, db_url: str
) -> None:
    headers = {**source_headers(), "Idempotency-Key": "order-42"}
    with server.client() as http:
        first = http.post("/v1/leads?wait=10", json=lead(), headers=headers)
        again = http.post("/v1/leads", json=lead(), headers=headers)
        other = http.post("/v1/leads", json=lead(first_name="Eve"), headers=headers)
    assert first.json()["status"] == "delivered"
    assert again.status_code == 200
    assert again.json() == first.json()
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["detail"]
    assert count(db_url, leads) == 1
    assert count(db_url, jobs) == 1


@pytest.mark.parametrize(("query", "field"), [("wait=abc", "wait"), ("wait=999", "wait")])
@pytest.mark.sqlite_only
def test_bad_wait_is_422(server: ServerThread, query: str, field: str) -> None:
    with server.client() as http:
        r = http.post(f"/v1/leads?{query}", json=lead(), headers=source_headers())
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == field


@pytest.mark.sqlite_only
def test_a_source_reads_its_own_leads_only(db_url: str, buyers: BuyersThread) -> None:
    config = base_config(buyers.url)
    config["sources"]["other"] = {"entities": ["solar"]}
    prepare(db_url, config)
    with ServerThread(db_url) as server, server.client() as http:
        posted = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers()).json()
        mine = http.get(f"/v1/leads/{posted['lead_id']}", headers=source_headers())
        theirs = http.get(f"/v1/leads/{posted['lead_id']}", headers=source_headers("other"))
    assert mine.status_code == 200
    assert mine.json()["status"] == "delivered"
    assert mine.json()["partner"] == "sunco"
    assert theirs.status_code == 404


@pytest.mark.sqlite_only
def test_entity_the_source_may_not_post_is_refused(db_url: str, buyers: BuyersThread) -> None:
    config = base_config(buyers.url)
    config["entities"]["roofing"] = {"fields": {"name": {"type": "string"}}}
    prepare(db_url, config)
    with ServerThread(db_url) as server, server.client() as http:
        r = http.post("/v1/leads", json={"entity": "roofing", "name": "x"}, headers=source_headers())
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden"
    assert "may not post" in r.json()["detail"]
