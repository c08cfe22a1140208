"""OAuth2 client-credentials tokens from a real token endpoint on 127.0.0.1 (an aiohttp app started by
each test), and credentials and signatures as a real buyer endpoint receives them."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import unquote_plus

import aiohttp
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from leadrelay.adapters.channels.credentials import (
    TokenCache,
    TokenError,
    apply_auth,
    redact,
    refresh_auth,
    secret_values,
    sign,
)
from leadrelay.adapters.channels.guard import TargetGuard
from leadrelay.adapters.channels.webhook import WebhookSender
from leadrelay.domain.attempts import AttemptResult, LeadView, Outcome
from leadrelay.domain.model import WebhookChannel
from leadrelay.domain.partner_auth import ApiKeyAuth, OAuth2ClientCredentials, SigningSpec
from tests.support import ClosingServer

CLIENT_ID = "leadrelay client"
CLIENT_SECRET = "s3cr+t/=:&x-not-for-logs"  # every character form encoding must get right


class TokenEndpoint:
    """Issues tok-1, tok-2, … to the right client credentials (Basic per RFC 6749 §2.3.1, or form
    fields); can be told to fail with a status and a body instead."""

    def __init__(self, expires_in: Any = 3600, delay: float = 0.0) -> None:
        self.expires_in, self.delay = expires_in, delay
        self.failure: tuple[int, dict[str, Any]] | None = None
        self.requests: list[dict[str, Any]] = []
        self.issued = 0

    async def __call__(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        auth = request.headers.get("Authorization")
        self.requests.append({"form": form, "authorization": auth})
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failure is not None:
            return web.json_response(self.failure[1], status=self.failure[0])
        if auth is not None:
            user, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
            client = (unquote_plus(user), unquote_plus(password))
        else:
            client = (str(form.get("client_id")), str(form.get("client_secret")))
        if form.get("grant_type") != "client_credentials" or client != (CLIENT_ID, CLIENT_SECRET):
            return web.json_response({"error": "invalid_client"}, status=401)
        self.issued += 1
        body = {"access_token": f"tok-{self.issued}", "token_type": "Bearer", "expires_in": self.expires_in}
        return web.json_response(body)


@contextlib.asynccontextmanager
async def serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    async def route(request: web.Request) -> web.StreamResponse:  # aiohttp wants a coroutine function
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", route)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def oauth(base: str, **extra: Any) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(f"{base}/oauth/token", CLIENT_ID, CLIENT_SECRET, **extra)


class ManualClock:
    """The token cache's clock, moved by the test instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(
    endpoint: TokenEndpoint,
    scenario: Callable[[str, TokenCache, aiohttp.ClientSession], Awaitable[Any]],
    timeout_s: float = 2.0,
    clock: Callable[[], float] | None = None,
) -> Any:
    async def main() -> Any:
        async with serve(endpoint) as base, aiohttp.ClientSession() as session:
            tokens = TokenCache(timeout_s=timeout_s, clock=clock or time.monotonic)
            return await scenario(base, tokens, session)

    return asyncio.run(main())


@pytest.mark.parametrize("method", ["basic", "body"])
def test_concurrent_callers_share_one_fetch(method: str) -> None:
    endpoint = TokenEndpoint(delay=0.1)  # slow enough that every caller arrives while it is in flight

    async def scenario(base: str, tokens: TokenCache, session: aiohttp.ClientSession) -> list[str]:
        spec = oauth(base, scope="leads:write", audience="https://buyer.example", auth_method=method)
        return await asyncio.gather(*(tokens.token(spec, session) for _ in range(50)))

    assert run(endpoint, scenario) == ["tok-1"] * 50
    assert len(endpoint.requests) == 1
    (sent,) = endpoint.requests
    assert sent["form"]["scope"] == "leads:write" and sent["form"]["audience"] == "https://buyer.example"
    if method == "basic":
        assert sent["authorization"].startswith("Basic ") and "client_secret" not in sent["form"]
    else:
        assert sent["authorization"] is None and sent["form"]["client_id"] == CLIENT_ID


