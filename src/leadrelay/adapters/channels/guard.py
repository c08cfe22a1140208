"""Webhook targets are checked against private networks (server-side request forgery).

A partner's URL comes from configuration that many people may edit; without a guard, a webhook pointed at
``http://169.254.169.254/`` or ``http://10.0.0.5:8080/admin`` would make leadrelay fetch from inside the
operator's network. Every address a webhook connects to — an IP in the URL, or each address its name
resolves to, checked at connection time so a DNS answer cannot change in between — must be public, unless
it lies in ``LEADRELAY_ALLOWED_TARGET_NETWORKS`` (CIDRs, e.g. ``127.0.0.0/8`` for buyers on this machine).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedTarget(OSError):
    """A connection refused by the guard: final, a retry would be refused again."""


class TargetGuard:
    def __init__(self, allowed: Iterable[str] = (), *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.allowed: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(n.strip(), strict=False) for n in allowed
        )

    @classmethod
    def from_setting(cls, allowed: str, *, enabled: bool = True) -> TargetGuard:
        """``allowed``: comma-separated CIDRs (``LEADRELAY_ALLOWED_TARGET_NETWORKS``)."""
        return cls([n for n in allowed.split(",") if n.strip()], enabled=enabled)

    def refusal(self, address: str) -> str | None:
        """Why a connection to ``address`` (an IP) is refused, or None."""
        if not self.enabled:
            return None
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
            f"target {ip} is in a private network; allow it with LEADRELAY_ALLOWED_TARGET_NETWORKS"
            f" (e.g. {ipaddress.ip_network(ip)})"
        )


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
