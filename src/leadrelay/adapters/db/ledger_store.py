"""The ledger's SQL (``leadrelay.services.ports.Ledger``): entries are inserted, never updated or deleted
(the migration's triggers refuse it), and read back as ``domain.ledger.Entry``."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Integer, Select, bindparam, func, insert, select

from leadrelay.adapters.db import dedup_store, wallet_store
from leadrelay.adapters.db.money_tables import ledger_entries
from leadrelay.adapters.db.tables import deliveries, jobs, leads, supplier_pings
from leadrelay.domain.ledger import ZERO, Entry, EntryKind, Party
from leadrelay.domain.states import JobKind
from leadrelay.services.ports.ledger import SaleFacts

_L = ledger_entries.c
_CHUNK = 500

# built once: every sale posts entries and reads its facts (a statement built per call costs more than
# SQLite takes to run it)
_INSERT_ENTRIES = insert(ledger_entries)
_D = deliveries.c
_SALE_FACTS = (
    select(
        _D.id,
        _D.lead_id,
        _D.partner,
        leads.c.source,
        leads.c.entity,
        _D.price,
        _D.is_test,
        _D.job_id,
        jobs.c.kind,
        _D.cap_windows,
        supplier_pings.c.payout,
    )
    .join(leads, leads.c.id == _D.lead_id)
    .join(jobs, jobs.c.id == _D.job_id)
    .outerjoin(supplier_pings, supplier_pings.c.lead_id == _D.lead_id)  # the ping whose token it used
    .where(_D.id.in_(bindparam("ids", expanding=True)))
)


_QUOTED = select(supplier_pings.c.lead_id, supplier_pings.c.payout).where(
    supplier_pings.c.lead_id.in_(bindparam("ids", expanding=True)), supplier_pings.c.payout.is_not(None)
)


def _entry(row: Any) -> Entry:
    return Entry(
        row.id,
        row.at,
        EntryKind(row.kind),
        Party(row.party_kind),
        row.party,
        row.amount,
        row.currency,
        row.actor,
        row.lead_id,
        row.delivery_id,
        row.reverses,
        row.margin,
        row.memo,
    )


@functools.lru_cache(maxsize=64)
def _entries_query(filters: frozenset[str]) -> Select[Any]:
    """``SqlLedger.entries``'s statement for this set of filters, built once (its values are bound
    parameters): a sale's payout, a waiting source's answer and a cancellation each read entries."""
    q = select(ledger_entries).order_by(_L.seq)
    if "lead_ids" in filters:
        q = q.where(_L.lead_id.in_(bindparam("lead_ids", expanding=True)))
    if "delivery_ids" in filters:
        q = q.where(_L.delivery_id.in_(bindparam("delivery_ids", expanding=True)))
    if "party_kind" in filters:
        q = q.where(_L.party_kind == bindparam("party_kind"))
    if "party" in filters:
        q = q.where(_L.party == bindparam("party"))
    if "kinds" in filters:
        q = q.where(_L.kind.in_(bindparam("kinds", expanding=True)))
    if "since" in filters:
        q = q.where(_L.at >= bindparam("since"))
    if "until" in filters:
        q = q.where(_L.at < bindparam("until"))
    if "limit" in filters:
        q = q.limit(bindparam("limit", type_=Integer))
    return q


class SqlLedger:
    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def quoted_payouts(self, lead_ids: Collection[str]) -> dict[str, Mapping[str, str]]:
        ids = sorted(set(lead_ids))
        found: dict[str, Mapping[str, str]] = {}
        for i in range(0, len(ids), _CHUNK):
            for lead_id, terms in self._conn.execute(_QUOTED, {"ids": ids[i : i + _CHUNK]}):
                if terms:
                    found[lead_id] = terms
        return found

    def lock_leads(self, lead_ids: Collection[str]) -> None:
        dedup_store.lock_keys(self._conn, [("@payout", lead_id) for lead_id in lead_ids])

    def post(self, entries: Sequence[Entry]) -> None:
        """Insert the entries and, in the same transaction, move each partner's balance row (``wallets``):
        the one place a partner's money is posted, so its balance row never disagrees with its entries."""
        if not entries:
            return
        self._conn.execute(_INSERT_ENTRIES, [e.row() for e in entries])
        owed: dict[str, Decimal] = {}
        for e in entries:
            if e.party_kind is Party.PARTNER:
                owed[e.party] = owed.get(e.party, ZERO) + e.amount
        wallet_store.move_owed(self._conn, owed)

    def entries(
        self,
        *,
        lead_ids: Collection[str] | None = None,
        delivery_ids: Collection[str] | None = None,
        party_kind: Party | None = None,
        party: str | None = None,
        kinds: Collection[EntryKind] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Entry]:
        given = {
            "lead_ids": sorted(set(lead_ids)) if lead_ids is not None else None,
            "delivery_ids": sorted(set(delivery_ids)) if delivery_ids is not None else None,
            "party_kind": party_kind.value if party_kind is not None else None,
            "party": party,
            "kinds": [k.value for k in kinds] if kinds is not None else None,
            "since": since,
            "until": until,
            "limit": limit,
        }
        params = {name: value for name, value in given.items() if value is not None}
        query = _entries_query(frozenset(params))
        return [_entry(row) for row in self._conn.execute(query, params)]

    def balances(self, party_kind: Party, parties: Collection[str] | None = None) -> dict[str, Decimal]:
        q = select(_L.party, func.sum(_L.amount)).where(_L.party_kind == party_kind.value).group_by(_L.party)
        if parties is not None:
            q = q.where(_L.party.in_(sorted(set(parties))))
        return {party: total if total is not None else ZERO for party, total in self._conn.execute(q)}

    def sale_facts(self, delivery_ids: Collection[str]) -> list[SaleFacts]:
        ids = sorted(set(delivery_ids))
        out: list[SaleFacts] = []
        for i in range(0, len(ids), _CHUNK):
            out.extend(
                SaleFacts(
                    r.id,
                    r.lead_id,
                    r.partner,
                    r.source,
                    r.entity,
                    r.price,
                    bool(r.is_test),
                    r.job_id,
                    r.kind == JobKind.RESEND,
                    any(scope == "money" for scope, _ in r.cap_windows or ()),
                    r.payout,
                )
                for r in self._conn.execute(_SALE_FACTS, {"ids": ids[i : i + _CHUNK]})
            )
        return out
