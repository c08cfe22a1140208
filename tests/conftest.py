"""Shared fixtures: a fresh database per test on SQLite and PostgreSQL, real servers on loopback."""

from __future__ import annotations

import os
import shutil
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadrelay.adapters.db.migrate import upgrade
from tests.support import Mailbox, running_mailbox

# The tests' buyers listen on loopback, which the SSRF guard refuses by default; subprocesses inherit this.
os.environ.setdefault("LEADRELAY_ALLOWED_TARGET_NETWORKS", "127.0.0.0/8,::1/128")
# No test waits out a real backoff: a delivery's retries, and a job whose transaction failed, come back at
# once (servers in threads, commands in this process and subprocesses all read these). A test that needs
# the production schedule passes its own values.
os.environ.setdefault("LEADRELAY_RETRY_BASE", "0.01")
os.environ.setdefault("LEADRELAY_RETRY_MAX_DELAY", "0.05")
os.environ.setdefault("LEADRELAY_RELEASE_DELAY", "0.05")


def _share_httpx_tls_context() -> None:
    """httpx loads certifi's CA bundle for every new client (0.1–0.2 s each); the tests make hundreds of
    loopback clients, so they share one verifying context instead (an ``SSLContext`` is thread-safe)."""
    from httpx._transports import default

    original = default.create_ssl_context
    shared: list[ssl.SSLContext] = []

    def create_ssl_context(
        verify: object = True, cert: object = None, trust_env: bool = True
    ) -> ssl.SSLContext:
        if verify is True and cert is None:
            if not shared:
                shared.append(original(verify=True, trust_env=trust_env))
            return shared[0]
        return original(verify=verify, cert=cert, trust_env=trust_env)  # type: ignore[arg-type]

    default.create_ssl_context = create_ssl_context  # type: ignore[assignment]


_share_httpx_tls_context()

POSTGRES_URL = os.environ.get("LEADRELAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_ALL = os.environ.get("LEADRELAY_REQUIRE_ALL") == "1"


def _pg_admin_url() -> str:
    return POSTGRES_URL


def _pg_reachable() -> str | None:
    """None when PostgreSQL answers, else why not."""
    import psycopg

    try:
        with psycopg.connect(_pg_admin_url(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}"
    return None


_PG_PROBLEM: str | bool | None = False  # False: not probed yet


def require_postgres() -> None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _pg_reachable()
    if isinstance(_PG_PROBLEM, str):
        if REQUIRE_ALL:
            pytest.fail(f"LEADRELAY_REQUIRE_ALL=1 and {_PG_PROBLEM}")
        pytest.skip(_PG_PROBLEM)


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database; each test copies it (CREATE DATABASE … TEMPLATE)."""
    require_postgres()
    import psycopg

    name = f"lr_tmpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_pg_admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade(_with_db(POSTGRES_URL, name))
    yield name
    with psycopg.connect(_pg_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _fresh_pg(request: pytest.FixtureRequest) -> Iterator[str]:
    import psycopg

    template = request.getfixturevalue("pg_template")
    name = f"lr_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _with_db(POSTGRES_URL, name)
    finally:
        with psycopg.connect(_pg_admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _fresh_sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "leadrelay.db"
    shutil.copy(template, path)
    yield f"sqlite:///{path}"


@pytest.hookimpl(tryfirst=True)  # before the fixture's own params
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``@pytest.mark.sqlite_only`` (or a module's ``pytestmark``): the test checks what the API or the CLI
    answers, not how a database stores it, so ``db_url`` is SQLite alone. PostgreSQL runs where the dialect
    matters: storage, claiming, caps, dedup races, batches, migrations and concurrency."""
    if "db_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("sqlite_only"):
        metafunc.definition.add_marker(pytest.mark.parametrize("db_url", ["sqlite"], indirect=True))


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind, private to the test."""
    if request.param == "postgres":
        require_postgres()
        yield from _fresh_pg(request)
    else:
        yield from _fresh_sqlite(request, tmp_path)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """PostgreSQL only (multi-process tests)."""
    require_postgres()
    yield from _fresh_pg(request)


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from _fresh_sqlite(request, tmp_path)


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on loopback and its mailbox: ``box, port = mailbox``."""
    with running_mailbox() as running:
        yield running
