"""Auth specs applied to outgoing requests, Standard Webhooks signatures checked with the reference
``standardwebhooks`` package (as a buyer would), and redaction of every secret a request carries."""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
import os
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from leadrelay.adapters.channels.credentials import (
    TokenCache,
    add_query_param,
    apply_auth,
    redact,
    secret_values,
    sign,
    token_margin,
)
from leadrelay.configuration.load import validate_document
from leadrelay.domain.partner_auth import (
    ApiKeyAuth,
    AuthSpec,
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    OAuth2ClientCredentials,
    SigningSpec,
)
from leadrelay.errors import ConfigError
from tests.documents import base_config

URL = "https://buyer.example/hook?a=1&b=x%20y#frag"


def applied(
    spec: AuthSpec | None, headers: dict[str, str] | None = None, url: str = URL
) -> tuple[str, dict[str, str]]:
    """Run apply_auth for a static spec (the session is never used for those)."""
    sent = dict({"Content-Type": "application/json"} if headers is None else headers)

    async def run() -> str:
        async with aiohttp.ClientSession() as session:
            return await apply_auth(spec, "POST", url, sent, TokenCache(), session)

    return asyncio.run(run()), sent


# ---------------------------------------------------------------- applying credentials


def test_no_auth_changes_nothing() -> None:
    assert applied(None) == (URL, {"Content-Type": "application/json"})


def test_static_headers_replace_same_named_headers_whatever_their_case() -> None:
    spec = HeaderAuth({"X-Partner-Token": "tok-123", "X-Partner-Id": "acme"})
    url, headers = applied(spec, {"x-partner-token": "placeholder", "Accept": "application/json"})
    assert url == URL
    assert headers == {"Accept": "application/json", "X-Partner-Token": "tok-123", "X-Partner-Id": "acme"}


@pytest.mark.parametrize("name", ["Idempotency-Key", "content-type", "Webhook-Signature", "Host"])
def test_credentials_cannot_replace_headers_leadrelay_sets(name: str) -> None:
    with pytest.raises(ValueError, match="set by leadrelay"):
        HeaderAuth({name: "x"})
    with pytest.raises(ValueError, match="set by leadrelay"):
        ApiKeyAuth(name, "x")


@pytest.mark.parametrize(("name", "value"), [("Bad Name", "x"), ("X-Ok", "a\r\nInjected: 1"), ("", "x")])
def test_malformed_headers_are_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError):
        HeaderAuth({name: value})


def test_api_key_header() -> None:
    url, headers = applied(ApiKeyAuth("X-Api-Key", "k-123"), {"x-api-key": "old"})
    assert url == URL and headers == {"X-Api-Key": "k-123"}


def test_api_key_query_is_encoded_and_keeps_other_parameters_verbatim() -> None:
    url, headers = applied(ApiKeyAuth("api key", "a+b/c=d&e é", in_="query"))
    assert headers == {"Content-Type": "application/json"}
    assert url == "https://buyer.example/hook?a=1&b=x%20y&api%20key=a%2Bb%2Fc%3Dd%26e%20%C3%A9#frag"
    assert parse_qsl(urlsplit(url).query) == [("a", "1"), ("b", "x y"), ("api key", "a+b/c=d&e é")]


def test_api_key_query_replaces_a_parameter_of_the_same_name() -> None:
    assert add_query_param("http://h/p?api_key=old&x=1", "api_key", "new") == "http://h/p?x=1&api_key=new"
    assert add_query_param("http://h/p", "k", "v") == "http://h/p?k=v"
    assert add_query_param("http://h/p?", "k", "v") == "http://h/p?k=v"


def test_bearer_replaces_any_authorization() -> None:
    _, headers = applied(BearerAuth("tok.abc"), {"authorization": "stale", "Accept": "*/*"})
    assert headers == {"Accept": "*/*", "Authorization": "Bearer tok.abc"}


@pytest.mark.parametrize(
    ("username", "password", "encoded"),
    [("Aladdin", "open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="), ("test", "123£", "dGVzdDoxMjPCow==")],
)
def test_basic_is_utf8_base64_as_rfc_7617_shows(username: str, password: str, encoded: str) -> None:
    _, headers = applied(BasicAuth(username, password), {})
    assert headers == {"Authorization": f"Basic {encoded}"}


