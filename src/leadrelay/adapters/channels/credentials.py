"""Credentials and signatures on outgoing webhook requests, and OAuth2 tokens shared by all deliveries.

A delivery builds its headers, then calls :func:`apply_auth` (which may change the URL for a query API
key) and :func:`sign` last, over the exact body bytes it sends. OAuth2 client-credentials tokens come
from one :class:`TokenCache` per process so thousands of deliveries cost one token request per lifetime;
when a buyer answers 401, :func:`refresh_auth` drops the rejected token and the caller retries once.
Everything a spec holds (and the tokens it produced) is listed by :func:`secret_values` for redaction.
"""

from __future__ import annotations

__all__ = [
    "TokenCache",
    "TokenError",
    "add_query_param",
    "apply_auth",
    "basic_credentials",
    "redact",
    "refresh_auth",
    "resolve_env",
    "secret_values",
    "sign",
    "token_margin",
]

import base64
import dataclasses
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

import aiohttp

from leadrelay.adapters.channels.oauth import (
    TokenCache,
    TokenError,
    basic_credentials,
    client_credentials,
    token_margin,
)
from leadrelay.domain.partner_auth import (
    ApiKeyAuth,
    AuthSpec,
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    OAuth2ClientCredentials,
    SigningSpec,
)
from leadrelay.domain.privacy import Redactor


def _set_header(headers: dict[str, str], name: str, value: str) -> None:
    """Credentials win over a same-named header set earlier (whatever its case)."""
    for existing in [key for key in headers if key.lower() == name.lower()]:
        del headers[existing]
    headers[name] = value


def add_query_param(url: str, name: str, value: str) -> str:
    """``url`` with ``name=value`` (percent-encoded) replacing any parameter of that name; the other
    parameters are kept byte for byte, so a signature a buyer computes over them stays valid."""
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and unquote_plus(p.partition("=")[0]) != name]
    kept.append(f"{quote(name, safe='')}={quote(value, safe='')}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), parts.fragment))


async def apply_auth(
    spec: AuthSpec | None,
    method: str,
    url: str,
    headers: dict[str, str],
    tokens: TokenCache,
    session: aiohttp.ClientSession,
) -> str:
    """Add ``spec``'s credentials to ``headers`` in place; returns the URL to request (changed only for a
    query API key). An OAuth2 token endpoint failure raises :class:`TokenError`. ``method`` is for
    schemes that sign the request line; none of the current ones do."""
    del method
    match spec:
        case None:
            pass
        case HeaderAuth():
            for name, value in spec.headers.items():
                _set_header(headers, name, value)
        case ApiKeyAuth(in_="query"):
            return add_query_param(url, spec.name, spec.value)
        case ApiKeyAuth():
            _set_header(headers, spec.name, spec.value)
        case BearerAuth():
            _set_header(headers, "Authorization", f"Bearer {spec.token}")
        case BasicAuth():
            _set_header(headers, "Authorization", basic_credentials(spec.username, spec.password))
        case OAuth2ClientCredentials():
            _set_header(headers, "Authorization", f"Bearer {await tokens.token(spec, session)}")
    return url


async def refresh_auth(
    spec: AuthSpec | None, headers: dict[str, str], tokens: TokenCache, session: aiohttp.ClientSession
) -> bool:
    """After a 401: drop the token ``headers`` carried and put a new one in; whether to retry (once).
    False for static credentials: asking again would get the same answer. The URL does not change."""
    if not isinstance(spec, OAuth2ClientCredentials):
        return False
    sent = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    tokens.invalidate(spec, sent.removeprefix("Bearer ") or None)
    _set_header(headers, "Authorization", f"Bearer {await tokens.token(spec, session)}")
    return True


# ---------------------------------------------------------------- signing and redaction


def sign(spec: SigningSpec, msg_id: str, timestamp: int, body: bytes, headers: dict[str, str]) -> None:
    """Standard Webhooks: ``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``.
    ``msg_id`` stays the same across retries (the delivery's Idempotency-Key) so the buyer can drop
    repeats; ``timestamp`` (Unix seconds) is each attempt's own, as verifiers refuse ones over ~5 min old."""
    if not msg_id or any(ch in msg_id for ch in "\r\n\0"):
        raise ValueError("the webhook message id must be non-empty and on one line")
    if not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("the webhook timestamp must be whole Unix seconds")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(spec.key(), signed, hashlib.sha256).digest()
    _set_header(headers, "webhook-id", msg_id)
    _set_header(headers, "webhook-timestamp", str(timestamp))
    _set_header(headers, "webhook-signature", "v1," + base64.b64encode(digest).decode("ascii"))


def secret_values(
    auth: AuthSpec | None, signing: SigningSpec | None = None, tokens: TokenCache | None = None
) -> tuple[str, ...]:
    """Every secret behind a request: the specs' own, the Basic credentials as sent (base64), and the
    OAuth2 tokens ``tokens`` handed out for ``auth``; to redact recorded requests by value."""
    values: list[str] = []
    if auth is not None:
        values.extend(auth.secrets())
    if isinstance(auth, BasicAuth):
        values.append(basic_credentials(auth.username, auth.password).removeprefix("Basic "))
    if isinstance(auth, OAuth2ClientCredentials):
        values.append(client_credentials(auth).removeprefix("Basic "))
        if tokens is not None:
            values.extend(tokens.known_tokens(auth))
    if signing is not None:
        values.extend(signing.secrets())
    return tuple(dict.fromkeys(value for value in values if value))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret (as is, JSON-escaped, URL-encoded) replaced."""
    return Redactor.of(secrets=secrets).text(text)


_T = TypeVar("_T")


def resolve_env(spec: _T) -> _T:
    """A copy of an auth or signing spec with its ``${ENV_VAR}`` references replaced by their values (read
    when sending, never stored); ValueError names a variable that is not set."""
    if spec is None or not dataclasses.is_dataclass(spec):
        return spec
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        if isinstance(value, str) and ENV_REF.match(value):
            changes[f.name] = _env(value)
        elif isinstance(value, Mapping) and any(
            isinstance(v, str) and ENV_REF.match(v) for v in value.values()
        ):
            changes[f.name] = {
                k: _env(v) if isinstance(v, str) and ENV_REF.match(v) else v for k, v in value.items()
            }
    return dataclasses.replace(spec, **changes) if changes else spec  # type: ignore[type-var]


ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def _env(reference: str) -> str:
    name = reference[2:-1]
    value: str | None = os.environ.get(name)
    if value is None:
        raise ValueError(f"environment variable {name} is not set")
    return value
