"""Intake through a real server on loopback, on SQLite and PostgreSQL: happy paths and bad input."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import jobs, leads
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ServerThread, base_config, lead, prepare, source_headers, wait_for


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


def test_json_nested_deep_inside_a_field_is_refused_with_the_field_and_nothing_stored(
    server: ServerThread, db_url: str
) -> None:
    """orjson reads 1,023 levels but writes only 254: a lead nested in between used to fail with a 500
    when stored. Deep nesting is refused (422 naming the field, or 400 past the parser's own limit)."""
    with server.client() as http:
        for depth, status in [(65, 422), (254, 422), (300, 422), (1023, 422), (1024, 400), (5000, 400)]:
            body = '{"first_name": ' + "[" * depth + "]" * depth + ', "phone": "5125551212", "zip": "94103"}'
            headers = {**source_headers(), "Content-Type": "application/json"}
            r = http.post("/v1/leads", content=body, headers=headers)
            assert r.status_code == status, (depth, r.text)
            answer = r.json()
            assert answer["code"] == ("validation_failed" if status == 422 else "malformed_body")
            if status == 422:
                assert answer["errors"] == [{"field": "first_name", "error": "nested deeper than 64 levels"}]
        shallow = http.post("/v1/leads", json=lead(extra=[[["ok"]]]), headers=source_headers())
    assert shallow.status_code == 202, shallow.text
    assert count(db_url, leads) == 1


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
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert other.status_code == 422  # the IETF draft's answer to a key reused with another body
    assert other.json()["errors"] == [
        {"field": "Idempotency-Key", "error": "already used with a different body"}
    ]
    assert "Idempotency-Key" in other.json()["detail"]
    assert count(db_url, leads) == 1
    assert count(db_url, jobs) == 1


def test_a_repeat_replays_the_first_answer_status_code_and_body(server: ServerThread) -> None:
    """The first answer was 202 queued; the lead has been delivered since, and a repeat still gets the
    stored 202 queued (as Stripe and the IETF draft do), not the current status."""
    headers = {**source_headers(), "Idempotency-Key": "order-7"}
    with server.client() as http:
        first = http.post("/v1/leads", json=lead(), headers=headers)
        assert first.status_code == 202, first.text
        lead_id = first.json()["lead_id"]
        wait_for(
            lambda: http.get(f"/v1/leads/{lead_id}", headers=source_headers()).json()["status"] == "delivered"
        )
        again = http.post("/v1/leads?wait=5", json=lead(), headers=headers)
        rejected = http.post("/v1/leads", json=lead(zip=None), headers={**headers, "Idempotency-Key": "r"})
        rejected_again = http.post(
            "/v1/leads", json=lead(zip=None), headers={**headers, "Idempotency-Key": "r"}
        )
    assert (again.status_code, again.json()) == (202, {"lead_id": lead_id, "status": "queued"})
    assert rejected.status_code == 422
    assert (rejected_again.status_code, rejected_again.json()) == (422, rejected.json())


def test_a_repeat_while_the_first_is_in_flight_is_409(db_url: str, buyers: BuyersThread) -> None:
    """No worker: the first request waits (in flight) for an outcome that does not come."""
    prepare(db_url, base_config(buyers.url))
    headers = {**source_headers(), "Idempotency-Key": "slow-1"}
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(http.post, "/v1/leads?wait=2", json=lead(), headers=headers)
            wait_for(lambda: count(db_url, leads) == 1)
            during = http.post("/v1/leads", json=lead(), headers=headers)
            answered = first.result()
        after = http.post("/v1/leads", json=lead(), headers=headers)
        # A first request that never answered (its process ended while waiting): after a while, repeats
        # get the lead's outcome (and keep it) instead of 409 for ever.
        db = Database(db_url)
        try:
            db.transaction(
                lambda c: c.execute(
                    update(leads).values(
                        answer_code=None, answer=None, created_at=datetime.now(UTC) - timedelta(minutes=2)
                    )
                )
            )
        finally:
            db.dispose()
        orphan = http.post("/v1/leads", json=lead(), headers=headers)
    assert (orphan.status_code, orphan.json()) == (202, answered.json())
    assert orphan.headers["Idempotent-Replayed"] == "true"
    assert during.status_code == 409, during.text
    assert during.json()["code"] == "conflict"
    assert "still being answered" in during.json()["detail"]
    assert answered.status_code == 202
    assert (after.status_code, after.json()) == (202, answered.json())
    assert count(db_url, leads) == 1


def test_concurrent_requests_with_one_key_make_one_lead(db_url: str, buyers: BuyersThread) -> None:
    """Two API processes (separate group commits, so separate transactions) and two requests in one of
    them, all at once with the same key: one lead per key; every other answer is the replay or 409."""
    prepare(db_url, base_config(buyers.url))
    keys = [f"race-{i}" for i in range(6)]
    with ServerThread(db_url, workers=0) as a, ServerThread(db_url, workers=0) as b:
        clients = [a.client(), a.client(), b.client()]
        barrier = threading.Barrier(len(clients))

        def post(http: httpx.Client, key: str) -> httpx.Response:
            barrier.wait(timeout=10)
            return http.post("/v1/leads", json=lead(), headers={**source_headers(), "Idempotency-Key": key})

        with ThreadPoolExecutor(len(clients)) as pool:
            answers = {k: list(pool.map(post, clients, [k] * len(clients))) for k in keys}
        for c in clients:
            c.close()
    for key, got in answers.items():
        codes = sorted(r.status_code for r in got)
        assert set(codes) <= {202, 409} and codes[0] == 202, (key, codes, [r.text for r in got])
        bodies = {r.text for r in got if r.status_code == 202}
        assert len(bodies) == 1, (key, bodies)  # the replay is the first answer, byte for byte
        assert sum("Idempotent-Replayed" not in r.headers for r in got) == 1
    assert count(db_url, leads) == len(keys)
    assert count(db_url, jobs) == len(keys)


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


@pytest.mark.parametrize("written", ["k1a 0b1", "K1A0B1", "K1A  0B1"])
def test_canadian_postal_codes_written_the_usual_ways_are_accepted(
    server: ServerThread, db_url: str, written: str
) -> None:
    with server.client() as http:
        r = http.post("/v1/leads", json=lead(zip=written), headers=source_headers())
    assert r.status_code == 202, r.text
    db = Database(db_url)
    try:
        row = db.read(lambda c: c.execute(select(leads).where(leads.c.id == r.json()["lead_id"])).one())
    finally:
        db.dispose()
    assert row.data["zip"] == "K1A 0B1"
