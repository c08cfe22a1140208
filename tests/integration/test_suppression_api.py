"""The suppression list API over a real server on loopback, on SQLite and PostgreSQL: create, list, show,
delete (refused while configuration uses the list), entries as values or hashes, checks, bad input with the
field named, and the audit log (counts, never values)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.privacy_tables import suppression_entries
from tests.support import ADMIN, ServerThread, base_config, prepare, source_headers

LISTS = "/v1/suppression-lists"


@pytest.fixture
def http(db_url: str) -> Iterator[httpx.Client]:
    prepare(db_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    with ServerThread(db_url, workers=0) as server, server.client() as client:
        yield client


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def create(http: httpx.Client, name: str = "dnc", kind: str = "phone", **extra: Any) -> dict[str, Any]:
    r = http.post(LISTS, json={"name": name, "kind": kind, **extra}, headers=ADMIN)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def audit(http: httpx.Client) -> list[dict[str, Any]]:
    r = http.get("/v1/audit", headers=ADMIN)
    assert r.status_code == 200, r.text
    return [e for e in r.json()["items"] if e["object_kind"] == "suppression_list"]


def fields(r: httpx.Response) -> list[str]:
    return [e["field"] for e in r.json()["errors"]]


def stored(url: str, name: str) -> set[str]:
    db = Database(url)
    try:
        query = select(suppression_entries.c.value_hash).where(suppression_entries.c.list == name)
        return set(db.read(lambda c: c.execute(query).scalars().all()))
    finally:
        db.dispose()


@pytest.mark.sqlite_only
def test_the_endpoints_need_an_admin_token(http: httpx.Client) -> None:
    create(http)
    for method, path in [
        ("POST", LISTS),
        ("GET", LISTS),
        ("GET", f"{LISTS}/dnc"),
        ("DELETE", f"{LISTS}/dnc"),
        ("POST", f"{LISTS}/dnc/entries"),
        ("DELETE", f"{LISTS}/dnc/entries"),
        ("GET", f"{LISTS}/dnc/check?value=5125551212"),
    ]:
        for headers in ({}, {"Authorization": "Bearer nope"}, source_headers()):
            body = {"values": ["5125551212"]} if method != "GET" else None
            r = http.request(method, path, json=body, headers=headers)
            assert r.status_code == 401, (method, path, r.text)
    assert http.get(f"{LISTS}/dnc", headers=ADMIN).json()["entries"] == 0


def test_create_list_show_and_delete(http: httpx.Client) -> None:
    body = create(http, "dnc", "phone", description="federal do-not-call")
    assert body["name"] == "dnc" and body["kind"] == "phone" and body["entries"] == 0
    assert body["description"] == "federal do-not-call"
    create(http, "customers", "email")
    create(http, "closed-areas", "postal_code")
    items = http.get(LISTS, headers=ADMIN).json()["items"]
    assert [(i["name"], i["kind"]) for i in items] == [
        ("closed-areas", "postal_code"),
        ("customers", "email"),
        ("dnc", "phone"),
    ]
    assert http.get(f"{LISTS}/customers", headers=ADMIN).json()["kind"] == "email"

    r = http.delete(f"{LISTS}/customers", headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "customers", "action": "deleted", "entries_removed": 0}
    assert http.get(f"{LISTS}/customers", headers=ADMIN).status_code == 404
    assert http.delete(f"{LISTS}/customers", headers=ADMIN).status_code == 404
    assert [i["name"] for i in http.get(LISTS, headers=ADMIN).json()["items"]] == ["closed-areas", "dnc"]


def test_add_values_and_hashes_check_and_remove(http: httpx.Client, db_url: str) -> None:
    create(http)
    values = ["(512) 555-1212", "512.555.3434", "555-1212", "+1 512 555 1212", 5125557878, "call me"]
    r = http.post(f"{LISTS}/dnc/entries", json={"values": values}, headers=ADMIN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["added"] == 3 and body["already_present"] == 1  # "+1 512 555 1212" is the first again
    assert [e["index"] for e in body["invalid"]] == [2, 5]
    assert all("not a valid" in e["error"] for e in body["invalid"])
    assert stored(db_url, "dnc") == {sha("+15125551212"), sha("+15125553434"), sha("+15125557878")}
    assert http.get(f"{LISTS}/dnc", headers=ADMIN).json()["entries"] == 3

    given = [sha("+15125550000").upper(), sha("+15125551212"), "abc"]
    r = http.post(f"{LISTS}/dnc/entries", json={"hashes": given}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "list": "dnc",
        "added": 1,
        "already_present": 1,
        "invalid": [{"index": 2, "error": "not a SHA-256 hash (64 hexadecimal digits)"}],
    }
    assert sha("+15125550000") in stored(db_url, "dnc")

    def check(value: str) -> bool:
        r = http.get(f"{LISTS}/dnc/check", params={"value": value}, headers=ADMIN)
        assert r.status_code == 200, r.text
        listed: bool = r.json()["listed"]
        return listed

    assert check("512-555-1212") and check("(512) 555 0000") and not check("512-555-9999")

    r = http.request(
        "DELETE", f"{LISTS}/dnc/entries", json={"values": ["5125551212", "5125559999"]}, headers=ADMIN
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"list": "dnc", "removed": 1, "not_present": 1, "invalid": []}
    r = http.request("DELETE", f"{LISTS}/dnc/entries", json={"hashes": [sha("+15125550000")]}, headers=ADMIN)
    assert r.json()["removed"] == 1
    assert not check("512-555-1212") and check("512.555.3434")
    assert http.get(f"{LISTS}/dnc", headers=ADMIN).json()["entries"] == 2

    r = http.delete(f"{LISTS}/dnc", headers=ADMIN)
    assert r.json()["entries_removed"] == 2
    assert stored(db_url, "dnc") == set()


@pytest.mark.sqlite_only
def test_email_and_postal_code_lists(http: httpx.Client) -> None:
    create(http, "customers", "email")
    r = http.post(
        f"{LISTS}/customers/entries", json={"values": ["John@X.com", "john@x.com", "x@"]}, headers=ADMIN
    )
    assert (r.json()["added"], r.json()["already_present"], len(r.json()["invalid"])) == (1, 1, 1)
    assert http.get(f"{LISTS}/customers/check?value=JOHN@x.COM", headers=ADMIN).json()["listed"] is True

    create(http, "zips", "postal_code")
    r = http.post(f"{LISTS}/zips/entries", json={"values": ["78704", 94103, "K1A 0B1"]}, headers=ADMIN)
    assert r.json()["added"] == 3, r.text
    for value, listed in [("78704-1234", True), ("94103", True), ("k1a0b1", True), ("78705", False)]:
        r = http.get(f"{LISTS}/zips/check", params={"value": value}, headers=ADMIN)
        assert r.json() == {"list": "zips", "listed": listed}, value


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"name": "Bad Name", "kind": "phone"}, "name", "lowercase"),
        ({"name": "x" * 70, "kind": "phone"}, "name", "invalid name"),
        ({"kind": "phone"}, "name", "invalid name"),
        ({"name": "dnc", "kind": "phones"}, "kind", "did you mean 'phone'"),
        ({"name": "dnc", "kind": "zip"}, "kind", "postal_code"),
        ({"name": "dnc", "kind": "phone", "description": 5}, "description", "string"),
    ],
)
@pytest.mark.sqlite_only
def test_create_with_bad_input_is_422_naming_the_field(
    http: httpx.Client, body: dict[str, Any], field: str, words: str
) -> None:
    r = http.post(LISTS, json=body, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_failed"
    assert field in fields(r), r.json()
    assert any(words in e["error"] for e in r.json()["errors"] if e["field"] == field), r.json()
    assert http.get(LISTS, headers=ADMIN).json()["items"] == []
    assert audit(http) == []


@pytest.mark.sqlite_only
def test_bad_requests_on_entries(http: httpx.Client) -> None:
    create(http)
    r = http.post(LISTS, json={"name": "dnc", "kind": "email"}, headers=ADMIN)
    assert r.status_code == 409 and r.json()["code"] == "conflict" and "exists" in r.json()["detail"]
    for path in (f"{LISTS}/ghost", f"{LISTS}/ghost/check?value=5125551212"):
        assert http.get(path, headers=ADMIN).status_code == 404
    r = http.post(f"{LISTS}/ghost/entries", json={"values": ["5125551212"]}, headers=ADMIN)
    assert r.status_code == 404 and "ghost" in r.json()["detail"]

    entries = f"{LISTS}/dnc/entries"
    for body, field in [
        ({}, "values"),
        ({"values": ["5125551212"], "hashes": [sha("x")]}, "values"),
        ({"values": "5125551212"}, "values"),
        ({"values": ["5125551212"] * 10_001}, "values"),
        ({"hashes": {"a": 1}}, "hashes"),
    ]:
        r = http.post(entries, json=body, headers=ADMIN)
        assert r.status_code == 422, (body, r.text)
        assert field in fields(r), (field, r.json())
    r = http.post(entries, json={"values": [["5125551212"], None, True, {}, "5125551212"]}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert [e["index"] for e in r.json()["invalid"]] == [0, 1, 2, 3] and r.json()["added"] == 1
    assert r.json()["invalid"][0]["error"] == "must be a single value"
    r = http.post(entries, json={"hashes": [1, None, sha("x")]}, headers=ADMIN)
    assert [e["index"] for e in r.json()["invalid"]] == [0, 1] and r.json()["added"] == 1
    r = http.get(f"{LISTS}/dnc/check?value=hello", headers=ADMIN)
    assert r.status_code == 422 and fields(r) == ["value"]
    assert http.get(f"{LISTS}/dnc/check", headers=ADMIN).status_code == 422
    r = http.post(entries, json={"values": ["5125551212"] * 10_000}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["added"] == 0 and r.json()["already_present"] == 10_000


def test_delete_is_refused_while_configuration_uses_the_list(http: httpx.Client) -> None:
    create(http)
    sunco = http.get("/v1/partners/sunco", headers=ADMIN).json()
    sunco.pop("name")
    r = http.put("/v1/partners/sunco", json={**sunco, "suppression": ["dnc"]}, headers=ADMIN)
    assert r.status_code == 200, r.text
    profile = http.get("/v1/profiles/solar-main", headers=ADMIN).json()
    profile.pop("name")
    r = http.put("/v1/profiles/solar-main", json={**profile, "suppression": ["dnc"]}, headers=ADMIN)
    assert r.status_code == 200, r.text

    r = http.delete(f"{LISTS}/dnc", headers=ADMIN)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "conflict"
    assert "partners.sunco" in r.json()["detail"] and "profiles.solar-main" in r.json()["detail"]
    assert http.get(f"{LISTS}/dnc", headers=ADMIN).status_code == 200

    for path, doc in (("/v1/partners/sunco", sunco), ("/v1/profiles/solar-main", profile)):
        assert http.put(path, json=doc, headers=ADMIN).status_code == 200
    assert http.delete(f"{LISTS}/dnc", headers=ADMIN).status_code == 200


def test_every_change_is_audited_with_counts_not_values(http: httpx.Client) -> None:
    create(http, description="do not call")
    http.post(f"{LISTS}/dnc/entries", json={"values": ["5125551212", "nope"]}, headers=ADMIN)
    http.request("DELETE", f"{LISTS}/dnc/entries", json={"hashes": [sha("+15125551212")]}, headers=ADMIN)
    http.get(f"{LISTS}/dnc/check?value=5125551212", headers=ADMIN)  # a read: not audited
    http.delete(f"{LISTS}/dnc", headers=ADMIN)
    entries = audit(http)[::-1]  # oldest first
    assert [e["action"] for e in entries] == [
        "suppression.list_created",
        "suppression.entries_added",
        "suppression.entries_removed",
        "suppression.list_deleted",
    ]
    assert all(e["actor"] == "admin:tester" and e["object_id"] == "dnc" for e in entries)
    assert entries[0]["detail"] == {"kind": "phone", "description": "do not call"}
    assert entries[1]["detail"] == {"given": "values", "changed": 1, "unchanged": 0, "invalid": 1}
    assert entries[2]["detail"] == {"given": "hashes", "changed": 1, "unchanged": 0, "invalid": 0}
    assert entries[3]["detail"] == {"kind": "phone", "entries": 0}
    text = str(entries)
    assert "5125551212" not in text and sha("+15125551212") not in text
