"""Test helpers: a real leadrelay server on loopback (in a thread or a subprocess), set-up, waiting."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml
from aiosmtpd.controller import Controller
from sqlalchemy import Connection, inspect, text

from leadrelay.adapters.db import config_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.config import Settings
from leadrelay.entrypoints.api.app import create_app
from leadrelay.services import configure
from tests import forked
from tests.documents import base_config as base_config  # re-exported: the tests import it from here
from tests.documents import lead as lead

SOURCE_KEY = "lr_test_source_key_0001"
ADMIN_TOKEN = "lra_test_admin_token_0001"
ROOT = Path(__file__).resolve().parent.parent


# Ports for the servers a test starts, chosen here rather than by the kernel: a port the kernel gives for
# "port 0" comes from its ephemeral range, where any outgoing connection may take it as its local port
# before the server binds it (seen in CI: "address already in use", and the test waited for a server that
# had died). So they come from below that range (Linux's default starts at 32768): 20000-29999, the
# benchmark's servers taking theirs from 30000-32767. Each xdist worker has a block of its own, used in
# turn from a random place (two test runs on one host rarely meet), each port checked free (without
# SO_REUSEADDR: a port still in TIME_WAIT is passed over).
_PORTS = range(20000, 30000)
_port_lock = threading.Lock()
_ports_in_turn: Iterator[int] | None = None


def _port_block() -> range:
    """This xdist worker's share of ``_PORTS`` (all of them outside xdist)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "").removeprefix("gw")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.isdigit() or count < 2:
        return _PORTS
    size = len(_PORTS) // count
    start = _PORTS.start + int(worker) % count * size
    return range(start, start + size)


def free_port() -> int:
    """A loopback port nothing listens on, which no outgoing connection will take meanwhile."""
    global _ports_in_turn
    with _port_lock:
        if _ports_in_turn is None:
            block = _port_block()
            first = random.randrange(len(block))
            _ports_in_turn = itertools.cycle([*block[first:], *block[:first]])
        for _ in range(len(_PORTS)):
            port = next(_ports_in_turn)
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise AssertionError("no free port in this worker's block")


def prepare(url: str, document: Mapping[str, Any] | str) -> None:
    """Apply a configuration and create the test source key and admin token."""
    data = yaml.safe_load(document) if isinstance(document, str) else document
    db = Database(url)
    try:
        configure.apply_document_sync(SqlStorage(db), data, actor="test", dry_run=False)
        now = datetime.now(UTC)
        sources = list(db.read(config_store.load_objects).get("sources", {}))

        def creds(conn: Any) -> None:
            for source in sources:
                config_store.add_api_key(conn, source, f"{SOURCE_KEY}-{source}", now)
            if config_store.admin_for_token(conn, ADMIN_TOKEN) is None:
                config_store.add_admin_token(conn, "tester", ADMIN_TOKEN, now)

        db.transaction(creds)
    finally:
        db.dispose()


def source_headers(source: str = "web") -> dict[str, str]:
    return {"Authorization": f"Bearer {SOURCE_KEY}-{source}"}


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class _PromptServer(uvicorn.Server):
    """uvicorn's server, whose main loop ends as soon as :meth:`stop` is called. uvicorn's own looks at
    ``should_exit`` every 0.1 s: the suite stops about 550 servers, each waiting up to 0.1 s for it (its
    shutdown's own fixed 0.1 s pause stays)."""

    _loop: asyncio.AbstractEventLoop | None = None
    _stopping: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        ticks = 0
        while not await self.on_tick(ticks):  # every second, as uvicorn's: the Date header, should_exit
            ticks = (ticks + 10) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 1.0)

    def stop(self) -> None:
        self.should_exit = True
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(stopping.set)


