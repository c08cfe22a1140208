"""``entrypoints.api.shared_routes``: routers included with their routes built once per process. An app
that takes them documents and answers as one that includes the routers itself (the error responses every
route documents, the app's body limit, a route's own limit above it), and a second app reuses what the
first built instead of building it again."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from leadrelay.entrypoints.api import openapi, shared_routes


class Thing(BaseModel):
    name: str
    size: int


items = APIRouter(prefix="/v1/things", tags=["things"])


@items.post("", status_code=201)
async def add(thing: Thing) -> dict[str, Any]:
    return {"name": thing.name, "size": thing.size}


@items.get("/{name}", responses={409: {"description": "busy"}})
async def get(name: str, limit: int = 10) -> dict[str, Any]:
    return {"name": name, "limit": limit}


uploads = APIRouter()


@uploads.post("/v1/upload", max_body_size=1 << 20)  # its own bound, above the app's
async def upload(thing: Thing) -> dict[str, int]:
    return {"size": thing.size}


def app_with(include: str) -> FastAPI:
    app = FastAPI(max_body_size=200, responses=openapi.COMMON_RESPONSES)
    if include == "shared":
        shared_routes.include(app, items, uploads)
    else:
        app.include_router(items)
        app.include_router(uploads)
    return app


def answers(app: FastAPI) -> list[tuple[int, Any]]:
    async def run() -> list[tuple[int, Any]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            out = []
            for response in (
                await client.post("/v1/things", json={"name": "a", "size": 1}),
                await client.post("/v1/things", json={"name": "b", "size": "big"}),
                await client.get("/v1/things/a?limit=3"),
                await client.get("/v1/things/a?limit=x"),
                await client.post("/v1/things", json={"name": "x" * 300, "size": 1}),  # past the app's 200
                await client.post("/v1/upload", json={"name": "x" * 300, "size": 2}),  # its own limit
                await client.get("/v1/nothing"),
            ):
                out.append((response.status_code, response.text))
            return out

    return asyncio.run(run())


def test_an_app_on_shared_routes_documents_and_answers_as_one_that_includes_the_routers() -> None:
    shared, own = app_with("shared"), app_with("own")
    assert shared.openapi() == own.openapi()
    assert "409" in shared.openapi()["paths"]["/v1/things/{name}"]["get"]["responses"]
    assert "401" in shared.openapi()["paths"]["/v1/things"]["post"]["responses"]  # COMMON_RESPONSES
    got = answers(shared)
    assert got == answers(own)
    assert [status for status, _ in got] == [201, 422, 200, 422, 413, 200, 404]


def test_a_second_app_reuses_the_routes_the_first_built() -> None:
    first, second = app_with("shared"), app_with("shared")
    answers(first)
    assert [id(r) for r in first.router.routes[-2:]] == [id(r) for r in second.router.routes[-2:]]
    built = first.router.routes[-2].effective_candidates()  # type: ignore[attr-defined]
    assert second.router.routes[-2].effective_candidates() is built  # type: ignore[attr-defined]
    # apps that include the routers themselves build their own
    third = app_with("own")
    answers(third)
    assert third.router.routes[-2].effective_candidates() is not built  # type: ignore[attr-defined]


def test_a_router_with_startup_handlers_is_refused() -> None:
    async def start() -> None:
        return None

    with_handlers = APIRouter(on_startup=[start])
    with pytest.raises(ValueError, match="startup or shutdown handlers"):
        shared_routes.include(FastAPI(), items, with_handlers)
