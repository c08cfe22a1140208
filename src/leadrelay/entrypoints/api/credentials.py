"""API keys of sources and partners, and admin tokens: create a key, list keys and tokens with their last
use, revoke. A partner's key reaches only the partner's own routes (``/v1/partner…``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from leadrelay.entrypoints.api.deps import RuntimeDep, SecretsDep
from leadrelay.services import credentials

router = APIRouter(prefix="/v1", tags=["credentials"])


class KeyBody(BaseModel):
    key: str | None = Field(
        default=None,
        pattern=r"^[!-~]{16,200}$",
        description="your own key instead of a new one: 16 to 200 visible ASCII characters, no spaces",
    )


@router.post("/sources/{name}/keys", summary="Create an API key for a source (shown once)")
async def create_key(
    name: str, rt: RuntimeDep, admin: SecretsDep, response: Response, body: KeyBody | None = None
) -> dict[str, Any]:
    response.headers["Cache-Control"] = "no-store"  # the key, shown once: kept by no cache on the way
    key = body.key if body and body.key else credentials.new_source_key()
    now = datetime.now(UTC)
    key_id = await rt.storage.run(lambda tx: credentials.create_key(tx, name, key, actor=admin, now=now))
    return {"id": key_id, "source": name, "key": key}


@router.get("/sources/{name}/keys", summary="A source's API keys, with their last use (never the keys)")
async def list_keys(name: str, rt: RuntimeDep, _admin: SecretsDep) -> dict[str, Any]:
    return {"items": await rt.storage.run_read(lambda tx: credentials.list_keys(tx, name))}


@router.delete("/sources/{name}/keys/{key_id}", summary="Revoke a source's API key (401 from then on)")
async def revoke_key(name: str, key_id: str, rt: RuntimeDep, admin: SecretsDep) -> dict[str, Any]:
    now = datetime.now(UTC)
    view = await rt.storage.run(lambda tx: credentials.revoke_key(tx, name, key_id, actor=admin, now=now))
    rt.configs.invalidate()
    return view


@router.post("/partners/{name}/keys", summary="Create an API key for a partner (shown once)")
async def create_partner_key(
    name: str, rt: RuntimeDep, admin: SecretsDep, response: Response, body: KeyBody | None = None
) -> dict[str, Any]:
    response.headers["Cache-Control"] = "no-store"
    key = body.key if body and body.key else credentials.new_partner_key()
    now = datetime.now(UTC)
    key_id = await rt.storage.run(
        lambda tx: credentials.create_partner_key(tx, name, key, actor=admin, now=now)
    )
    return {"id": key_id, "partner": name, "key": key}


@router.get("/partners/{name}/keys", summary="A partner's API keys, with their last use (never the keys)")
async def list_partner_keys(name: str, rt: RuntimeDep, _admin: SecretsDep) -> dict[str, Any]:
    return {"items": await rt.storage.run_read(lambda tx: credentials.list_partner_keys(tx, name))}


@router.delete("/partners/{name}/keys/{key_id}", summary="Revoke a partner's API key (401 from then on)")
async def revoke_partner_key(name: str, key_id: str, rt: RuntimeDep, admin: SecretsDep) -> dict[str, Any]:
    now = datetime.now(UTC)
    view = await rt.storage.run(
        lambda tx: credentials.revoke_partner_key(tx, name, key_id, actor=admin, now=now)
    )
    rt.configs.invalidate()
    return view


@router.get("/admin/tokens", summary="Admin tokens, with their expiry and last use (never the tokens)")
async def list_tokens(rt: RuntimeDep, _admin: SecretsDep) -> dict[str, Any]:
    return {"items": await rt.storage.run_read(credentials.list_tokens)}


@router.delete("/admin/tokens/{token_id}", summary="Revoke an admin token (401 from then on)")
async def revoke_token(token_id: str, rt: RuntimeDep, admin: SecretsDep) -> dict[str, Any]:
    now = datetime.now(UTC)
    view = await rt.storage.run(lambda tx: credentials.revoke_token(tx, token_id, actor=admin, now=now))
    rt.configs.invalidate()
    return view