def test_a_token_is_cached_until_near_its_expiry() -> None:
    endpoint = TokenEndpoint(expires_in=1)  # margin: a tenth of a second
    clock = ManualClock()

    async def scenario(base: str, tokens: TokenCache, session: aiohttp.ClientSession) -> list[str]:
        spec = oauth(base)
        seen = [await tokens.token(spec, session), await tokens.token(spec, session)]
        clock.now += 0.85  # still fresh: 0.9 s of the 1 s lifetime are handed out
        seen.append(await tokens.token(spec, session))
        clock.now += 0.1
        seen.append(await tokens.token(spec, session))
        seen.append(await tokens.token(spec, session))
        return seen

    assert run(endpoint, scenario, clock=clock) == ["tok-1", "tok-1", "tok-1", "tok-2", "tok-2"]
    assert len(endpoint.requests) == 2


def test_tokens_are_kept_apart_by_scope_and_a_long_lived_one_stays() -> None:
    endpoint = TokenEndpoint(expires_in="3600")  # some endpoints send a string

    async def scenario(base: str, tokens: TokenCache, session: aiohttp.ClientSession) -> list[str]:
        read, write = oauth(base, scope="read"), oauth(base, scope="write")
        first = [await tokens.token(read, session), await tokens.token(write, session)]
        await asyncio.sleep(0.2)
        return [*first, await tokens.token(read, session), await tokens.token(write, session)]

    assert run(endpoint, scenario) == ["tok-1", "tok-2", "tok-1", "tok-2"]
    assert len(endpoint.requests) == 2


def test_invalidate_forces_exactly_one_refetch() -> None:
    endpoint = TokenEndpoint(delay=0.05)

    async def scenario(base: str, tokens: TokenCache, session: aiohttp.ClientSession) -> Any:
        spec = oauth(base)
        old = await tokens.token(spec, session)
        # twenty deliveries rejected with the same token: only the first drop counts
        dropped = [tokens.invalidate(spec, old) for _ in range(20)]
        renewed = await asyncio.gather(*(tokens.token(spec, session) for _ in range(20)))
        stale = tokens.invalidate(spec, old)  # a late 401 for the old token keeps the new one
        return dropped, renewed, stale, await tokens.token(spec, session), tokens.known_tokens(spec)

    dropped, renewed, stale, last, known = run(endpoint, scenario)
    assert dropped == [True] + [False] * 19
    assert renewed == ["tok-2"] * 20 and not stale and last == "tok-2"
    assert known == ("tok-2", "tok-1")  # the previous one may still be in records: redact it too
    assert len(endpoint.requests) == 2


def test_a_cancelled_caller_does_not_cancel_the_shared_fetch() -> None:
    endpoint = TokenEndpoint(delay=0.2)

    async def scenario(base: str, tokens: TokenCache, session: aiohttp.ClientSession) -> str:
        spec = oauth(base)
        impatient = asyncio.ensure_future(tokens.token(spec, session))
        patient = asyncio.ensure_future(tokens.token(spec, session))
        await asyncio.sleep(0.05)
        impatient.cancel()
        return await patient

    assert run(endpoint, scenario) == "tok-1"
    assert len(endpoint.requests) == 1


def token_error(
    endpoint: TokenEndpoint, spec: Callable[[str], OAuth2ClientCredentials], timeout_s: float = 2.0
) -> TokenError:
    async def scenario(base: str, tokens: TokenCache, session: aiohttp.ClientSession) -> TokenError:
        with pytest.raises(TokenError) as caught:
            await tokens.token(spec(base), session)
        return caught.value

    return run(endpoint, scenario, timeout_s)  # type: ignore[no-any-return]


