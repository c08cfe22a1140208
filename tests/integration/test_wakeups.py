"""Word between processes: PostgreSQL's LISTEN/NOTIFY (``adapters.db.wakeups``), and datagrams between
SQLite's processes (``adapters.db.local_wakeups``). What one process says, the others hear, and not itself;
a dropped connection is made again, a dead process's socket is forgotten; and a worker in its own process
starts a new lead at once instead of at its next poll, so that a source waiting for the answer (``?wait``)
gets the sale."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.local_wakeups import LocalWakeups, wake_dir
from leadrelay.adapters.db.wakeups import PgWakeups, conninfo
from leadrelay.bootstrap import Runtime
from leadrelay.config import Settings
from leadrelay.simulate.buyers import BuyersThread
from tests.acceptance.test_concurrency import api_server, worker_process
from tests.support import base_config, lead, prepare, source_headers

WAIT_S = 10.0  # every wait here is bounded by this


class Ears:
    """What a relay hears, as events the test can wait for."""

    def __init__(self) -> None:
        self.work = asyncio.Event()
        self.done: dict[str, asyncio.Event] = {}

    def heard_work(self) -> None:
        self.work.set()

    def heard_done(self, lead_id: str) -> None:
        self.done.setdefault(lead_id, asyncio.Event()).set()

    async def lead(self, lead_id: str) -> None:
        await asyncio.wait_for(self.done.setdefault(lead_id, asyncio.Event()).wait(), WAIT_S)


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.01)


def relay(url: str, ears: Ears) -> PgWakeups | LocalWakeups:
    """The relay a process on ``url``'s database has (``Runtime.start_wakeups``)."""
    if url.startswith("sqlite"):
        return LocalWakeups(sqlite_path(url), ears.heard_work, ears.heard_done)
    return PgWakeups(url, ears.heard_work, ears.heard_done)


Relay = PgWakeups | LocalWakeups


def sqlite_path(url: str) -> str:
    db = Database(url)
    try:
        path = db.file_path()
    finally:
        db.dispose()
    assert path is not None
    return path


@contextlib.asynccontextmanager
async def two_processes(url: str) -> AsyncIterator[tuple[Relay, Ears, Relay, Ears]]:
    """A speaker and a listener (as two processes would hold them), both listening; closed at the end."""
    speaker_ears, listener_ears = Ears(), Ears()
    speaker, listener = relay(url, speaker_ears), relay(url, listener_ears)
    speaker.start()
    listener.start()
    try:
        await until(lambda: speaker.listening and listener.listening)
        yield speaker, speaker_ears, listener, listener_ears
    finally:
        await speaker.close()
        await listener.close()


