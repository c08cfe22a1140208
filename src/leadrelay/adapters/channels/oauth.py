"""OAuth2 client-credentials tokens, shared by every delivery of the process (RFC 6749 §4.4).

The token endpoint is an outbound target like the buyer's URL: it is reached only through a session from
:meth:`~leadrelay.adapters.channels.guard.TargetGuard.session`, so a ``token_url`` in a private network is
refused before the client credentials leave (unless ``LEADRELAY_ALLOWED_TARGET_NETWORKS`` allows it).

One :class:`TokenCache` per process: thousands of deliveries cost one token request per lifetime;
concurrent callers share a fetch; a token is handed out until shortly before it expires, and a buyer's 401
drops it (``invalidate``) so the next caller fetches a new one.
"""

from __future__ import annotations

import asyncio
import base64
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

import aiohttp
import orjson

from leadrelay.adapters.channels.guard import blocked, request_head
from leadrelay.domain.delivery.answer_text import decode_answer
from leadrelay.domain.partner_auth import OAuth2ClientCredentials
from leadrelay.domain.privacy import Redactor

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
        headers["Authorization"] = client_credentials(spec)
    else:
        form.update(client_id=spec.client_id, client_secret=spec.client_secret)
    if spec.scope:
        form["scope"] = spec.scope
    if spec.audience:
        form["audience"] = spec.audience
    secrets = Redactor.of(secrets=[*spec.secrets(), client_credentials(spec).removeprefix("Basic ")])
    parts = urlsplit(spec.token_url)
    where = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"

    def fail(reason: str, retryable: bool) -> TokenError:  # the endpoint may echo what we sent
        return TokenError(secrets.text(f"token endpoint {where}: {reason}"), retryable)

    try:
        async with await request_head(
            session,
            "POST",
            spec.token_url,
            data=urlencode(form).encode("ascii"),
            headers=headers,
            limits=aiohttp.ClientTimeout(total=timeout_s),  # no redirects: client credentials stay here
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
    except aiohttp.ClientConnectorError as exc:
        if (refused := blocked(exc)) is not None:  # a private network: nothing was sent, and never will be
            raise fail(str(refused), False) from None
        raise fail(f"connection error: {_exc_text(exc)}", True) from None
    except (aiohttp.ClientConnectionError, OSError) as exc:
        raise fail(f"connection error: {_exc_text(exc)}", True) from None
    except aiohttp.ClientError as exc:
        raise fail(f"HTTP error: {_exc_text(exc)}", True) from None

    text = decode_answer(raw, "utf-8")  # a byte order mark before the JSON dropped
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


def basic_credentials(username: str, password: str) -> str:
    """The ``Authorization`` value for HTTP Basic (RFC 7617, UTF-8)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def client_credentials(spec: OAuth2ClientCredentials) -> str:
    """RFC 6749 §2.3.1: the client id and secret are form-encoded, then sent as HTTP Basic."""
    return basic_credentials(quote_plus(spec.client_id), quote_plus(spec.client_secret))
