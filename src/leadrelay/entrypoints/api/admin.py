"""The admin API over configuration objects (JSON CRUD), source keys and test deliveries."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from leadrelay.adapters.db import config_store
from leadrelay.configuration.load import KINDS as _KINDS  # noqa: F401  (documented kinds)
from leadrelay.entrypoints.api.deps import AdminDep, RuntimeDep
from leadrelay.errors import NotFound
from leadrelay.services import configure

router = APIRouter(prefix="/v1", tags=["configuration"])

Kind = Literal["entities", "sources", "partners", "profiles"]


class TestDeliveryBody(BaseModel):
    lead: dict[str, Any] | None = Field(
        default=None, description="The lead to send, checked against the entity (else one is made up)."
    )
    entity: str | None = Field(default=None, description="The lead's entity, when the partner takes several.")


class KeyBody(BaseModel):
    key: str | None = Field(default=None, min_length=16, max_length=200)


@router.get("/config", summary="The whole configuration (what `leadrelay export` writes)")
async def get_config(rt: RuntimeDep, _admin: AdminDep) -> dict[str, Any]:
    return configure.masked(await rt.db.run_read(config_store.load_objects))


@router.post("/config", summary="Apply a configuration document (all or nothing)")
async def apply_config(
    rt: RuntimeDep, admin: AdminDep, document: dict[str, Any] = Body(...), dry_run: bool = False
) -> dict[str, Any]:
    changes = await configure.apply_document(rt.db, document, actor=admin, dry_run=dry_run, sealer=rt.sealer)
    rt.configs.invalidate()
    return {"dry_run": dry_run, "changes": [c.as_dict() for c in changes]}


@router.get("/{kind}", summary="List objects of a kind")
async def list_objects(kind: Kind, rt: RuntimeDep, _admin: AdminDep) -> dict[str, Any]:
    objects = configure.masked(await rt.db.run_read(config_store.load_objects))
    return {"items": [{"name": n, **doc} for n, doc in objects.get(kind, {}).items()]}


@router.get("/{kind}/{name}", summary="One object")
async def get_object(kind: Kind, name: str, rt: RuntimeDep, _admin: AdminDep) -> dict[str, Any]:
    objects = configure.masked(await rt.db.run_read(config_store.load_objects))
    doc = objects.get(kind, {}).get(name)
    if doc is None:
        raise NotFound(f"no {kind[:-1]} named {name!r}")
    return {"name": name, **doc}


@router.put("/{kind}/{name}", summary="Create or replace an object")
async def put_object(
    kind: Kind, name: str, rt: RuntimeDep, admin: AdminDep, document: dict[str, Any] = Body(...)
) -> dict[str, Any]:
    document.pop("name", None)
    change = await configure.put_object(rt.db, kind, name, document, actor=admin, sealer=rt.sealer)
    rt.configs.invalidate()
    return change.as_dict()


@router.delete("/{kind}/{name}", summary="Delete an object (refused while something refers to it)")
async def delete_object(kind: Kind, name: str, rt: RuntimeDep, admin: AdminDep) -> dict[str, Any]:
    await configure.delete_object(rt.db, kind, name, actor=admin)
    rt.configs.invalidate()
    return {"kind": kind, "name": name, "action": "deleted"}


@router.post("/sources/{name}/keys", summary="Create an API key for a source (shown once)")
async def create_key(
    name: str, rt: RuntimeDep, admin: AdminDep, body: KeyBody | None = None
) -> dict[str, Any]:
    objects = await rt.db.run_read(config_store.load_objects)
    if name not in objects.get("sources", {}):
        raise NotFound(f"no source named {name!r}")
    key = body.key if body and body.key else "lr_" + secrets.token_urlsafe(24)
    now = datetime.now(UTC)

    def tx(conn: Any) -> str:
        key_id = config_store.add_api_key(conn, name, key, now)
        config_store.audit(
            conn,
            actor=admin,
            action="source.key_created",
            object_kind="sources",
            object_id=name,
            at=now,
            detail={"key_id": key_id, "prefix": key[:8]},
        )
        return key_id

    key_id = await rt.db.run(tx)
    return {"id": key_id, "source": name, "key": key}


@router.post(
    "/partners/{name}/test-delivery", summary="Send a marked test lead through the partner's channel"
)
async def test_delivery(
    name: str,
    rt: RuntimeDep,
    admin: AdminDep,
    wait: Annotated[float, Query(ge=0, le=60)] = 10.0,
    body: TestDeliveryBody | None = None,
) -> dict[str, Any]:
    body = body or TestDeliveryBody()
    job_id = await rt.actions.test_delivery(name, actor=admin, entity=body.entity, lead=body.lead)
    detail = await _wait_job(rt, job_id, wait)
    return await rt.batches.with_previews(detail)


async def _wait_job(rt: Any, job_id: str, seconds: float) -> dict[str, Any]:
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        detail: dict[str, Any] = await rt.logview.distribution(job_id)
        if detail["status"] in ("delivered", "failed", "unsold") or loop.time() >= deadline:
            return detail
        await asyncio.sleep(0.05)
