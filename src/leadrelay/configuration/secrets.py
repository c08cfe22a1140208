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


def _file_secrets(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """The credentials of the file channels' destinations (SFTP, FTP, S3) of a partner document."""
    for where, batch in _channels(doc, "file"):
        destination = batch.get("destination")
        if not isinstance(destination, dict):
            continue
        for kind, keys in _FILE_DESTINATIONS:
            block = destination.get(kind)
            if not isinstance(block, dict):
                continue
            for key in keys:
                if isinstance(block.get(key), str):
                    yield f"{where}.destination.{kind}.{key}", block, key


def secret_places(kind: str, doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Every ``(path, mapping, key)`` of ``doc`` holding a secret string."""
    if kind == "smtp":
        if isinstance(doc.get("password"), str):
            yield "password", doc, "password"
        return
    if kind == "alerts":
        hook = (doc.get("notify") or {}).get("webhook")
        if isinstance(hook, dict) and isinstance(hook.get("secret"), str):
            yield "notify.webhook.secret", hook, "secret"
    if kind == "sources":  # a source's outbound postback signing secret
        postback = doc.get("postback")
        if isinstance(postback, dict) and isinstance(postback.get("secret"), str):
            yield "postback.secret", postback, "secret"
        return
    if kind != "partners":
        return
    for where, hook in _webhooks(doc):
        auth = hook.get("auth") or {}
        for (section,), keys in _WEBHOOK_AUTH:
            block = auth.get(section)
            if not isinstance(block, dict):
                continue
            for key in list(block) if keys == ("*",) else keys:
                if isinstance(block.get(key), str):
                    yield f"{where}.auth.{section}.{key}", block, key
        headers = hook.get("headers")
        if isinstance(headers, dict):  # a credential in a plain header (X-Api-Key, Authorization…)
            for key in list(headers):
                if is_secret_name(key) and isinstance(headers[key], str):
                    yield f"{where}.headers.{key}", headers, key
        signing = hook.get("signing")
        if isinstance(signing, dict) and isinstance(signing.get("secret"), str):
            yield f"{where}.signing.secret", signing, "secret"
    yield from _file_secrets(doc)


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
    A ``***`` with nothing stored at that place is refused with its path."""
    kept = {path: block[key] for path, block, key in secret_places(kind, stored)} if stored else {}
    problems = []
    for path, block, key in secret_places(kind, incoming):
        if block[key] == MASK:
            if path in kept:
                block[key] = kept[path]
            else:
                problems.append(
                    ConfigProblem(f"{kind}.{name}.{path}", "'***' keeps a stored secret; none is stored")
                )
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
