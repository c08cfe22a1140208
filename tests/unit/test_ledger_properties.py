"""Properties of the ledger's pure rules (``domain.ledger``), by hypothesis: whatever sales, cancellations,
returns and resends happen in whatever order, the sums are the sums of what is still sold; the margin is
revenue less payout; undoing twice changes nothing; a cancel then a resend bills once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadrelay.domain.ledger import (
    ZERO,
    Entry,
    EntryKind,
    Party,
    PayoutBasis,
    PayoutModel,
    Sale,
    Totals,
    balance,
    check,
    lead_paid,
    live,
    money,
    payout_of_terms,
    payout_terms,
    reversal_entries,
    sale_entries,
)
from leadrelay.errors import InvalidTransition

NOW = datetime(2026, 12, 3, tzinfo=UTC)
prices = st.decimals(min_value=0, max_value=500, places=2, allow_nan=False, allow_infinity=False)
models = st.one_of(
    st.none(),
    st.builds(PayoutModel, fixed=prices),
    st.builds(PayoutModel, share=st.decimals(min_value=Decimal("0.01"), max_value=1, places=2)),
    st.builds(PayoutModel, margin=prices),
)


@dataclass
class Book:
    entries: list[Entry]
    counter: int = 0

    def ids(self, n: int) -> list[str]:
        self.counter += n
        return [f"led_{self.counter - i}" for i in range(n)]

    def lead(self, lead_id: str) -> list[Entry]:
        return [e for e in self.entries if e.lead_id == lead_id]

    def sell(
        self, delivery: str, lead_id: str, partner: str, price: Decimal | None, model: PayoutModel | None
    ) -> None:
        sale = Sale(delivery, lead_id, partner, "web", price, model)
        paid = lead_paid(self.lead(lead_id))
        self.entries += sale_entries(sale, lead_paid=paid, at=NOW, currency="USD", ids=self.ids(2))

    def undo(self, delivery: str, lead_id: str, kind: EntryKind, model: PayoutModel | None) -> None:
        mine = [e for e in self.entries if e.delivery_id == delivery]
        per_lead = model is not None and model.per_lead
        got = reversal_entries(
            mine, self.lead(lead_id), kind, at=NOW, actor="t", new_id=lambda: self.ids(1)[0],
            payout_per_lead=per_lead,
        )  # fmt: skip
        self.entries += got


# an action: (lead index, partner index, price, sell or undo with a kind)
actions = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(0, 2),
        st.one_of(st.none(), prices),
        st.sampled_from(["sell", "cancel", "return"]),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(actions=actions, model=models)
def test_sums_are_the_sums_of_what_is_still_sold(
    actions: list[tuple[int, int, Decimal | None, str]], model: PayoutModel | None
) -> None:
    book = Book([])
    sold: dict[str, tuple[str, Decimal | None]] = {}  # delivery -> (lead, price) still sold
    gone: dict[str, str] = {}  # delivery -> lead, undone
    n = 0
    for lead_i, partner_i, price, what in actions:
        lead_id, partner = f"lead_{lead_i}", f"p{partner_i}"
        if what == "sell":
            n += 1
            delivery = f"dlv_{n}"
            book.sell(delivery, lead_id, partner, price, model)
            sold[delivery] = (lead_id, price)
        else:
            mine = [d for d, (lead, _) in sold.items() if lead == lead_id]
            undone = [d for d, lead in gone.items() if lead == lead_id]
            # undoing what is not sold (again, or never): nothing
            delivery = mine[0] if mine else undone[0] if undone else "dlv_none"
            gone[delivery] = lead_id
            kind = EntryKind.CANCELLATION if what == "cancel" else EntryKind.RETURN
            book.undo(delivery, lead_id, kind, model)
            sold.pop(delivery, None)

    for e in book.entries:
        check(e)
    totals = Totals.of(book.entries)
    revenue = sum((p for _, p in sold.values() if p is not None), ZERO)
    assert totals.revenue == revenue
    assert totals.sales == len(sold)
    assert totals.margin == totals.revenue - totals.payout
    partners = [e for e in book.entries if e.party_kind is Party.PARTNER]
    assert balance(partners) == revenue
    # the payout is what the model pays for what is still sold
    expected = ZERO
    if model is not None and model.on is PayoutBasis.SOLD:
        if model.per_lead:
            leads_sold = {lead for lead, _ in sold.values()}
            expected = model.fixed * len(leads_sold) if model.fixed is not None else ZERO
        else:
            expected = sum((model.of_sale(p or ZERO) for _, p in sold.values()), ZERO)
    assert totals.payout == expected
    # every entry is undone at most once
    undone = [e.reverses for e in book.entries if e.reverses is not None]
    assert len(undone) == len(set(undone))
    assert all(e.kind not in (EntryKind.CANCELLATION, EntryKind.RETURN) for e in live(book.entries))


@given(price=prices, model=models)
def test_a_cancel_then_a_resend_bills_once(price: Decimal, model: PayoutModel | None) -> None:
    book = Book([])
    book.sell("dlv_1", "lead_1", "sunco", price, model)
    book.undo("dlv_1", "lead_1", EntryKind.CANCELLATION, model)
    book.undo("dlv_1", "lead_1", EntryKind.CANCELLATION, model)  # a second cancel: nothing more
    book.sell("dlv_2", "lead_1", "sunco", price, model)
    totals = Totals.of(book.entries)
    assert (totals.revenue, totals.sales) == (price, 1)
    payout = model.of_sale(price) if model is not None else ZERO
    assert totals.payout == payout and totals.margin == price - payout


@given(models, st.sampled_from(list(PayoutBasis)))
@settings(max_examples=50, deadline=None)
def test_a_quote_keeps_the_payout_terms_exactly(model: PayoutModel | None, on: PayoutBasis) -> None:
    if model is not None:
        model = PayoutModel(model.fixed, model.share, model.margin, on)
    assert payout_of_terms(payout_terms(model)) == model  # what a supplier ping stores, read back


def test_money_is_cents_half_up_and_refuses_what_is_not_an_amount() -> None:
    assert money(12.4) == Decimal("12.40") and money("0.005") == Decimal("0.01")
    assert money(Decimal("2.675")) == Decimal("2.68")
    for bad in ("abc", "NaN", float("inf")):
        with pytest.raises(ValueError):
            money(bad)


def test_an_entry_of_the_wrong_sign_or_kind_is_refused() -> None:
    def e(kind: EntryKind, party: Party, amount: str, reverses: str | None = None) -> Entry:
        return Entry("led_1", NOW, kind, party, "x", Decimal(amount), "USD", "t", reverses=reverses)

    check(e(EntryKind.SALE, Party.PARTNER, "1.00"))
    for bad in (
        e(EntryKind.SALE, Party.PARTNER, "-1.00"),  # a sale is +
        e(EntryKind.SALE, Party.SOURCE, "1.00"),  # a source is not sold to
        e(EntryKind.PAYOUT, Party.SOURCE, "1.00"),  # a payout is -
        e(EntryKind.TOPUP, Party.SOURCE, "-1.00"),  # a source has no wallet
        e(EntryKind.CANCELLATION, Party.PARTNER, "-1.00"),  # names what it undoes
        e(EntryKind.CREDIT, Party.PARTNER, "-1.001"),  # cents
    ):
        with pytest.raises(InvalidTransition):
            check(bad)
