"""Source API keys and admin tokens on SQLite and PostgreSQL: listing with the last use, revocation (at
once in the revoking process, within the configuration cache's second in every other), a deleted source's
keys dying with it, admin token expiry, the audit log, and the `sources`/`admin` commands in-process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leadrelay.adapters.db import config_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import audit_log
from leadrelay.entrypoints.cli import app
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, source_headers, wait_for


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


@pytest.fixture
def prepared(db_url: str, buyers: BuyersThread) -> str:
    prepare(db_url, base_config(buyers.url))
    return db_url


def audit(http: httpx.Client) -> list[dict[str, Any]]:
    r = http.get("/v1/audit", headers=ADMIN)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def keys_of(http: httpx.Client, source: str = "web") -> list[dict[str, Any]]:
    r = http.get(f"/v1/sources/{source}/keys", headers=ADMIN)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def post(http: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    return http.post("/v1/leads", json=lead(), headers=headers)


def cli(db_url: str, *args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--database-url", db_url])
    return result


def test_a_revoked_key_is_refused_at_once_here_and_within_a_second_in_another_process(prepared: str) -> None:
    with (
        ServerThread(prepared, workers=0) as a,
        ServerThread(prepared, workers=0) as b,
        a.client() as ha,
        b.client() as hb,
    ):
        assert post(ha, source_headers()).status_code == 202  # both servers now hold the key in cache
        assert post(hb, source_headers()).status_code == 202
        [key] = wait_for(lambda: [k for k in keys_of(ha) if k["last_used_at"]])
        assert key["source"] == "web" and key["prefix"] and key["revoked_at"] is None
        assert "key_hash" not in key and source_headers()["Authorization"][7:] not in str(
            key
        )  # never the key

        r = ha.delete(f"/v1/sources/web/keys/{key['id']}", headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["revoked_at"] is not None
        refused = post(ha, source_headers())
        assert refused.status_code == 401
        assert f"API key {key['id']} was revoked at" in refused.json()["detail"]
        started = datetime.now(UTC)
        wait_for(lambda: post(hb, source_headers()).status_code == 401, timeout=5, interval=0.1)
        assert datetime.now(UTC) - started < timedelta(seconds=2.5)

        assert ha.delete(f"/v1/sources/web/keys/{key['id']}", headers=ADMIN).json() == r.json()  # no-op
        assert ha.delete("/v1/sources/web/keys/key_nope", headers=ADMIN).status_code == 404
        assert [k["revoked_at"] for k in keys_of(hb)] == [r.json()["revoked_at"]]
        revoked = [e for e in audit(ha) if e["action"] == "source.key_revoked"]
        assert len(revoked) == 1
        assert revoked[0]["actor"] == "admin:tester" and revoked[0]["detail"] == {"key_id": key["id"]}


def test_the_last_use_is_written_once_a_minute_not_per_lead(prepared: str) -> None:
    with ServerThread(prepared, workers=0) as server, server.client() as http:
        assert keys_of(http)[0]["last_used_at"] is None
        assert post(http, source_headers()).status_code == 202
        first = wait_for(lambda: keys_of(http)[0]["last_used_at"])
        for _ in range(10):
            assert post(http, source_headers()).status_code == 202
        assert keys_of(http)[0]["last_used_at"] == first
        tokens = http.get("/v1/admin/tokens", headers=ADMIN).json()["items"]
        assert [t["name"] for t in tokens] == ["tester"]
        # the token's own uses (the listings above) are written off the request's path: soon, not at once
        used = wait_for(
            lambda: http.get("/v1/admin/tokens", headers=ADMIN).json()["items"][0]["last_used_at"]
        )
    assert used is not None


def test_deleting_a_source_revokes_its_keys_and_recreating_it_does_not_revive_them(prepared: str) -> None:
    with ServerThread(prepared, workers=0) as server, server.client() as http:
        assert post(http, source_headers()).status_code == 202
        assert http.delete("/v1/sources/web", headers=ADMIN).status_code == 200
        assert http.put("/v1/sources/web", json={"entities": ["solar"]}, headers=ADMIN).status_code == 200
        old = post(http, source_headers())
        assert old.status_code == 401, old.text
        assert "was revoked" in old.json()["detail"]
        assert all(k["revoked_at"] for k in keys_of(http))
        [event] = [e for e in audit(http) if e["action"] == "source.keys_revoked"]
        assert event["object_id"] == "web" and event["detail"]["why"] == "source deleted"
        fresh = http.post("/v1/sources/web/keys", headers=ADMIN).json()["key"]
        assert post(http, {"Authorization": f"Bearer {fresh}"}).status_code == 202
        # the old key cannot be registered again either
        again = http.post(
            "/v1/sources/web/keys", json={"key": source_headers()["Authorization"][7:]}, headers=ADMIN
        )
        assert again.status_code == 409


def test_admin_tokens_expire_and_are_revoked(prepared: str) -> None:
    now = datetime.now(UTC)
    db = Database(prepared)
    try:
        db.transaction(
            lambda c: (
                config_store.add_admin_token(
                    c, "old", "lra_expired_token_0001", now - timedelta(days=2), now
                ),
            )
        )
    finally:
        db.dispose()
    expired = {"Authorization": "Bearer lra_expired_token_0001"}
    soon = {"Authorization": "Bearer lra_expiring_token_01"}
    with ServerThread(prepared, workers=0) as server, server.client() as http:
        r = http.get("/v1/config", headers=expired)
        assert r.status_code == 401
        assert "expired at" in r.json()["detail"] and "create-token" in r.json()["detail"]
        # made once the server is up, so that a slow start does not eat its lifetime
        db = Database(prepared)
        try:
            start = datetime.now(UTC)
            db.transaction(
                lambda c: config_store.add_admin_token(
                    c, "soon", "lra_expiring_token_01", start, start + timedelta(seconds=3)
                )
            )
        finally:
            db.dispose()
        assert http.get("/v1/config", headers=soon).status_code == 200  # now cached in the server
        wait_for(lambda: http.get("/v1/config", headers=soon).status_code == 401, timeout=8, interval=0.2)

        made = cli(prepared, "admin", "create-token", "--name", "ci", "--expires", "30d")
        assert made.exit_code == 0, made.output
        token = {"Authorization": f"Bearer {made.output.strip()}"}
        assert http.get("/v1/config", headers=token).status_code == 200
        items = {t["name"]: t for t in http.get("/v1/admin/tokens", headers=ADMIN).json()["items"]}
        lifetime = datetime.fromisoformat(items["ci"]["expires_at"]) - datetime.fromisoformat(
            items["ci"]["created_at"]
        )
        assert lifetime == timedelta(days=30) and items["tester"]["expires_at"] is None

        r = http.delete(f"/v1/admin/tokens/{items['ci']['id']}", headers=ADMIN)
        assert r.status_code == 200 and r.json()["revoked_at"]
        refused = http.get("/v1/config", headers=token)
        assert refused.status_code == 401 and "was revoked" in refused.json()["detail"]
        assert http.delete("/v1/admin/tokens/tok_nope", headers=ADMIN).status_code == 404
        actions = [(e["action"], e["object_id"]) for e in audit(http)]
    assert ("admin.token_created", items["ci"]["id"]) in actions
    assert ("admin.token_revoked", items["ci"]["id"]) in actions


def test_the_sources_and_admin_commands(prepared: str) -> None:
    listed = cli(prepared, "sources", "keys", "web")
    assert listed.exit_code == 0, listed.output
    key_id = listed.output.splitlines()[1].split("\t")[0]
    assert key_id.startswith("key_") and "-\t-" in listed.output.splitlines()[1]  # never used, live

    revoked = cli(prepared, "sources", "revoke-key", "web", key_id)
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked {key_id} of web" in revoked.output
    assert cli(prepared, "sources", "keys", "web").output.splitlines()[1].split("\t")[-1] != "-"
    missing = cli(prepared, "sources", "revoke-key", "web", "key_nope")
    assert missing.exit_code == 1 and "no key 'key_nope'" in missing.output
    assert cli(prepared, "sources", "keys", "nobody").exit_code == 1

    bad = cli(prepared, "admin", "create-token", "--expires", "soon")
    assert bad.exit_code == 1 and "--expires" in bad.output
    tokens = cli(prepared, "admin", "tokens")
    assert tokens.exit_code == 0 and "tester" in tokens.output
    token_id = tokens.output.splitlines()[1].split("\t")[0]
    done = cli(prepared, "admin", "revoke-token", token_id)
    assert done.exit_code == 0 and f"revoked {token_id} (tester)" in done.output

    db = Database(prepared)
    try:
        events = db.read(lambda c: [(r.action, r.actor) for r in c.execute(select(audit_log))])
    finally:
        db.dispose()
    assert {a for a, _ in events} >= {"source.key_revoked", "admin.token_revoked"}
    assert all(actor.startswith("cli") for a, actor in events if a.endswith("_revoked"))
