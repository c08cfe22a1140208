"""The webhook channel: one HTTP request per delivery attempt, through one shared aiohttp session.

Transport trouble never escapes as an exception: every way a request can end is classified here into an
:class:`~leadrelay.domain.attempts.AttemptResult` (2xx success, 429/5xx retryable error, other statuses a
final failure, connection trouble and timeouts retryable errors, a bad URL a final error). A partner's
``response`` rules (LeadConduit's options) read the body instead; see
:func:`~leadrelay.adapters.channels.webhook_answers.classify`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, NamedTuple

import aiohttp
import orjson

from leadrelay.adapters.channels.credentials import (
    TokenCache,
    TokenError,
    apply_auth,
    refresh_auth,
    resolve_env,
    secret_values,
    sign,
)
from leadrelay.adapters.channels.guard import TargetGuard, blocked, request_head
from leadrelay.adapters.channels.payload import encode
from leadrelay.adapters.channels.webhook_answers import classify
from leadrelay.domain.attempts import AttemptResult, LeadView, Outcome
from leadrelay.domain.delivery.answer_text import decode_answer
from leadrelay.domain.health import TIMEOUT_REASON
from leadrelay.domain.model import WebhookChannel
from leadrelay.domain.privacy import is_secret_name, redact_url, url_secrets
from leadrelay.templating.mapping import MappingError

MAX_RECORDED_CHARS = 65536  # request and response bodies kept in an attempt
_MAX_READ_BYTES = 4 * MAX_RECORDED_CHARS  # enough bytes for 64 Ki characters of UTF-8
_USER_AGENT = "leadrelay/0.1"
REDACTED = "***"


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: REDACTED if is_secret_name(name) else value for name, value in headers.items()}


@functools.lru_cache(maxsize=64)
def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    """A request's time limit (frozen: one per value is enough)."""
    return aiohttp.ClientTimeout(total=seconds)


def _time_left(deadline: float) -> aiohttp.ClientTimeout:
    """The time limit of a request that must end by ``deadline`` (on the event loop's clock)."""
    left = deadline - asyncio.get_running_loop().time()
    if left <= 0:
        raise TimeoutError
    return aiohttp.ClientTimeout(total=left)


def _timeout_text(seconds: float) -> str:
    return f"{TIMEOUT_REASON}{seconds:g}s"  # how the partner's health tells a timeout in stored attempts


@functools.lru_cache(maxsize=512)  # read per send; a partner's URL rarely changes
def _exc_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if text else type(exc).__name__


