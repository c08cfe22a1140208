"""Every outbound connection to a configured target is checked against private networks (SSRF).

A partner's URL comes from configuration that many people may edit; without a guard, a webhook pointed at
``http://169.254.169.254/`` or ``http://10.0.0.5:8080/admin`` would make leadrelay fetch from inside the
operator's network. Every address leadrelay connects to on a partner's behalf — an IP in the URL, or each
address its name resolves to, checked at connection time so a DNS answer cannot change in between — must be
public, unless it lies in ``LEADRELAY_ALLOWED_TARGET_NETWORKS`` (CIDRs, e.g. ``127.0.0.0/8`` for buyers on
this machine).

This module is the one way out:

- HTTP (webhooks, OAuth2 token endpoints, and the alert and postback targets to come) goes through a
  session from :meth:`TargetGuard.session`, whose connector refuses a private IP literal before connecting
  and whose resolver keeps only allowed addresses. ``tests/unit/test_target_guard.py`` fails when an
  ``aiohttp.ClientSession`` or ``TCPConnector`` is made anywhere else in ``src/``.
- Other protocols (SFTP, FTP, S3 endpoints) call :meth:`TargetGuard.check_host` before connecting.

A refusal is final (a retry would be refused again) and names the setting that allows the address.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client import IDEMPOTENT_METHODS  # those aiohttp itself sends again on a dropped connection
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ClientRequest, ConnectionKey
from aiohttp.connector import Connection
from aiohttp.resolver import DefaultResolver
from aiohttp.tracing import Trace

SETTING = "LEADRELAY_ALLOWED_TARGET_NETWORKS"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_VERDICTS_KEPT = 4096  # addresses a guard remembers its verdict on (a webhook checks one per post)
# a connection idle longer in the pool is closed, not reused: under the 5 s after which uvicorn, Node.js
# and Apache close an idle one by default (aiohttp's own is 15 s), so that fewer requests go out on a
# connection the server is closing (those go again: see request_head)
KEEP_IDLE_S = 4.0


class _CountingHandler(ResponseHandler):
    """aiohttp's protocol for a connection, counting the bytes the server sent on it."""

    received = 0
    carried = False  # it has carried a request: from then on, it comes from the pool

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        super().data_received(data)


class _Watch:
    """A request's connection, as the connector tells :func:`request_head` (through ``_WATCH``)."""

    __slots__ = ("connects", "pooled", "received")

    def __init__(self) -> None:
        self.pooled: _CountingHandler | None = None  # the connection, when it came from the pool
        self.received = 0  # the bytes received on it before this request
        self.connects = 0  # connections asked for: from the second on (a second try), a new one

    def unanswered(self) -> bool:
        """The request went out on a pooled connection, and not a byte of an answer came on it."""
        return self.pooled is not None and self.pooled.received == self.received


# a ContextVar because aiohttp awaits the connector in the caller's own task, with no way to hand it a
# per-request object short of tracing, which costs every request
_WATCH: ContextVar[_Watch | None] = ContextVar("leadrelay_connection_watch", default=None)


class BlockedTarget(OSError):
    """A connection refused by the guard: final, a retry would be refused again."""


class TargetGuard:
    def __init__(self, allowed: Iterable[str] = (), *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.allowed: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(n.strip(), strict=False) for n in allowed
        )
        self._verdicts: dict[str, str | None] = {}  # address -> refusal: the same for as long as the guard

    @classmethod
    def from_setting(cls, allowed: str, *, enabled: bool = True) -> TargetGuard:
        """``allowed``: comma-separated CIDRs (``LEADRELAY_ALLOWED_TARGET_NETWORKS``)."""
        return cls([n for n in allowed.split(",") if n.strip()], enabled=enabled)

    def refusal(self, address: str) -> str | None:
        """Why a connection to ``address`` (an IP) is refused, or None."""
        if not self.enabled:
            return None
        try:
            return self._verdicts[address]
        except KeyError:
            pass
        why = self._refusal(address)
        if len(self._verdicts) >= _VERDICTS_KEPT:
            self._verdicts.clear()
        self._verdicts[address] = why
        return why

    def _refusal(self, address: str) -> str | None:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return None  # not an IP: the resolver checks what the name resolves to
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        private = (
            ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
            or ip.is_multicast or ip.is_unspecified
        )  # fmt: skip
        if not private or any(ip in network for network in self.allowed):
            return None
        return (
            f"target {ip} is in a private network; allow it with {SETTING} (e.g. {ipaddress.ip_network(ip)})"
        )

    async def check_host(self, host: str, port: int) -> None:
        """Raise :class:`BlockedTarget` unless every address ``host`` resolves to is allowed; for
        connections made by other libraries (SFTP, FTP, S3). They resolve the name again when they connect:
        this checks the configured host, not a DNS answer changing in between. ``OSError`` when the name
        does not resolve."""
        if not self.enabled:
            return
        if (why := self.refusal(host)) is not None:
            raise BlockedTarget(f"{host}: {why}")
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        for info in infos:
            if (why := self.refusal(str(info[4][0]))) is not None:
                raise BlockedTarget(f"{host}: {why}")

    def session(
        self, *, limit: int = 100, ttl_dns_cache: int | None = 10, **options: Any
    ) -> aiohttp.ClientSession:
        """The only way to make an HTTP client session: its connector checks every connection against
        this guard (an IP in the URL before connecting, a name's addresses as it resolves them). A
        refused connection raises ``aiohttp.ClientConnectorError`` whose ``os_error`` is a
        :class:`BlockedTarget` (see :func:`blocked`). ``options`` go to ``aiohttp.ClientSession``."""
        connector = GuardedConnector(
            self, limit=limit, ttl_dns_cache=ttl_dns_cache, keepalive_timeout=KEEP_IDLE_S
        )
        return aiohttp.ClientSession(connector=connector, **options)


