"""The admin API over configuration objects (JSON CRUD) and test deliveries (keys: credentials.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from leadrelay.configuration.load import KINDS as _KINDS  # noqa: F401  (documented kinds)
from leadrelay.domain.states import JobStatus
from leadrelay.entrypoints.api.deps import ConfigureDep, RuntimeDep, ViewDep
from leadrelay.entrypoints.api.guards import MAX_DEPTH, too_deep
from leadrelay.errors import ConfigError, ConfigProblem, NotFound
from leadrelay.services import configure

router = APIRouter(prefix="/v1", tags=["configuration"])

Kind = Literal["entities", "sources", "partners", "profiles"]
Deletable = Literal[
    "entities", "sources", "partners", "profiles", "alerts"
]  # an alert rule: only deleted here


def _shallow(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Refuse a document nested deeper than any configuration is (its values are stored as JSON)."""
    where = too_deep(document)
    if where is not None:
        path = f"{prefix}.{where}" if prefix and where else prefix or where
        raise ConfigError([ConfigProblem(path, f"nested deeper than {MAX_DEPTH} levels")])
    return document


class TestDeliveryBody(BaseModel):
    lead: dict[str, Any] | None = Field(
        default=None, description="The lead to send, checked against the entity (else one is made up)."
    )
    entity: str | None = Field(default=None, description="The lead's entity, when the partner takes several.")


@router.get("/config", summary="The whole configuration (what `leadrelay export` writes)")
async def get_config(rt: RuntimeDep, _admin: ViewDep) -> dict[str, Any]:
    return configure.masked(await rt.storage.run_read(configure.stored_objects))


@router.post("/config", summary="Apply a configuration document (all or nothing)")
async def apply_config(
    rt: RuntimeDep, admin: ConfigureDep, document: dict[str, Any] = Body(...), dry_run: bool = False
) -> dict[str, Any]:
    document = _shallow(document)
    changes = await configure.apply_document(
        rt.storage, document, actor=admin, dry_run=dry_run, sealer=rt.sealer
    )
    rt.configs.invalidate()
    return {"dry_run": dry_run, "changes": [c.as_dict() for c in changes]}


@router.get("/{kind}", summary="List objects of a kind")
async def list_objects(kind: Kind, rt: RuntimeDep, _admin: ViewDep) -> dict[str, Any]:
    objects = configure.masked(await rt.storage.run_read(configure.stored_objects))
    return {"items": [{"name": n, **doc} for n, doc in objects.get(kind, {}).items()]}


@router.get("/{kind}/{name}", summary="One object")
async def get_object(kind: Kind, name: str, rt: RuntimeDep, _admin: ViewDep) -> dict[str, Any]:
    objects = configure.masked(await rt.storage.run_read(configure.stored_objects))
    doc = objects.get(kind, {}).get(name)
    if doc is None:
        raise NotFound(f"no {kind[:-1]} named {name!r}")
    return {"name": name, **doc}


@router.put("/{kind}/{name}", summary="Create or replace an object")
async def put_object(
    kind: Kind, name: str, rt: RuntimeDep, admin: ConfigureDep, document: dict[str, Any] = Body(...)
) -> dict[str, Any]:
    document = _shallow(document, f"{kind}.{name}")
    document.pop("name", None)
    change = await configure.put_object(rt.storage, kind, name, document, actor=admin, sealer=rt.sealer)
    rt.configs.invalidate()
    return change.as_dict()


@router.delete("/{kind}/{name}", summary="Delete an object (refused while something refers to it)")
async def delete_object(kind: Deletable, name: str, rt: RuntimeDep, admin: ConfigureDep) -> dict[str, Any]:
    await configure.delete_object(rt.storage, kind, name, actor=admin)
    rt.configs.invalidate()
    return {"kind": kind, "name": name, "action": "deleted"}


@router.post(
    "/partners/{name}/test-delivery", summary="Send a marked test lead through the partner's channel"
)
async def test_delivery(
    name: str,
    rt: RuntimeDep,
    admin: ConfigureDep,
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
        detail: dict[str, Any] = await rt.logview.distribution(job_id, postback_urls=True)
        if (
            detail["status"] in (JobStatus.DELIVERED, JobStatus.FAILED, JobStatus.UNSOLD)
            or loop.time() >= deadline
        ):
            return detail
        await asyncio.sleep(0.05)
