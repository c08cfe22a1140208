"""Secrets in configuration documents: sealed at rest, masked on the way out, opened only to deliver.

A secret is a value at a known place of a canonical document: a webhook's (or a ping's) auth credentials and
signing secret, a batch file destination's credentials (an SFTP password or private key, an FTP password, an
S3 secret access key), an email relay's password, an alert webhook's signing secret. It may be a
``${ENV_VAR}`` reference (resolved when sending, never stored) or a literal. A literal is stored sealed
(``lr1:k1:…``, the same AES-GCM key ring as sensitive lead fields, bound to the object and the place); the
API and ``export`` show ``***`` instead; applying ``***`` back keeps the stored secret, so an exported
document re-applies unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from leadrelay.configuration.schema import ENV_REF_RE
from leadrelay.domain.privacy import is_secret_name
from leadrelay.errors import ConfigError, ConfigProblem

__all__ = ["MASK", "is_literal", "is_sealed", "mask", "merge_kept", "open_all", "seal_all", "secret_places"]

MASK = "***"
SEALED_PREFIX = "lr1:"

# (path inside the document) → the keys whose values are secrets; "*" means every value of that mapping
_WEBHOOK_AUTH = (
    (("bearer",), ("token",)),
    (("basic",), ("password",)),
    (("api_key",), ("value",)),
    (("oauth2",), ("client_secret",)),
    (("headers",), ("*",)),
)


# an auth section → the keys naming whose secret it is (with the webhook's url: the request it is for)
_WHOSE = {"basic": ("username",), "oauth2": ("token_url", "client_id"), "api_key": ("name", "in")}


# file destination → the keys whose values are secrets
_FILE_DESTINATIONS = (
    ("sftp", ("password", "private_key")),
    ("ftp", ("password",)),
    ("s3", ("secret_access_key",)),
)


def _channels(doc: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The ``kind`` channels (``webhook``, ``file``) of a partner document: its channel, then failovers."""
    channel = doc.get("channel")
    if isinstance(channel, dict) and isinstance(channel.get(kind), dict):
        yield f"channel.{kind}", channel[kind]
    failover = doc.get("failover")
    for i, step in enumerate(failover if isinstance(failover, list) else []):
        if isinstance(step, dict) and isinstance(step.get(kind), dict):
            yield f"failover[{i}].{kind}", step[kind]


