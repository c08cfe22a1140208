"""The pure invoice logic (``leadrelay.domain.invoices``): periods on a party's clock, the lifecycle as
data, and hypothesis properties over random sequences of sales, cancels, returns, resends, credits,
adjustments, issues and voids played against an in-test ledger."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadrelay.domain import invoices as inv
from leadrelay.domain.invoices import (
    Invoice,
    InvoiceStatus,
    Invoicing,
    PeriodKind,
    Totals,
    Weekday,
    parse_period,
    period_containing,
    select_lines,
)
from leadrelay.domain.ledger import ZERO, Entry, EntryKind, Party, check
from leadrelay.errors import InvalidTransition

T0 = datetime(2026, 11, 2, 12, tzinfo=UTC)
S = InvoiceStatus

# ---------------------------------------------------------------- periods


@pytest.mark.parametrize(
    ("policy", "day", "first", "last", "starts_at", "ends_at"),
    [
        (
            Invoicing(PeriodKind.MONTHLY, timezone="America/Los_Angeles"),
            date(2026, 11, 17), date(2026, 11, 1), date(2026, 11, 30),
            datetime(2026, 11, 1, 7, tzinfo=UTC), datetime(2026, 12, 1, 8, tzinfo=UTC),  # DST ends Nov 1
        ),
        (
            Invoicing(PeriodKind.WEEKLY, Weekday.MONDAY, "UTC"),
            date(2026, 12, 3), date(2026, 11, 30), date(2026, 12, 6),
            datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC),
        ),
        (
            Invoicing(PeriodKind.WEEKLY, Weekday.SUNDAY, "Europe/Paris"),
            date(2026, 3, 29), date(2026, 3, 29), date(2026, 4, 4),
            datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 4, 4, 22, tzinfo=UTC),  # DST starts Mar 29
        ),
        (
            Invoicing(PeriodKind.MONTHLY),
            date(2028, 2, 29), date(2028, 2, 1), date(2028, 2, 29),
            datetime(2028, 2, 1, tzinfo=UTC), datetime(2028, 3, 1, tzinfo=UTC),
        ),
    ],
)  # fmt: skip
def test_a_period_is_on_the_partys_clock(
    policy: Invoicing, day: date, first: date, last: date, starts_at: datetime, ends_at: datetime
) -> None:
    p = period_containing(day, policy)
    assert (p.first, p.last, p.starts_at, p.ends_at) == (first, last, starts_at, ends_at)
    assert parse_period(day.isoformat(), policy) == p


def test_parse_period() -> None:
    monthly = Invoicing()
    assert parse_period("2026-11", monthly).label == "2026-11"
    assert parse_period(" 2026-11-30 ", monthly).first == date(2026, 11, 1)
    weekly = Invoicing(PeriodKind.WEEKLY)
    assert parse_period("2026-12-03", weekly).label == "2026-11-30..2026-12-06"
    with pytest.raises(ValueError, match="invoiced weekly: give a day"):
        parse_period("2026-11", weekly)
    for bad in ("November", "2026-13", "2026-02-30", ""):
        with pytest.raises(ValueError, match="must be a month"):
            parse_period(bad, monthly)


# ---------------------------------------------------------------- the lifecycle


@pytest.mark.parametrize("src", list(InvoiceStatus))
@pytest.mark.parametrize("dst", list(InvoiceStatus))
def test_moves_are_the_table(src: InvoiceStatus, dst: InvoiceStatus) -> None:
    allowed = {(S.DRAFT, S.DRAFT), (S.DRAFT, S.ISSUED), (S.ISSUED, S.PAID), (S.ISSUED, S.VOID)}
    if (src, dst) in allowed:
        assert inv.check_move("inv_1", src, dst) is dst
    else:
        with pytest.raises(InvalidTransition, match=f"it is {src}"):
            inv.check_move("inv_1", src, dst)


def _draft(entries: list[Entry], party_kind: Party = Party.PARTNER, party: str = "p") -> Invoice:
    period = period_containing(T0.date(), Invoicing())
    return inv.draft("inv_1", party_kind, party, period, entries, now=T0, currency="USD", actor="t")


def _e(i: int, kind: EntryKind, cents: int, *, party_kind: Party = Party.PARTNER, reverses: str | None = None,
       at: datetime = T0) -> Entry:  # fmt: skip
    return check(
        Entry(f"led_{i}", at, kind, party_kind, "p", Decimal(cents) / 100, "USD", "t", f"lead_{i}",
              f"dlv_{i}", reverses)
    )  # fmt: skip


def test_issue_numbers_and_pay_settles() -> None:
    d = _draft([_e(1, EntryKind.SALE, 2500), _e(2, EntryKind.CREDIT, -500)])
    assert d.number is None and d.total == Decimal("20.00")
    issued = inv.issue(d, 7, T0)
    assert issued.number == "INV-2026-000007" and issued.status is S.ISSUED
    assert issued.sold_deliveries == ["dlv_1"]
    payment = inv.settlement_entry(issued, entry_id="led_9", at=T0, actor="admin:x")
    assert payment is not None and (payment.kind, payment.amount) == (EntryKind.PAYMENT, Decimal("-20.00"))
    assert inv.pay(issued, T0, payment.id).payment_entry == "led_9"
    with pytest.raises(InvalidTransition):
        inv.regenerate(issued, [], T0)


def test_a_statement_reads_payouts_as_charges() -> None:
    payouts = [_e(1, EntryKind.PAYOUT, -400, party_kind=Party.SOURCE),
               _e(2, EntryKind.PAYOUT, -400, party_kind=Party.SOURCE),
               _e(3, EntryKind.SALE, 2500)]  # fmt: skip
    st_ = inv.issue(_draft(payouts, Party.SOURCE), 1, T0)
    assert st_.number == "ST-2026-000001" and st_.total == Decimal("8.00") and len(st_.lines) == 2
    payment = inv.settlement_entry(st_, entry_id="led_9", at=T0, actor="t")
    assert payment is not None and payment.amount == Decimal("8.00") and payment.party_kind is Party.SOURCE
    assert st_.sold_deliveries == []


def test_a_credit_note_posts_no_payment() -> None:
    credit = inv.issue(_draft([_e(1, EntryKind.CREDIT, -500)]), 1, T0)
    assert credit.total == Decimal("-5.00")
    assert inv.settlement_entry(credit, entry_id="x", at=T0, actor="t") is None


def test_entries_after_the_period_and_topups_are_left_out() -> None:
    after = datetime(2026, 12, 1, tzinfo=UTC)
    entries = [_e(1, EntryKind.SALE, 100), _e(2, EntryKind.SALE, 100, at=after), _e(3, EntryKind.TOPUP, -900),
               _e(4, EntryKind.PAYMENT, -100)]  # fmt: skip
    assert [x.entry_id for x in _draft(entries).lines] == ["led_1"]


def test_a_sale_cancelled_after_the_periods_end_but_before_the_issue_is_not_billed() -> None:
    """The reversal falls in the next period; the sale and it still leave together (README: both not yet
    invoiced)."""
    after = datetime(2026, 12, 1, tzinfo=UTC)
    entries = [_e(1, EntryKind.SALE, 2500), _e(2, EntryKind.SALE, 1000),
               _e(3, EntryKind.CANCELLATION, -2500, reverses="led_1", at=after)]  # fmt: skip
    assert [x.entry_id for x in _draft(entries).lines] == ["led_2"]


# ---------------------------------------------------------------- properties

Event = tuple[str, int]

events = st.lists(
    st.one_of(
        st.tuples(st.just("sale"), st.integers(1, 100_000)),
        st.tuples(st.sampled_from(["cancel", "return", "resend"]), st.integers(0, 30)),
        st.tuples(st.just("credit"), st.integers(1, 20_000)),
        st.tuples(st.just("adjust"), st.integers(-20_000, 20_000).filter(bool)),
        st.tuples(st.just("issue"), st.just(0)),
        st.tuples(st.just("void"), st.integers(0, 10)),
    ),
    max_size=60,
)


@dataclass
class Book:
    """A partner's ledger and invoices, kept as the service keeps them (claims, release on void)."""

    entries: list[Entry] = field(default_factory=list)
    sales: list[Entry] = field(default_factory=list)
    reversed_: set[str] = field(default_factory=set)
    held: dict[str, str] = field(default_factory=dict)  # entry id -> invoice id
    invoices: dict[str, Invoice] = field(default_factory=dict)
    snapshots: dict[str, tuple[tuple[inv.Line, ...], Decimal]] = field(default_factory=dict)
    seq: int = 0
    now: datetime = T0

    def post(
        self, kind: EntryKind, cents: int, *, lead: str | None = None, reverses: str | None = None
    ) -> Entry:
        self.now += timedelta(minutes=1)
        n = len(self.entries)
        e = check(Entry(f"led_{n:04d}", self.now, kind, Party.PARTNER, "p", Decimal(cents) / 100, "USD", "t",
                        lead, f"dlv_{n:04d}", reverses))  # fmt: skip
        self.entries.append(e)
        return e

    def play(self, event: Event) -> None:
        what, n = event
        live = [s for s in self.sales if s.id not in self.reversed_]
        if what == "sale":
            self.sales.append(self.post(EntryKind.SALE, n, lead=f"lead_{len(self.sales)}"))
        elif what in ("cancel", "return") and live:
            sale = live[n % len(live)]
            kind = EntryKind.CANCELLATION if what == "cancel" else EntryKind.RETURN
            self.post(kind, -int(sale.amount * 100), lead=sale.lead_id, reverses=sale.id)
            self.reversed_.add(sale.id)
        elif what == "resend" and self.sales:
            sale = self.sales[n % len(self.sales)]  # the same lead sold again (after a cancel, or not)
            self.sales.append(self.post(EntryKind.SALE, int(sale.amount * 100), lead=sale.lead_id))
        elif what == "credit":
            self.post(EntryKind.CREDIT, -n)
        elif what == "adjust":
            self.post(EntryKind.ADJUSTMENT, n)
        elif what == "issue":
            self.issue()
        elif what == "void":
            issued = [i for i in self.invoices.values() if i.status is S.ISSUED]
            if issued:
                voided = inv.void(issued[n % len(issued)], self.now)
                self.invoices[voided.id] = voided
                self.held = {e: i for e, i in self.held.items() if i != voided.id}

    def issue(self) -> Invoice:
        self.seq += 1
        open_ = [e for e in self.entries if e.id not in self.held]
        period = period_containing(self.now.date(), Invoicing())
        d = inv.draft(
            f"inv_{self.seq}", Party.PARTNER, "p", period, open_, now=self.now, currency="USD", actor="t"
        )
        issued = inv.issue(d, self.seq, self.now)
        for line in issued.lines:
            assert line.entry_id not in self.held  # an entry is on one invoice at most
            self.held[line.entry_id] = issued.id
        self.invoices[issued.id] = issued
        self.snapshots[issued.id] = (issued.lines, issued.total)
        return issued

    def billed(self) -> list[Invoice]:
        return [i for i in self.invoices.values() if i.status is not S.VOID]


