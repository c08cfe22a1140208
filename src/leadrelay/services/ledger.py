"""Posting money to the ledger (``leadrelay.domain.ledger``), always in the transaction of what caused it:
a sale is posted with the delivery that became delivered, a cancellation with the cancel, a manual entry
alone. Nothing here edits an entry; a correction is a new one.

Test leads move no money. A sale without a price is posted at 0.00 (the ledger knows every sale); an
installation with no prices and no payouts keeps no ledger at all.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from leadrelay.domain.budgets import low_crossed
from leadrelay.domain.ledger import (
    CENTS,
    DEFAULT_CURRENCY,
    ZERO,
    Entry,
    EntryKind,
    Party,
    PayoutModel,
    Sale,
    check,
    lead_paid,
    money,
    payout_of_terms,
    reversal_entries,
    sale_amount,
    sale_entries,
)
from leadrelay.domain.ledger import live as standing_entries
from leadrelay.domain.states import DeliveryStatus
from leadrelay.errors import FieldProblem, NotFound, ValidationFailed
from leadrelay.services.budgets import holds_money
from leadrelay.services.config_in_force import ConfigCache, LiveConfig
from leadrelay.services.ports import (
    Clock,
    IdSource,
    Record,
    SaleFacts,
    Storage,
    Tx,
    system_clock,
    system_ids,
)

log = logging.getLogger("leadrelay.ledger")


def pays_anything(live: LiveConfig) -> bool:
    """Whether any source is paid (else a sale without a price posts nothing); decided per version."""
    return live.pays_sources


def post_sales(
    tx: Tx,
    live: LiveConfig,
    delivery_ids: Collection[str],
    now: datetime,
    ids: IdSource,
    *,
    quoted: bool | None = None,
) -> list[Entry]:
    """The sale and payout entries of deliveries that were just delivered (their price stored), posted;
    with them, the money their leads held of the partners' budgets and wallets is settled at the sale's
    price (``services.budgets``), and a wallet the sales take under its low balance gets a log line.
    No entries when none of them has a price and no source is paid (an installation without money keeps
    no ledger, whichever way its leads are delivered). A stored price that is no amount to bill (a
    buyer's bid of 1e17) is a sale without a price: the sale is recorded, never refused."""
    facts = tx.ledger.sale_facts(delivery_ids)
    if quoted is None:  # else the caller took the leads' locks (and read their quotes) in this transaction
        quoted = lock_per_lead_payouts(tx, live, {f.lead_id for f in facts if not f.is_test})
    # a hold is settled whatever the configuration says now: one taken before the budgets or wallets were
    # switched off is still the partner's money
    held = facts if holds_money(live) else [f for f in facts if f.money_held]
    if held:
        tx.wallets.settle_holds([(f.job_id, f.partner, sale_amount(f.price) or ZERO) for f in held])
    facts = [f for f in facts if not f.is_test]
    if not facts or (
        not pays_anything(live) and not quoted and all(sale_amount(f.price) is None for f in facts)
    ):
        return []
    if any(f.resend for f in facts):  # a resend of a sale that stands is the same sale sent again
        facts = _not_sold_again(tx, facts)
    per_lead = {f.lead_id for f in facts if (model := _payout(live, f)) is not None and model.per_lead}
    lead_entries: dict[str, list[Entry]] = {lead: [] for lead in per_lead}
    for e in tx.ledger.entries(lead_ids=per_lead) if per_lead else ():
        lead_entries[e.lead_id or ""].append(e)
    posted: list[Entry] = []
    for f in sorted(facts, key=lambda f: f.delivery_id):
        sale = Sale(
            f.delivery_id,
            f.lead_id,
            f.partner,
            f.source,
            sale_amount(f.price),
            _payout(live, f),
        )
        paid = lead_paid(lead_entries.get(f.lead_id, ()))
        entries = sale_entries(
            sale, lead_paid=paid, at=now, currency=DEFAULT_CURRENCY, ids=[ids("led"), ids("led")]
        )
        lead_entries.setdefault(f.lead_id, []).extend(entries)
        posted.extend(entries)
    tx.ledger.post(posted)
    _low_balance_lines(tx, live, posted)
    return posted


def lock_per_lead_payouts(tx: Tx, live: LiveConfig, lead_ids: Collection[str]) -> bool:
    """Whether a lead's per-lead payout is paid, or still earned, is decided by one transaction at a time
    (``Ledger.lock_leads``). Taken before any wallet or budget row, as every transaction that posts or
    undoes a sale takes them, so that two such transactions cannot wait for each other. A lead sent with a
    supplier ping's token is paid on the terms quoted, whatever the terms in force: a quoted fixed payout
    takes the lock too. Returns whether any of the leads was quoted a payout."""
    if not lead_ids:
        return False
    quoted = tx.ledger.quoted_payouts(lead_ids)
    if live.pays_per_lead or any("fixed" in terms for terms in quoted.values()):
        tx.ledger.lock_leads(lead_ids)
    return bool(quoted)


def _not_sold_again(tx: Tx, facts: Sequence[SaleFacts]) -> list[SaleFacts]:
    """The facts without the resends of a sale that still stands (the partner has a live sale of the lead
    from another delivery): the buyer is sent the lead again, not billed again. A resend after the sale
    was cancelled is billed (the cancel undid the first)."""
    resent = {f.lead_id for f in facts if f.resend}
    standing = {
        (e.lead_id, e.party, e.delivery_id)
        for e in standing_entries(tx.ledger.entries(lead_ids=resent, party_kind=Party.PARTNER))
        if e.kind is EntryKind.SALE
    }
    sold = {(lead, partner): delivery for lead, partner, delivery in standing}
    kept = []
    for f in sorted(facts, key=lambda f: (f.resend, f.delivery_id)):  # the sales, then the resends
        key = (f.lead_id, f.partner)
        if f.resend and sold.get(key, f.delivery_id) != f.delivery_id:
            continue  # a sale of the lead to the partner stands, or one of these facts bills it
        sold.setdefault(key, f.delivery_id)
        kept.append(f)
    return kept


def resent_sales(tx: Tx, sales: Sequence[Record]) -> dict[str, list[str]]:
    """The delivered resends of each of these sales (delivered deliveries) to the same partner, by the
    sale's delivery (those with none left out): what takes a cancelled sale's place."""
    found: dict[str, list[str]] = {}
    for d in sales:
        standing = tx.erasure.lead_deliveries(d.lead_id, [DeliveryStatus.DELIVERED])  # the lead's, any job
        if resent := [x.id for x in standing if x.partner == d.partner and x.id != d.id]:
            found[d.id] = resent
    return found


def resend_takes_over(
    tx: Tx, live: LiveConfig, cancelled: Sequence[Record], now: datetime, ids: IdSource
) -> list[Entry]:
    """After a cancel: a resend of a cancelled sale to the same partner that still stands (delivered, not
    billed because the sale it repeated stood) is billed now, as the sale that stands. (The cancel keeps
    the holds of such a sale: its cap slots, budget and wallet money, and dedup mark stay spent.)"""
    resent = [i for ids_ in resent_sales(tx, cancelled).values() for i in ids_]
    if not resent:
        return []
    billed = {e.delivery_id for e in tx.ledger.entries(delivery_ids=resent, kinds=[EntryKind.SALE])}
    return post_sales(tx, live, [i for i in resent if i not in billed], now, ids)


def _low_balance_lines(tx: Tx, live: LiveConfig, posted: Sequence[Entry]) -> None:
    """A log line for each wallet these sales took under its ``low_balance`` (the alerts read
    ``Wallets.wallet_balances``)."""
    spent: dict[str, Decimal] = {}
    for e in posted:
        spec = live.specs.partners.get(e.party)
        if e.party_kind is Party.PARTNER and spec is not None and spec.wallet is not None:
            spent[e.party] = spent.get(e.party, ZERO) + e.amount
    for partner, amount in sorted(spent.items()):
        wallet = live.specs.partners[partner].wallet
        funds = tx.wallets.funds(partner)
        if wallet is None or funds is None:
            continue
        after = -funds.owed
        if low_crossed(after + amount, after, wallet.low_balance):
            log.warning(
                "wallet of %s is low: balance %s, under its low balance %s",
                partner,
                after,
                wallet.low_balance,
            )


def post_reversals(
    tx: Tx,
    live: LiveConfig,
    delivery_ids: Collection[str],
    kind: EntryKind,
    now: datetime,
    ids: IdSource,
    *,
    actor: str,
    memo: str | None = None,
) -> list[Entry]:
    """Undo the sales of these deliveries (a cancellation, or an approved return) with new entries; a sale
    already undone gives nothing. A cancellation leaves a payout earned on acceptance alone."""
    facts = {f.delivery_id: f for f in tx.ledger.sale_facts(delivery_ids)}
    leads = {f.lead_id for f in facts.values()}
    if not leads:
        return []
    lock_per_lead_payouts(tx, live, leads)  # whether the lead's payout still stands: one at a time
    lead_entries = tx.ledger.entries(lead_ids=leads)
    posted: list[Entry] = []
    for delivery_id in sorted(facts):
        f = facts[delivery_id]
        mine = [e for e in lead_entries if e.delivery_id == delivery_id]
        others = [e for e in lead_entries if e.lead_id == f.lead_id]
        model = _payout(live, f)
        entries = reversal_entries(
            mine,
            others,
            kind,
            at=now,
            actor=actor,
            new_id=lambda: ids("led"),
            memo=memo,
            payout_per_lead=model is not None and model.per_lead,
            undone_too=facts.keys(),
        )
        lead_entries.extend(entries)
        posted.extend(entries)
    tx.ledger.post(posted)
    return posted


MAX_MEMO = 500
"""The longest memo of a manual entry (the API's bound)."""
MAX_MANUAL = Decimal("999999999999.99")
"""The largest manual amount (the API's 14 digits, 2 of them cents)."""

MANUAL = {
    EntryKind.CREDIT: (Party.PARTNER,),
    EntryKind.TOPUP: (Party.PARTNER,),
    EntryKind.PAYMENT: (Party.PARTNER, Party.SOURCE),
    EntryKind.ADJUSTMENT: (Party.PARTNER, Party.SOURCE),
}
"""The entries an operator may post by hand, and for whom."""


def post_manual(
    tx: Tx,
    live: LiveConfig,
    *,
    kind: EntryKind,
    party_kind: Party,
    party: str,
    amount: Decimal,
    actor: str,
    now: datetime,
    ids: IdSource,
    memo: str | None = None,
    lead_id: str | None = None,
) -> Entry:
    """A credit, top-up, payment or adjustment by an operator. ``amount`` is given as the operator reads
    it: a credit, top-up or payment of 50 is ``50`` (its sign is the kind's); an adjustment is signed
    (+ the party owes more)."""
    if kind not in MANUAL or party_kind not in MANUAL[kind]:
        allowed = ", ".join(f"{k.value} ({'/'.join(p.value for p in ps)})" for k, ps in MANUAL.items())
        raise ValidationFailed([FieldProblem("kind", f"must be one of {allowed}")])
    parties = live.specs.partners if party_kind is Party.PARTNER else live.specs.sources
    if party not in parties:
        raise NotFound(f"no {party_kind.value} named {party!r}")
    if not amount.is_finite() or abs(amount) > MAX_MANUAL or amount != amount.quantize(CENTS):
        why = "must be an amount in cents, at most 999999999999.99 either way"
        raise ValidationFailed([FieldProblem("amount", why)])
    amount = money(amount)
    if kind is not EntryKind.ADJUSTMENT:
        if amount <= 0:
            raise ValidationFailed([FieldProblem("amount", "must be more than zero")])
        sign = -1 if (kind, party_kind) != (EntryKind.PAYMENT, Party.SOURCE) else 1
        amount = amount * sign
    elif amount == 0:
        raise ValidationFailed([FieldProblem("amount", "must not be zero")])
    if memo is not None and len(memo) > MAX_MEMO:  # the CLI as the API
        raise ValidationFailed([FieldProblem("memo", f"must be at most {MAX_MEMO} characters")])
    if lead_id is not None and tx.leads.get_lead(lead_id) is None:  # a lead's money is what its answer tells
        raise ValidationFailed([FieldProblem("lead_id", f"no lead {lead_id}")])
    entry = check(
        Entry(ids("led"), now, kind, party_kind, party, amount, DEFAULT_CURRENCY, actor, lead_id, memo=memo)
    )
    tx.ledger.post([entry])
    return entry


def lead_money(tx: Tx, lead_id: str) -> list[Entry]:
    """A lead's entries, in the order they were posted."""
    if tx.leads.get_lead(lead_id) is None:
        raise NotFound(f"no lead {lead_id}")
    return tx.ledger.entries(lead_ids=[lead_id])


def _payout(live: LiveConfig, f: SaleFacts) -> PayoutModel | None:
    """The source's payout model for the sale: the terms its lead's supplier ping quoted, else those in
    force."""
    if f.quoted_payout is not None:
        return payout_of_terms(f.quoted_payout)
    spec = live.specs.sources.get(f.source)
    return spec.payout_for(f.entity) if spec is not None else None


def entry_dict(e: Entry) -> dict[str, object]:
    """An entry as the API and the CLI show it (amounts as text: exact decimals)."""
    return {
        "id": e.id,
        "at": e.at.isoformat(),
        "kind": e.kind.value,
        "party_kind": e.party_kind.value,
        "party": e.party,
        "amount": str(e.amount),
        "currency": e.currency,
        "actor": e.actor,
        "lead_id": e.lead_id,
        "delivery_id": e.delivery_id,
        "reverses": e.reverses,
        "margin": str(e.margin) if e.margin is not None else None,
        "memo": e.memo,
    }


class LedgerBook:
    """The ledger's use cases for operators: read entries and balances, post a manual entry (audited)."""

    def __init__(self, storage: Storage, configs: ConfigCache, *, clock: Clock = system_clock,
                 ids: IdSource = system_ids) -> None:  # fmt: skip
        self.storage = storage
        self.configs = configs
        self.clock = clock
        self.ids = ids

    async def entries(self, **filters: Any) -> list[Entry]:
        limit = filters.pop("limit", 500)
        return await self.storage.run_read(lambda tx: tx.ledger.entries(limit=limit, **filters))

    async def balances(self, party_kind: Party) -> dict[str, Decimal]:
        return await self.storage.run_read(lambda tx: tx.ledger.balances(party_kind))

    async def post(
        self, *, kind: EntryKind, party_kind: Party, party: str, amount: Decimal, actor: str,
        memo: str | None = None, lead_id: str | None = None,
    ) -> Entry:  # fmt: skip
        live = await self.configs.get(self.storage)

        def work(tx: Tx) -> Entry:
            now = self.clock()
            entry = post_manual(
                tx, live, kind=kind, party_kind=party_kind, party=party, amount=amount, actor=actor,
                now=now, ids=self.ids, memo=memo, lead_id=lead_id,
            )  # fmt: skip
            tx.config.audit(
                actor=actor,
                action=f"ledger.{kind.value}",
                object_kind=party_kind.value,
                object_id=party,
                at=now,
                detail={"entry": entry.id, "amount": str(entry.amount)},
                reason=memo,
            )
            return entry

        return await self.storage.run(work)
