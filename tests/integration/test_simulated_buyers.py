"""The simulated buyers, driven over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest

from leadrelay.simulate.buyers import BuyersServer, BuyersThread, check_options, run_buyers, start_buyers
from tests.support import free_port

Answer = tuple[int, dict[str, Any]]


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any] | None = None,
    key: str | None = None,
    form: bool = False,
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> Answer:
    sent = dict(headers or {})
    if key is not None:
        sent["Idempotency-Key"] = key
    payload = {"data": body} if form else {"json": body if body is not None else {"zip": "90210"}}
    async with session.request(method, url, headers=sent, **payload) as response:
        return response.status, orjson.loads(await response.read())


async def get(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url) as response:
        assert response.status == 200
        data = orjson.loads(await response.read())
        assert isinstance(data, dict)
        return data


def with_buyers(
    scenario: Callable[[BuyersServer, aiohttp.ClientSession], Awaitable[Any]], **options: Any
) -> Any:
    settings: dict[str, Any] = {"count": 3, "latency_ms": 0, "accept_rate": 1.0} | options

    async def run() -> Any:
        server = await start_buyers("127.0.0.1", 0, **settings)
        try:
            async with aiohttp.ClientSession() as session:
                return await scenario(server, session)
        finally:
            await server.stop()

    return asyncio.run(run())


ZERO = {"received": 0, "accepted": 0, "rejected": 0, "errors": 0, "duplicates": 0, "tests": 0}


def test_stats_list_the_buyers_from_the_start() -> None:
    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> dict[str, Any]:
        return await get(session, f"{server.base_url}/stats")

    stats = with_buyers(scenario, count=3)
    assert stats["buyers"] == {"buyer1": ZERO, "buyer2": ZERO, "buyer3": ZERO}
    assert stats["total_accepted"] == 0


@pytest.mark.parametrize(
    ("accept_rate", "error_rate", "status", "answer", "counter"),
    [
        (1.0, 0.0, 200, {"status": "accepted", "reference": "sunco-1", "price": 10.0}, "accepted"),
        (0.0, 0.0, 422, {"status": "rejected", "reason": "not interested"}, "rejected"),
        (1.0, 1.0, 500, {"status": "error"}, "errors"),
    ],
)
def test_answers(
    accept_rate: float, error_rate: float, status: int, answer: dict[str, Any], counter: str
) -> None:
    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> tuple[Answer, dict[str, Any]]:
        got = await post(session, server.url("sunco"), {"zip": "90210"}, key="k1")
        return got, await get(session, f"{server.base_url}/stats")

    got, stats = with_buyers(scenario, accept_rate=accept_rate, error_rate=error_rate)
    assert got == (status, answer)
    assert stats["buyers"]["sunco"] == ZERO | {"received": 1, counter: 1}
    assert stats["total_accepted"] == (1 if counter == "accepted" else 0)


@pytest.mark.parametrize(("method", "form"), [("POST", False), ("PUT", False), ("POST", True), ("PUT", True)])
def test_json_and_form_bodies_are_kept_with_accepted_leads(method: str, form: bool) -> None:
    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> dict[str, Any]:
        status, _ = await post(
            session, server.url("buyer2"), {"zip": "90210"}, key="k9", form=form, method=method
        )
        assert status == 200
        return await get(session, f"{server.url('buyer2')}/leads")

    leads = with_buyers(scenario)
    assert leads == {"leads": [{"key": "k9", "body": {"zip": "90210"}, "reference": "buyer2-1"}]}


def test_idempotency_key_repeats_the_answer_and_counts_a_duplicate() -> None:
    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> list[Any]:
        url = server.url("buyer1")
        answers = [await post(session, url, {"n": i}, key=key) for i, key in enumerate(["a", "a", "b", "a"])]
        return [answers, await get(session, f"{server.base_url}/stats")]

    answers, stats = with_buyers(scenario)
    assert answers[0] == answers[1] == answers[3] != answers[2]
    assert [a[1]["reference"] for a in answers] == ["buyer1-1", "buyer1-1", "buyer1-2", "buyer1-1"]
    assert stats["buyers"]["buyer1"] == ZERO | {"received": 4, "accepted": 2, "duplicates": 2}


def test_a_rejection_is_remembered_too() -> None:
    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> list[Answer]:
        return [await post(session, server.url("buyer1"), key="x") for _ in range(2)]

    first, second = with_buyers(scenario, accept_rate=0.0)
    assert first == second == (422, {"status": "rejected", "reason": "not interested"})


def test_concurrent_requests_with_one_key_are_accepted_once() -> None:
    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> list[Any]:
        url = server.url("buyer1")
        answers = await asyncio.gather(*(post(session, url, {"n": i}, key="same") for i in range(20)))
        return [answers, await get(session, f"{server.base_url}/stats")]

    answers, stats = with_buyers(scenario, latency_ms=50)
    assert all(answer == answers[0] for answer in answers)
    assert answers[0][0] == 200
    assert stats["buyers"]["buyer1"] == ZERO | {"received": 20, "accepted": 1, "duplicates": 19}


def test_decisions_are_deterministic_and_follow_the_rates() -> None:
    keys = [f"key-{i}" for i in range(300)]

    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> list[int]:
        return [(await post(session, server.url("buyer1"), key=key))[0] for key in keys]

    first = with_buyers(scenario, accept_rate=0.6, error_rate=0.1, seed=7)
    again = with_buyers(scenario, accept_rate=0.6, error_rate=0.1, seed=7)
    other_seed = with_buyers(scenario, accept_rate=0.6, error_rate=0.1, seed=8)
    assert first == again != other_seed
    assert 15 <= first.count(500) <= 50  # 10 %
    assert 140 <= first.count(200) <= 185  # 60 % of the other 90 %
    assert first.count(200) + first.count(422) + first.count(500) == len(keys)


def test_an_error_is_not_remembered_and_a_retry_can_pass() -> None:
    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> list[Any]:
        url = server.url("buyer1")
        statuses = [(await post(session, url, key="retry-me"))[0] for _ in range(12)]
        return [statuses, await get(session, f"{server.base_url}/stats")]

    statuses, stats = with_buyers(scenario, error_rate=0.5, seed=3)
    assert 200 in statuses and statuses[-1] == 200
    first_ok = statuses.index(200)
    assert set(statuses[:first_ok]) <= {500}
    buyer = stats["buyers"]["buyer1"]
    assert (buyer["accepted"], buyer["errors"], buyer["duplicates"]) == (1, first_ok, 11 - first_ok)


@pytest.mark.parametrize(
    ("body", "headers", "tests"),
    [
        ({"zip": "1", "test": True}, None, 1),
        ({"zip": "1"}, {"X-Leadrelay-Test": "true"}, 1),
        ({"zip": "1", "test": False}, None, 0),
        ({"zip": "1"}, None, 0),
    ],
)
def test_test_leads_are_counted(body: dict[str, Any], headers: dict[str, str] | None, tests: int) -> None:
    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> dict[str, Any]:
        await post(session, server.url("buyer1"), body, headers=headers)
        return await get(session, f"{server.base_url}/stats")

    assert with_buyers(scenario)["buyers"]["buyer1"]["tests"] == tests


def test_a_body_that_is_not_an_object_is_refused() -> None:
    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> Answer:
        async with session.post(
            server.url("buyer1"), data=b"[1, 2", headers={"Content-Type": "text/plain"}
        ) as r:
            return r.status, orjson.loads(await r.read())

    status, answer = with_buyers(scenario)
    assert status == 400 and answer["status"] == "rejected"


def test_reset_clears_everything() -> None:
    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> list[Any]:
        await post(session, server.url("sunco"), key="a")
        async with session.post(f"{server.base_url}/reset") as response:
            assert response.status == 200
        again = await post(session, server.url("buyer1"), key="a")
        return [again, await get(session, f"{server.base_url}/stats")]

    again, stats = with_buyers(scenario)
    assert again[1]["reference"] == "buyer1-1"
    assert stats["buyers"] == {
        "buyer1": ZERO | {"received": 1, "accepted": 1},
        "buyer2": ZERO,
        "buyer3": ZERO,
    }


def test_latency_is_applied() -> None:
    async def scenario(server: BuyersServer, session: aiohttp.ClientSession) -> float:
        started = time.perf_counter()
        await post(session, server.url("buyer1"))
        return time.perf_counter() - started

    assert 0.1 <= with_buyers(scenario, latency_ms=100) < 1.0


def test_thread_helper() -> None:
    async def send(url: str) -> Answer:
        async with aiohttp.ClientSession() as session:
            return await post(session, url, key="t1")

    with BuyersThread(count=2, accept_rate=1.0) as buyers:
        assert buyers.port > 0
        assert buyers.url("buyer1") == f"http://127.0.0.1:{buyers.port}/buyer/buyer1"
        assert asyncio.run(send(buyers.url("buyer1")))[0] == 200
        assert buyers.stats()["total_accepted"] == 1
        assert buyers.leads("buyer1")[0]["key"] == "t1"
        buyers.reset()
        assert buyers.stats()["total_accepted"] == 0
    with pytest.raises(RuntimeError):
        buyers.stats()


# ---------------------------------------------------------------- refusing what must not run


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts_are_allowed(host: str) -> None:
    check_options(host, 0, 3, 0, 1.0, 0.0)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", ""])
def test_other_hosts_are_refused(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        run_buyers(host, 9100, 3, 50, 0.8)
    with pytest.raises(ValueError, match="loopback"):
        BuyersThread(host)
    with pytest.raises(ValueError, match="loopback"):
        asyncio.run(start_buyers(host, 0, count=1, latency_ms=0, accept_rate=1.0))


@pytest.mark.parametrize(
    ("port", "count", "latency_ms", "accept_rate", "error_rate", "message"),
    [
        (70000, 3, 0, 1.0, 0.0, "port"),
        (0, -1, 0, 1.0, 0.0, "count"),
        (0, 3, -5, 1.0, 0.0, "latency_ms"),
        (0, 3, 0, 1.5, 0.0, "accept_rate"),
        (0, 3, 0, 1.0, -0.1, "error_rate"),
    ],
)
def test_bad_settings_are_refused(
    port: int, count: int, latency_ms: float, accept_rate: float, error_rate: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        check_options("127.0.0.1", port, count, latency_ms, accept_rate, error_rate)


def test_run_buyers_serves_until_sigterm() -> None:
    port = free_port()
    code = f"from leadrelay.simulate.buyers import run_buyers; run_buyers('127.0.0.1', {port}, 2, 0, 1.0)"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy()
    )
    try:
        stats = _poll_stats(port, deadline=time.monotonic() + 10)
        assert set(stats["buyers"]) == {"buyer1", "buyer2"}
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err.decode()
    assert f"127.0.0.1:{port}" in out.decode()


def _poll_stats(port: int, deadline: float) -> dict[str, Any]:
    async def once() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            return await get(session, f"http://127.0.0.1:{port}/stats")

    while True:
        try:
            return asyncio.run(once())
        except aiohttp.ClientConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
