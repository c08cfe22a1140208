"""Shared fixtures: a fresh database per test on SQLite and PostgreSQL, real servers on loopback."""

from __future__ import annotations

import functools
import gc
import os
import shutil
import ssl
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from leadrelay.adapters.db.migrate import upgrade
from tests.support import Mailbox, forget_reader, running_mailbox

# no per-example deadline: the suite runs two tests per core beside servers and databases, and an example
# that takes 250 ms on a loaded machine is not a failure (hypothesis's default deadline is 200 ms)
settings.register_profile("leadrelay", deadline=None)
settings.load_profile("leadrelay")

# The tests' buyers listen on loopback, which the SSRF guard refuses by default; subprocesses inherit this.
os.environ.setdefault("LEADRELAY_ALLOWED_TARGET_NETWORKS", "127.0.0.0/8,::1/128")
# A developer's ./.env (written by `make run`) is the demo installation's, not the tests': read no file.
os.environ.setdefault("LEADRELAY_ENV_FILE", "")
# No test waits out a real backoff: a delivery's retries, and a job whose transaction failed, come back at
# once (servers in threads, commands in this process and subprocesses all read these). A test that needs
# the production schedule passes its own values.
os.environ.setdefault("LEADRELAY_RETRY_BASE", "0.01")
os.environ.setdefault("LEADRELAY_RETRY_MAX_DELAY", "0.05")
os.environ.setdefault("LEADRELAY_RELEASE_DELAY", "0.05")
# The tests start a few hundred `leadrelay` processes (CLI commands, servers, workers), each importing the
# package anew. Where bytecode writing is off (PYTHONDONTWRITEBYTECODE, as in some shells and CI images),
# each of them would compile every leadrelay module from source again (~0.2 s of CPU a process); they share
# one bytecode cache outside the source tree instead, which Python keeps up to date with the sources.
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) and "PYTHONPYCACHEPREFIX" not in os.environ:
    os.environ["PYTHONPYCACHEPREFIX"] = str(
        Path(tempfile.gettempdir()) / f"leadrelay-tests-pycache-{os.getuid()}"
    )


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
        return original(verify=verify, cert=cert, trust_env=trust_env)

    default.create_ssl_context = create_ssl_context  # type: ignore[assignment]


_share_httpx_tls_context()


def _build_each_cli_once() -> None:
    """Typer's test runner builds the whole command tree from the Typer app on every invoke: 0.25 s of CPU
    for leadrelay's 70 commands (each parameter's annotations are evaluated again), where a real command
    builds it once per process. The tests invoke the same apps hundreds of times, so each app's tree is
    built once per test process and reused (a click command is made for that: each invoke has its own
    context)."""
    import typer.testing

    typer.testing._get_command = functools.cache(typer.testing._get_command)


_build_each_cli_once()


def _share_compiled_statements() -> None:
    """SQLAlchemy compiles each statement once per engine (its cache is keyed by the engine's dialect
    object), and the tests make thousands of engines, one or more per test and database: every test's
    server compiled its hot statements again, about a quarter of its threads' CPU on its first leads. A
    process in production has one engine per database and compiles each statement once. Here the engines
    of one kind of database share one dialect, set up alike by ``make_engine``, and one compiled cache, so
    that a statement is compiled once per test process. Every statement still runs on its own database:
    the engine's pool, connections and events are its own."""
    from sqlalchemy import event
    from sqlalchemy.util import LRUCache

    from leadrelay.adapters.db import engine as engines

    shared: dict[tuple[str, str], tuple[Any, Any]] = {}
    original = engines.create_engine

    def create_engine(url: Any, **kwargs: Any) -> Any:
        made = original(url, **kwargs)
        key = (made.dialect.name, made.dialect.driver)

        def share(*_: object) -> None:
            if key not in shared:  # the first engine's dialect, set up by its first connection just now
                shared[key] = (made.dialect, LRUCache(5000))
            dialect, cache = shared[key]
            made.dialect, made.pool._dialect, made._compiled_cache = dialect, dialect, cache

        if key in shared:
            share()
        else:  # after SQLAlchemy's own first-connection set-up of the dialect (listened to before)
            event.listen(made.pool, "connect", share, once=True)
        return made

    engines.create_engine = create_engine  # type: ignore[assignment]