async def terminate(url: str, query_start: str) -> int:
    """End the database's sessions whose last query starts so (as an administrator or a failover would)."""
    async with await psycopg.AsyncConnection.connect(conninfo(url), autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE %s",
            (query_start + "%",),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0


def test_what_one_process_says_the_others_hear_and_it_does_not_hear_itself(db_url: str) -> None:
    async def main() -> None:
        async with two_processes(db_url) as (speaker, speaker_ears, listener, listener_ears):
            speaker_ears.work.clear()  # the word each gives itself on connecting
            listener_ears.work.clear()
            speaker.work_added()
            await asyncio.wait_for(listener_ears.work.wait(), WAIT_S)
            many = [f"lead_{i:024d}" for i in range(600)]  # more than one notification holds
            for lead_id in many:
                speaker.lead_done(lead_id)
            await asyncio.gather(*(listener_ears.lead(i) for i in many))
            # notifications come in order: once the listener's answer is heard, the speaker's own would
            # have been too
            listener.lead_done("lead_barrier")
            await speaker_ears.lead("lead_barrier")
            assert list(speaker_ears.done) == ["lead_barrier"]
            assert not speaker_ears.work.is_set()
        assert not listener.listening

    asyncio.run(main())


@pytest.mark.postgres
def test_a_dropped_connection_is_made_again_and_word_goes_on(pg_url: str) -> None:
    async def main() -> None:
        async with two_processes(pg_url) as (speaker, _, listener, listener_ears):
            speaker.lead_done("lead_before")
            await listener_ears.lead("lead_before")
            # both listeners' sessions end (their last query was the LISTEN), and the speaker's sender
            assert await terminate(pg_url, "LISTEN") == 2
            assert await terminate(pg_url, "SELECT pg_notify") == 1
            await until(lambda: not listener.listening)
            await until(lambda: speaker.listening and listener.listening)  # connected again
            # the sender finds its connection gone on its next word, and sends it again on a new one
            speaker.lead_done("lead_after")
            await listener_ears.lead("lead_after")

    asyncio.run(main())


def test_a_dead_process_socket_is_forgotten_and_word_goes_on(sqlite_url: str) -> None:
    path = sqlite_path(sqlite_url)
    directory = wake_dir(path)
    directory.mkdir(mode=0o700)
    dead = directory / "999999-dead00.sock"  # a process killed before it removed its socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(dead))

    async def main() -> None:
        async with two_processes(sqlite_url) as (speaker, _, _, listener_ears):
            speaker.lead_done("lead_after")
            await listener_ears.lead("lead_after")
            assert not dead.exists()
        assert not directory.exists()  # each closed relay removed its socket, the last the directory

    asyncio.run(main())


async def relay_of(url: str, **settings: object) -> str | None:
    """The relay a long-running process on ``url`` gets (its class name), once it listens; None: none."""
    runtime = Runtime(Settings(database_url=url, **settings), Database(url))  # type: ignore[arg-type]
    try:
        runtime.start_wakeups()
        found = runtime.notifier.relay
        if isinstance(found, PgWakeups):
            await until(lambda: found.listening)
        return type(found).__name__ if found is not None else None
    finally:
        await runtime.stop()


@pytest.mark.postgres
def test_a_postgresql_process_listens_unless_the_setting_is_off(pg_url: str) -> None:
    assert asyncio.run(relay_of(pg_url)) == "PgWakeups"
    assert asyncio.run(terminate(pg_url, "LISTEN")) == 0  # stopped: its connection closed
    assert asyncio.run(relay_of(pg_url, wakeups=False)) is None


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary directory with a short path (a socket's path is at most 107 bytes; pytest's are long)."""
    path = Path(tempfile.mkdtemp(prefix="lr"))
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_an_sqlite_process_binds_its_socket_only_in_its_own_private_directory(
    sqlite_url: str, short_tmp: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tmp_path = short_tmp
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the directories of sockets go
    directory = wake_dir(sqlite_path(sqlite_url))
    assert asyncio.run(relay_of(sqlite_url, wakeups=False)) is None
    assert asyncio.run(relay_of(sqlite_url)) == "LocalWakeups"
    assert not directory.exists()  # the last one out removed it

    directory.mkdir(mode=0o777)  # this user's, too open: made private
    directory.chmod(0o777)
    assert asyncio.run(relay_of(sqlite_url)) == "LocalWakeups"
    assert not directory.exists()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    directory.symlink_to(elsewhere)  # a link (anyone's): never followed
    assert asyncio.run(relay_of(sqlite_url)) is None
    directory.unlink()
    if os.getuid() == 0:  # another user's directory of that name: never used
        directory.mkdir(mode=0o700)
        os.chown(directory, 65534, 65534)
        assert asyncio.run(relay_of(sqlite_url)) is None
        directory.rmdir()
    directory.write_text("")  # a file in the way
    assert asyncio.run(relay_of(sqlite_url)) is None
    directory.unlink()
    assert "no word between processes" in caplog.text

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / ("t" * 120)))  # too long for a socket's path
    (tmp_path / ("t" * 120)).mkdir()
    assert asyncio.run(relay_of(sqlite_url)) is None  # the process goes on without: it polls


@pytest.mark.slow
def test_a_worker_in_its_own_process_starts_a_lead_at_once_and_tells_the_api_it_is_done(
    db_url: str, tmp_path: Path
) -> None:
    """The worker polls once a minute here: a lead posted after its first poll is started at once only
    because the API's word reaches it, and the source waiting for the answer gets the sale. The worker's
    word that the lead is done is heard here too (the API process hears the same)."""

    async def main(base: str, spy_ears: Ears) -> list[httpx.Response]:
        spy = relay(db_url, spy_ears)
        spy.start()
        try:
            await until(lambda: spy.listening)
            async with httpx.AsyncClient(
                base_url=base, headers=source_headers(), timeout=WAIT_S + 20
            ) as http:
                # the first may be claimed by the worker's first poll, the second cannot be
                answers = [
                    await http.post(
                        f"/v1/leads?wait={WAIT_S:g}",
                        json=lead(state="CA", email=f"w{i}@example.com", phone=f"(512) 555-01{i:02d}"),
                    )
                    for i in range(2)
                ]
            await asyncio.gather(*(spy_ears.lead(a.json()["lead_id"]) for a in answers))
            return answers
        finally:
            await spy.close()

    with BuyersThread(accept_rate=1.0) as buyers:
        prepare(db_url, base_config(buyers.url))
        with contextlib.ExitStack() as stack:
            base = stack.enter_context(api_server(db_url, tmp_path))
            stack.enter_context(worker_process(db_url, tmp_path, "worker", LEADRELAY_POLL_INTERVAL="60"))
            answers = asyncio.run(main(base, Ears()))
    assert [a.json()["status"] for a in answers] == ["delivered", "delivered"], [a.text for a in answers]