def _webhooks(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The webhook requests of a partner document: its channel, its failover channels and its ping."""
    yield from _channels(doc, "webhook")
    if isinstance(doc.get("ping"), dict):
        yield "ping", doc["ping"]


# A place: (path, the mapping holding the secret, its key, the request it is given for). The request
# (a webhook's url, an OAuth2 token_url, a destination's host or bucket, a relay's host) is what ``***``
# is checked against: a kept secret stays with the request it was stored for.
_Place = tuple[str, dict[str, Any], str, tuple[str, ...]]


def _for(block: dict[str, Any], *keys: str) -> tuple[str, ...]:
    return tuple(f"{key} {block[key]}" for key in keys if block.get(key) is not None)


def _file_secrets(doc: dict[str, Any]) -> Iterator[_Place]:
    """The credentials of the file channels' destinations (SFTP, FTP, S3) of a partner document."""
    for where, batch in _channels(doc, "file"):
        destination = batch.get("destination")
        if not isinstance(destination, dict):
            continue
        for kind, keys in _FILE_DESTINATIONS:
            block = destination.get(kind)
            if not isinstance(block, dict):
                continue
            target = _for(block, "host", "username", "bucket", "endpoint_url", "access_key_id")
            for key in keys:
                if isinstance(block.get(key), str):
                    yield f"{where}.destination.{kind}.{key}", block, key, target


def _webhook_secrets(doc: dict[str, Any]) -> Iterator[_Place]:
    for where, hook in _webhooks(doc):
        url = _for(hook, "url")
        auth = hook.get("auth") or {}
        for (section,), keys in _WEBHOOK_AUTH:
            block = auth.get(section)
            if not isinstance(block, dict):
                continue
            target = url + _for(block, *_WHOSE.get(section, ()))
            for key in list(block) if keys == ("*",) else keys:
                if isinstance(block.get(key), str):
                    yield f"{where}.auth.{section}.{key}", block, key, target
        headers = hook.get("headers")
        if isinstance(headers, dict):  # a credential in a plain header (X-Api-Key, Authorization…)
            for key in list(headers):
                if is_secret_name(key) and isinstance(headers[key], str):
                    yield f"{where}.headers.{key}", headers, key, url
        signing = hook.get("signing")
        if isinstance(signing, dict) and isinstance(signing.get("secret"), str):
            yield f"{where}.signing.secret", signing, "secret", url


def _places(kind: str, doc: dict[str, Any]) -> Iterator[_Place]:
    if kind == "smtp":
        if isinstance(doc.get("password"), str):
            yield "password", doc, "password", _for(doc, "host", "username")
        return
    if kind == "alerts":
        hook = (doc.get("notify") or {}).get("webhook")
        if isinstance(hook, dict) and isinstance(hook.get("secret"), str):
            yield "notify.webhook.secret", hook, "secret", _for(hook, "url")
    if kind == "sources":  # a source's outbound postback signing secret
        postback = doc.get("postback")
        if isinstance(postback, dict) and isinstance(postback.get("secret"), str):
            yield "postback.secret", postback, "secret", _for(postback, "url")
        return
    if kind != "partners":
        return
    yield from _webhook_secrets(doc)
    yield from _file_secrets(doc)


def secret_places(kind: str, doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Every ``(path, mapping, key)`` of ``doc`` holding a secret string."""
    for path, block, key, _ in _places(kind, doc):
        yield path, block, key


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def is_literal(value: str) -> bool:
    """A secret written in the document itself (not a reference, not ``***``, not already sealed)."""
    return not ENV_REF_RE.match(value) and value != MASK and not is_sealed(value)


def mask(kind: str, doc: dict[str, Any]) -> dict[str, Any]:
    """A copy for the API and export: literal and sealed secrets as ``***``, ``${ENV}`` references kept."""
    out = copy.deepcopy(doc)
    for _, block, key in secret_places(kind, out):
        if not ENV_REF_RE.match(block[key]):
            block[key] = MASK
    return out


def merge_kept(kind: str, name: str, incoming: dict[str, Any], stored: dict[str, Any] | None) -> None:
    """``***`` in an incoming document means "keep the stored secret": put the stored (sealed) value back.
    Only where the same secret was stored for the same request (the webhook's url, an OAuth2 token_url
    and client, a destination's host and user, a relay's host): a failover step moved, removed or pointed
    elsewhere would otherwise send one buyer's credential to another. Any other ``***`` is refused with
    its path."""
    kept = (
        {path: (block[key], target) for path, block, key, target in _places(kind, stored)} if stored else {}
    )
    problems = []
    for path, block, key, target in _places(kind, incoming):
        if block[key] != MASK:
            continue
        where = f"{kind}.{name}.{path}"
        if path not in kept:
            problems.append(ConfigProblem(where, "'***' keeps a stored secret; none is stored"))
        elif kept[path][1] != target:
            was, now = ", ".join(kept[path][1]) or "nothing", ", ".join(target) or "nothing"
            problems.append(
                ConfigProblem(
                    where,
                    f"'***' keeps a stored secret, but it was stored for another request ({was}; now "
                    f"{now}): give the secret again",
                )
            )
        else:
            block[key] = kept[path][0]
    if problems:
        raise ConfigError(problems)


def seal_all(kind: str, name: str, doc: dict[str, Any], seal: Callable[[str, bytes], str]) -> list[str]:
    """Seal the literal secrets of ``doc`` in place (``seal(plaintext, aad)``); returns their paths."""
    paths = []
    for path, block, key in secret_places(kind, doc):
        if is_literal(block[key]):
            block[key] = seal(block[key], f"config:{kind}:{name}:{path}".encode())
            paths.append(path)
    return paths


def open_all(kind: str, name: str, doc: dict[str, Any], open_: Callable[[str, bytes], str]) -> dict[str, Any]:
    """A copy of ``doc`` with its sealed secrets opened (for building the specs that deliver)."""
    out = copy.deepcopy(doc)
    for path, block, key in secret_places(kind, out):
        if is_sealed(block[key]):
            block[key] = open_(block[key], f"config:{kind}:{name}:{path}".encode())
    return out