async def request_head(
    session: aiohttp.ClientSession, method: str, url: str, *, limits: aiohttp.ClientTimeout, **options: Any
) -> aiohttp.ClientResponse:
    """``session.request(method, url, timeout=limits, **options)``, without redirects, up to the answer's
    head (the caller reads the body, ``async with`` the response).

    A POST (or PATCH) that went out on a connection kept alive in the pool, and whose connection was then
    closed or reset before a single byte of an answer came, goes again, once, on a new connection, within
    what is left of ``limits.total``: most likely the server closed that connection, idle, just as the
    request came, and never read it. It may have read it (a server that took the request and died without
    a word looks the same): a post carries the same Idempotency-Key both times, so a buyer can tell the
    repeat. Browsers do the same. A POST dropped on a connection made for it, or after any byte of an
    answer, is not sent again: that is the server's trouble. The idempotent methods (a PUT or GET
    channel) aiohttp itself sends again once, on any dropped connection; here too the second try goes
    out on a new connection. ``options['data']`` must be bytes (sent twice, it is read twice)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    watch = _Watch()
    token = _WATCH.set(watch)
    try:
        try:
            return await session.request(method, url, timeout=limits, allow_redirects=False, **options)
        except aiohttp.ClientConnectorError:  # no connection was made: nothing was sent
            raise
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            if method.upper() in IDEMPOTENT_METHODS or not watch.unanswered():
                raise
            again = limits
            if limits.total is not None:
                if (left := limits.total - (loop.time() - started)) <= 0:
                    raise
                again = aiohttp.ClientTimeout(
                    total=left,
                    connect=limits.connect,
                    sock_read=limits.sock_read,
                    sock_connect=limits.sock_connect,
                    ceil_threshold=limits.ceil_threshold,
                )
        return await session.request(method, url, timeout=again, allow_redirects=False, **options)
    finally:
        _WATCH.reset(token)


def blocked(exc: BaseException) -> BlockedTarget | None:
    """The guard's refusal behind an aiohttp (or plain) exception, if that is what it is."""
    if isinstance(exc, BlockedTarget):
        return exc
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, BlockedTarget):
        return exc.os_error
    return None


class GuardedConnector(aiohttp.TCPConnector):
    """A TCP connector whose every connection passes the guard: aiohttp does not resolve an IP literal,
    so the resolver alone would let ``http://127.0.0.1/`` through. It also tells a request sent with
    :func:`request_head` whether its connection came from the pool, and what had come on it before."""

    def __init__(self, guard: TargetGuard, **options: Any) -> None:
        resolver = GuardedResolver(guard) if guard.enabled else None
        super().__init__(resolver=resolver, **options)
        self.guard = guard
        # aiohttp's protocol factory (a private attribute), for one that counts what it receives (typed as a
        # partial of ResponseHandler, and partial is invariant)
        self._factory = functools.partial(_CountingHandler, loop=self._loop)  # type: ignore[assignment]

    async def connect(  # aiohttp's signature
        self,
        req: ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109
    ) -> Connection:
        key: ConnectionKey = req.connection_key  # our sessions use no proxy: this is the target
        if (why := self.guard.refusal(key.host or "")) is not None:
            raise aiohttp.ClientConnectorError(key, BlockedTarget(why))
        watch = _WATCH.get()
        fresh = watch is not None and watch.connects > 0  # a second try (ours, or aiohttp's own)
        if watch is not None:
            watch.connects += 1
        while True:
            connection = await super().connect(req, traces, timeout)
            protocol = connection.protocol
            if not isinstance(protocol, _CountingHandler):  # (aiohttp made it otherwise: nothing known)
                return connection
            if not (fresh and protocol.carried):
                break
            connection.close()  # a second try goes out on a connection made for it
        if watch is not None and protocol.carried:
            watch.pooled, watch.received = protocol, protocol.received
        protocol.carried = True
        return connection


class GuardedResolver(AbstractResolver):
    """The default resolver, keeping only the addresses the guard allows (all refused: BlockedTarget)."""

    def __init__(self, guard: TargetGuard, inner: AbstractResolver | None = None) -> None:
        self._guard = guard
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept = [r for r in found if self._guard.refusal(r["host"]) is None]
        if not kept:
            reason = self._guard.refusal(found[0]["host"]) if found else None
            raise BlockedTarget(f"{host}: {reason or 'no address'}")
        return kept

    async def close(self) -> None:
        await self._inner.close()
