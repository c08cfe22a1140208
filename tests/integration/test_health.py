"""Liveness and readiness (``/health``, ``/ready`` and its alias ``/health/ready``) on SQLite and
PostgreSQL, and the 503 answers when the database cannot be reached, has no schema, is behind this
version's migrations or hangs, or when no worker claims the jobs."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.readiness import check_ready, head_revision
from leadrelay.adapters.db.tables import jobs
from leadrelay.config import Settings
from leadrelay.entrypoints.api import probes
from leadrelay.entrypoints.api.app import create_app
from leadrelay.errors import Unavailable
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ServerThread, base_config, free_port, lead, prepare, reader, source_headers


def probe(url: str) -> tuple[httpx.Response, httpx.Response]:
    """``/health`` and ``/health/ready`` of an API (no workers) on ``url``."""
    with ServerThread(url, workers=0) as server, server.client() as http:
        return http.get("/health"), http.get("/health/ready")


def test_ready_when_the_database_answers_with_the_current_schema(db_url: str) -> None:
    live, ready = probe(db_url)
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert ready.status_code == 200, ready.text
    dialect = "postgresql" if db_url.startswith("postgres") else "sqlite"
    assert ready.json() == {
        "status": "ready",
        "database": dialect,
        "schema": head_revision(),
        "oldest_due_seconds": 0.0,
    }


def test_not_ready_when_the_schema_is_behind_the_code(db_url: str) -> None:
    db = Database(db_url)
    try:
        db.transaction(lambda c: c.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'"))
    finally:
        db.dispose()
    live, ready = probe(db_url)
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json() == {
        "code": "unavailable",
        "detail": f"the database schema is at 0001, this version needs {head_revision()}: "
        "run `leadrelay db upgrade`",
    }


def test_not_ready_when_the_sqlite_file_cannot_be_opened(tmp_path: Path) -> None:
    live, ready = probe(f"sqlite:///{tmp_path}/no-such-directory/leadrelay.db")
    assert live.status_code == 200  # alive: the process answers
    assert ready.status_code == 503
    assert ready.json() == {"code": "unavailable", "detail": "the database does not answer"}


def test_not_ready_on_an_empty_sqlite_file(tmp_path: Path) -> None:
    _, ready = probe(f"sqlite:///{tmp_path}/empty.db")
    assert ready.status_code == 503
    assert ready.json()["detail"] == "the database has no leadrelay schema: run `leadrelay db upgrade`"


def test_not_ready_when_postgresql_refuses_the_connection() -> None:
    closed = free_port()  # nothing listens there
    live, ready = probe(f"postgresql://postgres@127.0.0.1:{closed}/test")
    assert live.status_code == 200
    assert ready.status_code == 503
    body = ready.json()
    assert body == {"code": "unavailable", "detail": "the database does not answer"}
    assert str(closed) not in ready.text  # the database's address stays in the log


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that takes TCP connections and never says a word (a hung database)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])
    # closing the listener resets the pending connections: the blocked driver thread ends


def test_not_ready_when_the_database_does_not_answer_in_time(silent_server: int) -> None:
    db = Database(f"postgresql://postgres@127.0.0.1:{silent_server}/test")
    try:
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(Unavailable, match=r"the database did not answer within 0\.3 s"):
                asyncio.run(check_ready(db, within_s=0.3))
            assert time.monotonic() - started < 2  # asyncio.run does not wait for the hung thread either
        # the later checks waited for the one in flight rather than piling up threads on a hung database
        assert [t.name for t in threading.enumerate()].count("leadrelay-ready") == 1
    finally:
        db.engine.dispose()


# ---------------------------------------------------------------- workers claiming


def _post_and_age(server: ServerThread, url: str, seconds: float) -> None:
    """One lead posted (its job ready, nobody claiming), its job made due ``seconds`` ago."""
    with server.client() as http:
        r = http.post("/v1/leads", json=lead(), headers=source_headers())
        assert r.status_code == 202, r.text
    since = datetime.now(UTC) - timedelta(seconds=seconds)
    reader(url).transaction(lambda c: c.execute(update(jobs).values(run_at=since)))


def test_not_ready_when_no_worker_claims_the_jobs(db_url: str) -> None:
    prepare(db_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        _post_and_age(server, db_url, 5)
        young = http.get("/ready")  # waited 5 s: within the 60 s a worker has to claim it
        _post_and_age(server, db_url, 120)
        ready, alias = http.get("/ready"), http.get("/health/ready")
    assert young.status_code == 200, young.text
    assert 5 <= young.json()["oldest_due_seconds"] < 60
    assert ready.status_code == 503
    body = ready.json()
    assert body["code"] == "unavailable"
    assert body["detail"].startswith("workers are not claiming jobs: a job has waited 12")
    assert "(more than 60 s)" in body["detail"]
    assert alias.status_code == 503 and alias.json()["detail"].startswith("workers are not claiming")


def test_the_claiming_check_follows_its_setting(sqlite_url: str) -> None:
    prepare(sqlite_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    with ServerThread(sqlite_url, workers=0, ready_max_job_age=10) as server, server.client() as http:
        _post_and_age(server, sqlite_url, 15)
        strict = http.get("/ready")
    with ServerThread(sqlite_url, workers=0, ready_max_job_age=0) as server, server.client() as http:
        off = http.get("/ready")
    assert strict.status_code == 503 and "(more than 10 s)" in strict.json()["detail"]
    assert off.status_code == 200 and "oldest_due_seconds" not in off.json()


def test_ready_when_the_workers_keep_up(db_url: str) -> None:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as buyers:
        prepare(db_url, base_config(buyers.url))
        with ServerThread(db_url, workers=1) as server, server.client() as http:
            r = http.post("/v1/leads?wait=15", json=lead(), headers=source_headers())
            assert r.json()["status"] == "delivered", r.text
            ready = http.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["oldest_due_seconds"] == 0


def test_the_probes_are_matched_before_any_router(tmp_path: Path) -> None:
    """Routes are matched in order, and FastAPI builds an included router's routes when a request is first
    matched against it: only the API's documentation comes before the router of the health and readiness
    routes, which holds nothing else, so a probe of a process just started builds none of the other
    routers' routes."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/probes.db"))
    docs = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
    first = next(route for route in app.router.routes if getattr(route, "path", None) not in docs)
    # shared_routes.include puts a router in as FastAPI's inclusion of it, which names the router it includes
    assert getattr(first, "original_router", None) is probes.router, first
    assert {getattr(route, "path", None) for route in probes.router.routes} == {
        "/health",
        "/ready",
        "/health/ready",
    }
