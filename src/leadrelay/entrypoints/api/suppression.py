"""The admin API over suppression lists: create, list, show, delete, add and remove entries, check a value.

Entries go in and out as plain values (hashed here, never stored) or as SHA-256 hashes computed by the
caller; either way a request carries at most ``MAX_ENTRIES`` of them (a larger list is a file for
``leadrelay suppression import``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from leadrelay.bootstrap import Runtime
from leadrelay.configuration.schema import NAME_RE
from leadrelay.domain.suppression import KINDS
from leadrelay.entrypoints.api.deps import ConfigureDep, RuntimeDep, ViewDep
from leadrelay.entrypoints.api.guards import StoredText
from leadrelay.errors import FieldProblem, ValidationFailed
from leadrelay.services.suppression import Outcome, SuppressionLists

router = APIRouter(prefix="/v1/suppression-lists", tags=["suppression"])

MAX_ENTRIES = 10_000


class NewList(BaseModel):
    # name and kind are checked by the service, which names the bad field and suggests a kind; the
    # document says what it accepts
    model_config = ConfigDict(json_schema_extra={"required": ["name", "kind"]})
    name: Any = Field(default=None, json_schema_extra={"type": "string", "pattern": NAME_RE.pattern})
    kind: Any = Field(default=None, json_schema_extra={"enum": list(KINDS)})
    description: StoredText | None = Field(default=None, max_length=2000)


class Entries(BaseModel):
    """Exactly one of ``values`` or ``hashes``. Items are not typed here: a bad one (a list, a ZIP sent as
    a JSON number that lost its leading zero) is reported by its index, and the good ones still count."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [{"required": ["values"]}, {"required": ["hashes"]}],
            "properties": {
                "values": {"type": "array", "maxItems": MAX_ENTRIES},
                "hashes": {"type": "array", "maxItems": MAX_ENTRIES},
            },
        }
    )
    values: list[Any] | None = Field(default=None, max_length=MAX_ENTRIES)
    hashes: list[Any] | None = Field(default=None, max_length=MAX_ENTRIES)

    def given(self) -> tuple[list[Any], bool]:
        """The entries and whether they are hashes."""
        if (self.values is None) == (self.hashes is None):
            problem = "send either 'values' or 'hashes' (a list of at most 10000)"
            raise ValidationFailed([FieldProblem("values", problem)], problem)
        return (list(self.hashes), True) if self.hashes is not None else (list(self.values or []), False)


def _lists(rt: Runtime) -> SuppressionLists:
    return SuppressionLists(rt.storage)


def _answer(name: str, outcome: Outcome, changed: str, unchanged: str) -> dict[str, Any]:
    return {
        "list": name,
        changed: outcome.changed,
        unchanged: outcome.unchanged,
        "invalid": [bad.as_dict() for bad in outcome.invalid],
    }


@router.post("", status_code=201, summary="Create a suppression list (phone, email or postal_code)")
async def create_list(rt: RuntimeDep, admin: ConfigureDep, body: NewList = Body(...)) -> dict[str, Any]:
    row = await _lists(rt).create(body.name, body.kind, body.description, actor=admin)
    return row.as_dict()


@router.get("", summary="Every suppression list with its number of entries")
async def list_lists(rt: RuntimeDep, _admin: ViewDep) -> dict[str, Any]:
    return {"items": [row.as_dict() for row in await _lists(rt).lists()]}


@router.get("/{name}", summary="One suppression list with its number of entries")
async def show_list(name: str, rt: RuntimeDep, _admin: ViewDep) -> dict[str, Any]:
    return (await _lists(rt).show(name)).as_dict()


@router.delete("/{name}", summary="Delete a list and its entries (refused while configuration uses it)")
async def delete_list(name: str, rt: RuntimeDep, admin: ConfigureDep) -> dict[str, Any]:
    removed = await _lists(rt).delete(name, actor=admin)
    return {"name": name, "action": "deleted", "entries_removed": removed}


@router.post("/{name}/entries", summary="Add values or hashes (at most 10000 per request)")
async def add_entries(
    name: str, rt: RuntimeDep, admin: ConfigureDep, body: Entries = Body(...)
) -> dict[str, Any]:
    values, hashed = body.given()
    outcome = await _lists(rt).add(name, values, hashed=hashed, actor=admin)
    return _answer(name, outcome, "added", "already_present")


@router.delete("/{name}/entries", summary="Remove values or hashes (at most 10000 per request)")
async def remove_entries(
    name: str, rt: RuntimeDep, admin: ConfigureDep, body: Entries = Body(...)
) -> dict[str, Any]:
    values, hashed = body.given()
    outcome = await _lists(rt).remove(name, values, hashed=hashed, actor=admin)
    return _answer(name, outcome, "removed", "not_present")


@router.get("/{name}/check", summary="Whether a value is on the list")
async def check_value(
    name: str, rt: RuntimeDep, _admin: ViewDep, value: Annotated[str, Query(max_length=320)]
) -> dict[str, Any]:
    return {"list": name, "listed": await _lists(rt).check(name, value)}
