"""Partner wallets (admin token): every wallet, one partner's, and a top-up (a ``TOPUP`` entry in the
ledger; the wallet's balance moves with it). See ``services.wallets``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, BeforeValidator, Field

from leadrelay.entrypoints.amounts import plain_amount
from leadrelay.entrypoints.api.deps import FinanceDep, RuntimeDep, ViewDep
from leadrelay.entrypoints.api.guards import StoredText
from leadrelay.services.ports import Tx, system_ids
from leadrelay.services.wallets import list_wallets, show_wallet, top_up

router = APIRouter(prefix="/v1", tags=["partners"])


class TopUpBody(BaseModel):
    amount: Annotated[Decimal, BeforeValidator(plain_amount)] = Field(
        gt=0, max_digits=14, decimal_places=2, description="Paid in, more than zero."
    )
    memo: StoredText | None = Field(default=None, max_length=500, description="A note (a payment reference).")


@router.get("/wallets", summary="Every partner wallet: balance, held, available, credit limit")
async def get_wallets(rt: RuntimeDep, _admin: ViewDep) -> dict[str, Any]:
    live = await rt.configs.get(rt.storage)
    rows = await rt.storage.run(lambda tx: list_wallets(tx, live))
    return {"items": [row.as_dict() for row in rows]}


@router.get("/partners/{name}/wallet", summary="One partner's wallet")
async def get_wallet(name: str, rt: RuntimeDep, _admin: ViewDep) -> dict[str, Any]:
    live = await rt.configs.get(rt.storage)
    return (await rt.storage.run(lambda tx: show_wallet(tx, live, name))).as_dict()


@router.post("/partners/{name}/wallet/topup", summary="Pay money into a partner's wallet (audited)")
async def post_topup(
    name: str, rt: RuntimeDep, admin: FinanceDep, body: TopUpBody = Body(...)
) -> dict[str, Any]:
    live = await rt.configs.get(rt.storage)

    def work(tx: Tx) -> dict[str, Any]:
        entry, wallet = top_up(
            tx, live, name, body.amount, actor=admin, now=datetime.now(UTC), ids=system_ids, memo=body.memo
        )
        return {"entry": entry.id, "wallet": wallet.as_dict()}

    return await rt.storage.run(work)
