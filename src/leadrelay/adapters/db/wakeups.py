"""Word between the processes of one installation on PostgreSQL: LISTEN/NOTIFY (``services.ports.WakeRelay``).

With the API and the workers in separate processes (``serve --workers 0`` beside ``leadrelay worker``), a
worker learned of a new lead by its next poll, and a waiting request (``?wait``) of the lead's outcome by
its next read: on 10 auctions/s, the platform's time around an auction went from 34 ms (p50; one process)
to 104 ms (p50) and 269 ms (p99). Each process now listens on two channels:

- ``leadrelay_work``: jobs are due (intake, an action); the payload is empty. A process sends it at most
  once every ``spacing_s`` (word that comes meanwhile is folded into the next one);
- ``leadrelay_done``: leads whose outcome is known, their ids separated by spaces (as many as fit in one
  notification's 8000 bytes), for the requests waiting for them in other processes.

A process ignores its own notifications (its workers and requests were told in the process). Best
effort: a lost connection is made again (with a growing pause), and meanwhile the workers poll and the
waiting requests read the database as they do without it. The two connections are PostgreSQL's own
(psycopg, autocommit), outside SQLAlchemy's pool; TCP keepalives and a ping of the listener's connection
when it has heard nothing for a while find a connection that died without a word (a failover, a cut
link), which would otherwise look alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow
from sqlalchemy.engine import make_url

from leadrelay.adapters.db.wake_words import MAX_WAITING_IDS, payloads

log = logging.getLogger("leadrelay.wakeups")

WORK = "leadrelay_work"
DONE = "leadrelay_done"
_RETRY_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # pauses before connecting again, growing, then the last again
_QUIET_S = 30.0  # the listener pings its connection after this long without a notification
_PING_S = 10.0  # a ping, a connection or a round of sends that takes longer: the connection is dead
_CONNECT = {  # libpq: connect within 10 s; TCP keepalives find a dead peer within about a minute
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def _pause(failures: int) -> float:
    return _RETRY_S[min(failures, len(_RETRY_S) - 1)]


def conninfo(database_url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL (``postgresql+psycopg://…``)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgWakeups:
    """``on_work`` and ``on_done`` (a lead id) are called on the event loop for what the other processes
    say; ``start`` in a running loop, ``close`` at the end."""

    def __init__(
        self,
        database_url: str,
        on_work: Callable[[], None],
        on_done: Callable[[str], None],
        *,
        spacing_s: float = 0.005,
    ) -> None:
        self._conninfo = make_conninfo(conninfo(database_url), **_CONNECT)
        self._on_work = on_work
        self._on_done = on_done
        self._spacing = spacing_s
        self._listening = False
        self._work = False  # word of work to send
        self._done: list[str] = []  # leads done, to send
        self._pending = asyncio.Event()  # something to send
        self._tasks: list[asyncio.Task[None]] = []
        self._sender: psycopg.AsyncConnection[TupleRow] | None = None
        self._own_pid: int | None = None  # the sender's backend: its notifications are this process's

    @property
    def listening(self) -> bool:
        return self._listening

    def work_added(self) -> None:
        self._work = True
        self._pending.set()

    def lead_done(self, lead_id: str) -> None:
        if len(self._done) < MAX_WAITING_IDS:
            self._done.append(lead_id)
        self._pending.set()

    def start(self) -> None:
        """Start listening and sending; in a running event loop (raises ``RuntimeError`` otherwise)."""
        asyncio.get_running_loop()
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._send())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._listening = False
        if self._sender is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await self._sender.close()
            self._sender = None

    async def _listen(self) -> None:
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {WORK}")
                    await conn.execute(f"LISTEN {DONE}")
                    if failures:
                        log.info("listening to the other processes again")
                    self._listening, failures = True, 0
                    self._on_work()  # jobs added while this process was not listening are due now
                    while True:
                        async for note in conn.notifies(timeout=_QUIET_S):
                            self._heard(note.channel, note.payload, note.pid)
                        async with asyncio.timeout(_PING_S):  # quiet for a while: is it still there?
                            await conn.execute("SELECT 1")
            except Exception as exc:  # any failure: connect again; the polls go on meanwhile
                log.warning(
                    "listening to the other processes failed (%r); again in %g s", exc, _pause(failures)
                )
            finally:
                self._listening = False
            await asyncio.sleep(_pause(failures))
            failures += 1

    def _heard(self, channel: str, payload: str, pid: int) -> None:
        if pid == self._own_pid:  # this process's own word: told here already
            return
        if channel == WORK:
            self._on_work()
        else:
            for lead_id in payload.split():
                self._on_done(lead_id)

    async def _send(self) -> None:
        failures = 0
        while True:
            await self._pending.wait()
            self._pending.clear()
            work, self._work = self._work, False
            done, self._done = self._done, []
            notes = [(WORK, "")] if work else []
            notes += [(DONE, payload) for payload in payloads(done)]
            try:
                try:
                    await self._notify(notes)
                except (psycopg.OperationalError, OSError, TimeoutError):  # a connection gone while idle
                    await self._drop_sender()
                    await self._notify(notes)  # once more, on a new connection
                failures = 0
            except Exception as exc:  # the word is dropped: the polls and reads make up for it
                log.warning("telling the other processes failed (%r); again in %g s", exc, _pause(failures))
                await self._drop_sender()
                await asyncio.sleep(_pause(failures))
                failures += 1
                continue
            await asyncio.sleep(self._spacing)  # word meanwhile goes in the next round

    async def _notify(self, notes: list[tuple[str, str]]) -> None:
        async with asyncio.timeout(_PING_S):
            if self._sender is None or self._sender.closed:
                self._sender = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                self._own_pid = self._sender.info.backend_pid
            for channel, payload in notes:
                await self._sender.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    async def _drop_sender(self) -> None:
        if self._sender is not None:
            with contextlib.suppress(Exception):
                await self._sender.close()
            self._sender = None
