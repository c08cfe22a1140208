"""Partners' own API keys, end to end through the real HTTP API on SQLite and PostgreSQL (issue 10, point 8:
"a buyer pausing itself with its own key"): an admin makes a key for a partner, the partner checks itself
out and in with it (routing skips it meanwhile, with the trace line), a revoked key is 401, a deleted
partner's keys die with it, a key authenticates only as its kind of owner (a partner's key never sends
leads nor administers; a source's key or an admin token never acts as a partner), bad bodies are 422
naming the field, every change is audited, and the `partners add-key|keys|revoke-key` commands."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_credentials import cli
from tests.integration.test_routing_flow import buyers as buyers
from tests.integration.test_routing_flow import job_of, post, serve
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, source_headers, wait_for


def new_key(http: httpx.Client, partner: str, **body: Any) -> dict[str, Any]:
    r = http.post(f"/v1/partners/{partner}/keys", json=body or None, headers=ADMIN)
    assert r.status_code == 200, r.text
    made: dict[str, Any] = r.json()
    return made


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def keys_of(http: httpx.Client, partner: str) -> list[dict[str, Any]]:
    r = http.get(f"/v1/partners/{partner}/keys", headers=ADMIN)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def audit(http: httpx.Client, object_id: str) -> list[dict[str, Any]]:
    r = http.get("/v1/audit", headers=ADMIN)
    assert r.status_code == 200, r.text
    return [e for e in r.json()["items"] if e["object_id"] == object_id]


def test_a_buyer_pauses_itself_with_its_own_key_and_resumes(db_url: str, buyers: BuyersThread) -> None:
    with serve(db_url, base_config(buyers.url)) as server, server.client() as http:
        made = new_key(http, "sunco")
        key = made["key"]
        assert made["partner"] == "sunco" and made["id"].startswith("key_") and key.startswith("lrp_")

        me = http.get("/v1/partner", headers=bearer(key))
        assert me.status_code == 200, me.text
        assert me.json()["name"] == "sunco" and me.json()["available"] is True

        out = http.put(
            "/v1/partner/availability", json={"available": False, "note": "budget spent"}, headers=bearer(key)
        )
        assert out.status_code == 200, out.text
        assert (out.json()["partner"], out.json()["available"], out.json()["changed_by"]) == (
            "sunco",
            False,
            "partner:sunco",
        )
        skipped = post(http, state="CA", monthly_bill=180)
        job = job_of(http, skipped["lead_id"])
        own = http.get("/v1/partner/availability", headers={"X-API-Key": key})  # the other header works too
        admin_view = http.get("/v1/partners/sunco/availability", headers=ADMIN).json()
        me_out = http.get("/v1/partner", headers={"X-API-Key": key}).json()

        back = http.put("/v1/partner/availability", json={"available": True}, headers=bearer(key))
        again = post(http, state="CA", monthly_bill=180)
        listed = wait_for(lambda: [k for k in keys_of(http, "sunco") if k["last_used_at"]])
        trail = audit(http, "sunco")

    assert skipped["partner"] == "brightpath"
    assert "sunco: partner unavailable (checked out)" in job["trace"]
    assert (
        own.status_code == 200 and own.json()["available"] is False and own.json()["note"] == "budget spent"
    )
    assert admin_view["available"] is False and admin_view["changed_by"] == "partner:sunco"
    assert me_out["available"] is False and me_out["availability"]["note"] == "budget spent"
    assert back.status_code == 200 and back.json()["available"] is True
    assert again["partner"] == "sunco"

    [row] = listed
    assert row["partner"] == "sunco" and row["prefix"] == key[:8] and row["revoked_at"] is None
    assert key not in str(row) and "key_hash" not in row  # never the key

    events = [(e["action"], e["actor"]) for e in trail]
    assert ("partner.key_created", "admin:tester") in events
    assert ("partner.unavailable", "partner:sunco") in events
    assert ("partner.available", "partner:sunco") in events
    [paused] = [e for e in trail if e["action"] == "partner.unavailable"]
    assert paused["detail"] == {"available": False, "before": True, "note": "budget spent"}


def test_a_key_authenticates_only_as_its_kind_of_owner(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, base_config(buyers.url))
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        sunco = new_key(http, "sunco")["key"]
        volt = new_key(http, "voltedge", key="lrp_voltedge-own-key-0001")["key"]
        source = source_headers()

        # a partner's key never sends leads, nor administers
        leads = http.post("/v1/leads", json=lead(), headers=bearer(sunco))
        assert leads.status_code == 403, leads.text
        assert "partner's key" in leads.json()["detail"]
        assert http.post("/v1/leads", json=lead(), headers={"X-API-Key": sunco}).status_code == 403
        for method, path in (
            ("GET", "/v1/config"),
            ("GET", "/v1/availability"),
            ("PUT", "/v1/partners/sunco/availability"),
            ("POST", "/v1/partners/sunco/keys"),
            ("GET", "/v1/partners/sunco/keys"),
        ):
            r = http.request(method, path, json={"available": False}, headers=bearer(sunco))
            assert r.status_code == 401, (method, path, r.text)

        # a source's key, an admin token, nothing, or an unknown key never act as a partner
        for headers, code in (
            (source, 403),
            (ADMIN, 401),
            ({}, 401),
            (bearer("lrp_not-a-key-of-anybody-xx"), 401),
        ):
            for method, path in (
                ("GET", "/v1/partner"),
                ("GET", "/v1/partner/availability"),
                ("PUT", "/v1/partner/availability"),
            ):
                r = http.request(method, path, json={"available": False}, headers=headers)
                assert r.status_code == code, (headers, method, path, r.text)
        assert "source's key" in http.get("/v1/partner", headers=source).json()["detail"]

        # each partner is itself; the source still sends leads; nobody was checked out by the refusals
        assert http.get("/v1/partner", headers=bearer(volt)).json()["name"] == "voltedge"
        assert http.get("/v1/partner", headers=bearer(sunco)).json()["name"] == "sunco"
        assert http.post("/v1/leads", json=lead(), headers=source).status_code == 202
        every = http.get("/v1/availability", headers=ADMIN).json()["items"]
        assert all(row["available"] for row in every)

        # one key, one owner: a source's key cannot become a partner's, nor a partner's another's
        taken = http.post("/v1/partners/sunco/keys", json={"key": source["Authorization"][7:]}, headers=ADMIN)
        assert taken.status_code == 409, taken.text
        assert http.post("/v1/partners/sunco/keys", json={"key": volt}, headers=ADMIN).status_code == 409
        assert http.post("/v1/sources/web/keys", json={"key": volt}, headers=ADMIN).status_code == 409
        same = http.post("/v1/partners/voltedge/keys", json={"key": volt}, headers=ADMIN)  # its own: its id
        assert same.status_code == 200 and len(keys_of(http, "voltedge")) == 1


def test_a_revoked_key_is_401_and_deleting_a_partner_revokes_its_keys(
    db_url: str, buyers: BuyersThread
) -> None:
    prepare(db_url, base_config(buyers.url, extra={}))  # "extra": a partner no profile names
    with (
        ServerThread(db_url, workers=0) as a,
        ServerThread(db_url, workers=0) as b,
        a.client() as ha,
        b.client() as hb,
    ):
        made = new_key(ha, "sunco")
        assert hb.get("/v1/partner", headers=bearer(made["key"])).status_code == 200  # cached in b
        r = ha.delete(f"/v1/partners/sunco/keys/{made['id']}", headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["revoked_at"] is not None and r.json()["partner"] == "sunco"
        refused = ha.put("/v1/partner/availability", json={"available": False}, headers=bearer(made["key"]))
        assert refused.status_code == 401
        assert f"API key {made['id']} was revoked at" in refused.json()["detail"]
        # the other process drops it within the configuration cache's second
        wait_for(lambda: hb.get("/v1/partner", headers=bearer(made["key"])).status_code == 401, timeout=5)
        assert ha.delete(f"/v1/partners/sunco/keys/{made['id']}", headers=ADMIN).status_code == 200  # again
        assert ha.delete("/v1/partners/sunco/keys/key_nope", headers=ADMIN).status_code == 404
        assert ha.delete(f"/v1/partners/voltedge/keys/{made['id']}", headers=ADMIN).status_code == 404

        extra = new_key(ha, "extra")
        assert ha.get("/v1/partner", headers=bearer(extra["key"])).status_code == 200
        assert ha.delete("/v1/partners/extra", headers=ADMIN).status_code == 200
        gone = ha.get("/v1/partner", headers=bearer(extra["key"]))
        assert gone.status_code == 401 and "was revoked" in gone.json()["detail"]
        assert all(k["revoked_at"] for k in keys_of(ha, "extra"))  # still listed, revoked
        sunco_trail = [(e["action"], e["detail"]) for e in audit(ha, "sunco")]
        [deleted] = [e for e in audit(ha, "extra") if e["action"] == "partner.keys_revoked"]
    assert ("partner.key_revoked", {"key_id": made["id"]}) in sunco_trail
    assert [a for a, _ in sunco_trail].count("partner.key_revoked") == 1  # revoking twice changes nothing
    assert deleted["detail"] == {"key_ids": [extra["id"]], "why": "partner deleted"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"available": "maybe"}, "available"),
        ({}, "available"),
        ({"available": False, "note": "x" * 501}, "note"),
        ({"available": False, "note": 5}, "note"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(
    db_url: str, buyers: BuyersThread, body: dict[str, Any], field: str
) -> None:
    prepare(db_url, base_config(buyers.url))
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        key = new_key(http, "sunco")["key"]
        r = http.put("/v1/partner/availability", json=body, headers=bearer(key))
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == field, r.text
        short = http.post("/v1/partners/sunco/keys", json={"key": "short"}, headers=ADMIN)
        assert short.status_code == 422 and short.json()["errors"][0]["field"] == "key", short.text
        assert http.post("/v1/partners/nobody/keys", headers=ADMIN).status_code == 404
        assert http.get("/v1/partners/nobody/keys", headers=ADMIN).status_code == 404
        assert http.get("/v1/partner", headers=bearer(key)).json()["available"] is True  # unchanged


def test_the_partners_key_commands(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, base_config(buyers.url))
    made = cli(db_url, "partners", "add-key", "sunco")
    assert made.exit_code == 0, made.output
    key = made.output.strip()
    assert key.startswith("lrp_")
    chosen = cli(db_url, "partners", "add-key", "voltedge", "--key", "lrp_chosen-by-the-admin-01")
    assert chosen.exit_code == 0 and chosen.output.strip() == "lrp_chosen-by-the-admin-01"

    listed = cli(db_url, "partners", "keys", "sunco")
    assert listed.exit_code == 0, listed.output
    header, row = listed.output.splitlines()
    assert header.split("\t")[:2] == ["id", "prefix"]
    key_id, prefix = row.split("\t")[:2]
    assert key_id.startswith("key_") and prefix == key[:8] and row.endswith("-\t-")  # never used, live

    with ServerThread(db_url, workers=0) as server, server.client() as http:
        assert http.get("/v1/partner", headers=bearer(key)).json()["name"] == "sunco"
        revoked = cli(db_url, "partners", "revoke-key", "sunco", key_id)
        assert revoked.exit_code == 0 and f"revoked {key_id} of sunco" in revoked.output
        wait_for(lambda: http.get("/v1/partner", headers=bearer(key)).status_code == 401, timeout=5)
        volt = bearer("lrp_chosen-by-the-admin-01")
        assert http.get("/v1/partner", headers=volt).json()["name"] == "voltedge"
        events = [(e["action"], e["actor"]) for e in audit(http, "sunco")]
    assert sorted(a for a, actor in events if a.startswith("partner.key") and actor.startswith("cli")) == [
        "partner.key_created",
        "partner.key_revoked",
    ]

    short = cli(db_url, "partners", "add-key", "sunco", "--key", "short")
    assert short.exit_code == 1 and "--key" in short.output
    nobody = cli(db_url, "partners", "add-key", "nobody")
    assert nobody.exit_code == 1 and "no partner named 'nobody'" in nobody.output
    assert cli(db_url, "partners", "keys", "nobody").exit_code == 1
    missing = cli(db_url, "partners", "revoke-key", "sunco", "key_nope")
    assert missing.exit_code == 1 and "no key 'key_nope'" in missing.output
