"""Routers included into an app with their routes built once per process, however many apps it makes.

FastAPI builds an included route's state (its parameters' validators, its handler) lazily, on the first
request an app matches against the router, and once per app: 0.15–0.35 s of CPU on every new app's first
requests. One process makes one app in production, but the test suite makes hundreds. Here every router is
included once into a router of its own, kept for the process, and each app takes those inclusions as its
routes: what they built is shared. Sharing is safe: a route keeps nothing of an app (its handler reaches the
app through ``request.app``).

What an app would add to an inclusion is set on the keeping router instead: the error responses every
route documents (``openapi.COMMON_RESPONSES``). The app's own body limit (``max_body_size``) is enforced by
the app's middleware either way, and a route's own limit still overrides it. What the keeping router cannot
carry, and leadrelay does not use: the app's ``dependency_overrides`` (a shared route never sees them; the
tests run real parts, not overridden dependencies), app-wide ``dependencies`` or ``default_response_class``
(put them on the routers), and a router's own startup and shutdown handlers (refused here: they would run
with no app).
"""

from __future__ import annotations

import threading

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute

from leadrelay.entrypoints.api import openapi


def include(app: FastAPI, *routers: APIRouter) -> None:
    """``app.include_router`` of each router, in order, with the inclusions this process already built."""
    for router in routers:
        if router.on_startup or router.on_shutdown:
            raise ValueError(f"router {router.prefix or '/'} has startup or shutdown handlers: include it")
    key = tuple(id(router) for router in routers)  # routers are module-level: never collected
    with _lock:
        kept = _kept.get(key)
        if kept is None:
            keeper = APIRouter(responses=openapi.COMMON_RESPONSES)
            for router in routers:
                keeper.include_router(router)
            kept = _kept[key] = tuple(keeper.routes)
    app.router.routes.extend(kept)


_kept: dict[tuple[int, ...], tuple[BaseRoute, ...]] = {}
_lock = threading.Lock()  # apps are made on several threads in the tests
