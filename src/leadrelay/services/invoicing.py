"""Invoicing use cases: draft, list, show, issue, pay and void partners' invoices and sources' statements
(``leadrelay.domain.invoices``), each in one transaction.

- **draft**: the party's entries on no issued invoice, up to the end of the period (on its clock), become
  the lines of a draft; drafting the same party and period again regenerates the draft in place. A draft
  holds no entry (it is a preview): drafting a later period first takes nothing from an earlier one. A
  period that already has an issued or paid invoice is refused (void it first); a later entry of that
  period goes to the next period's invoice.
- **issue**: the draft is made again from the ledger as it stands (so a sale cancelled since the draft,
  even after the period's end, is left out rather than billed and credited), takes its entries, is
  numbered from the series' counter and frozen; an invoice's deliveries become ``invoiced`` in the same
  transaction, so they can no longer be cancelled.
- **pay**: a payment entry for the total is posted to the ledger (none for a total of zero or less).
- **void**: only an issued, unpaid invoice; its entries are released to the next invoice, its deliveries
  are no longer invoiced, and its number stays used (the voided invoice keeps its lines as issued).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from leadrelay.domain import invoices as inv
from leadrelay.domain.invoices import Invoice, InvoiceStatus, Invoicing, Period
from leadrelay.domain.ledger import DEFAULT_CURRENCY, Entry, Party
from leadrelay.domain.model import PartnerSpec
from leadrelay.errors import FieldProblem, InvalidTransition, NotFound, ValidationFailed
from leadrelay.services.config_in_force import ConfigCache, LiveConfig
from leadrelay.services.ports import Clock, IdSource, Storage, Tx, system_clock, system_ids


def _policy(live: LiveConfig, party_kind: Party, party: str) -> Invoicing:
    specs = live.specs.partners if party_kind is Party.PARTNER else live.specs.sources
    spec = specs.get(party)
    if spec is None:
        raise NotFound(f"no {party_kind.value} named {party!r}")
    policy = spec.invoicing
    if policy.timezone is None and isinstance(spec, PartnerSpec):
        policy = replace(policy, timezone=spec.timezone)  # a partner's periods are on its own clock
    return policy


def _get(tx: Tx, invoice_id: str, *, lock: bool = False) -> Invoice:
    invoice = tx.invoices.get(invoice_id, lock=lock)
    if invoice is None:
        raise NotFound(f"no invoice {invoice_id}")
    return invoice


def _audit(tx: Tx, actor: str, action: str, invoice: Invoice, now: datetime) -> None:
    tx.config.audit(
        actor=actor,
        action=f"invoice.{action}",
        object_kind="invoice",
        object_id=invoice.id,
        at=now,
        detail={"number": invoice.number, "party": invoice.party, "total": str(invoice.total)},
        reason=None,
    )


def _open_entries(tx: Tx, party_kind: Party, party: str, period: Period) -> list[Entry]:
    """The party's entries on no issued invoice, less those an earlier period's draft bills (every open
    entry posted before its end, an older period's left over too: that invoice bills them, whichever is
    issued first) and the reversals of those."""
    entries = tx.invoices.open_entries(party_kind, party)
    earlier = [
        d.period
        for d in tx.invoices.find(party_kind=party_kind, party=party, status=InvoiceStatus.DRAFT)
        if d.period.ends_at <= period.starts_at
    ]
    if not earlier:
        return entries
    last_end = max(p.ends_at for p in earlier)
    theirs = {e.id for e in entries if e.at < last_end}
    return [e for e in entries if e.id not in theirs and e.reverses not in theirs]


def _refill(tx: Tx, invoice: Invoice, now: datetime, *, hold: bool = False) -> Invoice:
    """The draft made again from the entries on no invoice, stored; ``hold``: the invoice (being issued)
    takes its entries, so that no other invoice bills them."""
    tx.invoices.release(invoice.id)  # a draft of an earlier version held its entries
    candidates = _open_entries(tx, invoice.party_kind, invoice.party, invoice.period)
    invoice = inv.regenerate(invoice, candidates, now)
    if hold:
        tx.invoices.claim(invoice.id, [x.entry_id for x in invoice.lines])
    tx.invoices.set_lines(invoice)
    return invoice


_LOCK_PASSES = 4  # reads of the entries an issue locks its sales for, at most


class Billing:
    """The invoicing use cases (``Runtime.invoices``)."""

    def __init__(
        self,
        storage: Storage,
        configs: ConfigCache,
        *,
        clock: Clock = system_clock,
        ids: IdSource = system_ids,
    ) -> None:
        self.storage = storage
        self.configs = configs
        self.clock = clock
        self.ids = ids

    async def draft(self, party_kind: Party, party: str, period: str, *, actor: str) -> Invoice:
        """A draft for the party's period that holds ``period`` (a month ``2026-11`` or a day)."""
        live = await self.configs.get(self.storage)
        policy = _policy(live, party_kind, party)
        try:
            span = inv.parse_period(period, policy)
        except ValueError as exc:
            raise ValidationFailed([FieldProblem("period", str(exc))]) from exc

        def work(tx: Tx) -> Invoice:
            now = self.clock()
            current = [
                i
                for i in tx.invoices.find(party_kind=party_kind, party=party, starts_at=span.starts_at)
                if i.status is not InvoiceStatus.VOID
            ]
            for existing in current:
                if existing.status is InvoiceStatus.DRAFT:
                    return _refill(tx, existing, now)
                raise InvalidTransition(
                    f"{party} already has {existing.status} {existing.title.lower()} {existing.number} for"
                    f" {span.label}: void it to draft the period again"
                )
            candidates = _open_entries(tx, party_kind, party, span)
            invoice = inv.draft(
                self.ids("inv"), party_kind, party, span, candidates, now=now, currency=DEFAULT_CURRENCY,
                actor=actor,
            )  # fmt: skip
            tx.invoices.insert(invoice)
            return invoice

        return await self.storage.run(work)

    async def get(self, invoice_id: str) -> Invoice:
        return await self.storage.run_read(lambda tx: _get(tx, invoice_id))

    async def get_own(self, invoice_id: str, party_kind: Party, party: str) -> Invoice:
        """A partner's (or a source's) own invoice once issued. Another party's, or a draft, is not found:
        a 404 that does not tell whether it exists."""
        invoice = await self.storage.run_read(lambda tx: tx.invoices.get(invoice_id))
        if (
            invoice is None
            or invoice.party_kind is not party_kind
            or invoice.party != party
            or invoice.status is InvoiceStatus.DRAFT
        ):
            raise NotFound(f"no invoice {invoice_id}")
        return invoice

    async def find(
        self,
        *,
        party_kind: Party | None = None,
        party: str | None = None,
        status: InvoiceStatus | None = None,
        limit: int = 100,
    ) -> list[Invoice]:
        return await self.storage.run_read(
            lambda tx: tx.invoices.find(party_kind=party_kind, party=party, status=status, limit=limit)
        )

    async def issue(self, invoice_id: str, *, actor: str) -> Invoice:
        def work(tx: Tx) -> Invoice:
            first = _get(tx, invoice_id)
            inv.check_move(invoice_id, first.status, InvoiceStatus.ISSUED)
            now = self.clock()
            # the counter first: it holds every other issue of the series until this one ends, so what
            # is read next (the invoice's state, the entries on no invoice) is what they committed
            seq = tx.invoices.next_number(first.series, now.year)
            invoice = _get(tx, invoice_id)
            inv.check_move(invoice_id, invoice.status, InvoiceStatus.ISSUED)  # as committed meanwhile
            # the sales it bills, their deliveries locked before the entries they are billed from are read
            # (read again until every sale read was locked first: one may be posted meanwhile): a cancel
            # under way (it holds them) ends first, and its cancellation is billed with the rest; a cancel
            # after this finds them invoiced
            locked: set[str] = set()
            filled = _refill(tx, invoice, now, hold=True)
            passes = 0  # bounded: a period still open, its partner busy, could always have one more sale
            while (
                invoice.party_kind is Party.PARTNER
                and not locked.issuperset(filled.sold_deliveries)
                and (passes := passes + 1) <= _LOCK_PASSES
            ):
                more = set(filled.sold_deliveries) - locked
                tx.invoices.lock_deliveries(more)
                locked |= more
                filled = _refill(tx, invoice, now, hold=True)
            invoice = inv.issue(filled, seq, now)
            tx.invoices.set_state(invoice)
            if invoice.party_kind is Party.PARTNER:
                tx.invoices.set_invoiced(invoice.sold_deliveries, True)
            _audit(tx, actor, "issue", invoice, now)
            return invoice

        return await self.storage.run(work)

    async def pay(self, invoice_id: str, *, actor: str) -> Invoice:
        def work(tx: Tx) -> Invoice:
            invoice = _get(tx, invoice_id, lock=True)  # a pay or void at the same time waits, then sees it
            inv.check_move(invoice_id, invoice.status, InvoiceStatus.PAID)
            now = self.clock()
            entry = inv.settlement_entry(invoice, entry_id=self.ids("led"), at=now, actor=actor)
            if entry is not None:
                tx.ledger.post([entry])
            invoice = inv.pay(invoice, now, entry.id if entry is not None else None)
            tx.invoices.set_state(invoice)
            _audit(tx, actor, "pay", invoice, now)
            return invoice

        return await self.storage.run(work)

    async def void(self, invoice_id: str, *, actor: str) -> Invoice:
        def work(tx: Tx) -> Invoice:
            now = self.clock()
            invoice = inv.void(_get(tx, invoice_id, lock=True), now)
            tx.invoices.release(invoice.id)
            if invoice.party_kind is Party.PARTNER:
                tx.invoices.set_invoiced(invoice.sold_deliveries, False)
            tx.invoices.set_state(invoice)
            _audit(tx, actor, "void", invoice, now)
            return invoice

        return await self.storage.run(work)
