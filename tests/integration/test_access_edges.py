"""Credentials and the API's own protections at their edges (a review of 2026-12-06 found each): an outage
does not tell an unauthenticated caller the database's host and name; a NUL in a console credentials or
users form is no 500 on PostgreSQL; a session in use outlives a short idle limit; a new key is answered
with no-store; an admin token's value is not taken as a source's key."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from leadrelay.simulate.buyers import BuyersThread
from tests.conftest import POSTGRES_URL
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, wait_for


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


@contextlib.contextmanager
def database_refusing_connections(url: str) -> Iterator[str]:
    """The test database stops taking connections (its sessions ended), as in an outage; then back."""
    name = url.rpartition("/")[2]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        try:
            yield name
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_an_unauthenticated_caller_is_not_told_the_database_host_port_and_name_in_an_outage(
    pg_url: str, buyers: BuyersThread
) -> None:
    prepare(pg_url, base_config(buyers.url))
    with ServerThread(pg_url, workers=0) as server, server.client() as http:
        assert http.get("/v1/config", headers=ADMIN).status_code == 200
        with database_refusing_connections(pg_url) as name:
            bogus = {"Authorization": "Bearer lra_not_a_token_of_anybody_000"}

            def outage_answer() -> httpx.Response | None:
                r = http.get("/v1/config", headers=bogus)
                return r if r.status_code == 503 and "database" in r.text else None

            answer = wait_for(outage_answer, timeout=10, interval=0.2)
            intake = http.post("/v1/leads", json=lead(), headers=bogus)
        # the readiness probe keeps the database's own error (host, port, path) for the log: so must every
        # other answer to a caller that showed no valid credential
        for r in (answer, intake):
            assert "127.0.0.1" not in r.text and "5432" not in r.text and name not in r.text, (
                f"{r.request.method} {r.request.url.path} answered {r.status_code} {r.text}"
            )


# ---------------------------------------------------------------- the console's admin forms on PostgreSQL

PASSWORD = "review access password"


@contextlib.contextmanager
def admin_console(pg_url: str) -> Iterator[tuple[ServerThread, str, dict[str, str]]]:
    """A server on PostgreSQL, and an admin's session: (server, its CSRF secret, its cookies)."""
    from argon2 import PasswordHasher

    from leadrelay.adapters.db.engine import Database
    from leadrelay.adapters.db.unit_of_work import SqlStorage
    from leadrelay.adapters.passwords import Argon2Passwords
    from leadrelay.domain.access import Role
    from leadrelay.services.users import Accounts

    prepare(pg_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    db = Database(pg_url)
    try:
        accounts = Accounts(SqlStorage(db), Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024)))
        accounts.create_user("root@example.com", Role.ADMIN, password=PASSWORD, actor="test")
    finally:
        db.dispose()
    with ServerThread(pg_url, workers=0) as server, server.client() as http:
        page = http.get("/console/login")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None
        data = {"email": "root@example.com", "password": PASSWORD, "csrf_token": found.group(1)}
        assert http.post("/console/login", data=data).status_code == 303
        home = http.get("/console")
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', home.text)
        assert csrf is not None
        yield server, csrf.group(1), dict(http.cookies)


def console_post(
    server: ServerThread, cookies: dict[str, str], path: str, data: dict[str, str]
) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=30, cookies=cookies) as http:  # a 500 ends its connection
        return http.post(path, data=data)


