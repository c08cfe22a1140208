"""Liveness and readiness (``/health``, ``/health/ready``) on SQLite and PostgreSQL, and the 503 answers
when the database cannot be reached, has no schema, is behind this version's migrations or hangs."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.readiness import check_ready, head_revision
from leadrelay.errors import Unavailable
from tests.support import ServerThread, free_port


def probe(url: str) -> tuple[httpx.Response, httpx.Response]:
    """``/health`` and ``/health/ready`` of an API (no workers) on ``url``."""
    with ServerThread(url, workers=0) as server, server.client() as http:
        return http.get("/health"), http.get("/health/ready")


def test_ready_when_the_database_answers_with_the_current_schema(db_url: str) -> None:
    live, ready = probe(db_url)
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert ready.status_code == 200, ready.text
    dialect = "postgresql" if db_url.startswith("postgres") else "sqlite"
    assert ready.json() == {"status": "ready", "database": dialect, "schema": head_revision()}


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
