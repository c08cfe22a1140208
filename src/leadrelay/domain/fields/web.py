"""Web addresses (http and https URLs) and IP addresses.

A URL keeps its path, query and fragment exactly as sent (they may be case-sensitive, and a tracking
parameter must survive); only the scheme and host, which are not, are lower-cased.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from leadrelay.domain.fields.value import FieldValue, Invalid, Options, accept, register, text

_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_OTHER_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]*:(?!\d)", re.IGNORECASE)  # mailto:, tel:, javascript:
_LABEL_RE = re.compile(r"^[^\W_](?:[\w-]*[^\W_])?$")  # a host name label: letters, digits, inner "-" / "_"


class Url(NamedTuple):
    normal: str
    scheme: str
    host: str
    port: int | None
    path: str
    query: str
    fragment: str


def split_url(raw: Any) -> Url:
    """An http(s) URL with a host, its scheme and host lower-cased; ``Invalid`` otherwise.

    Without a scheme, ``example.com/page`` is read as ``http://example.com/page`` (forms often drop
    it), but only when the host has a dot: a lone word is not taken for a web address.
    """
    value = text(raw)
    if not value or any(ch.isspace() for ch in value):
        raise Invalid("not a valid URL")
    if not _SCHEME_RE.match(value):
        if "." not in value.split("/", 1)[0] or _OTHER_SCHEME_RE.match(value):
            raise Invalid("not a valid URL")
        value = "http://" + value
    try:
        pieces = urlsplit(value)
        port = pieces.port
    except ValueError:
        raise Invalid("not a valid URL") from None
    scheme, host = pieces.scheme.lower(), pieces.hostname or ""
    if scheme not in ("http", "https") or not _valid_host(host):
        raise Invalid("not a valid URL")
    userinfo, at, hostport = pieces.netloc.rpartition("@")
    rest = value[value.index("://") + 3 + len(pieces.netloc) :]
    normal = f"{scheme}://{userinfo}{at}{hostport.lower()}{rest}"
    return Url(normal, scheme, host, port, pieces.path, pieces.query, pieces.fragment)


def _valid_host(host: str) -> bool:
    if ":" in host:  # urlsplit took an IPv6 literal out of its brackets
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    return all(_LABEL_RE.match(label) for label in host.split("."))


@register("url")
def parse_url(raw: Any, options: Options) -> FieldValue:
    url = split_url(raw)
    parts = {
        "scheme": url.scheme,
        "host": url.host,
        "port": url.port,
        "path": url.path,
        "query": url.query,
        "fragment": url.fragment,
    }
    return accept(raw, url.normal, parts)


@register("ip")
def parse_ip(raw: Any, options: Options) -> FieldValue:
    """IPv4 or IPv6, also as LeadConduit's examples send them: ``https://198.51.90.162``, ``[::1]``."""
    value = _SCHEME_RE.sub("", text(raw), count=1).rstrip("/")
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise Invalid("not a valid IP address") from None
    parts = {"version": address.version, "is_private": address.is_private}
    return accept(raw, address.compressed, parts)
