"""The money ledger (issue 11): every movement of money is one immutable entry; balances, invoices and
reports are sums of entries, and a correction is a new entry that reverses an old one, never an edit.

An entry belongs to one party, a partner (a buyer) or a source (a seller), and its ``amount`` is signed
from the operator's side: **positive, the party owes the operator more** (a sale to a partner, a
payout clawed back from a source); **negative, the operator owes the party more, or the party owes
less** (a source's payout, a credit or a top-up for a partner, a payment received). So

- a partner's balance (the sum of its entries) is what it owes; a prepaid wallet holds ``-balance``;
- a source's balance is minus what the operator owes it;
- revenue is the sum of the partners' sale-side entries, payout minus the sum of the sources', and the
  margin of each sale is recorded on its entries (``margin``), reversed with them.

Amounts are ``Decimal`` in cents (``money``: quantized once, at the edge). Which sign an entry of each
kind may carry, for each party, is data (``SIGNS``); ``check`` refuses the rest.

Prices (``sale_price``): an auction's bid, else the price in the buyer's answer where the partner allows
it (``price_from_answer``), else the rule's price for the partner, else the profile's, else the partner's
list price. Payouts (``PayoutModel``): a fixed amount per lead, a share of each sale's revenue, or the
revenue less a fixed margin; paid on sold leads, or on every accepted lead.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from leadrelay.errors import InvalidTransition

CENTS = Decimal("0.01")
DEFAULT_CURRENCY = "USD"  # the installation's currency (one per installation for now)
ZERO = Decimal("0.00")


def money(value: Decimal | float | int | str) -> Decimal:
    """An amount in cents, rounded half up (a float through its shortest text: ``12.4`` is 12.40)."""
    try:
        amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
        if not amount.is_finite():
            raise InvalidOperation
        return amount.quantize(CENTS, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount of money: {value!r}") from exc


MAX_PRICE = Decimal(1_000_000_000)
"""The most one sale is billed (the configuration's prices are bounded so too)."""


def sale_amount(value: Decimal | float | int | None) -> Decimal | None:
    """A price a sale may be billed at, in cents (0 to ``MAX_PRICE``); None for none, and for what is not
    such a price (a buyer's answer or bid of -5, 1e300, NaN: the buyer names it, the ledger refuses it)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = money(value)
    except ValueError:
        return None
    return amount if ZERO <= amount <= MAX_PRICE else None


class Party(StrEnum):
    PARTNER = "partner"
    SOURCE = "source"


class EntryKind(StrEnum):
    SALE = "sale"  # a partner bought a lead: + its price
    PAYOUT = "payout"  # a source earned its payout for a lead: -
    CANCELLATION = "cancellation"  # a cancelled sale reversed: partner -, its payout clawed back: source +
    RETURN = "return"  # an approved return: the partner credited (-), the payout clawed back (+)
    CREDIT = "credit"  # a manual credit to a partner (-)
    TOPUP = "topup"  # money paid into a partner's prepaid wallet (-)
    PAYMENT = "payment"  # an invoice paid by a partner (-), a statement paid to a source (+)
    ADJUSTMENT = "adjustment"  # a manual correction, either way


class Sign(StrEnum):
    PLUS = "+"  # > 0 (or 0)
    MINUS = "-"  # < 0 (or 0)
    ANY = "±"


SIGNS: dict[tuple[EntryKind, Party], Sign] = {
    (EntryKind.SALE, Party.PARTNER): Sign.PLUS,
    (EntryKind.PAYOUT, Party.SOURCE): Sign.MINUS,
    (EntryKind.CANCELLATION, Party.PARTNER): Sign.MINUS,
    (EntryKind.CANCELLATION, Party.SOURCE): Sign.PLUS,
    (EntryKind.RETURN, Party.PARTNER): Sign.MINUS,
    (EntryKind.RETURN, Party.SOURCE): Sign.PLUS,
    (EntryKind.CREDIT, Party.PARTNER): Sign.MINUS,
    (EntryKind.TOPUP, Party.PARTNER): Sign.MINUS,
    (EntryKind.PAYMENT, Party.PARTNER): Sign.MINUS,
    (EntryKind.PAYMENT, Party.SOURCE): Sign.PLUS,
    (EntryKind.ADJUSTMENT, Party.PARTNER): Sign.ANY,
    (EntryKind.ADJUSTMENT, Party.SOURCE): Sign.ANY,
}
"""Which sign an entry of a kind carries for a party; a pair not here is refused."""

REVERSALS = (EntryKind.CANCELLATION, EntryKind.RETURN)
"""The kinds that undo a sale and its payout (each such entry names the entry it reverses)."""

SALE_SIDE = (EntryKind.SALE, EntryKind.CANCELLATION, EntryKind.RETURN)
"""A partner's entries that make up revenue (sales less what was cancelled or returned)."""

PAYOUT_SIDE = (EntryKind.PAYOUT, EntryKind.CANCELLATION, EntryKind.RETURN)
"""A source's entries that make up its payouts."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One movement of money. ``actor``: who or what caused it (``system``, ``admin:NAME``,
    ``partner:NAME``, ``cli``); ``reverses``: the entry a cancellation or return undoes; ``margin``: a
    sale's revenue less the payout posted with it (reversed with it); ``memo``: a note or reason."""

    id: str
    at: datetime
    kind: EntryKind
    party_kind: Party
    party: str
    amount: Decimal
    currency: str
    actor: str
    lead_id: str | None = None
    delivery_id: str | None = None
    reverses: str | None = None
    margin: Decimal | None = None
    memo: str | None = None

    def row(self) -> dict[str, object]:
        return {
            "id": self.id,
            "at": self.at,
            "kind": self.kind.value,
            "party_kind": self.party_kind.value,
            "party": self.party,
            "amount": self.amount,
            "currency": self.currency,
            "actor": self.actor,
            "lead_id": self.lead_id,
            "delivery_id": self.delivery_id,
            "reverses": self.reverses,
            "margin": self.margin,
            "memo": self.memo,
        }


def check(entry: Entry) -> Entry:
    """The entry, if its kind, party and sign go together and its amounts are in cents; else raises."""
    sign = SIGNS.get((entry.kind, entry.party_kind))
    if sign is None:
        raise InvalidTransition(f"a {entry.kind.value} entry is not for a {entry.party_kind.value}")
    if entry.amount != entry.amount.quantize(CENTS) or (
        entry.margin is not None and entry.margin != entry.margin.quantize(CENTS)
    ):
        raise InvalidTransition(f"a {entry.kind.value} entry's amounts must be in cents: {entry.amount}")
    if (sign is Sign.PLUS and entry.amount < 0) or (sign is Sign.MINUS and entry.amount > 0):
        raise InvalidTransition(
            f"a {entry.kind.value} entry for a {entry.party_kind.value} is {sign.value}: not {entry.amount}"
        )
    if entry.kind in REVERSALS and entry.reverses is None:
        raise InvalidTransition(f"a {entry.kind.value} entry names the entry it reverses")
    return entry


def balance(entries: Iterable[Entry]) -> Decimal:
    """What the party owes the operator (negative: what the operator owes it, or holds for it)."""
    return sum((e.amount for e in entries), ZERO)


class PayoutBasis(StrEnum):
    SOLD = "sold"  # the payout is earned by a sale
    ACCEPTED = "accepted"  # by every accepted lead, sold or not (fixed payouts only)


@dataclass(frozen=True, slots=True)
class PayoutModel:
    """How a source is paid: ``fixed`` per lead, a ``share`` of each sale's revenue (0–1), or each sale's
    revenue less a fixed ``margin`` (never below zero); exactly one of the three."""

    fixed: Decimal | None = None
    share: Decimal | None = None
    margin: Decimal | None = None
    on: PayoutBasis = PayoutBasis.SOLD

    @property
    def per_lead(self) -> bool:
        """A fixed payout is paid once per lead, however many buyers share it."""
        return self.fixed is not None

    def of_sale(self, revenue: Decimal) -> Decimal:
        """The payout one sale earns (a fixed payout: its whole amount, paid with the lead's first sale)."""
        if self.fixed is not None:
            return self.fixed
        if self.share is not None:
            return money(revenue * self.share)
        assert self.margin is not None
        return max(ZERO, revenue - self.margin)


def payout_terms(model: PayoutModel | None) -> dict[str, str]:
    """A payout model as a quote keeps it (``supplier_pings.payout``): exact decimals as text; {} for none."""
    amounts = {} if model is None else {n: getattr(model, n) for n in ("fixed", "share", "margin")}
    terms = {name: str(value) for name, value in amounts.items() if value is not None}
    return terms | {"on": model.on.value} if model is not None else {}


def payout_of_terms(terms: Mapping[str, str]) -> PayoutModel | None:
    """The payout model a quote kept (``payout_terms``); None for {}."""
    if not terms:
        return None
    amounts = {name: Decimal(terms[name]) if name in terms else None for name in ("fixed", "share", "margin")}
    return PayoutModel(**amounts, on=PayoutBasis(terms.get("on", PayoutBasis.SOLD)))


class PriceBasis(StrEnum):
    """Where a delivery's price came from (``deliveries.price_basis``)."""

    BID = "bid"  # an auction's or a waterfall's bid, a supplier ping's quote: what the buyer is billed
    ANSWER = "answer"  # the buyer's answer (``price_path``), where the partner allows it
    RULE = "rule"  # the rule's price for the partner (``send_to.prices``)
    PROFILE = "profile"  # the profile's price for the partner (``partner_prices``)
    LIST = "list"  # the partner's list price (``price``)


def unbilled_answer_line(
    partner: str, named: float | None, taken: bool, price: float | None, basis: str | None
) -> str | None:
    """The trace line of a sale whose answer's price, one its sales take (``price_from_answer``), was none
    to bill and passed over for ``price`` of ``basis``; None otherwise."""
    if named is None or not taken or basis in (PriceBasis.ANSWER, PriceBasis.BID):
        return None
    billed = "not billed" if price is None else f"billed at {basis} price {price:g}"
    return f"{partner}: the price in its answer ({named:g}) is none to bill; {billed}"


def sale_price(
    *,
    bid: float | Decimal | None,
    answer: float | Decimal | None,
    answer_allowed: bool,
    rule_price: float | Decimal | None,
    profile_price: float | Decimal | None,
    list_price: float | Decimal | None,
) -> Decimal | None:
    """The price a sale is billed: the bid it won (auction, waterfall, offer), else the buyer's answer
    where the partner allows it, else the rule's price, the profile's, the partner's list price."""
    for price in (bid, answer if answer_allowed else None, rule_price, profile_price, list_price):
        if price is not None:
            return money(price)
    return None


@dataclass(frozen=True, slots=True)
class Sale:
    """A delivery that became a sale, with what its money needs."""

    delivery_id: str
    lead_id: str
    partner: str
    source: str
    price: Decimal | None
    payout: PayoutModel | None  # the source's (or source × entity's) model; None: no payout


def sale_entries(
    sale: Sale,
    *,
    lead_paid: bool,
    at: datetime,
    currency: str,
    ids: Sequence[str],
    actor: str = "system",
) -> list[Entry]:
    """The entries of a sale: the partner's sale at its price (0.00 without a price: the ledger knows
    every sale) and the source's payout when it is earned by this sale (``lead_paid``: the lead already
    carries a live fixed payout, from an earlier sale or from its acceptance). ``ids``: two fresh ids."""
    revenue = sale.price if sale.price is not None else ZERO
    payout: Decimal | None = None
    model = sale.payout
    if model is not None and model.on is PayoutBasis.SOLD and not (model.per_lead and lead_paid):
        payout = model.of_sale(revenue)
    entries = [
        Entry(
            ids[0], at, EntryKind.SALE, Party.PARTNER, sale.partner, revenue, currency, actor,
            sale.lead_id, sale.delivery_id, margin=revenue - (payout or ZERO),
        )
    ]  # fmt: skip
    if payout is not None:
        entries.append(
            Entry(
                ids[1], at, EntryKind.PAYOUT, Party.SOURCE, sale.source, -payout, currency, actor,
                sale.lead_id, sale.delivery_id,
            )
        )  # fmt: skip
    return [check(e) for e in entries]


def accepted_payout(
    lead_id: str, source: str, model: PayoutModel | None, *, at: datetime, currency: str, entry_id: str
) -> Entry | None:
    """The payout of a lead accepted from a source paid on acceptance (None: not paid so)."""
    if model is None or model.on is not PayoutBasis.ACCEPTED or model.fixed is None:
        return None
    return check(
        Entry(
            entry_id, at, EntryKind.PAYOUT, Party.SOURCE, source, -model.fixed, currency, "system", lead_id,
            margin=-model.fixed,
        )
    )  # fmt: skip


def live(entries: Iterable[Entry]) -> list[Entry]:
    """The entries not (yet) reversed by another entry among ``entries``."""
    entries = list(entries)
    reversed_ = {e.reverses for e in entries if e.reverses is not None}
    return [e for e in entries if e.id not in reversed_ and e.kind not in REVERSALS]


def reversal_entries(
    of_delivery: Sequence[Entry],
    lead_entries: Sequence[Entry],
    kind: EntryKind,
    *,
    at: datetime,
    actor: str,
    new_id: Callable[[], str],
    memo: str | None = None,
    keep_payout: bool = False,
    payout_per_lead: bool = False,
    undone_too: Collection[str | None] = (),
) -> list[Entry]:
    """Undo a sale (``kind``: a cancellation or a return): its live sale entry, and its source's payout
    unless ``keep_payout``, or unless the payout is a fixed one per lead (``payout_per_lead``) and the lead
    still has another live sale: that payout stays while the lead is sold to someone (the undone sale's
    margin gives it back), and goes with the lead's last sale. ``of_delivery``: the delivery's entries;
    ``lead_entries``: the lead's; ``undone_too``: other deliveries of the lead undone with this one.
    A sale already undone gives nothing (undoing twice bills nothing twice)."""
    assert kind in REVERSALS
    mine = live(of_delivery)
    delivery = {e.delivery_id for e in of_delivery} | set(undone_too)
    lead_live = live(lead_entries)
    other_sales = any(e.kind is EntryKind.SALE and e.delivery_id not in delivery for e in lead_live)
    keep = keep_payout or (payout_per_lead and other_sales)
    kept = sum((-e.amount for e in mine if e.kind is EntryKind.PAYOUT and keep), ZERO)
    # a per-lead payout kept by an earlier undone sale goes with the lead's last one
    left_over = (
        [e for e in lead_live if e.kind is EntryKind.PAYOUT and e.delivery_id not in (None, *delivery)]
        if payout_per_lead and mine and not keep and not other_sales
        else []
    )
    out: list[Entry] = []
    for e in [*mine, *left_over]:
        if e.kind not in (EntryKind.SALE, EntryKind.PAYOUT) or (e.kind is EntryKind.PAYOUT and keep):
            continue
        margin = e.margin
        if e.kind is EntryKind.SALE and margin is not None:
            margin += kept  # a kept payout is no longer covered by this sale: its margin gives it back
        elif e in left_over:
            margin = e.amount  # its cost was given back by the sale undone before: it comes back now
        out.append(
            Entry(
                new_id(), at, kind, e.party_kind, e.party, -e.amount, e.currency, actor, e.lead_id,
                e.delivery_id, reverses=e.id, margin=-margin if margin is not None else None, memo=memo,
            )
        )  # fmt: skip
    return [check(e) for e in out]


def lead_paid(lead_entries: Iterable[Entry]) -> bool:
    """Whether the lead carries a live payout (paid on acceptance, or with a sale not undone)."""
    return any(e.kind is EntryKind.PAYOUT for e in live(lead_entries))


@dataclass(frozen=True, slots=True)
class Totals:
    """Revenue, payout and margin over a set of entries (reversals netted)."""

    revenue: Decimal
    payout: Decimal
    margin: Decimal
    sales: int

    @classmethod
    def of(cls, entries: Iterable[Entry]) -> Totals:
        revenue = payout = margin = ZERO
        sales = 0
        for e in entries:
            if e.party_kind is Party.PARTNER and e.kind in SALE_SIDE:
                revenue += e.amount
                sales += 1 if e.kind is EntryKind.SALE else -1
            elif e.party_kind is Party.SOURCE and e.kind in PAYOUT_SIDE:
                payout -= e.amount
            if e.margin is not None:
                margin += e.margin
        return cls(revenue, payout, margin, sales)
