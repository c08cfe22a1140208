"""Webhook authentication and signing through the real server, against a real buyer and a real OAuth2
token endpoint on loopback, on both databases; and the secret-leak test: a known secret is nowhere in the
database, the logs or the API's output."""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.services import configure
from tests.support import (
    ADMIN,
    ServerThread,
    base_config,
    everything_stored,
    lead,
    prepare,
    source_headers,
)

KEY = "a-test-secret-of-enough-length-0004"
TOKEN = "tok-leak-check-8c1f2e"
WHSEC = "whsec_" + base64.b64encode(b"buyer-verifies-this-signature-32b").decode()


class Buyer:
    """An aiohttp buyer and token endpoint on 127.0.0.1, in a thread: records what it receives."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.token_calls = 0
        self.valid_tokens: set[str] = set()
        self.revoke_next = False
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    async def _lead(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append({"headers": dict(request.headers), "query": dict(request.query), "body": body})
        auth = request.headers.get("Authorization", "")
        if request.path == "/oauth-buyer":
            token = auth.removeprefix("Bearer ")
            if self.revoke_next:  # the buyer revoked the token it issued: one 401, then the new one works
                self.revoke_next = False
                self.valid_tokens.discard(token)
            if token not in self.valid_tokens:
                return web.json_response({"error": "invalid token"}, status=401)
        return web.json_response({"status": "accepted", "id": f"ref-{len(self.requests)}"})

    async def _token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        form = await request.post()
        if (
            request.headers.get("Authorization")
            != "Basic " + base64.b64encode(b"client-1:client-secret-9").decode()
        ):
            return web.json_response({"error": "invalid_client"}, status=401)
        assert form.get("grant_type") == "client_credentials"
        token = f"access-{self.token_calls}"
        self.valid_tokens.add(token)
        return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_route("*", "/{name}", self._lead)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> Buyer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"


@pytest.fixture
def buyer() -> Iterator[Buyer]:
    with Buyer() as b:
        yield b


def config(buyer: Buyer, webhook: dict[str, Any]) -> dict[str, Any]:
    doc = base_config(buyer.url)
    doc["partners"] = {"acme": {"channel": {"webhook": {"url": buyer.url("acme"), **webhook}}}}
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partner": "acme"}
    return doc


def post(server: ServerThread, n: int = 1) -> list[dict[str, Any]]:
    out = []
    with server.client() as http:
        for i in range(n):
            r = http.post("/v1/leads?wait=10", json=lead(email=f"a{i}@example.com"), headers=source_headers())
            out.append(r.json())
    return out


def test_bearer_token_reaches_the_buyer_and_leaks_nowhere(
    db_url: str, buyer: Buyer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with ServerThread(db_url, secret_key=KEY) as server:
        prepare(db_url, {"sources": {"web": {}}})  # the admin token and source key
        with server.client() as http:
            put = http.put(
                "/v1/partners/acme", json={"channel": {"webhook": {"url": buyer.url("acme")}}}, headers=ADMIN
            )
            assert put.status_code == 200
            doc = config(buyer, {"auth": {"bearer": {"token": TOKEN}}, "signing": {"secret": WHSEC}})
            applied = http.post("/v1/config", json=doc, headers=ADMIN)
            assert applied.status_code == 200, applied.text
        answer = post(server)[0]
        with server.client() as http:
            outputs = [
                http.get("/v1/config", headers=ADMIN).text,
                http.get("/v1/partners/acme", headers=ADMIN).text,
                http.get("/v1/partners", headers=ADMIN).text,
                http.get("/v1/audit", headers=ADMIN).text,
                http.get(f"/v1/distributions?lead={answer['lead_id']}", headers=ADMIN).text,
            ]
            job_id = http.get(f"/v1/distributions?lead={answer['lead_id']}", headers=ADMIN).json()["items"][
                0
            ]["id"]
            outputs.append(http.get(f"/v1/distributions/{job_id}", headers=ADMIN).text)
    assert answer["status"] == "delivered"
    sent = buyer.requests[0]
    assert sent["headers"]["Authorization"] == f"Bearer {TOKEN}"
    # the buyer verifies the Standard Webhooks signature with the reference package
    Webhook(WHSEC).verify(sent["body"], {k.lower(): v for k, v in sent["headers"].items()})
    exported = configure.export_yaml(SqlStorage(db := Database(db_url)))
    db.dispose()
    assert yaml.safe_load(exported)["partners"]["acme"]["channel"]["webhook"]["auth"] == {
        "bearer": {"token": "***"}
    }
    secret_bits = (TOKEN, WHSEC, WHSEC.removeprefix("whsec_"))
    for text in [*outputs, exported, caplog.text]:
        assert not any(bit in text for bit in secret_bits)
    stored = everything_stored(db_url)
    assert not any(bit.encode() in stored for bit in secret_bits)
    assert '"Authorization":"***"' in outputs[-1].replace(" ", "")


@pytest.mark.sqlite_only
def test_api_key_in_the_query_from_an_environment_variable(
    db_url: str, buyer: Buyer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_API_KEY", "k-from-env-77")
    auth = {"api_key": {"name": "api_key", "value": "${ACME_API_KEY}", "in": "query"}}
    prepare(db_url, config(buyer, {"auth": auth}))
    with ServerThread(db_url) as server:  # a reference needs no secret key: nothing secret is stored
        answer = post(server)[0]
        with server.client() as http:
            job = http.get(f"/v1/distributions?lead={answer['lead_id']}", headers=ADMIN).json()["items"][0]
            detail = http.get(f"/v1/distributions/{job['id']}", headers=ADMIN).text
    assert answer["status"] == "delivered"
    assert buyer.requests[0]["query"] == {"api_key": "k-from-env-77"}
    assert "k-from-env-77" not in detail


@pytest.mark.sqlite_only
def test_basic_auth(db_url: str, buyer: Buyer) -> None:
    prepare(db_url, config(buyer, {"auth": {"basic": {"username": "u1", "password": "${NOT_SET_ANYWHERE}"}}}))
    with ServerThread(db_url) as server:
        answer = post(server)[0]
    assert answer["status"] == "unsold"  # the variable is missing: a clear, final error, nothing sent
    assert buyer.requests == []


@pytest.mark.sqlite_only
def test_oauth2_token_fetched_once_and_again_after_a_401(db_url: str, buyer: Buyer) -> None:
    oauth = {"token_url": buyer.url("token"), "client_id": "client-1", "client_secret": "client-secret-9"}
    doc = config(buyer, {"auth": {"oauth2": oauth}})
    doc["partners"]["acme"]["channel"]["webhook"]["url"] = buyer.url("oauth-buyer")
    prepare(db_url, {"sources": {"web": {}}})
    with ServerThread(db_url, secret_key=KEY) as server:
        with server.client() as http:
            assert http.post("/v1/config", json=doc, headers=ADMIN).status_code == 200
        first = post(server, 3)
        assert buyer.token_calls == 1  # cached
        buyer.revoke_next = True
        again = post(server)[0]
    assert [a["status"] for a in first] == ["delivered"] * 3
    assert again["status"] == "delivered"
    assert buyer.token_calls == 2  # fetched again once, after the 401
    assert b"client-secret-9" not in everything_stored(db_url)


@pytest.mark.sqlite_only
def test_bad_auth_configuration_is_refused_with_its_path(db_url: str, buyer: Buyer) -> None:
    from leadrelay.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        prepare(
            db_url,
            config(buyer, {"auth": {"bearer": {"token": "x"}, "basic": {"username": "a", "password": "b"}}}),
        )
    assert caught.value.problems[0].path == "partners.acme.channel.webhook.auth"
    with pytest.raises(ConfigError) as caught:
        prepare(db_url, config(buyer, {"auth": {"api_key": {"name": "k", "value": "${K}", "in": "body"}}}))
    assert caught.value.problems[0].path == "partners.acme.channel.webhook.auth.api_key.in"


@pytest.mark.sqlite_only
def test_test_delivery_shows_the_rendered_request_the_answer_and_the_outcome(
    db_url: str, buyer: Buyer, monkeypatch: pytest.MonkeyPatch
) -> None:
    webhook = {
        "format": "xml",
        "mapping": {"lead.email": "{{ lead.email }}", "lead.phone": "{{ lead.phone | national }}"},
        "response": {"outcome_search_term": "accepted", "reference_path": "id"},
    }
    doc = config(buyer, webhook | {"auth": {"headers": {"X-Partner-Key": "${ACME_KEY}"}}})
    prepare(db_url, doc)
    monkeypatch.setenv("ACME_KEY", "partner-key-value-31")
    with ServerThread(db_url, workers=1) as server, server.client() as http:
        shown = http.post("/v1/partners/acme/test-delivery", headers=ADMIN).json()
    attempt = shown["deliveries"][0]["attempts"][0]
    assert attempt["outcome"] == "success"
    assert (
        "<lead>" in attempt["request"]["body"]
        and "<email>test@example.com</email>" in attempt["request"]["body"]
    )
    assert attempt["request"]["headers"]["X-Partner-Key"] == "***"
    assert (
        '"status": "accepted"' in attempt["response_body"]
        or '"status":"accepted"' in attempt["response_body"]
    )
    assert shown["deliveries"][0]["reference"] == "ref-1"
    assert buyer.requests[0]["headers"]["X-Partner-Key"] == "partner-key-value-31"


@pytest.mark.sqlite_only
def test_a_webhook_to_a_private_network_is_refused_unless_allowed(
    db_url: str, buyer: Buyer, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(db_url, config(buyer, {}))
    monkeypatch.setenv("LEADRELAY_ALLOWED_TARGET_NETWORKS", "")  # the guard as it is out of the box
    with ServerThread(db_url) as server:
        refused = post(server)[0]
        with server.client() as http:
            job = http.get(f"/v1/distributions?lead={refused['lead_id']}", headers=ADMIN).json()["items"][0]
            detail = http.get(f"/v1/distributions/{job['id']}", headers=ADMIN).json()
    assert refused["status"] == "unsold" and buyer.requests == []
    attempts = detail["deliveries"][0]["attempts"]
    assert len(attempts) == 1  # final: not retried
    assert "target 127.0.0.1 is in a private network" in attempts[0]["reason"]
    monkeypatch.setenv("LEADRELAY_ALLOWED_TARGET_NETWORKS", "127.0.0.0/8")
    with ServerThread(db_url) as server:
        assert post(server)[0]["status"] == "delivered"


def test_a_token_url_in_a_private_network_gets_nothing_from_a_partner_test(
    db_url: str, buyer: Buyer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SSRF through OAuth2: ``partners test`` (the API's test delivery) must not POST the client id and
    secret to a loopback token_url when no network is allowed."""
    oauth = {"token_url": buyer.url("token"), "client_id": "client-1", "client_secret": "client-secret-9"}
    prepare(db_url, {"sources": {"web": {}}})
    with ServerThread(db_url, secret_key=KEY) as server, server.client() as http:
        assert http.post(
            "/v1/config", json=config(buyer, {"auth": {"oauth2": oauth}}), headers=ADMIN
        ).is_success
    monkeypatch.setenv("LEADRELAY_ALLOWED_TARGET_NETWORKS", "")  # the guard as it is out of the box
    with ServerThread(db_url, secret_key=KEY) as server, server.client() as http:
        shown = http.post("/v1/partners/acme/test-delivery", headers=ADMIN).json()
    assert buyer.token_calls == 0 and buyer.requests == []  # nothing reached the token endpoint or buyer
    attempts = shown["deliveries"][0]["attempts"]
    assert len(attempts) == 1 and attempts[0]["outcome"] == "error"  # final: not retried
    reason = attempts[0]["reason"]
    assert f"auth: token endpoint http://127.0.0.1:{buyer.port}/token" in reason
    assert (
        "target 127.0.0.1 is in a private network" in reason and "LEADRELAY_ALLOWED_TARGET_NETWORKS" in reason
    )
    assert "client-secret-9" not in str(shown)
