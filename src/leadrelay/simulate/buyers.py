"""Simulated buyers for the demo, the tests and the benchmark (aiohttp.web, loopback only): started in the
current event loop (:func:`start_buyers`), served until a signal (:func:`run_buyers`, the ``leadrelay
simulate-buyers`` command) or on a background thread (:class:`BuyersThread`).

What the buyers answer (posts, bidding pings, stats and records): ``leadrelay.simulate.buyer_endpoints``;
their decisions and records: ``leadrelay.simulate.buyer_state``; the bids: ``leadrelay.simulate.bidding``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from leadrelay.simulate.bidding import BiddingOptions
from leadrelay.simulate.buyer_endpoints import STOPPING, make_app
from leadrelay.simulate.buyer_state import BuyersState

_T = TypeVar("_T")
_SHUTDOWN_TIMEOUT_S = 0.5


def check_options(
    host: str, port: int, count: int, latency_ms: float, accept_rate: float, error_rate: float
) -> None:
    """Refuse a non-loopback host and out-of-range settings with ``ValueError``."""
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(
                f"simulated buyers listen on loopback only (127.0.0.1, ::1, localhost), not {host!r}"
            )
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be between 0 and 65535, not {port}")
    if count < 0:
        raise ValueError(f"count must not be negative, not {count}")
    if latency_ms < 0:
        raise ValueError(f"latency_ms must not be negative, not {latency_ms}")
    for label, rate in (("accept_rate", accept_rate), ("error_rate", error_rate)):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{label} must be between 0 and 1, not {rate}")


class BuyersServer:
    """A running simulation; ``port`` is the bound port (also when 0 was asked for)."""

    def __init__(self, runner: web.AppRunner, state: BuyersState, host: str, port: int) -> None:
        self._runner = runner
        self.state = state
        self.host = host
        self.port = port

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, name: str) -> str:
        return f"{self.base_url}/buyer/{name}"

    def ping_url(self, name: str) -> str:
        return f"{self.base_url}/buyer/{name}/ping"

    async def stop(self) -> None:
        self._runner.app[STOPPING].set()
        await self._runner.cleanup()


async def start_buyers(
    host: str,
    port: int,
    *,
    count: int,
    latency_ms: float,
    accept_rate: float,
    error_rate: float = 0.0,
    seed: int = 0,
    bidding: BiddingOptions | None = None,
    bidders: Mapping[str, BiddingOptions] | None = None,
) -> BuyersServer:
    check_options(host, port, count, latency_ms, accept_rate, error_rate)
    state = BuyersState(
        count=count,
        accept_rate=accept_rate,
        error_rate=error_rate,
        seed=seed,
        bidding=bidding,
        bidders=bidders,
    )
    runner = web.AppRunner(make_app(state, latency_ms), access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1] if runner.addresses else port
    return BuyersServer(runner, state, host, int(bound))


def run_buyers(
    host: str,
    port: int,
    count: int,
    latency_ms: float,
    accept_rate: float,
    error_rate: float = 0.0,
    *,
    seed: int = 0,
    bidding: BiddingOptions | None = None,
) -> None:
    """Serve simulated buyers until SIGINT or SIGTERM (the ``leadrelay simulate-buyers`` command)."""
    check_options(host, port, count, latency_ms, accept_rate, error_rate)
    options = {
        "count": count,
        "latency_ms": latency_ms,
        "accept_rate": accept_rate,
        "error_rate": error_rate,
        "seed": seed,
        "bidding": bidding,
    }
    asyncio.run(_serve_until_signal(host, port, options))


async def _serve_until_signal(host: str, port: int, options: dict[str, Any]) -> None:
    count = int(options["count"])
    server = await start_buyers(host, port, **options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    names = ", ".join(f"buyer{i}" for i in range(1, count + 1)) or "any name"
    print(
        f"simulated buyers ({names}) at {server.base_url}/buyer/<name> (pings: /buyer/<name>/ping); "
        f"stats at {server.base_url}/stats"
    )
    try:
        await stop.wait()
    finally:
        for signum in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
        await server.stop()


class BuyersThread:
    """Simulated buyers on a background event-loop thread, for tests and the benchmark.

    ``with BuyersThread(accept_rate=0.5) as buyers: post(buyers.url("buyer1")); buyers.stats()``
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        count: int = 3,
        latency_ms: float = 0.0,
        accept_rate: float = 1.0,
        error_rate: float = 0.0,
        seed: int = 0,
        bidding: BiddingOptions | None = None,
        bidders: Mapping[str, BiddingOptions] | None = None,
    ) -> None:
        check_options(host, port, count, latency_ms, accept_rate, error_rate)
        self._options: dict[str, Any] = {
            "count": count,
            "latency_ms": latency_ms,
            "accept_rate": accept_rate,
            "error_rate": error_rate,
            "seed": seed,
            "bidding": bidding,
            "bidders": bidders,
        }
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: BuyersServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def __enter__(self) -> BuyersThread:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the simulated buyers are already running")
        self._thread = threading.Thread(target=self._run, name="simulated-buyers", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            try:
                self._server = loop.run_until_complete(start_buyers(self._host, self._port, **self._options))
            except BaseException as exc:
                self._error = exc
                return
            self._loop = loop
            self._ready.set()
            loop.run_forever()
            loop.run_until_complete(self._server.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            self._ready.set()
            loop.close()

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None:
            return
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = None
        self._loop = None

    def _running(self) -> tuple[asyncio.AbstractEventLoop, BuyersServer]:
        if self._loop is None or self._server is None:
            raise RuntimeError("the simulated buyers are not running")
        return self._loop, self._server

    def _call(self, fn: Callable[[], _T]) -> _T:
        loop, _ = self._running()

        async def call() -> _T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=10)

    @property
    def port(self) -> int:
        return self._running()[1].port

    @property
    def base_url(self) -> str:
        return self._running()[1].base_url

    def url(self, name: str) -> str:
        return self._running()[1].url(name)

    def ping_url(self, name: str) -> str:
        return self._running()[1].ping_url(name)

    def pings(self, name: str) -> dict[str, Any]:
        """The latest pings ``name`` received and every field name a ping to it ever carried."""
        state = self._running()[1].state
        return self._call(lambda: state.pings(name))

    def stats(self) -> dict[str, Any]:
        state = self._running()[1].state
        return self._call(state.stats)

    def leads(self, name: str) -> list[dict[str, Any]]:
        state = self._running()[1].state
        return self._call(lambda: state.leads(name))

    def requests(self, name: str) -> list[dict[str, Any]]:
        """Every request ``name`` received: method, path, query, content_type, headers and raw body."""
        state = self._running()[1].state
        return self._call(lambda: state.requests(name))

    def set_error_rate(self, rate: float) -> None:
        """From now on, answer this share of posts with a 500 (a buyer going down, or coming back)."""
        check_options(self._host, 0, 0, 0.0, 1.0, rate)
        state = self._running()[1].state

        def change() -> None:
            state.error_rate = rate

        self._call(change)

    def reset(self) -> None:
        state = self._running()[1].state
        self._call(state.reset)