def test_invalid_client_is_final_and_names_the_error_but_not_the_secret() -> None:
    endpoint = TokenEndpoint()
    description = f"client authentication failed for secret {CLIENT_SECRET}"  # an endpoint that echoes
    endpoint.failure = (401, {"error": "invalid_client", "error_description": description})
    error = token_error(endpoint, oauth)
    assert not error.retryable
    assert "HTTP 401" in error.reason and "invalid_client" in error.reason
    assert "client authentication failed for secret ***" in error.reason
    assert CLIENT_SECRET not in str(error) and "s3cr" not in str(error)


def test_wrong_credentials_are_refused_by_the_endpoint() -> None:
    error = token_error(
        TokenEndpoint(), lambda base: OAuth2ClientCredentials(f"{base}/t", CLIENT_ID, "wrong-secret")
    )
    assert not error.retryable and "invalid_client" in error.reason and "wrong-secret" not in error.reason


def test_a_503_is_retryable_and_not_cached() -> None:
    endpoint = TokenEndpoint()
    endpoint.failure = (503, {"error": "temporarily_unavailable"})

    async def scenario(base: str, tokens: TokenCache, session: aiohttp.ClientSession) -> Any:
        with pytest.raises(TokenError) as caught:
            await tokens.token(oauth(base), session)
        endpoint.failure = None
        return caught.value, await tokens.token(oauth(base), session)

    error, token = run(endpoint, scenario)
    assert error.retryable and "HTTP 503: temporarily_unavailable" in error.reason
    assert token == "tok-1" and len(endpoint.requests) == 2


def test_a_refused_connection_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        error = token_error(TokenEndpoint(), lambda _: oauth(f"http://127.0.0.1:{port}"))
    assert error.retryable and "connection error" in error.reason
    assert CLIENT_SECRET not in error.reason


def test_a_slow_endpoint_times_out_retryably() -> None:
    error = token_error(TokenEndpoint(delay=2.0), oauth, timeout_s=0.3)
    assert error.retryable and "timed out after 0.3s" in error.reason


# ---------------------------------------------------------------- as the buyer receives it


def test_a_401_from_the_buyer_renews_the_token_and_the_retry_succeeds() -> None:
    endpoint = TokenEndpoint()
    revoked = {"Bearer tok-1"}
    seen: list[str] = []

    async def buyer(request: web.Request) -> web.Response:
        if request.path == "/oauth/token":
            return await endpoint(request)
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(status=401 if seen[-1] in revoked else 200)

    async def main() -> Any:
        async with serve(buyer) as base, aiohttp.ClientSession() as session:
            spec, tokens, headers = oauth(base), TokenCache(), {"Content-Type": "application/json"}
            url = await apply_auth(spec, "POST", f"{base}/hook", headers, tokens, session)
            statuses = []
            async with session.post(url, data=b"{}", headers=headers) as response:
                statuses.append(response.status)
            assert await refresh_auth(spec, headers, tokens, session)
            async with session.post(url, data=b"{}", headers=headers) as response:
                statuses.append(response.status)
            return statuses, secret_values(spec, tokens=tokens)

    statuses, secrets = asyncio.run(main())
    assert statuses == [401, 200] and seen == ["Bearer tok-1", "Bearer tok-2"]
    assert len(endpoint.requests) == 2
    assert {"tok-1", "tok-2", CLIENT_SECRET} <= set(secrets)
    assert redact(f"sent {seen[0]}, then {seen[1]}", secrets) == "sent Bearer ***, then Bearer ***"


