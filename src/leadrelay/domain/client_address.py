"""The key a client address is counted under by the rate limits (failed logins, the hosted form's posts).

An IPv6 client usually holds a whole /64 (a home or a cloud server gets one): counted per address, it would
have 2^64 fresh addresses, so IPv6 addresses are grouped by their /64. An IPv4-mapped IPv6 address is its
IPv4 address. A proxy may write the address with its port (``203.0.113.9:51234``, ``[2001:db8::1]:443``)
or in brackets: the port is no part of the client (each connection has its own) and is dropped. Anything
that is no address (a test client's name) is kept as it is, cut to 64 characters.
"""

from __future__ import annotations

import ipaddress


def address_group(address: str) -> str:
    """``203.0.113.9`` as is; ``2001:db8:1:2:3:4:5:6`` as ``2001:db8:1:2::/64``."""
    try:
        ip = ipaddress.ip_address(_bare(address.strip()).split("%", 1)[0])  # no zone id (fe80::1%eth0)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def _bare(address: str) -> str:
    """The address without the brackets or the port a proxy may have written around it."""
    if address.startswith("["):  # [v6] or [v6]:port
        return address[1:].split("]", 1)[0]
    host, colon, port = address.rpartition(":")
    if colon and "." in host and ":" not in host and port.isdigit():  # v4:port (a v6 has several colons)
        return host
    return address