class ServerThread:
    """leadrelay's API (and workers) served by uvicorn on a loopback port, in a background thread."""

    def __init__(self, url: str, *, workers: int = 1, **settings: Any) -> None:
        # the socket is bound here and handed to uvicorn: no other test (or xdist worker) can take the port
        # between choosing it and listening on it
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        self.settings = Settings(database_url=url, host="127.0.0.1", port=self.port, **settings)
        self.app = create_app(self.settings, workers=workers)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = _PromptServer(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.thread.join(timeout=20)
        self.socket.close()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


_readers: dict[str, Database] = {}


def reader(url: str) -> Database:
    """The test's own view of a database: one engine per database for the whole test, so that polling
    opens no new engine each time (the database fixtures dispose of it with the database)."""
    db = _readers.get(url)
    if db is None:
        db = _readers[url] = Database(url)
    return db


def forget_reader(url: str) -> None:
    db = _readers.pop(url, None)
    if db is not None:
        db.dispose()


def rows(url: str, query: Any) -> list[Any]:
    """The rows a query returns, read in a new transaction (a test's view of the database)."""
    return reader(url).read(lambda c: list(c.execute(query)))


def everything_stored(url: str) -> bytes:
    """Every byte the database keeps for this test: SQLite's files, or every row of every table."""
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    db = Database(url)
    try:

        def dump(conn: Connection) -> bytes:
            chunks: list[str] = []
            for table in inspect(conn).get_table_names():
                chunks.extend(str(tuple(r)) for r in conn.execute(text(f'SELECT * FROM "{table}"')))
            return "\n".join(chunks).encode()

        return db.read(dump)
    finally:
        db.dispose()


def wait_for(predicate: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy (bounded in time); return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def wait_settled(base_url: str) -> None:
    """Until no distribution is open (a resend delivered): a sale is cancelled only once its resend has
    finished, so a story that resends then cancels waits for it, as an operator would see it done."""
    open_states = {"received", "routing", "delivering"}
    with httpx.Client(base_url=base_url, timeout=10) as api:

        def settled() -> bool:
            items = api.get("/v1/distributions", headers=ADMIN).json()["items"]
            return not any(item["status"] in open_states for item in items)

        wait_for(settled, timeout=15)


def leadrelay_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "leadrelay", *args]


def run_cli(args: Sequence[str], env: Mapping[str, str | None]) -> subprocess.CompletedProcess[str]:
    """``leadrelay ARGS`` in this process (Typer's CliRunner, ``env`` set for the call; None unsets): the
    exit code, stdout and stderr as a subprocess would give them. An unexpected exception's traceback goes
    to stderr, as it would in a real run. A whole Python start-up per command is for the smoke tests."""
    from typer.testing import CliRunner

    from leadrelay.entrypoints.cli import app

    result = CliRunner().invoke(app, list(args), env=dict(env))
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["leadrelay", *args], result.exit_code, result.stdout, stderr)


@contextmanager
def process(args: list[str], env: Mapping[str, str], *, log: Path) -> Iterator[forked.Process]:
    """A leadrelay process (forked from the tests' fork server: ``tests.forked``), its output in ``log``,
    ended (SIGTERM, then SIGKILL) when the block ends."""
    proc = forked.start(args, {**os.environ, **env}, log=log, cwd=ROOT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_http(url: str, timeout: float = 20.0, *, proc: forked.Process | None = None) -> None:
    """Wait until ``url`` answers 200; with ``proc``, the server's process, fail at once when it ends."""

    def up() -> bool:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"the server's process ended (exit code {proc.returncode}) before {url} answered"
            )
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=timeout, interval=0.1)


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)


class Mailbox:
    """An aiosmtpd handler that keeps every message it is given (thread-safe: the server has its own loop)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@contextmanager
def running_mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on a free loopback port, with the mailbox that keeps its messages."""
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


class ClosingServer:
    """A bare HTTP/1.1 server that keeps connections alive, and closes one, without an answer, when the
    request numbered ``close_on`` on it arrives (1: the first): a server whose idle timeout fires just as a
    request comes in on a pooled connection (``close_on=2``), or one that drops every request
    (``close_on=1``). ``reset``: with a TCP reset rather than an orderly close; ``partial``: bytes of an
    answer sent first. ``answered`` counts the requests answered (with ``answer``); ``dropped`` those
    closed on."""

    def __init__(
        self,
        close_on: int,
        reset: bool = False,
        *,
        partial: bytes = b"",
        answer: bytes = b"ok",
        content_type: str = "text/plain",
    ) -> None:
        self.close_on, self.reset, self.partial = close_on, reset, partial
        self.head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(answer)}\r\n"
            "Connection: keep-alive\r\n\r\n"
        ).encode() + answer
        self.answered = self.dropped = 0
        self.connections = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                number += 1
                if number == self.close_on:
                    self.dropped += 1
                    if self.partial:
                        writer.write(self.partial)
                        await writer.drain()
                    if self.reset:  # SO_LINGER 0: closing sends RST
                        sock = writer.get_extra_info("socket")
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        writer.transport.abort()
                    else:
                        writer.close()
                    return
                length = next(
                    (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length:")),
                    0,
                )  # fmt: skip
                await reader.readexactly(length)
                self.answered += 1
                writer.write(self.head)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        port = free_port()
        server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        try:
            yield f"http://127.0.0.1:{port}/hook"
        finally:
            server.close()
