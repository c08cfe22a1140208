"""How a partner's webhook authenticates us and checks that a request is ours, as plain values.

Standard library only: configuration builds these, the webhook adapter applies them
(``leadrelay.adapters.channels.credentials``). Secrets never show in ``repr`` so a logged spec leaks nothing,
and every spec lists its secrets (``secrets()``) so recorded requests can be redacted by value.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "RESERVED_HEADERS",
    "ApiKeyAuth",
    "AuthSpec",
    "BasicAuth",
    "BearerAuth",
    "HeaderAuth",
    "OAuth2ClientCredentials",
    "SigningSpec",
    "check_header",
]

# Headers leadrelay sets itself (framing, idempotency, test marks, signatures): credentials may not
# replace them, or a partner's configuration could break retries or forge a signature header.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "idempotency-key",
        "x-leadrelay-test",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)
WHSEC_PREFIX = "whsec_"
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an RFC 9110 header field name


def check_header(name: str, value: str) -> None:
    """A header that can be sent: a field name of RFC 9110's characters, a value without a line break or
    NUL (which no HTTP client sends: every delivery would fail); ``ValueError`` naming it."""
    if not _TOKEN.match(name):
        raise ValueError(f"invalid header name {name!r}")
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError(f"the value of header {name!r} contains a line break or NUL")


def _check_header(name: str, value: str) -> None:
    check_header(name, value)
    if name.lower() in RESERVED_HEADERS:
        raise ValueError(f"header {name!r} is set by leadrelay and cannot carry credentials")


def _require(value: str, what: str) -> None:
    if not value:
        raise ValueError(f"{what} must not be empty")


@dataclass(frozen=True, slots=True)
class HeaderAuth:
    """Static headers (e.g. ``X-Partner-Token``); every value counts as a secret."""

    headers: Mapping[str, str] = field(repr=False)

    def __post_init__(self) -> None:
        copied = dict(self.headers)  # a private copy: the spec stays immutable
        if not copied:
            raise ValueError("header auth needs at least one header")
        for name, value in copied.items():
            _check_header(name, value)
        object.__setattr__(self, "headers", copied)

    def secrets(self) -> tuple[str, ...]:
        return tuple(self.headers.values())


@dataclass(frozen=True, slots=True)
class ApiKeyAuth:
    """An API key sent as a header or as a query parameter (``in_`` because ``in`` is a keyword)."""

    name: str
    value: str = field(repr=False)
    in_: Literal["header", "query"] = "header"

    def __post_init__(self) -> None:
        _require(self.name, "the API key name")
        _require(self.value, "the API key")
        if self.in_ == "header":
            _check_header(self.name, self.value)
        elif self.in_ != "query":
            raise ValueError(f"an API key goes in 'header' or 'query', not {self.in_!r}")

    def secrets(self) -> tuple[str, ...]:
        return (self.value,)


@dataclass(frozen=True, slots=True)
class BearerAuth:
    token: str = field(repr=False)

    def __post_init__(self) -> None:
        _require(self.token, "the bearer token")
        if any(ch in self.token for ch in "\r\n\0"):
            raise ValueError("the bearer token contains a line break or NUL")

    def secrets(self) -> tuple[str, ...]:
        return (self.token,)


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """HTTP Basic (RFC 7617, UTF-8); the user name cannot contain a colon, the password can."""

    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if ":" in self.username:
            raise ValueError("a Basic auth user name cannot contain ':'")

    def secrets(self) -> tuple[str, ...]:
        return (self.password,) if self.password else ()


@dataclass(frozen=True, slots=True)
class OAuth2ClientCredentials:
    """The OAuth 2.0 client credentials grant (RFC 6749 §4.4); the client authenticates to the token
    endpoint with HTTP Basic (``basic``, the RFC's default) or with form fields (``body``)."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None
    audience: str | None = None
    auth_method: Literal["basic", "body"] = "basic"

    def __post_init__(self) -> None:
        if not self.token_url.lower().startswith(("http://", "https://")):
            raise ValueError(f"the token URL must be http(s), not {self.token_url!r}")
        _require(self.client_id, "the OAuth client id")
        _require(self.client_secret, "the OAuth client secret")
        if self.auth_method not in ("basic", "body"):
            raise ValueError(f"client authentication is 'basic' or 'body', not {self.auth_method!r}")

    def secrets(self) -> tuple[str, ...]:
        return (self.client_secret,)


AuthSpec = HeaderAuth | ApiKeyAuth | BearerAuth | BasicAuth | OAuth2ClientCredentials


@dataclass(frozen=True, slots=True)
class SigningSpec:
    """Standard Webhooks signing (https://www.standardwebhooks.com/) with a shared secret.

    ``whsec_<base64>``: the key is the decoded base64, as the specification defines it. Any other
    string: the key is its UTF-8 bytes, so a hand-picked passphrase works as is. The reference
    ``standardwebhooks`` library base64-decodes *every* ``str`` secret, so a buyer verifying a plain
    secret with it passes ``secret.encode()`` (bytes), or we hand them :meth:`whsec` instead.
    """

    secret: str = field(repr=False)
    scheme: Literal["standard-webhooks"] = "standard-webhooks"

    def __post_init__(self) -> None:
        if self.scheme != "standard-webhooks":
            raise ValueError(f"unknown signing scheme {self.scheme!r}")
        self.key()  # refuse an empty secret or broken base64 when the spec is built

    def key(self) -> bytes:
        """The HMAC key the secret stands for."""
        if self.secret.startswith(WHSEC_PREFIX):
            encoded = self.secret[len(WHSEC_PREFIX) :]
            try:  # padding is often dropped; validate=True refuses stray characters
                key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
            except binascii.Error as exc:
                raise ValueError("the whsec_ signing secret is not valid base64") from exc
        else:
            key = self.secret.encode("utf-8")
        if not key:
            raise ValueError("the signing secret must not be empty")
        return key

    def whsec(self) -> str:
        """The same key in the specification's ``whsec_`` form, for the buyer's verifier."""
        return WHSEC_PREFIX + base64.b64encode(self.key()).decode("ascii")

    def secrets(self) -> tuple[str, ...]:
        """The secret as configured and as the buyer may hold it (``whsec_…`` and its bare base64)."""
        whsec = self.whsec()
        return tuple(dict.fromkeys((self.secret, whsec, whsec[len(WHSEC_PREFIX) :])))