_share_compiled_statements()

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


# What a test may not change in a reused database: its tables, columns, indexes, constraints, revision. Read
# from the system catalogs, not information_schema: its views cost a fresh session half as much again of the
# server's CPU (31 ms against 20, measured with the suite running beside it; once per PostgreSQL test)
_SCHEMA_PRINT = """
SELECT md5(
  coalesce((SELECT string_agg(c.relname || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod)
                              || ':' || a.attnotnull || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
                              ',' ORDER BY c.relname, a.attname)
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
              AND a.attnum > 0 AND NOT a.attisdropped), '')
  || coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid), ',' ORDER BY pg_get_indexdef(i.indexrelid))
               FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
               WHERE c.relnamespace = 'public'::regnamespace), '')
  || coalesce((SELECT string_agg(conname || pg_get_constraintdef(oid), ',' ORDER BY conname)
               FROM pg_constraint WHERE connamespace = 'public'::regnamespace), '')
  || coalesce((SELECT string_agg(version_num, ',') FROM alembic_version), ''))
"""


class PgDatabases:
    """This process's PostgreSQL test databases: copies of one migrated template, emptied and reused.

    CREATE and DROP DATABASE cost seconds each (a file copy, a checkpoint); emptying a used database's
    tables costs milliseconds. A database comes back clean or not at all: its sessions are ended, every
    table is emptied and every sequence restarted, and unless its schema is still the template's (a test
    may downgrade it, or lock it), it is dropped and the next test gets a new copy. Names carry the xdist
    worker, so parallel workers never share one."""

    def __init__(self, worker: str) -> None:
        import psycopg

        self.prefix = f"lr_{worker}_{uuid.uuid4().hex[:6]}"
        self.template = f"{self.prefix}_tmpl"
        self.free: list[str] = []
        self.made = 0
        with psycopg.connect(_pg_admin_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.template}"')
        upgrade(_with_db(POSTGRES_URL, self.template))
        with psycopg.connect(_with_db(POSTGRES_URL, self.template), autocommit=True) as conn:
            self.schema = self._fingerprint(conn)
            # a migration that seeds rows would make an emptied database differ from a new copy
            self.reusable = not any(
                conn.execute(f'SELECT EXISTS (SELECT FROM "{table}")').fetchone()[0]
                for table in self._tables(conn)
            )

    @staticmethod
    def _tables(conn: Any) -> list[str]:
        query = (
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        return [r[0] for r in conn.execute(query)]

    @staticmethod
    def _fingerprint(conn: Any) -> str:
        return str(conn.execute(_SCHEMA_PRINT).fetchone()[0])

    def take(self) -> str:
        """A clean database's name."""
        import psycopg

        if self.free:
            return self.free.pop()
        self.made += 1
        name = f"{self.prefix}_{self.made}"
        with psycopg.connect(_pg_admin_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def give_back(self, name: str) -> None:
        try:
            if not self.reusable:
                raise RuntimeError("the template has rows")
            self._empty(name)
        except Exception:
            self._drop(name)
        else:
            self.free.append(name)

    def _empty(self, name: str) -> None:
        import psycopg

        with psycopg.connect(_pg_admin_url(), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
        with psycopg.connect(_with_db(POSTGRES_URL, name), connect_timeout=5) as conn:
            if self._fingerprint(conn) != self.schema:
                raise RuntimeError(f"the test changed the schema of {name}")
            # only the tables a test wrote and the sequences it drew from (a test touches a few of them):
            # one statement finds them, where a DELETE and an ALTER SEQUENCE for each cost more than the rest
            written = " UNION ALL ".join(
                f"SELECT '{t}' WHERE EXISTS (SELECT FROM \"{t}\")" for t in self._tables(conn)
            )
            tables = [r[0] for r in conn.execute(written)] if written else []
            drawn = (
                "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL"
            )
            sequences = [r[0] for r in conn.execute(drawn)]
            conn.execute("SET LOCAL session_replication_role = replica")  # no foreign-key order to mind
            for table in tables:
                conn.execute(f'DELETE FROM "{table}"')
            for sequence in sequences:
                conn.execute(f'ALTER SEQUENCE "{sequence}" RESTART')

    def _drop(self, name: str) -> None:
        import psycopg

        with psycopg.connect(_pg_admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        for name in [*self.free, self.template]:
            self._drop(name)
        self.free.clear()


@pytest.fixture(scope="session")
def pg_databases(worker_id: str) -> Iterator[PgDatabases]:
    require_postgres()
    databases = PgDatabases(worker_id)
    yield databases
    databases.close()


@pytest.fixture(scope="session")
def pg_template(pg_databases: PgDatabases) -> str:
    """The migrated template database the test databases are copied from."""
    return pg_databases.template


def _fresh_pg(request: pytest.FixtureRequest) -> Iterator[str]:
    databases: PgDatabases = request.getfixturevalue("pg_databases")
    name = databases.take()
    url = _with_db(POSTGRES_URL, name)
    try:
        yield url
    finally:
        forget_reader(url)
        databases.give_back(name)


def _fresh_sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "leadrelay.db"
    shutil.copy(template, path)
    url = f"sqlite:///{path}"
    yield url
    forget_reader(url)


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.slow_start(seconds)``: a long test starts first, so that it never ends up as the tail
    of the run while the other workers wait.

    pytest-xdist collects on every worker and ``--dist worksteal`` hands worker ``i`` of ``n`` the ``i``-th
    contiguous slice of the collection; an idle worker then steals from the *end* of the longest queue. So
    the long tests are dealt over the slices (longest first, each to the slice with the least long work so
    far) and put at the head of their slice: every worker starts on its own long tests, and what is left to
    steal at the end is short. Without xdist (one slice) they simply run first. The order is deterministic,
    as xdist requires: every worker must collect the same list."""
    weights = {id(item): _slow_start_seconds(item) for item in items}
    slow = sorted((item for item in items if weights[id(item)]), key=lambda item: -weights[id(item)])
    if not slow:
        return
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    rest = [item for item in items if not weights[id(item)]]
    heads: list[list[pytest.Item]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    for item in slow:
        least = loads.index(min(loads))
        heads[least].append(item)
        loads[least] += weights[id(item)]
    ordered: list[pytest.Item] = []
    remaining = len(items)
    for index, head in enumerate(heads):
        size = remaining // (workers - index)  # the slice xdist's worksteal sends worker ``index``
        remaining -= size
        ordered += head
        fill = max(0, size - len(head))
        ordered += rest[:fill]
        del rest[:fill]
    items[:] = ordered + rest


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[object]:
    """What collection builds (the test modules, leadrelay and its libraries, the items: hundreds of
    thousands of objects in an xdist worker) lives to the end of the run. The collector is off while it
    is built, then it is frozen out of the collector, and the youngest generation is collected less
    often (the tests make many short-lived objects; reference counting frees them). Each xdist worker of
    the integration tier spent about 6 s of CPU in the collector, some 20 full collections scanning
    everything at 0.2 s each; about 2.5 s this way."""
    gc.disable()
    try:
        return (yield)
    finally:
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 10, 10)
        gc.enable()


def _slow_start_seconds(item: pytest.Item) -> float:
    marker = item.get_closest_marker("slow_start")
    return float(marker.args[0]) if marker is not None and marker.args else 1.0 if marker else 0.0