def test_basic_user_name_cannot_contain_a_colon() -> None:
    with pytest.raises(ValueError, match="':'"):
        BasicAuth("a:b", "pw")


@pytest.mark.parametrize(
    "make",
    [
        lambda: OAuth2ClientCredentials("ftp://idp/token", "id", "secret"),
        lambda: OAuth2ClientCredentials("https://idp/token", "", "secret"),
        lambda: OAuth2ClientCredentials("https://idp/token", "id", ""),
        lambda: OAuth2ClientCredentials("https://idp/token", "id", "s", auth_method="jwt"),  # type: ignore[arg-type]
        lambda: ApiKeyAuth("k", "v", in_="cookie"),  # type: ignore[arg-type]
        lambda: BearerAuth(""),
    ],
)
def test_invalid_specs_are_refused_when_built(make: Any) -> None:
    with pytest.raises(ValueError):
        make()


def test_secrets_never_show_in_repr() -> None:
    specs: list[Any] = [
        HeaderAuth({"X-T": "hdr-secret"}),
        ApiKeyAuth("k", "key-secret"),
        BearerAuth("bearer-secret"),
        BasicAuth("u", "basic-secret"),
        OAuth2ClientCredentials("https://idp/token", "id", "client-secret"),
        SigningSpec("signing-secret"),
    ]
    for spec in specs:
        assert "secret" not in repr(spec).replace("client_secret", ""), repr(spec)


# ---------------------------------------------------------------- Standard Webhooks signatures


BODY = b'{"first_name":"Ann","zip":"90210","note":"caf\xc3\xa9"}'


def signed(secret: str, body: bytes = BODY, msg_id: str = "job-1:sunco") -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Webhook-Signature": "v1,forged"}
    sign(SigningSpec(secret), msg_id, int(time.time()), body, headers)
    return headers


def test_the_specification_test_vector() -> None:
    headers: dict[str, str] = {}
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    sign(SigningSpec(secret), "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}', headers)
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


@pytest.mark.parametrize("padded", [True, False])
def test_a_whsec_secret_verifies_with_the_reference_library(padded: bool) -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()  # 44 characters, one "=" of padding
    if not padded:
        secret = secret.rstrip("=")
    headers = signed(secret)
    assert headers["webhook-id"] == "job-1:sunco"
    assert [k for k in headers if k.lower() == "webhook-signature"] == ["webhook-signature"]
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"Ann", b"Bob"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(os.urandom(32)).decode()).verify(BODY, headers)


@pytest.mark.parametrize("secret", ["correct horse battery staple", "plainsecretvalue"])
def test_a_plain_secret_is_its_utf8_bytes(secret: str) -> None:
    """The reference library base64-decodes every ``str`` secret (dropping stray characters), so a plain
    passphrase has to reach it as bytes, or in the ``whsec_`` form ``SigningSpec.whsec()`` gives."""
    spec = SigningSpec(secret)
    headers = signed(secret, body=b"first_name=Ann&zip=90210")
    assert spec.key() == secret.encode()
    assert Webhook(secret.encode()).verify(b"first_name=Ann&zip=90210", headers, json_parse=False) is None
    assert Webhook(spec.whsec()).verify(b"first_name=Ann&zip=90210", headers, json_parse=False) is None
    with pytest.raises((WebhookVerificationError, binascii.Error)):
        Webhook(secret).verify(b"first_name=Ann&zip=90210", headers, json_parse=False)


def test_the_same_message_id_and_a_fresh_timestamp_per_attempt() -> None:
    spec = SigningSpec("whsec_" + base64.b64encode(b"k" * 32).decode())
    first: dict[str, str] = {}
    retry: dict[str, str] = {}
    sign(spec, "job-1:sunco", 1_700_000_000, BODY, first)
    sign(spec, "job-1:sunco", 1_700_000_060, BODY, retry)
    assert first["webhook-id"] == retry["webhook-id"]
    assert first["webhook-signature"] != retry["webhook-signature"]


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_not*base64!"])
def test_unusable_signing_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError):
        SigningSpec(secret)


@pytest.mark.parametrize(("msg_id", "timestamp"), [("", 1), ("a\nb", 1), ("id", -1)])
def test_bad_message_ids_and_timestamps_are_refused(msg_id: str, timestamp: int) -> None:
    with pytest.raises(ValueError):
        sign(SigningSpec("secret"), msg_id, timestamp, b"", {})


