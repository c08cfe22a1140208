"""Word between the processes of one installation on SQLite (``services.ports.WakeRelay``): datagrams.

SQLite's processes share a file, so they run on one machine, and they must share its temporary directory
(not so under systemd's ``PrivateTmp``: then they poll, as without this). Each long-running process
(``serve``, ``worker``) binds a Unix datagram socket in a directory for the database there (named for the
user and for the database file's real path; this user's own, mode 0700, or the word is not used), and
tells the others by sending to every socket there: ``w`` when jobs are due, ``d`` and lead ids separated
by spaces when leads are done. The word of one turn of the event loop goes out together, at most once every
``SPACING_S`` (a socket's queue holds few datagrams). A socket whose process has died is removed by the
first sender that finds nobody behind it; a process that starts is known to the others by its first word,
or by their next look at the directory.

Best effort, as on PostgreSQL (``adapters.db.wakeups``): a process that cannot bind its socket goes without
(it logs why), a ``w`` the other cannot take at once is dropped (its queue is full: it is awake), the ids
of a ``d`` are sent again with the next word, and the workers' polls and the waiting requests' reads make
up for anything lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import socket
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from leadrelay.adapters.db.wake_words import MAX_WAITING_IDS, PAYLOAD_BYTES, payloads

log = logging.getLogger("leadrelay.wakeups")

WORK = b"w"
DONE = b"d "
SPACING_S = 0.005  # at most one round of datagrams per this long
_RESCAN_S = 1.0  # how long the list of the other processes' sockets is kept before looking again
_MAX_RETRIES = 20  # rounds in a row that send ids again to a full queue (about 0.1 s), then they are dropped


def wake_dir(database_path: str) -> Path:
    """The directory of the sockets of the processes on this database file."""
    real = os.path.realpath(database_path)
    digest = hashlib.sha256(real.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"leadrelay-{os.getuid()}-{digest}"


def _own_private_dir(path: Path) -> bool:
    """Make ``path`` this user's private directory, or raise ``OSError``: another user's, a symbolic link
    or not a directory is never used (whoever could write there would hear which leads are done). True
    when it was made here."""
    made = True
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        made = False
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(errno.EPERM, "not a directory of this user", str(path))
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return made


class LocalWakeups:
    """``on_work`` and ``on_done`` (a lead id) are called on the event loop for what the other processes
    say; ``start`` in a running loop (it raises ``OSError`` when the socket cannot be had), ``close`` at
    the end."""

    def __init__(
        self, database_path: str, on_work: Callable[[], None], on_done: Callable[[str], None]
    ) -> None:
        self._dir = wake_dir(database_path)
        self._on_work = on_work
        self._on_done = on_done
        self._path: Path | None = None
        self._sock: socket.socket | None = None  # this process's socket: it reads and sends with it
        self._loop: asyncio.AbstractEventLoop | None = None
        self._peers: list[str] = []
        self._scanned = -_RESCAN_S
        self._work = False
        self._done: list[str] = []
        self._flush: asyncio.Handle | None = None
        self._flushed = -SPACING_S  # the loop's time of the last round
        self._retries = 0  # rounds in a row that found a queue full

    @property
    def listening(self) -> bool:
        """Bound, and another process is there to tell this one (a waiting request then reads rarely)."""
        return self._sock is not None and bool(self._others())

    def work_added(self) -> None:
        self._work = True
        self._soon()

    def lead_done(self, lead_id: str) -> None:
        if len(self._done) < MAX_WAITING_IDS:
            self._done.append(lead_id)
        self._soon()

    def start(self) -> None:
        """Bind this process's socket and read it on the running event loop."""
        loop = asyncio.get_running_loop()
        path = self._dir / f"{os.getpid()}-{os.urandom(3).hex()}.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        made = False
        try:
            for last in (False, True):  # the last process of the directory may remove it meanwhile
                made = _own_private_dir(self._dir)
                try:
                    sock.bind(str(path))
                    break
                except FileNotFoundError:
                    if last:
                        raise
            sock.setblocking(False)
            loop.add_reader(sock.fileno(), self._read)
        except BaseException:
            sock.close()
            if made:  # made here (and empty): not left behind
                with contextlib.suppress(OSError):
                    self._dir.rmdir()
            raise
        self._loop, self._sock, self._path = loop, sock, path
        self._on_work()  # jobs added before this process listened are due now

    def _read(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data, sender = self._sock.recvfrom(PAYLOAD_BYTES + 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("reading the other processes' word failed (%r)", exc)
                return
            if isinstance(sender, str) and sender and sender not in self._peers:
                self._peers.append(sender)  # a process started since the last look at the directory
            if data == WORK:
                self._on_work()
            elif data.startswith(DONE):
                for lead_id in data[len(DONE) :].decode(errors="replace").split():
                    self._on_done(lead_id)

    def _soon(self) -> None:
        if self._flush is None and self._sock is not None and self._loop is not None:
            wait = self._flushed + SPACING_S - self._loop.time()
            self._flush = (
                self._loop.call_later(wait, self._send) if wait > 0 else self._loop.call_soon(self._send)
            )

    def _send(self) -> None:
        assert self._loop is not None
        self._flush = None
        self._flushed = self._loop.time()
        peers = list(self._others())
        if not peers:  # one process alone (``serve`` with its workers): nobody to tell
            self._work, self._done = False, []
            return
        work, self._work = self._work, False
        done, self._done = self._done, []
        retry: set[str] = set()
        for payload in payloads(done):
            for peer in peers:
                if not self._send_to(peer, DONE + payload.encode()):
                    retry.add(payload)
        if work:
            for peer in peers:
                self._send_to(peer, WORK)  # a full queue: that process is awake anyway
        if retry and self._retries < _MAX_RETRIES:  # again (to everyone: a repeat wakes nobody) next round
            self._retries += 1
            self._done = [i for payload in retry for i in payload.split()][:MAX_WAITING_IDS] + self._done
            self._soon()
        else:  # sent, or a process has not read its queue for a while: the waiting requests' reads will do
            self._retries = 0

    def _others(self) -> list[str]:
        now = time.monotonic()
        if now - self._scanned >= _RESCAN_S:
            self._scanned = now
            mine = self._path.name if self._path is not None else None
            try:
                self._peers = [str(p) for p in self._dir.glob("*.sock") if p.name != mine]
            except OSError:
                self._peers = []
        return self._peers

    def _send_to(self, peer: str, note: bytes) -> bool:
        """Send one datagram; False when the peer cannot take it now (its queue full, or worse)."""
        assert self._sock is not None
        try:
            self._sock.sendto(note, peer)
            return True
        except (ConnectionRefusedError, FileNotFoundError):  # its process has died: forget it
            with contextlib.suppress(OSError):
                os.unlink(peer)
            with contextlib.suppress(ValueError):
                self._peers.remove(peer)
            return True  # nobody to send it again to
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS):
                log.warning("telling process %s failed (%r)", peer, exc)
            return False

    async def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self._sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._path is not None:
            with contextlib.suppress(OSError):
                self._path.unlink()
            with contextlib.suppress(OSError):  # the last one out removes the directory
                self._dir.rmdir()
            self._path = None
