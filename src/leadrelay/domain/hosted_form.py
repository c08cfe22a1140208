"""The hosted lead form (issue 12, point 8): ``/f/{source}/{entity}``, a page a consumer fills in, posted
through the same intake as ``POST /v1/leads``.

What is pure about it lives here: a source's form settings (:class:`HostedFormSpec`), the form token that
proves a post comes from a page this installation served not long ago, and the windows that limit posts
per client address.

A form token is ``ft1.<issued, unix seconds>.<signature>``: HMAC-SHA256 (the standard library's ``hmac``)
under the installation's form key over the version, what the token is for (a form of one source and
entity, or one offer of a lead) and the time it was issued, base64url without padding. It names its age in
the clear and cannot be moved to another form or another time without the key. Pure: the key and the time
are arguments.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

__all__ = [
    "KEY_LABEL",
    "HostedFormSpec",
    "PostWindow",
    "TokenCheck",
    "check_token",
    "form_subject",
    "offer_subject",
    "sign_token",
]

VERSION = "ft1"
KEY_LABEL = b"leadrelay hosted form v1"  # what the installation's HMAC key signs to give the form key
_SHAPE = re.compile(r"ft1\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})")
CLOCK_SKEW_S = 60  # a token "issued" this far in the future (another process's clock) still holds


@dataclass(frozen=True, slots=True)
class HostedFormSpec:
    """A source's hosted form: the source opted in (``sources.<name>.form``).

    ``consent_text`` is shown beside the consent checkbox and stored with every lead the form posts;
    ``sellers`` are the names the consent gives (the entity's one-to-one consent field, where it has one);
    ``wait_s`` how long a post waits for the outcome (and user choice offers); ``max_posts_per_minute`` per
    client address (one count for every process); ``token_ttl_s`` how long a page may be kept open before
    it is posted."""

    consent_text: str
    sellers: tuple[str, ...] = ()
    title: str | None = None
    enabled: bool = True
    wait_s: float = 5.0
    max_posts_per_minute: int = 10
    token_ttl_s: float = 3600.0


def form_subject(source: str, entity: str) -> str:
    """What the token of a form page is for."""
    return f"form\n{source}\n{entity}"


def offer_subject(source: str, offer_id: str) -> str:
    """What the token of an offer's select button is for."""
    return f"offer\n{source}\n{offer_id}"


def _signature(key: bytes, subject: str, issued: int) -> str:
    message = f"{VERSION}\n{subject}\n{issued}".encode()
    mac = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def sign_token(key: bytes, subject: str, now: datetime) -> str:
    """The token of ``subject``, issued ``now`` (whole seconds)."""
    if len(key) < 16:
        raise ValueError("a form token key has at least 16 bytes")
    issued = int(now.timestamp())
    return f"{VERSION}.{issued}.{_signature(key, subject, issued)}"


class TokenCheck(StrEnum):
    OK = "ok"
    MISSING = "missing"  # no token at all: not posted from our page
    INVALID = "invalid"  # malformed, altered, or issued for another form
    EXPIRED = "expired"  # older than the form's token_ttl


def check_token(key: bytes, token: object, subject: str, now: datetime, ttl_s: float) -> TokenCheck:
    """Whether ``token`` was signed with ``key`` for ``subject`` and is at most ``ttl_s`` old."""
    if token is None or token == "":
        return TokenCheck.MISSING
    if not isinstance(token, str):
        return TokenCheck.INVALID
    m = _SHAPE.fullmatch(token.strip())
    if m is None:
        return TokenCheck.INVALID
    issued = int(m.group(1))
    if not hmac.compare_digest(_signature(key, subject, issued), m.group(2)):
        return TokenCheck.INVALID
    age = now.timestamp() - issued
    if age < -CLOCK_SKEW_S:
        return TokenCheck.INVALID
    if age > ttl_s:
        return TokenCheck.EXPIRED
    return TokenCheck.OK


@dataclass(frozen=True, slots=True)
class PostWindow:
    """The rate limit's windows: at most ``limit`` posts per key (a source and a client address) in each
    window of ``seconds``, the windows aligned on the Unix epoch so every process, reading its own clock,
    counts a post into the same window (the count is stored: ``services.hosted_form``). A fixed window,
    not a sliding one: a burst straddling two windows may get up to twice the limit within ``seconds``,
    which a bot trap can afford for a count one row per key and window holds."""

    seconds: int = 60

    def start(self, now: datetime) -> datetime:
        """The start of the window ``now`` falls in."""
        stamp = int(now.timestamp())
        return datetime.fromtimestamp(stamp - stamp % self.seconds, tz=UTC)

    def wait(self, now: datetime) -> float:
        """Seconds until the next window (a refused post may try again then)."""
        return (self.start(now) + timedelta(seconds=self.seconds) - now).total_seconds()