def test_a_query_api_key_and_a_signature_arrive_intact() -> None:
    received: dict[str, Any] = {}
    secret = "plain passphrase for sunco"

    async def buyer(request: web.Request) -> web.Response:
        received.update(query=dict(request.query), body=await request.read(), headers=dict(request.headers))
        return web.Response()

    async def main() -> None:
        async with serve(buyer) as base, aiohttp.ClientSession() as session:
            spec = ApiKeyAuth("api key", "a+b/c=d&e é", in_="query")
            headers = {"Content-Type": "application/json"}
            url = await apply_auth(
                spec, "POST", f"{base}/hook?src=web&x=a%20b", headers, TokenCache(), session
            )
            body = '{"first_name":"Zoë"}'.encode()
            sign(SigningSpec(secret), "job-7:sunco", int(time.time()), body, headers)
            async with session.post(url, data=body, headers=headers) as response:
                assert response.status == 200

    asyncio.run(main())
    assert received["query"] == {"src": "web", "x": "a b", "api key": "a+b/c=d&e é"}
    assert Webhook(secret.encode()).verify(received["body"], received["headers"]) == {"first_name": "Zoë"}
    assert received["headers"]["webhook-id"] == "job-7:sunco"


# ---------------------------------------------------------------- the target guard


def test_a_token_endpoint_in_a_private_network_is_refused_before_anything_is_sent() -> None:
    """SSRF: with no allow-list, a token_url on loopback receives nothing, neither through the token
    cache nor through a webhook delivery (the token is fetched before the buyer is called)."""
    endpoint = TokenEndpoint()
    hooks: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/oauth/token":
            return await endpoint(request)
        hooks.append(request.path)
        return web.json_response({"status": "accepted"})

    async def main() -> tuple[TokenError, AttemptResult]:
        async with serve(handler) as base:
            guard = TargetGuard.from_setting("")  # LEADRELAY_ALLOWED_TARGET_NETWORKS empty: out of the box
            async with guard.session() as session:
                with pytest.raises(TokenError) as caught:
                    await TokenCache().token(oauth(base), session)
            sender = WebhookSender(guard=guard)
            try:
                spec = WebhookChannel(url=f"{base}/hook", auth=oauth(base), timeout_s=2.0)
                view = LeadView("lead_1", "solar", "acme", {"first_name": "Ada"}, "idem-1")
                result = await sender.send(view, spec)
            finally:
                await sender.close()
            return caught.value, result

    error, result = asyncio.run(main())
    assert endpoint.requests == [] and hooks == []  # the client id and secret never left
    for reason in (error.reason, result.reason or ""):
        assert "token endpoint http://127.0.0.1:" in reason
        assert "target 127.0.0.1 is in a private network" in reason
        assert "LEADRELAY_ALLOWED_TARGET_NETWORKS" in reason
        assert CLIENT_SECRET not in reason
    assert not error.retryable  # final: a retry would be refused again
    assert result.outcome is Outcome.ERROR and not result.retryable and result.reason.startswith("auth: ")


def test_an_allowed_network_lets_the_token_endpoint_through() -> None:
    endpoint = TokenEndpoint()

    async def main() -> str:
        async with serve(endpoint) as base, TargetGuard.from_setting("127.0.0.0/8").session() as session:
            return await TokenCache().token(oauth(base), session)

    assert asyncio.run(main()) == "tok-1" and len(endpoint.requests) == 1


def test_a_token_request_on_a_pooled_connection_the_endpoint_closed_goes_again_on_a_new_one() -> None:
    """The token endpoint ends an idle kept-alive connection just as the next token request comes on it:
    the request never reached it, so it goes again on a new connection and the token is issued."""
    answer = b'{"access_token": "tok-x", "token_type": "Bearer", "expires_in": 3600}'
    server = ClosingServer(close_on=2, answer=answer, content_type="application/json")

    async def main() -> list[str]:
        async with server.running() as url, TargetGuard(enabled=False).session() as session:
            tokens = TokenCache(timeout_s=2.0)
            spec = oauth(url.removesuffix("/hook"))
            first = await tokens.token(spec, session)
            tokens.invalidate(spec, first)
            return [first, await tokens.token(spec, session)]

    assert asyncio.run(main()) == ["tok-x", "tok-x"]
    assert (server.answered, server.dropped, server.connections) == (2, 1, 2)