@pytest.mark.parametrize(
    ("what", "path", "fields"),
    [
        ("a key's id", "/console/keys/revoke", {"owner": "source:web", "key_id": "key_\x00x"}),
        ("a key's owner", "/console/keys/revoke", {"owner": "source:w\x00eb", "key_id": "key_x"}),
        ("an admin token's name", "/console/keys/tokens", {"name": "ci\x00bot", "role": "viewer"}),
        (
            "an invited user's name",
            "/console/users/invite",
            {"email": "new@example.com", "role": "viewer", "display_name": "Ne\x00w"},
        ),
    ],
)
def test_a_nul_in_a_console_credentials_or_users_form_is_refused_not_a_500(
    pg_url: str, what: str, path: str, fields: dict[str, str]
) -> None:
    """PostgreSQL text holds no NUL: the console's revoke-token form refuses one before the database for
    this reason (a 500 otherwise); the forms next to it must too."""
    with admin_console(pg_url) as (server, csrf, cookies):
        r = console_post(server, cookies, path, {"csrf_token": csrf, **fields})
        assert r.status_code < 500, f"a NUL in {what} ({path}) answered {r.status_code}: {r.text[:200]}"


# ---------------------------------------------------------------- sessions


def test_a_session_in_use_is_not_ended_as_idle_when_the_idle_limit_is_a_minute_or_less(
    sqlite_url: str,
) -> None:
    """LEADRELAY_SESSION_IDLE_MINUTES ends a session *idle* that long. A session's last use is written at
    most once a minute (SessionLimits.touch_every): with an idle limit of a minute or less it is never
    written in time, and a user clicking every second is logged out as if idle."""
    from argon2 import PasswordHasher

    from leadrelay.adapters.db.engine import Database
    from leadrelay.adapters.db.unit_of_work import SqlStorage
    from leadrelay.adapters.passwords import Argon2Passwords
    from leadrelay.domain.access import Role
    from leadrelay.services.users import Accounts

    prepare(sqlite_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    db = Database(sqlite_url)
    try:
        accounts = Accounts(SqlStorage(db), Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024)))
        accounts.create_user("ada@example.com", Role.VIEWER, password=PASSWORD, actor="test")
    finally:
        db.dispose()
    idle_s = 3.0
    with (
        ServerThread(sqlite_url, workers=0, session_idle_minutes=idle_s / 60) as server,
        server.client() as http,
    ):
        page = http.get("/console/login")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None
        data = {"email": "ada@example.com", "password": PASSWORD, "csrf_token": found.group(1)}
        assert http.post("/console/login", data=data).status_code == 303
        started = time.monotonic()
        while time.monotonic() - started < 2 * idle_s:  # never idle longer than half a second
            r = http.get("/v1/config")
            assert r.status_code == 200, (
                f"{time.monotonic() - started:.1f} s after the login, used every 0.5 s, the session "
                f"answered {r.status_code} {r.text[:120]}"
            )
            time.sleep(0.5)


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize("owner", ["sources/web", "partners/sunco"])
def test_a_new_key_shown_once_is_answered_with_no_store(sqlite_url: str, owner: str) -> None:
    """The answer that carries a key (shown once, never again) must not be kept by a cache on the way:
    the console sends its pages that show a secret with Cache-Control: no-store; the API does not."""
    prepare(sqlite_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    with ServerThread(sqlite_url, workers=0) as server, server.client() as http:
        r = http.post(f"/v1/{owner}/keys", headers=ADMIN)
        assert r.status_code == 200 and r.json()["key"]
        assert "no-store" in r.headers.get("cache-control", ""), (
            f"POST /v1/{owner}/keys answers a new key with the headers {dict(r.headers)}"
        )


def test_an_admin_tokens_value_is_not_taken_as_a_sources_key(sqlite_url: str) -> None:
    """A key authenticates only as its kind of owner, and a key already in use is refused (409). A source
    key given the value of an admin token (a paste of the wrong secret) is taken: whoever holds the
    source's key then holds the admin token."""
    prepare(sqlite_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    token = ADMIN["Authorization"].removeprefix("Bearer ")
    with ServerThread(sqlite_url, workers=0) as server, server.client() as http:
        r = http.post("/v1/sources/web/keys", json={"key": token}, headers=ADMIN)
        assert r.status_code == 409, (
            f"a source key with an admin token's value answered {r.status_code} {r.text}"
        )
