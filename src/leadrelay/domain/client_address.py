"""The key a client address is counted under by the rate limits (failed logins, the hosted form's posts).

An IPv6 client usually holds a whole /64 (a home or a cloud server gets one): counted per address, it would
have 2^64 fresh addresses, so IPv6 addresses are grouped by their /64. An IPv4-mapped IPv6 address is its
IPv4 address; anything that is no address (a test client's name) is kept as it is, cut to 64 characters.
"""

from __future__ import annotations

import ipaddress


def address_group(address: str) -> str:
    """``203.0.113.9`` as is; ``2001:db8:1:2:3:4:5:6`` as ``2001:db8:1:2::/64``."""
    try:
        ip = ipaddress.ip_address(address.strip().split("%", 1)[0])  # no zone id (fe80::1%eth0)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)