def _total_by_kind(invoice: Invoice) -> Decimal:
    sales = sum((x.amount for x in invoice.lines if x.kind is EntryKind.SALE), ZERO)
    credits = sum((-x.amount for x in invoice.lines if x.kind in (EntryKind.CANCELLATION, EntryKind.RETURN,
                                                                  EntryKind.CREDIT)), ZERO)  # fmt: skip
    adjustments = sum((x.amount for x in invoice.lines if x.kind is EntryKind.ADJUSTMENT), ZERO)
    return sales - credits + adjustments


@settings(max_examples=300, deadline=None)
@given(events)
def test_every_invoice_totals_sales_less_credits_and_bills_each_entry_once(script: list[Event]) -> None:
    book = Book()
    for event in script:
        book.play(event)
    book.issue()  # whatever is left
    for invoice in book.invoices.values():
        totals = Totals.of(invoice.lines)
        assert invoice.total == _total_by_kind(invoice) == totals.charges - totals.credits
        assert invoice.total == sum((x.amount for x in invoice.lines), ZERO)
        assert all(isinstance(x.amount, Decimal) and x.amount == x.amount.quantize(Decimal("0.01"))
                   for x in invoice.lines)  # fmt: skip
        # an issued invoice never changes, whatever came after it: its lines are the entries it holds
        # (a void one holds none), no later draft takes them, and it cannot be made again
        assert (invoice.lines, invoice.total) == book.snapshots[invoice.id]
        held = {e for e, i in book.held.items() if i == invoice.id}
        assert held == (set() if invoice.status is S.VOID else {x.entry_id for x in invoice.lines})
        with pytest.raises(InvalidTransition):
            inv.regenerate(invoice, book.entries, book.now)
    # every entry that is a line kind is billed once in all (a netted pair counts zero)
    billed = sum((i.total for i in book.billed()), ZERO)
    assert billed == sum((e.amount for e in book.entries), ZERO)
    on_invoices = [x.entry_id for i in book.billed() for x in i.lines]
    assert len(on_invoices) == len(set(on_invoices))


