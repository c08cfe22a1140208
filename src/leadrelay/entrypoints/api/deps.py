"""Request dependencies: the runtime, and who is calling (a source by API key, an admin by token)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection

from leadrelay.adapters.db import config_store
from leadrelay.bootstrap import Runtime
from leadrelay.errors import Unauthorized

_CACHE_SECONDS = 30.0


async def runtime(request: Request) -> Runtime:
    """Async on purpose: FastAPI runs sync dependencies in a thread pool, a cost on every request."""
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def _credential(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key else None


class KeyCache:
    """Known-good credentials for a short while: intake must not pay a database read per request.
    A revoked key stops working within ``_CACHE_SECONDS``."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, float]] = {}

    def get(self, key: str) -> str | None:
        hit = self._known.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return None

    def put(self, key: str, who: str) -> None:
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[key] = (who, time.monotonic() + _CACHE_SECONDS)


async def _caller(
    request: Request,
    cache: KeyCache,
    lookup: Callable[[Connection, str], str | None],
    missing: str,
    unknown: str,
) -> str:
    """Who the credential belongs to: from the short-lived cache, else from the database (hashed)."""
    credential = _credential(request)
    if not credential:
        raise Unauthorized(missing)
    who = cache.get(credential)
    if who is None:
        rt: Runtime = request.app.state.runtime
        who = await rt.db.run_read(lambda c: lookup(c, credential))
        if who is None:
            raise Unauthorized(unknown)
        cache.put(credential, who)
    return who


async def source_of(request: Request) -> str:
    return await _caller(
        request,
        request.app.state.source_keys,
        config_store.source_for_key,
        "send the source's API key as 'Authorization: Bearer <key>' or 'X-API-Key'",
        "unknown or revoked API key",
    )


async def admin_of(request: Request) -> str:
    who = await _caller(
        request,
        request.app.state.admin_tokens,
        config_store.admin_for_token,
        "send an admin token as 'Authorization: Bearer <token>'",
        "unknown or revoked admin token",
    )
    return f"admin:{who}"


SourceDep = Annotated[str, Depends(source_of)]
AdminDep = Annotated[str, Depends(admin_of)]
