"""The SSRF guard: which addresses a webhook may reach."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from leadrelay.adapters.channels.guard import BlockedTarget, GuardedResolver, TargetGuard


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
