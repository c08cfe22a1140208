"""The SSRF guard: which addresses leadrelay may reach, and that every HTTP client comes from it."""

from __future__ import annotations

import ast
import asyncio
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from leadrelay.adapters.channels.guard import BlockedTarget, GuardedResolver, TargetGuard, blocked


@pytest.mark.parametrize(
    "address",
    ["10.0.0.5", "172.16.3.4", "192.168.1.1", "127.0.0.1", "169.254.169.254", "0.0.0.0", "::1",
     "fe80::1", "fc00::7", "::ffff:10.0.0.5", "224.0.0.1"],
)  # fmt: skip
def test_private_and_special_addresses_are_refused(address: str) -> None:
    reason = TargetGuard().refusal(address)
    assert reason is not None and "LEADRELAY_ALLOWED_TARGET_NETWORKS" in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "example.com"])
def test_public_addresses_and_names_pass(address: str) -> None:
    assert TargetGuard().refusal(address) is None


def test_allowed_networks_and_switching_the_guard_off() -> None:
    guard = TargetGuard.from_setting("127.0.0.0/8, 10.1.0.0/16")
    assert guard.refusal("127.0.0.1") is None and guard.refusal("10.1.2.3") is None
    assert guard.refusal("10.2.0.1") is not None
    assert TargetGuard(enabled=False).refusal("10.2.0.1") is None


class FixedResolver(AbstractResolver):
    def __init__(self, *hosts: str) -> None:
        self.hosts = hosts

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=h, port=port, family=socket.AF_INET, proto=0, flags=0)
            for h in self.hosts
        ]

    async def close(self) -> None:
        return None


def test_the_resolver_drops_private_answers_and_refuses_when_none_is_left() -> None:
    mixed = GuardedResolver(TargetGuard(), FixedResolver("10.0.0.1", "93.184.216.34"))
    kept = asyncio.run(mixed.resolve("rebinding.example"))
    assert [r["host"] for r in kept] == ["93.184.216.34"]
    only_private = GuardedResolver(TargetGuard(), FixedResolver("169.254.169.254"))
    with pytest.raises(BlockedTarget, match=r"169\.254\.169\.254 is in a private network"):
        asyncio.run(only_private.resolve("metadata.example"))


def test_every_http_client_comes_from_the_guard() -> None:
    """One way out: an ``aiohttp.ClientSession`` or ``TCPConnector`` made anywhere but the guard would
    connect unchecked (webhooks, token endpoints, and the alert and postback targets to come)."""
    src = Path(__file__).resolve().parents[2] / "src" / "leadrelay"
    allowed = src / "adapters" / "channels" / "guard.py"
    forbidden = {"ClientSession", "TCPConnector", "UnixConnector", "NamedPipeConnector", "request"}
    found = []
    for path in sorted(src.rglob("*.py")):
        if path == allowed:
            continue
        tree = ast.parse(path.read_text(), str(path))
        aliases = {  # from aiohttp import ClientSession [as X]
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aiohttp")
            for alias in node.names
            if alias.name in forbidden
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr in forbidden and _is_aiohttp(func.value)) or (
                isinstance(func, ast.Name) and func.id in aliases
            ):
                found.append(f"{path.relative_to(src)}:{node.lineno}")
    assert found == [], f"HTTP clients made outside TargetGuard.session(): {found}"


def _is_aiohttp(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "aiohttp") or (
        isinstance(node, ast.Attribute) and _is_aiohttp(node.value)
    )


def test_the_scan_would_see_a_session_made_elsewhere() -> None:
    sample = "import aiohttp\nfrom aiohttp import TCPConnector as C\naiohttp.ClientSession()\nC()\n"
    tree = ast.parse(sample)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert any(isinstance(c.func, ast.Attribute) and _is_aiohttp(c.func.value) for c in calls)


def test_a_session_from_the_guard_refuses_a_private_ip_before_connecting() -> None:
    async def main() -> BaseException:
        async with TargetGuard().session() as session:
            with pytest.raises(aiohttp.ClientConnectorError) as caught:
                await session.get("http://127.0.0.1:9/")  # nothing listens there; nothing is tried
        return caught.value

    refused = blocked(asyncio.run(main()))
    assert refused is not None and "LEADRELAY_ALLOWED_TARGET_NETWORKS" in str(refused)
    assert blocked(ValueError("x")) is None


def test_check_host_refuses_a_private_name_or_ip_and_passes_an_allowed_one() -> None:
    with pytest.raises(BlockedTarget, match=r"localhost: target 127\.0\.0\.1 is in a private network"):
        asyncio.run(TargetGuard().check_host("localhost", 22))
    with pytest.raises(BlockedTarget, match=r"10\.0\.0\.9: target 10\.0\.0\.9"):
        asyncio.run(TargetGuard().check_host("10.0.0.9", 21))
    asyncio.run(TargetGuard.from_setting("127.0.0.0/8,::1/128").check_host("localhost", 22))
    asyncio.run(TargetGuard(enabled=False).check_host("10.0.0.9", 21))