@settings(max_examples=200, deadline=None)
@given(events)
def test_a_sale_and_its_reversal_on_no_invoice_leave_together(script: list[Event]) -> None:
    book = Book()
    for event in script:
        book.play(event)
    open_ = [e for e in book.entries if e.id not in book.held]
    lines = {x.entry_id for x in select_lines(open_, Party.PARTNER, "p", book.now + timedelta(days=1))}
    ids = {e.id for e in open_}
    for e in open_:
        if e.reverses in ids:  # both open: neither is a line
            assert e.id not in lines and e.reverses not in lines
        elif e.reverses is not None:  # the sale was invoiced earlier: a credit line now
            assert e.id in lines and book.held[e.reverses]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 100_000), st.booleans(), st.booleans(), st.booleans())
def test_a_cancel_then_a_resend_bills_once(
    cents: int, issue_first: bool, issue_between: bool, void: bool
) -> None:
    book = Book()
    book.play(("sale", cents))
    if issue_first:
        first = book.issue()
        if void:
            book.play(("void", 0))
        else:
            assert first.total == Decimal(cents) / 100
    book.play(("cancel", 0))
    if issue_between:
        book.issue()
    book.play(("resend", 0))
    book.issue()
    per_lead = sum((x.amount for i in book.billed() for x in i.lines if x.lead_id == "lead_0"), ZERO)
    assert per_lead == Decimal(cents) / 100


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0001-01-01", "at the calendar's edge: a period must start after the year 1 begins"),
        ("9999-12-31", "at the calendar's edge"),
        ("２０２６-１１-３０", "must be a month (2026-11) or a day (2026-11-30)"),  # fullwidth digits
    ],
)
def test_a_period_at_the_calendars_edge_or_in_other_digits_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_period(text, Invoicing(PeriodKind.WEEKLY, Weekday.SUNDAY, "Etc/GMT+12"))
