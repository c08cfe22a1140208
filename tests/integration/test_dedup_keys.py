"""Keyed dedup marks on SQLite and PostgreSQL: a mark is an HMAC under the installation's dedup key, never
the plain SHA-256 of a value; the marks of older versions are recomputed by migration 0007 (and still find
the same person afterwards); a key change is refused until `leadrelay dedup rekey`; erasure removes marks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, insert, select
from typer.testing import CliRunner

from leadrelay.adapters.crypto import SecretKeyError
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.migrate import alembic_config, downgrade, upgrade
from leadrelay.adapters.db.privacy_tables import dedup_marks, installation_secrets, lead_lookup
from leadrelay.adapters.dedup_keys import (
    DedupKeyMismatch,
    DedupKeys,
    Rekeyed,
    derive_dedup_key,
    recompute_marks,
)
from leadrelay.bootstrap import build_runtime
from leadrelay.config import Settings
from leadrelay.domain.dedup import MarkHasher, material
from leadrelay.domain.lookup import lookup_key
from leadrelay.entrypoints.cli import app
from leadrelay.services.intake_answers import IntakeRequest
from leadrelay.simulate.buyers import BuyersThread
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

SECRET = "a-test-secret-of-enough-length-0007"
PHONE = "+15125551212"  # lead()'s phone, normalized
EMAIL = "ada@example.com"
VALUES = {"phone": PHONE, "email": EMAIL}


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def marks(url: str) -> dict[str, Any]:
    return {m.scope: m for m in rows(url, select(dedup_marks))}


def expected(scope: str, key: bytes | None) -> str:
    """The mark of the known person under ``key``; without a key, the plain SHA-256 of before 0007."""
    text = material(scope, [VALUES[scope.rsplit(":", 1)[1]]])
    return hmac.new(key, text, hashlib.sha256).hexdigest() if key else sha256(text)


def plain_hashes(scopes: Any) -> list[bytes]:
    """Every plain SHA-256 of the phone (and email) someone holding the database could test against."""
    found = [expected(scope, None) for scope in scopes]
    found += [sha256(v.encode()) for v in VALUES.values()]
    return [h.encode() for h in found]


def post(server: ServerThread, body: dict[str, Any], wait: int = 0) -> dict[str, Any]:
    with server.client() as http:
        r = http.post(f"/v1/leads?wait={wait}", json=body, headers=source_headers())
    assert r.status_code in (200, 202), r.text
    answer: dict[str, Any] = r.json()
    return answer


def current_revision(url: str) -> str | None:
    db = Database(url)
    try:
        return db.read(lambda c: MigrationContext.configure(c).get_current_revision())
    finally:
        db.dispose()


def before_0007() -> str:
    down = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision("0007").down_revision
    assert isinstance(down, str)
    return down


def test_marks_are_keyed_migrated_from_plain_sha256_and_erased(
    db_url: str, buyers: BuyersThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = base_config(buyers.url, sunco={"dedup": {"keys": ["phone"], "window": "30d"}})
    doc["entities"]["solar"]["fields"]["phone"]["sensitive"] = True  # opened from its ciphertext to migrate
    doc["entities"]["solar"]["dedup"] = {"keys": [["email"], ["phone"]], "window": "1d"}
    prepare(db_url, doc)
    with ServerThread(db_url, secret_key=SECRET) as server:
        first = post(server, lead(), wait=10)
        again = post(server, lead(email="ADA@example.com", phone="+1 512.555.1212"))
    assert first["status"] == "delivered" and again["status"] == "duplicate"
    key = derive_dedup_key(SECRET)
    found = marks(db_url)
    assert set(found) == {"entity:solar:email", "entity:solar:phone", "partner:sunco:phone"}
    for scope, mark in found.items():
        assert mark.key_hash == expected(scope, key) != expected(scope, None)
        assert mark.lead_id == first["lead_id"]
    (record,) = rows(db_url, select(installation_secrets))
    assert record.name == "dedup" and record.value is None  # derived from the secret: not in the database

    # a database of the version before: the same marks, written the old way (plain SHA-256)
    monkeypatch.setenv("LEADRELAY_SECRET_KEY", SECRET)
    downgrade(db_url, before_0007())
    legacy = {s: m.key_hash for s, m in marks(db_url).items()}
    assert legacy == {s: expected(s, None) for s in found}

    monkeypatch.delenv("LEADRELAY_SECRET_KEY")  # the phone is sealed: the upgrade cannot read it
    with pytest.raises(SecretKeyError, match="LEADRELAY_SECRET_KEY is needed"):
        upgrade(db_url)
    assert current_revision(db_url) == before_0007()  # nothing half-applied
    assert {s: m.key_hash for s, m in marks(db_url).items()} == legacy

    monkeypatch.setenv("LEADRELAY_SECRET_KEY", SECRET)
    upgrade(db_url)  # migration 0007 recomputes them from the leads' values
    assert {s: m.key_hash for s, m in marks(db_url).items()} == {s: expected(s, key) for s in found}
    stored = everything_stored(db_url)
    assert not [h for h in plain_hashes(found) if h in stored]

    with ServerThread(db_url, secret_key=SECRET) as server, server.client() as http:
        typed_otherwise = post(server, lead(email="x@example.com", phone="512 555 1212"))
        assert typed_otherwise["status"] == "duplicate"  # found through a migrated mark
        r = http.post("/v1/erasures", json={"email": EMAIL}, headers=ADMIN)
        assert r.status_code == 200, r.text
    assert marks(db_url) == {}  # erasure found the person's marks by lead and removed them


def accept(url: str, secret: str | None, body: dict[str, Any]) -> str:
    """Accept one lead in a runtime of its own (a process of the installation); its status."""
    rt = build_runtime(Settings(database_url=url, secret_key=secret))

    async def go() -> str:
        answer = await rt.intake.accept(IntakeRequest("web", "solar", body))
        return answer.status

    try:
        return asyncio.run(go())
    finally:
        rt.db.dispose()


def config_with_dedup() -> dict[str, Any]:
    doc = base_config(lambda name: f"http://127.0.0.1:9/{name}")
    doc["entities"]["solar"]["dedup"] = {"keys": [["phone"]], "window": "1d"}
    return doc


def test_without_a_secret_one_generated_key_per_installation(db_url: str, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(other)
    for url in (db_url, other):
        prepare(url, config_with_dedup())
        assert accept(url, None, lead()) == "queued"
        assert accept(url, None, lead(phone="512-555-1212")) == "duplicate"  # another process, same key
    (record,) = rows(db_url, select(installation_secrets))
    assert record.value  # generated once, kept for every process of this installation
    mine, theirs = marks(db_url)["entity:solar:phone"], marks(other)["entity:solar:phone"]
    assert mine.key_hash != theirs.key_hash  # another installation, another key, another mark
    assert mine.key_hash != expected("entity:solar:phone", None)


def test_a_key_change_is_refused_until_the_marks_are_rekeyed(db_url: str) -> None:
    prepare(db_url, config_with_dedup())
    assert accept(db_url, None, lead()) == "queued"  # marks under the generated key
    db = Database(db_url)
    try:
        with pytest.raises(DedupKeyMismatch, match="before LEADRELAY_SECRET_KEY was set"):
            DedupKeys(db, SECRET).hasher_sync()
    finally:
        db.dispose()
    env = {"LEADRELAY_DATABASE_URL": db_url, "LEADRELAY_SECRET_KEY": SECRET}
    refused = CliRunner().invoke(app, ["dedup", "check"], env=env)
    assert refused.exit_code == 1 and "leadrelay dedup rekey" in refused.output

    done = CliRunner().invoke(app, ["dedup", "rekey"], env=env)
    assert done.exit_code == 0, done.output
    assert "1 under the new key, 0 dropped" in done.output
    (record,) = rows(db_url, select(installation_secrets))
    assert record.value is None  # the generated key is gone from the database
    assert marks(db_url)["entity:solar:phone"].key_hash == expected(
        "entity:solar:phone", derive_dedup_key(SECRET)
    )
    assert CliRunner().invoke(app, ["dedup", "check"], env=env).exit_code == 0
    # the console's search keys follow the key too
    assert "lookup keys written again for 1 lead(s)" in done.output
    new_key = MarkHasher(derive_dedup_key(SECRET))
    assert {r.key_hash for r in rows(db_url, select(lead_lookup))} >= {
        lookup_key("phone", "+15125551212", new_key)
    }
    assert accept(db_url, SECRET, lead(phone="(512) 555 1212")) == "duplicate"


def test_a_process_started_with_another_secret_is_noticed_by_the_running_ones(db_url: str) -> None:
    db = Database(db_url)
    try:
        running = DedupKeys(db, None, max_age=0.0)  # re-reads the record at every use (60 s in a server)
        first = running.hasher_sync()
        later = DedupKeys(db, SECRET).hasher_sync()  # no marks yet: it records its own key
        assert later(b"x") != first(b"x")
        with pytest.raises(DedupKeyMismatch, match="another process recorded a different dedup key"):
            running.hasher_sync()
        with pytest.raises(DedupKeyMismatch):
            asyncio.run(running.hasher())
    finally:
        db.dispose()


def test_recomputed_marks_that_meet_keep_the_latest(db_url: str) -> None:
    """Unchecked recomputation (the old key unknown): marks that turn out to be one keep the latest."""
    prepare(db_url, config_with_dedup())
    assert accept(db_url, None, lead()) == "queued"
    (mark,) = marks(db_url).values()
    later, earlier = mark.seen_at + timedelta(seconds=5), mark.seen_at - timedelta(seconds=5)
    stale = [(h * 64, t) for h, t in (("0", earlier), ("1", later), ("2", earlier))]
    db = Database(db_url)
    try:

        def rekey_stale(conn: Connection) -> Rekeyed:
            rows_ = [
                {"scope": mark.scope, "key_hash": h, "lead_id": mark.lead_id, "seen_at": t} for h, t in stale
            ]
            conn.execute(insert(dedup_marks), rows_)
            return recompute_marks(conn, DedupKeys(db, None).hasher_sync(conn), None)

        done = db.transaction(rekey_stale)
    finally:
        db.dispose()
    assert done == Rekeyed(1, 0)
    (kept,) = marks(db_url).values()
    assert (kept.key_hash, kept.seen_at) == (mark.key_hash, later)
