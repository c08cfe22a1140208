"""Credentials and signatures on outgoing webhook requests, and OAuth2 tokens shared by all deliveries.

A delivery builds its headers, then calls :func:`apply_auth` (which may change the URL for a query API
key) and :func:`sign` last, over the exact body bytes it sends. OAuth2 client-credentials tokens come
from one :class:`TokenCache` per process so thousands of deliveries cost one token request per lifetime;
when a buyer answers 401, :func:`refresh_auth` drops the rejected token and the caller retries once.
Everything a spec holds (and the tokens it produced) is listed by :func:`secret_values` for redaction.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus, unquote_plus, urlencode, urlsplit, urlunsplit

import aiohttp
import orjson

from leadrelay.domain.auth import (
    ApiKeyAuth,
    AuthSpec,
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    OAuth2ClientCredentials,
    SigningSpec,
)
from leadrelay.domain.privacy import redact_text, secret_forms

MARGIN_S = 30.0  # a token is refreshed this long before it expires…
MARGIN_SHARE = 0.1  # …or this share of its lifetime earlier, whichever is less (short-lived tokens)
DEFAULT_LIFETIME_S = 300.0  # when the endpoint leaves out expires_in (the RFC only recommends it)
_MAX_TOKEN_BYTES = 65536
_SHORT = 200

_Key = tuple[str, str, str | None, str | None]


class TokenError(Exception):
    """The token endpoint gave no usable token; ``retryable`` tells a passing fault from bad settings."""

    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(slots=True)
class _Token:
    value: str
    fresh_until: float  # on the cache's clock


def token_margin(lifetime_s: float) -> float:
    """How long before its expiry a token is no longer handed out: clock skew and request time."""
    return min(MARGIN_S, MARGIN_SHARE * max(lifetime_s, 0.0))


def _key(spec: OAuth2ClientCredentials) -> _Key:
    return (spec.token_url, spec.client_id, spec.scope, spec.audience)


class TokenCache:
    """OAuth2 client-credentials tokens per (token URL, client, scope, audience); one fetch at a time
    per key, shared by every concurrent caller. The session is passed per call because the webhook
    sender recreates its session when the event loop changes; cached tokens outlive sessions."""

    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        default_lifetime_s: float = DEFAULT_LIFETIME_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout_s = timeout_s
        self._default_lifetime_s = default_lifetime_s
        self._clock = clock
        self._tokens: dict[_Key, _Token] = {}
        self._previous: dict[_Key, str] = {}  # the token replaced last: it may still be in records
        self._pending: dict[_Key, asyncio.Task[_Token]] = {}

    async def token(self, spec: OAuth2ClientCredentials, session: aiohttp.ClientSession) -> str:
        """A fresh access token; raises :class:`TokenError` when the endpoint gives none."""
        key = _key(spec)
        cached = self._tokens.get(key)
        if cached is not None and self._clock() < cached.fresh_until:
            return cached.value
        loop = asyncio.get_running_loop()
        task = self._pending.get(key)
        if task is None or task.get_loop() is not loop:
            task = loop.create_task(self._refresh(key, spec, session))
            self._pending[key] = task
            task.add_done_callback(lambda done: self._settled(key, done))
        # shield: a cancelled caller must not cancel the fetch the other callers wait for
        return (await asyncio.shield(task)).value

    def _settled(self, key: _Key, task: asyncio.Task[_Token]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled():
            task.exception()  # retrieved: no "never retrieved" noise when every caller went away

    async def _refresh(
        self, key: _Key, spec: OAuth2ClientCredentials, session: aiohttp.ClientSession
    ) -> _Token:
        started = self._clock()  # the lifetime counts from before the request, to be safe
        value, lifetime = await _fetch(spec, session, self._timeout_s)
        if lifetime is None:
            lifetime = self._default_lifetime_s
        token = _Token(value, started + lifetime - token_margin(lifetime))
        old = self._tokens.get(key)
        if old is not None and old.value != value:
            self._previous[key] = old.value
        self._tokens[key] = token
        return token

    def invalidate(self, spec: OAuth2ClientCredentials, token: str | None = None) -> bool:
        """Drop the cached token (only if it is still ``token`` when given, so that many deliveries
        rejected with the same old token cause one refetch, not one each); whether one was dropped."""
        key = _key(spec)
        cached = self._tokens.get(key)
        if cached is None or (token is not None and cached.value != token):
            return False
        del self._tokens[key]
        self._previous[key] = cached.value
        return True

    def known_tokens(self, spec: OAuth2ClientCredentials) -> tuple[str, ...]:
        """The current and the previous token for ``spec``: what recent records may contain."""
        key = _key(spec)
        current = self._tokens.get(key)
        values = (current.value if current else None, self._previous.get(key))
        return tuple(value for value in values if value)


async def _fetch(
    spec: OAuth2ClientCredentials, session: aiohttp.ClientSession, timeout_s: float
) -> tuple[str, float | None]:
    form = {"grant_type": "client_credentials"}
    headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
    if spec.auth_method == "basic":
        headers["Authorization"] = _client_credentials(spec)
    else:
        form.update(client_id=spec.client_id, client_secret=spec.client_secret)
    if spec.scope:
        form["scope"] = spec.scope
    if spec.audience:
        form["audience"] = spec.audience
    forms = secret_forms(secret_values(spec))
    parts = urlsplit(spec.token_url)
    where = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"

    def fail(reason: str, retryable: bool) -> TokenError:  # the endpoint may echo what we sent
        return TokenError(redact_text(f"token endpoint {where}: {reason}", forms), retryable)

    try:
        async with session.post(
            spec.token_url,
            data=urlencode(form).encode("ascii"),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,  # never replay client credentials to wherever a redirect points
        ) as response:
            raw = b""
            while len(raw) < _MAX_TOKEN_BYTES and (chunk := await response.content.read(65536)):
                raw += chunk  # capped: a misconfigured URL may point at anything
            status = response.status
    # "from None": aiohttp errors may carry the request (our Authorization header) in their context
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
        raise fail(f"invalid URL: {_exc_text(exc)}", False) from None
    except TimeoutError:
        raise fail(f"timed out after {timeout_s:g}s", True) from None
    except (aiohttp.ClientConnectionError, OSError) as exc:
        raise fail(f"connection error: {_exc_text(exc)}", True) from None
    except aiohttp.ClientError as exc:
        raise fail(f"HTTP error: {_exc_text(exc)}", True) from None

    text = raw.decode("utf-8", errors="replace")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        data = None
    data = data if isinstance(data, dict) else None
    if not 200 <= status < 300:
        retryable = status >= 500 or status in (408, 429)
        detail = _error_of(data) or " ".join(text.split())[:_SHORT]
        raise fail(f"HTTP {status}: {detail}" if detail else f"HTTP {status}", retryable)
    if data is None:
        raise fail(f"HTTP {status} without a JSON object", False)
    value = data.get("access_token")
    if not isinstance(value, str) or not value or any(ch in value for ch in "\r\n\0"):
        raise fail(f"HTTP {status} without a usable access_token", False)
    token_type = data.get("token_type")
    if isinstance(token_type, str) and token_type.lower() != "bearer":
        raise fail(f"token type {token_type[:_SHORT]!r} is not supported (only Bearer)", False)
    return value, _lifetime(data.get("expires_in"))


def _error_of(data: Mapping[str, Any] | None) -> str | None:
    """RFC 6749 §5.2: ``error`` and ``error_description``."""
    if data is None:
        return None
    parts = [data.get(name) for name in ("error", "error_description")]
    texts = [" ".join(part.split())[:_SHORT] for part in parts if isinstance(part, str) and part.strip()]
    return ": ".join(texts) or None


def _lifetime(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)  # some endpoints send "3600"
    except (TypeError, ValueError):
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _exc_text(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


# ---------------------------------------------------------------- applying credentials


def basic_credentials(username: str, password: str) -> str:
    """The ``Authorization`` value for HTTP Basic (RFC 7617, UTF-8)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _client_credentials(spec: OAuth2ClientCredentials) -> str:
    """RFC 6749 §2.3.1: the client id and secret are form-encoded, then sent as HTTP Basic."""
    return basic_credentials(quote_plus(spec.client_id), quote_plus(spec.client_secret))


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
        values.append(_client_credentials(auth).removeprefix("Basic "))
        if tokens is not None:
            values.extend(tokens.known_tokens(auth))
    if signing is not None:
        values.extend(signing.secrets())
    return tuple(dict.fromkeys(value for value in values if value))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret (as is, JSON-escaped, URL-encoded) replaced."""
    return redact_text(text, secret_forms(secrets))


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
