"""Request dependencies: the runtime, and who is calling (a source by API key, an admin by token)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request

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


async def source_of(request: Request) -> str:
    rt: Runtime = request.app.state.runtime
    key = _credential(request)
    if not key:
        raise Unauthorized("send the source's API key as 'Authorization: Bearer <key>' or 'X-API-Key'")
    cache: KeyCache = request.app.state.source_keys
    source = cache.get(key)
    if source is None:
        source = await rt.db.run_read(lambda c: config_store.source_for_key(c, key))
        if source is None:
            raise Unauthorized("unknown or revoked API key")
        cache.put(key, source)
    return source


async def admin_of(request: Request) -> str:
    rt: Runtime = request.app.state.runtime
    token = _credential(request)
    if not token:
        raise Unauthorized("send an admin token as 'Authorization: Bearer <token>'")
    cache: KeyCache = request.app.state.admin_tokens
    who = cache.get(token)
    if who is None:
        who = await rt.db.run_read(lambda c: config_store.admin_for_token(c, token))
        if who is None:
            raise Unauthorized("unknown or revoked admin token")
        cache.put(token, who)
    return f"admin:{who}"


SourceDep = Annotated[str, Depends(source_of)]
AdminDep = Annotated[str, Depends(admin_of)]
