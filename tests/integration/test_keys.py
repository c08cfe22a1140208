"""Data keys on real SQLite files and PostgreSQL: the first key created once under races, rotation with
re-encryption of stored leads, dropping unused keys, the Sealer's cache, and the `keys` commands."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context

import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from leadrelay.adapters.crypto import (
    KeyRing,
    Sealer,
    SecretKeyError,
    drop_unused_keys,
    key_usage,
    list_keys,
    load_keyring,
    reencrypt,
    rotate_key,
)
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import leads
from leadrelay.entrypoints.commands.keys import keys_app
from leadrelay.ids import new_id
from tests.integration import keyring_race
from tests.support import ROOT

SECRET = keyring_race.SECRET
OTHER = "a different secret, also long enough"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


def add_leads(db: Database, ring: KeyRing, n: int) -> dict[str, dict[str, str]]:
    """``n`` leads with sealed values (and one without); the plaintexts by lead id."""
    now = datetime.now(UTC)
    plain: dict[str, dict[str, str]] = {}
    rows = []
    for i in range(n + 1):
        lead_id = new_id("lead")
        sealed = None
        if i < n:
            plain[lead_id] = {"email": f"person{i}@example.com", "phone": f"+1512555{i:04d}"}
            sealed = ring.seal_json(plain[lead_id], lead_id.encode())
        rows.append(
            {
                "id": lead_id,
                "entity": "solar",
                "source": "web",
                "status": "queued",
                "data": {"zip": "94103"},
                "raw": {"zip": "94103"},
                "sealed": sealed,
                "is_test": False,
                "created_at": now,
                "updated_at": now,
            }
        )
    db.transaction(lambda c: c.execute(leads.insert(), rows))
    return plain


def stored(db: Database) -> dict[str, str]:
    rows = db.read(lambda c: c.execute(select(leads.c.id, leads.c.sealed).where(leads.c.sealed.is_not(None))))
    return {r.id: r.sealed for r in rows}


def assert_opens(ring: KeyRing, db: Database, plain: dict[str, dict[str, str]], kid: str) -> None:
    values = stored(db)
    assert set(values) == set(plain)
    for lead_id, token in values.items():
        assert KeyRing.key_id(token) == kid
        assert ring.open_json(token, lead_id.encode()) == plain[lead_id]


# ---------------------------------------------------------------- the first key


def test_first_key_created_once_by_racing_threads(db_url: str) -> None:
    count = 8
    barrier = threading.Barrier(count)

    def load(i: int) -> KeyRing:
        database = Database(db_url)
        try:
            barrier.wait()
            if i % 2:  # half through the app's path: read, then create
                return Sealer(database, SECRET).ring_sync()
            return database.transaction(lambda c: load_keyring(c, SECRET))
        finally:
            database.dispose()

    with ThreadPoolExecutor(count) as pool:
        rings = list(pool.map(load, range(count)))
    database = Database(db_url)
    try:
        assert [k.id for k in database.read(list_keys)] == ["k1"]
    finally:
        database.dispose()
    token = rings[0].seal(b"v", b"lead")
    assert all(r.active == "k1" and r.open(token, b"lead") == b"v" for r in rings)


def test_first_key_created_once_by_racing_processes(pg_url: str) -> None:
    count = 4
    with ProcessPoolExecutor(count, mp_context=get_context("spawn")) as pool:
        start_at = time.time() + 3.0  # processes spawn meanwhile, then load at once
        tokens = list(pool.map(keyring_race.load_in_process, [pg_url] * count, [start_at] * count))
    database = Database(pg_url)
    try:
        assert [k.id for k in database.read(list_keys)] == ["k1"]
        ring = database.read(lambda c: load_keyring(c, SECRET, create=False))
    finally:
        database.dispose()
    assert all(ring.open(t, b"lead") == b"from another process" for t in tokens)


# ---------------------------------------------------------------- rotation


def test_rotate_reencrypt_and_drop(db: Database) -> None:
    ring = db.transaction(lambda c: load_keyring(c, SECRET))
    plain = add_leads(db, ring, 7)
    assert db.read(key_usage) == {"k1": 7}

    assert db.transaction(lambda c: rotate_key(c, SECRET)) == "k2"
    assert [(k.id, k.active) for k in db.read(list_keys)] == [("k1", False), ("k2", True)]
    assert db.read(key_usage) == {"k1": 7, "k2": 0}
    assert db.transaction(drop_unused_keys) == []  # k1 still seals every value

    new = db.read(lambda c: load_keyring(c, SECRET, create=False))
    assert new.active == "k2" and new.ids == ["k1", "k2"]
    assert db.transaction(lambda c: reencrypt(c, new, batch=3)) == 7  # three batches and a short one
    assert_opens(new, db, plain, "k2")
    assert db.read(key_usage) == {"k1": 0, "k2": 7}
    assert db.transaction(lambda c: reencrypt(c, new)) == 0

    past = datetime.now(UTC) - timedelta(minutes=5)
    assert db.transaction(lambda c: drop_unused_keys(c, retired_before=past)) == []  # replaced just now
    assert db.transaction(drop_unused_keys) == ["k1"]
    assert [k.id for k in db.read(list_keys)] == ["k2"]
    final = db.read(lambda c: load_keyring(c, SECRET, create=False))
    assert_opens(final, db, plain, "k2")

    assert db.transaction(lambda c: rotate_key(c, SECRET)) == "k3"  # ids are never reused


def test_rotate_refuses_a_wrong_secret(db: Database) -> None:
    db.transaction(lambda c: load_keyring(c, SECRET))
    with pytest.raises(SecretKeyError, match="does not match the secret that wrapped data key k1"):
        db.transaction(lambda c: rotate_key(c, OTHER))
    assert [(k.id, k.active) for k in db.read(list_keys)] == [("k1", True)]


def test_sealer_caches_and_follows_rotation(db: Database) -> None:
    async def scenario() -> None:
        sealer = Sealer(db, SECRET)
        first = await sealer.ring()
        assert first.active == "k1" and await sealer.ring() is first  # cached
        await db.run(lambda c: rotate_key(c, SECRET))  # as another process would
        other = await db.run_read(lambda c: load_keyring(c, SECRET, create=False))
        token = other.seal(b"v", b"lead")
        assert await sealer.ring() is first  # nothing named k2 yet
        seen = await sealer.ring(token)  # a value under a key the cache lacks: reload
        assert seen.active == "k2" and seen.open(token, b"lead") == b"v"
        assert sealer.ring_sync(token) is seen

    asyncio.run(scenario())
    fresh = Sealer(db, SECRET, max_age=0)
    assert fresh.ring_sync().active == "k2"
    db.transaction(lambda c: rotate_key(c, SECRET))
    assert fresh.ring_sync().active == "k3"  # max_age passed: reloaded
    assert fresh.ring_sync(conn=None).active == "k3"
    assert db.transaction(lambda c: fresh.ring_sync(conn=c)).active == "k3"


# ---------------------------------------------------------------- the commands


def keys(*args: str, secret: str | None = SECRET) -> Result:
    """`leadrelay keys …` in this process (None: no LEADRELAY_SECRET_KEY at all)."""
    return CliRunner().invoke(keys_app, list(args), env={"LEADRELAY_SECRET_KEY": secret})


def test_keys_rotate_and_list_commands(db: Database, db_url: str) -> None:
    ring = db.transaction(lambda c: load_keyring(c, SECRET))
    plain = add_leads(db, ring, 5)

    result = keys("rotate", "--database-url", db_url, "--grace", "0", "--batch", "2")
    assert result.exit_code == 0, result.output
    assert "new active key: k2 (was k1)" in result.stdout
    assert "re-encrypted: 5 value(s) now under k2" in result.stdout
    assert "dropped: k1" in result.stdout
    assert_opens(db.read(lambda c: load_keyring(c, SECRET, create=False)), db, plain, "k2")

    listed = keys("list", "--database-url", db_url)
    assert listed.exit_code == 0, listed.output
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert lines[0] == ["id", "active", "created", "values"]
    assert [(r[0], r[1], r[3]) for r in lines[1:]] == [("k2", "yes", "5")]

    # with the default grace the replaced key stays until running servers have let go of it
    again = keys("rotate", "--database-url", db_url)
    assert again.exit_code == 0, again.output
    assert "new active key: k3 (was k2)" in again.stdout and "dropped: none" in again.stdout
    assert "kept: k2 (replaced less than 300s ago)" in again.stdout
    pruned = keys("prune", "--database-url", db_url, "--grace", "0")
    assert pruned.exit_code == 0, pruned.output
    assert "dropped: k2" in pruned.stdout
    assert [k.id for k in db.read(list_keys)] == ["k3"]
    assert_opens(db.read(lambda c: load_keyring(c, SECRET, create=False)), db, plain, "k3")


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "sensitive fields need LEADRELAY_SECRET_KEY (at least 16 characters)"),
        ("short", "LEADRELAY_SECRET_KEY must be at least 16 characters"),
        (OTHER, "LEADRELAY_SECRET_KEY does not match the secret that wrapped data key k1"),
    ],
)
@pytest.mark.sqlite_only
def test_keys_commands_refuse_a_bad_secret(
    db: Database, db_url: str, secret: str | None, message: str
) -> None:
    db.transaction(lambda c: load_keyring(c, SECRET))
    for command in ("rotate", "list"):
        result = keys(command, "--database-url", db_url, secret=secret)
        assert result.exit_code == 1
        assert message in " ".join(result.stderr.split())
        assert "Traceback" not in result.output
    assert [(k.id, k.active) for k in db.read(list_keys)] == [("k1", True)]  # nothing rotated


@pytest.mark.sqlite_only
def test_keys_list_in_a_real_process(db_url: str) -> None:
    run = [sys.executable, "-c", "from leadrelay.entrypoints.commands.keys import keys_app; keys_app()"]
    env = {"PATH": "/usr/bin:/bin", "LEADRELAY_DATABASE_URL": db_url, "LEADRELAY_SECRET_KEY": SECRET}
    empty = subprocess.run([*run, "list"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert empty.returncode == 0, empty.stderr
    assert "no data keys yet" in empty.stdout
    rotated = subprocess.run([*run, "rotate"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert rotated.returncode == 0, rotated.stderr
    assert "new active key: k1 (was none)" in rotated.stdout
    wrong = subprocess.run(
        [*run, "list"],
        env={**env, "LEADRELAY_SECRET_KEY": OTHER},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 1
    assert "does not match the secret that wrapped data key k1" in wrong.stderr
    assert "Traceback" not in wrong.stderr
