"""Invoices (to partners) and statements (to sources), made of ledger entries (issue 11, point 6).

One model for both, told apart by the party's kind (``Party``): a partner's **invoice** bills its sales
less its credits; a source's **statement** lists what the operator owes it (payouts less clawbacks).

- **Lines** (``select_lines``): the party's entries not yet on any issued invoice, posted before the
  period's end. Sales and payouts are charges; cancellations, returns and credits are credits; adjustments
  either. A sale and the cancellation or return that undoes it, both not yet invoiced, leave the invoice
  together (netted out), also when the reversal came after the period's end (a sale of the last day
  cancelled before the invoice is issued is not billed); the reversal of a sale invoiced earlier is a
  credit line of the next invoice. Top-ups and payments are never lines (they settle, they are not
  billed). Only an issued invoice holds its entries: a draft is a preview, made again when issued, so
  drafting a later period first takes nothing from an earlier one.
- **Amounts** read as the document does: on an invoice a sale is ``+`` (the ledger's sign), on a statement
  a payout is ``+`` (the ledger's sign turned round). ``total = charges - credits`` (``Totals``).
- **States** (``InvoiceStatus``, moves as data in ``EDGES``): ``draft`` (may be regenerated; no number)
  → ``issued`` (numbered, lines and total frozen) → ``paid`` (a payment entry posted), or ``issued`` →
  ``void`` (its entries are released to the next invoice; the number stays used).
- **Periods** (``Period``): a week (starting on ``week_starts``) or a calendar month on the party's clock
  (its time zone), as UTC bounds ``[starts_at, ends_at)``.
- **Numbers**: ``INV-2026-000001`` (invoices), ``ST-2026-000001`` (statements): one gap-free counter per
  series and year of issue (UTC), taken in the issuing transaction.

Pure: standard library only; time and ids are arguments.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from leadrelay.domain.after_sale_states import INVOICE, InvoiceStatus
from leadrelay.domain.ledger import ZERO, Entry, EntryKind, Party, check
from leadrelay.errors import InvalidTransition

__all__ = [
    "DEFAULT_INVOICING",
    "EDGES",
    "INITIAL",
    "LINE_KINDS",
    "SERIES",
    "TRANSITIONS",
    "Invoice",
    "InvoiceStatus",
    "Invoicing",
    "Line",
    "Period",
    "PeriodKind",
    "Totals",
    "Weekday",
    "check_move",
    "draft",
    "invoice_number",
    "issue",
    "parse_period",
    "pay",
    "period_containing",
    "select_lines",
    "settlement_entry",
    "void",
]


# ---------------------------------------------------------------- states


_S = InvoiceStatus
INITIAL: Mapping[InvoiceStatus, str] = INVOICE.initial
EDGES = INVOICE.edges
TRANSITIONS: Mapping[InvoiceStatus, frozenset[InvoiceStatus]] = {
    state: frozenset(dst for src, dst, _ in EDGES if src is state) for state in InvoiceStatus
}
"""The moves are ``domain.after_sale_states.INVOICE`` (drawn in docs/states.md with the other machines)."""

_VERB = {_S.DRAFT: "regenerate", _S.ISSUED: "issue", _S.PAID: "pay", _S.VOID: "void"}


def check_move(invoice_id: str, src: InvoiceStatus | str, dst: InvoiceStatus) -> InvoiceStatus:
    """``dst`` when an invoice in ``src`` may move there; else :class:`InvalidTransition`."""
    if dst not in TRANSITIONS.get(InvoiceStatus(src), frozenset()):
        allowed = {_S.DRAFT: "a draft", _S.ISSUED: "a draft", _S.PAID: "an issued invoice"}
        what = allowed.get(dst, "an issued, unpaid invoice")
        raise InvalidTransition(f"cannot {_VERB[dst]} invoice {invoice_id}: it is {src}; only {what} can be")
    return dst


# ---------------------------------------------------------------- periods


class PeriodKind(StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class Weekday(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"

    @property
    def number(self) -> int:
        """Monday 0 … Sunday 6 (``date.weekday``)."""
        return list(Weekday).index(self)


@dataclass(frozen=True, slots=True)
class Invoicing:
    """A party's invoicing policy (``invoicing:`` in its configuration; these are the defaults).
    ``timezone``: its clock (None: a partner's own ``timezone``, else UTC)."""

    period: PeriodKind = PeriodKind.MONTHLY
    week_starts: Weekday = Weekday.MONDAY
    timezone: str | None = None


DEFAULT_INVOICING = Invoicing()


@dataclass(frozen=True, slots=True)
class Period:
    """A billing period: local days ``first``..``last`` (inclusive) in ``timezone``; ``starts_at`` and
    ``ends_at`` (exclusive) are their UTC bounds."""

    kind: PeriodKind
    first: date
    last: date
    timezone: str
    starts_at: datetime
    ends_at: datetime

    @property
    def label(self) -> str:
        if self.kind is PeriodKind.MONTHLY:
            return self.first.strftime("%Y-%m")
        return f"{self.first.isoformat()}..{self.last.isoformat()}"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def period_containing(day: date, policy: Invoicing) -> Period:
    """The period of ``policy`` that holds the local day ``day``."""
    if policy.period is PeriodKind.MONTHLY:
        first = day.replace(day=1)
        last = day.replace(day=calendar.monthrange(day.year, day.month)[1])
    else:
        first = day - timedelta(days=(day.weekday() - policy.week_starts.number) % 7)
        last = first + timedelta(days=6)
    name = policy.timezone or "UTC"
    zone = _zone(name)
    starts_at = datetime.combine(first, time(), zone).astimezone(UTC)
    ends_at = datetime.combine(last + timedelta(days=1), time(), zone).astimezone(UTC)
    return Period(policy.period, first, last, name, starts_at, ends_at)


_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")  # ASCII digits: \d also matches "２０２６"
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_period(text: str, policy: Invoicing) -> Period:
    """``2026-11`` (a monthly party's November) or any day ``2026-11-30``: the period that holds it.
    Raises ``ValueError`` with a reader's message."""
    text = text.strip()
    month = _MONTH.fullmatch(text)
    try:
        if month is not None:
            if policy.period is not PeriodKind.MONTHLY:
                raise ValueError(
                    f"this party is invoiced {policy.period}: give a day (2026-11-30), not {text}"
                )
            return period_containing(date(int(month[1]), int(month[2]), 1), policy)
        if not _DAY.fullmatch(text):  # fromisoformat reads week dates too (2026-W01 is 2025-12-29)
            raise ValueError(text)
        return period_containing(date.fromisoformat(text), policy)
    except OverflowError as exc:  # a period at the calendar's edge (9999-12, or a week of 0001-01-01)
        edge = "a period must start after the year 1 begins and end before the year 9999 does"
        raise ValueError(f"{text[:40]!r} is at the calendar's edge: {edge}") from exc
    except ValueError as exc:
        if "invoiced" in str(exc):
            raise
        raise ValueError(f"must be a month (2026-11) or a day (2026-11-30), not {text[:40]!r}") from exc


# ---------------------------------------------------------------- lines


LINE_KINDS: Mapping[Party, frozenset[EntryKind]] = {
    Party.PARTNER: frozenset(
        {EntryKind.SALE, EntryKind.CANCELLATION, EntryKind.RETURN, EntryKind.CREDIT, EntryKind.ADJUSTMENT}
    ),
    Party.SOURCE: frozenset(
        {EntryKind.PAYOUT, EntryKind.CANCELLATION, EntryKind.RETURN, EntryKind.ADJUSTMENT}
    ),
}
"""The entries that make a party's lines (top-ups and payments settle; they are never billed)."""

CHARGES = frozenset({EntryKind.SALE, EntryKind.PAYOUT})


@dataclass(frozen=True, slots=True)
class Line:
    """One entry on an invoice; ``amount`` as the document reads it (a sale or a payout is ``+``)."""

    entry_id: str
    at: datetime
    kind: EntryKind
    amount: Decimal
    lead_id: str | None = None
    delivery_id: str | None = None
    memo: str | None = None

    @property
    def is_credit(self) -> bool:
        return self.amount < 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "at": self.at.isoformat(),
            "kind": self.kind.value,
            "amount": str(self.amount),
            "lead_id": self.lead_id,
            "delivery_id": self.delivery_id,
            "memo": self.memo,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Line:
        return cls(
            data["entry_id"],
            datetime.fromisoformat(data["at"]),
            EntryKind(data["kind"]),
            Decimal(data["amount"]),
            data.get("lead_id"),
            data.get("delivery_id"),
            data.get("memo"),
        )


def line_of(entry: Entry) -> Line:
    amount = entry.amount if entry.party_kind is Party.PARTNER else -entry.amount
    return Line(entry.id, entry.at, entry.kind, amount, entry.lead_id, entry.delivery_id, entry.memo)


def select_lines(candidates: Iterable[Entry], party_kind: Party, party: str, ends_at: datetime) -> list[Line]:
    """The lines of an invoice: of ``candidates`` (the party's entries on no invoice yet, whenever
    posted), those of its kinds posted before ``ends_at``, less every sale or payout undone by a reversal
    among the candidates (both leave, wherever the reversal falls). In the order given (the ledger's)."""
    pool = [
        e
        for e in candidates
        if e.party_kind is party_kind and e.party == party and e.kind in LINE_KINDS[party_kind]
    ]
    ids = {e.id for e in pool}
    netted = {e.id for e in pool if e.reverses in ids} | {e.reverses for e in pool if e.reverses in ids}
    return [line_of(e) for e in pool if e.id not in netted and e.at < ends_at]


@dataclass(frozen=True, slots=True)
class Totals:
    charges: Decimal  # the positive lines (sales, payouts, adjustments up)
    credits: Decimal  # the negative lines, as a positive amount (cancellations, returns, credits)
    total: Decimal  # charges - credits

    @classmethod
    def of(cls, lines: Iterable[Line]) -> Totals:
        charges = credits = ZERO
        for line in lines:
            if line.amount >= 0:
                charges += line.amount
            else:
                credits -= line.amount
        return cls(charges, credits, charges - credits)


# ---------------------------------------------------------------- the invoice

SERIES: Mapping[Party, str] = {Party.PARTNER: "INV", Party.SOURCE: "ST"}


def invoice_number(series: str, year: int, seq: int) -> str:
    return f"{series}-{year}-{seq:06d}"


@dataclass(frozen=True, slots=True)
class Invoice:
    id: str
    party_kind: Party
    party: str
    period: Period
    status: InvoiceStatus
    currency: str
    lines: tuple[Line, ...]
    total: Decimal
    actor: str
    created_at: datetime
    updated_at: datetime
    number: str | None = None
    issued_at: datetime | None = None
    paid_at: datetime | None = None
    voided_at: datetime | None = None
    payment_entry: str | None = None

    @property
    def series(self) -> str:
        return SERIES[self.party_kind]

    @property
    def title(self) -> str:
        return "Invoice" if self.party_kind is Party.PARTNER else "Statement"

    @property
    def totals(self) -> Totals:
        return Totals.of(self.lines)

    @property
    def sold_deliveries(self) -> list[str]:
        """The deliveries whose sale is billed here (``deliveries.invoiced`` follows them)."""
        return sorted({x.delivery_id for x in self.lines if x.kind is EntryKind.SALE and x.delivery_id})


def _with_lines(invoice: Invoice, lines: Sequence[Line], now: datetime) -> Invoice:
    totals = Totals.of(lines)
    assert totals.total == sum((x.amount for x in lines), ZERO)
    return replace(invoice, lines=tuple(lines), total=totals.total, updated_at=now)


def draft(
    invoice_id: str,
    party_kind: Party,
    party: str,
    period: Period,
    candidates: Iterable[Entry],
    *,
    now: datetime,
    currency: str,
    actor: str,
) -> Invoice:
    """A new draft of the party's lines for ``period`` (see ``select_lines``)."""
    lines = select_lines(candidates, party_kind, party, period.ends_at)
    blank = Invoice(
        invoice_id, party_kind, party, period, InvoiceStatus.DRAFT, currency, (), ZERO, actor, now, now
    )
    return _with_lines(blank, lines, now)


def regenerate(invoice: Invoice, candidates: Iterable[Entry], now: datetime) -> Invoice:
    """The draft made again from ``candidates`` (the entries on no invoice, its own released)."""
    check_move(invoice.id, invoice.status, InvoiceStatus.DRAFT)
    lines = select_lines(candidates, invoice.party_kind, invoice.party, invoice.period.ends_at)
    return _with_lines(invoice, lines, now)


def issue(invoice: Invoice, seq: int, now: datetime) -> Invoice:
    """The draft, numbered (``seq``: the next of its series for ``now``'s year) and frozen."""
    check_move(invoice.id, invoice.status, InvoiceStatus.ISSUED)
    number = invoice_number(invoice.series, now.astimezone(UTC).year, seq)
    return replace(invoice, status=InvoiceStatus.ISSUED, number=number, issued_at=now, updated_at=now)


def settlement_entry(invoice: Invoice, *, entry_id: str, at: datetime, actor: str) -> Entry | None:
    """The payment that settles an issued invoice: the partner paid its total (``-`` on its balance), or
    the operator paid the source its total (``+``). None when the total is zero or less: a credit note
    leaves its credit on the party's balance."""
    if invoice.total <= 0:
        return None
    amount = -invoice.total if invoice.party_kind is Party.PARTNER else invoice.total
    memo = f"{invoice.title.lower()} {invoice.number}"
    kind, party = EntryKind.PAYMENT, invoice.party_kind
    return check(Entry(entry_id, at, kind, party, invoice.party, amount, invoice.currency, actor, memo=memo))


def pay(invoice: Invoice, now: datetime, payment_entry: str | None) -> Invoice:
    check_move(invoice.id, invoice.status, InvoiceStatus.PAID)
    return replace(
        invoice, status=InvoiceStatus.PAID, paid_at=now, updated_at=now, payment_entry=payment_entry
    )


def void(invoice: Invoice, now: datetime) -> Invoice:
    """Only an issued, unpaid invoice; its lines stay on it as they were issued (the record), but its
    entries are released to the next invoice by the caller."""
    check_move(invoice.id, invoice.status, InvoiceStatus.VOID)
    return replace(invoice, status=InvoiceStatus.VOID, voided_at=now, updated_at=now)