# ---------------------------------------------------------------- redaction


def test_secret_values_gather_every_form_a_request_may_carry() -> None:
    basic = BasicAuth("user", "pa ss/wörd")
    assert secret_values(basic) == ("pa ss/wörd", base64.b64encode("user:pa ss/wörd".encode()).decode())
    oauth = OAuth2ClientCredentials("https://idp/token", "cid", "c-secret")
    signing = SigningSpec("whsec_" + base64.b64encode(b"s" * 24).decode())
    values = secret_values(oauth, signing)
    assert "c-secret" in values and base64.b64encode(b"cid:c-secret").decode() in values
    assert signing.secret in values and signing.secret.removeprefix("whsec_") in values
    assert secret_values(HeaderAuth({"X-A": "one", "X-B": "two"})) == ("one", "two")
    assert secret_values(None) == ()


def test_redact_replaces_raw_json_escaped_and_url_encoded_forms() -> None:
    spec = ApiKeyAuth("api_key", 'k"ey/1+2', in_="query")
    recorded = [
        add_query_param("https://b/h", "api_key", spec.value),  # percent-encoded
        json.dumps({"echo": spec.value}),  # JSON-escaped
        f"raw {spec.value}, form-encoded k%22ey%2F1%2B2",
    ]
    redacted = [redact(text, secret_values(spec)) for text in recorded]
    assert redacted == ["https://b/h?api_key=***", '{"echo": "***"}', "raw ***, form-encoded ***"]
    assert redact("Authorization: Bearer tok-very-secret", ["tok-very-secret"]) == "Authorization: Bearer ***"


def test_token_margin_is_30s_or_a_tenth_of_a_short_lifetime() -> None:
    assert token_margin(3600) == 30.0
    assert token_margin(300) == 30.0
    assert token_margin(60) == pytest.approx(6.0)
    assert token_margin(0) == 0.0


@pytest.mark.parametrize(
    ("where", "value", "path", "message"),
    [
        ("signing", {"secret": ""}, "signing.secret", "the signing secret must not be empty"),
        ("signing", {"secret": "whsec_!!!"}, "signing.secret", "is not valid base64"),
        ("auth", {"bearer": {"token": ""}}, "auth.bearer", "the bearer token must not be empty"),
        ("auth", {"bearer": {"token": "a\nb"}}, "auth.bearer", "contains a line break or NUL"),
        ("auth", {"basic": {"username": "a:b", "password": "x"}}, "auth.basic", "cannot contain ':'"),
        ("auth", {"api_key": {"name": "X Key", "value": "v"}}, "auth.api_key", "invalid header name 'X Key'"),
        ("auth", {"api_key": {"name": "X-Key", "value": "a\r\nb"}}, "auth.api_key", "line break or NUL"),
        (
            "auth",
            {"oauth2": {"token_url": "https://t.example.com/", "client_id": "", "client_secret": "s"}},
            "auth.oauth2",
            "the OAuth client id must not be empty",
        ),
        ("auth", {"headers": {}}, "auth.headers", "header auth needs at least one header"),
        ("auth", {"headers": {"X-A": "v\r\nX: y"}}, "auth.headers", "line break or NUL"),
    ],
)
@pytest.mark.parametrize("channel", ["webhook", "ping", "failover"])
def test_apply_refuses_credentials_no_request_can_carry_naming_their_path(
    channel: str, where: str, value: dict[str, Any], path: str, message: str
) -> None:
    """Refused when applied (black-box pass, 2026-12-06): accepted before, they broke the reading of the
    configuration in force, so that every request of the installation answered 500."""
    doc = copy.deepcopy(base_config(lambda name: f"https://{name}.example.com/leads"))
    partner = doc["partners"]["sunco"]
    hook = {"url": "https://sunco.example.com/x", where: value}
    if channel == "webhook":
        partner["channel"]["webhook"][where] = value
    elif channel == "ping":
        partner["ping"] = hook
    else:
        partner["failover"] = [{"webhook": hook}]
    with pytest.raises(ConfigError) as caught:
        validate_document(doc)
    found = {p.path: p.message for p in caught.value.problems}
    prefix = {"webhook": "channel.webhook", "ping": "ping", "failover": "failover[0].webhook"}[channel]
    assert message in found.get(f"partners.sunco.{prefix}.{path}", ""), found