class WebhookSender:
    """Posts leads to partners' HTTP endpoints; one instance per process, closed on shutdown."""

    def __init__(self, *, user_agent: str = _USER_AGENT, guard: TargetGuard | None = None) -> None:
        self._user_agent = user_agent
        self.guard = guard or TargetGuard(enabled=False)  # the server passes its settings' guard
        self.tokens = TokenCache()  # OAuth2 client-credentials tokens, shared by every delivery
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = self.guard.session(  # every connection checked against private networks
                limit=256,
                ttl_dns_cache=300,
                json_serialize=lambda obj: orjson.dumps(obj, default=str).decode(),
            )
            self._loop = loop
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _headers(self, lead: LeadView, spec: WebhookChannel, content_type: str | None) -> dict[str, str]:
        """Ours, then the partner's (a Content-Type there wins), then the idempotency and test marks."""
        headers: dict[str, str] = {"User-Agent": self._user_agent}
        if content_type is not None:
            headers["Content-Type"] = content_type
        for name, value in spec.headers.items():
            for existing in [key for key in headers if key.lower() == name.lower()]:
                del headers[existing]
            headers[name] = value
        for name in [key for key in headers if key.lower() in ("idempotency-key", "x-leadrelay-test")]:
            del headers[name]
        headers["Idempotency-Key"] = lead.idempotency_key
        if lead.test:
            headers["X-Leadrelay-Test"] = "true"
        return headers

    async def send(self, lead: LeadView, spec: WebhookChannel) -> AttemptResult:
        started = time.perf_counter()
        method = spec.method.upper()
        request: dict[str, Any] = {"method": method, "url": redact_url(spec.url)}
        sent = lead.redactor  # what must never be stored; grows with the credentials once they are known

        def elapsed() -> float:
            return (time.perf_counter() - started) * 1000.0

        def error(reason: str, retryable: bool, *, timed_out: bool = False) -> AttemptResult:
            return AttemptResult(
                Outcome.ERROR,
                reason=reason,
                duration_ms=elapsed(),
                request=request,
                retryable=retryable,
                timed_out=timed_out,
                redactor=sent,
            )

        try:
            encoded = encode(lead, spec)
            url, body = encoded.url, encoded.body
            headers = self._headers(lead, spec, encoded.content_type)
        except MappingError as exc:  # the operator's mapping, not the buyer: no retry will help
            return error(f"mapping: {exc}", False)
        except (TypeError, ValueError) as exc:
            return error(f"cannot encode the lead: {_exc_text(exc)}", False)
        try:
            auth, signing = resolve_env(spec.auth), resolve_env(spec.signing)
        except ValueError as exc:
            return error(f"auth: {exc}", False)
        session = self._get_session()
        # the timeout bounds the whole attempt: a token fetched first, and the request sent again after a 401
        deadline = asyncio.get_running_loop().time() + spec.timeout_s
        try:  # a token endpoint is reached through the same guarded session as the buyer
            if auth is not None:
                async with asyncio.timeout_at(deadline):
                    url = await apply_auth(auth, method, url, headers, self.tokens, session)
        except TokenError as exc:
            return error(f"auth: {exc.reason}", exc.retryable)
        except TimeoutError:
            return error(_timeout_text(spec.timeout_s), True, timed_out=True)
        if signing is not None:
            sign(signing, lead.idempotency_key, int(time.time()), body or b"", headers)
        # what this request carries that must never be stored: the lead's sensitive values (also as the
        # mapping transformed them), the partner's credentials and secret-looking headers
        header_secrets = [value for name, value in spec.headers.items() if is_secret_name(name)]
        sent = sent.plus(
            sensitive=encoded.derived,
            secrets=[*secret_values(auth, signing, self.tokens), *header_secrets, *url_secrets(url)],
        )
        recorded_url = url.replace(encoded.url, encoded.recorded_url)  # a query API key stays in place
        request["url"] = sent.text(redact_url(recorded_url))
        request["headers"] = sent.value(redact_headers(headers))
        request["body"] = sent.text((encoded.recorded_body or b"").decode("utf-8", errors="replace"))[
            :MAX_RECORDED_CHARS
        ]

        try:
            timeout = _timeout(spec.timeout_s) if auth is None else _time_left(deadline)
            got = await _exchange(session, method, url, body, headers, timeout)
            if got.status == 401 and auth is not None:
                async with asyncio.timeout_at(deadline):
                    renewed = await refresh_auth(auth, headers, self.tokens, session)
                if renewed:  # once, with the new token, in the time left
                    got = await _exchange(session, method, url, body, headers, _time_left(deadline))
        except TokenError as exc:
            return error(f"auth: {exc.reason}", exc.retryable)
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
            return error(f"invalid URL: {_exc_text(exc)}", False)
        except TimeoutError:
            return error(_timeout_text(spec.timeout_s), True, timed_out=True)
        except aiohttp.ClientConnectorError as exc:
            if (refused := blocked(exc)) is not None:  # a private address: final, it would be refused again
                return error(str(refused), False)
            return error(f"connection error: {_exc_text(exc)}", True)
        except (aiohttp.ClientConnectionError, OSError) as exc:
            return error(f"connection error: {_exc_text(exc)}", True)
        except aiohttp.ClientError as exc:
            return error(f"HTTP error: {_exc_text(exc)}", True)
        except ValueError as exc:  # a header or method aiohttp refuses to send
            return error(f"invalid request: {_exc_text(exc)}", False)
        status, phrase, retry_after, charset, content_type, raw = got

        # a buyer may echo the lead or a credential: redacted before anything is read from the answer
        sent = sent.plus(secrets=secret_values(auth, signing, self.tokens))  # a token renewed after a 401
        text = sent.text(decode_answer(raw, charset))  # read whole (up to what was read); stored cut
        result = classify(
            status,
            text,
            phrase,
            retry_after,
            elapsed(),
            request,
            content_type=content_type,
            rules=spec.response,
            status_policy=spec.status_policy,
        )
        answered = result.response_body
        if answered is not None and len(answered) > MAX_RECORDED_CHARS:
            return replace(result, response_body=answered[:MAX_RECORDED_CHARS], redactor=sent)
        return replace(result, redactor=sent)


class _Answer(NamedTuple):
    status: int
    phrase: str | None
    retry_after: str | None
    charset: str
    content_type: str
    raw: bytes


async def _exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    limits: aiohttp.ClientTimeout,
) -> _Answer:
    response = await request_head(session, method, url, data=body, headers=headers, limits=limits)
    async with response:
        raw = await _read_capped(response.content, _MAX_READ_BYTES)
        return _Answer(
            response.status,
            response.reason,
            response.headers.get("Retry-After"),
            response.charset or "utf-8",
            response.headers.get("Content-Type", ""),
            raw,
        )


async def _read_capped(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The answer's body, up to ``limit`` bytes. A body cut short (the connection dropped, a length not
    met, the timeout reached while it came) is what arrived of it: the buyer's status and headers came
    whole, so the answer is read from them and that part (a ``200`` is the buyer taking the lead, which
    posting it again would send twice)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        try:
            chunk = await stream.read(limit - size)
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
