"""The routing simulator's pure parts (``domain.simulation``: verdicts, tallies, shares), its ``since``
words, its auction answers, and the dry-run transaction over the fakes: it meets the stored numbers and
keeps what it takes in memory, the stored ones never move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from leadrelay.domain.budgets import Funds
from leadrelay.domain.model import WalletSpec
from leadrelay.domain.ping import BidStatus
from leadrelay.domain.simulation import Tally, Verdict, compare, lines_of, share, verdicts
from leadrelay.errors import ValidationFailed
from leadrelay.services.dry_run import DryRunTx, DryRunWrite, Taken
from leadrelay.services.simulated_route import _offers
from leadrelay.services.simulation import parse_since
from tests.fakes import FakeStorage

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
D = Decimal


# ---------------------------------------------------------------- verdicts


TRACE = [
    "rule west-coast matched",
    "voltedge: outside delivery hours (Thu 07:00 America/New_York)",
    "sunco: cap day 5/5 reached",
    "brightpath: chosen (priority)",
    "acme: eligible, not needed (brightpath first)",
    "bidder: bid 9.00 below the floor 10.00 in 3 ms",
]


def test_the_lines_about_one_partner_lose_its_name() -> None:
    assert lines_of("sunco", TRACE) == ("cap day 5/5 reached",)
    assert lines_of("nobody", TRACE) == ()


@pytest.mark.parametrize(
    ("partner", "verdict", "position", "reasons"),
    [
        ("brightpath", Verdict.CHOSEN, 2, ("chosen (priority)",)),
        ("sunco", Verdict.SKIPPED, 1, ("cap day 5/5 reached",)),
        ("acme", Verdict.NOT_NEEDED, 3, ("eligible, not needed (brightpath first)",)),
        ("voltedge", Verdict.NOT_ELIGIBLE, None, ("outside delivery hours (Thu 07:00 America/New_York)",)),
        ("zeta", Verdict.NOT_IN_RULE, None, ()),
        ("offeree", Verdict.OFFERED, 4, ()),
        ("bidder", Verdict.NOT_WON, 5, ("bid 9.00 below the floor 10.00 in 3 ms",)),
    ],
)
def test_each_partner_gets_its_verdict_from_routings_words(
    partner: str, verdict: Verdict, position: int | None, reasons: tuple[str, ...]
) -> None:
    out = verdicts(
        partners=["acme", "bidder", "brightpath", "offeree", "sunco", "voltedge", "zeta"],
        named=["sunco", "brightpath", "acme", "voltedge", "offeree", "bidder"],
        ineligible={"voltedge": "outside delivery hours (Thu 07:00 America/New_York)"},
        order=["sunco", "brightpath", "acme", "offeree", "bidder"],
        trace=TRACE,
        chosen={"brightpath": (D("25.00"), "list")},
        offered=["offeree"],
    )
    got = {v.partner: v for v in out}[partner]
    assert (got.verdict, got.position, got.reasons) == (verdict, position, reasons)
    assert [v.partner for v in out][:5] == [
        "sunco",
        "brightpath",
        "acme",
        "voltedge",
        "offeree",
    ]  # rule's order
    assert {v.partner: v.price for v in out if v.price is not None} == {"brightpath": D("25.00")}


def test_a_candidate_without_a_line_was_not_offered_the_lead() -> None:
    (v,) = verdicts(["a"], ["a"], {}, ["a"], [], {})
    assert (v.verdict, v.reasons) == (Verdict.SKIPPED, ("not offered the lead",))


# ---------------------------------------------------------------- tallies and shares


def test_a_tally_counts_leads_sales_and_revenue_per_partner() -> None:
    t = Tally()
    t.add([("a", D("10")), ("b", None)], routed=True)  # a shared sale; b has no price
    t.add([], routed=True)
    t.add([], routed=False)
    assert (t.leads, t.routed, t.sold, t.unsold, t.revenue) == (3, 2, 1, 2, D("10.00"))
    assert t.partners == {"a": 1, "b": 1} and t.partner_revenue == {"a": D("10.00"), "b": D("0.00")}


@pytest.mark.parametrize(
    ("count", "total", "expected"), [(1, 3, "33.3"), (2, 3, "66.7"), (0, 0, "0.0"), (5, 5, "100.0")]
)
def test_a_share_is_a_percentage_with_one_decimal(count: int, total: int, expected: str) -> None:
    assert share(count, total) == D(expected)


def test_actual_and_draft_are_compared_partner_by_partner() -> None:
    actual, draft = Tally(), Tally()
    actual.add([("a", D(10))], routed=True)
    actual.add([("a", D(10))], routed=True)
    actual.add([("b", D(5))], routed=True)
    draft.add([("c", D(40))], routed=True)
    draft.add([("a", D(10))], routed=True)
    draft.add([], routed=False)
    rows = {r.partner: r for r in compare(actual, draft)}
    assert [r.partner for r in compare(actual, draft)] == ["a", "b", "c"]
    assert (rows["a"].actual, rows["a"].draft, rows["a"].difference) == (2, 1, -1)
    assert (rows["a"].actual_share, rows["a"].draft_share, rows["a"].share_difference) == (
        D("66.7"),
        D("50.0"),
        D("-16.7"),
    )
    assert (rows["c"].draft_revenue, rows["b"].draft) == (D("40.00"), 0)


# ---------------------------------------------------------------- since


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("12h", NOW - timedelta(hours=12)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12-01T10:00:00+01:00", datetime(2026, 12, 1, 9, tzinfo=UTC)),
    ],
)
def test_since_is_a_duration_back_or_a_date(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["soon", "7w", "d", "2027-01-01"])
def test_a_bad_since_names_the_field(text: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_since(text, NOW)
    assert caught.value.problems[0].field == "since"


# ---------------------------------------------------------------- an auction's answers


def test_an_auction_is_decided_on_recorded_bids_else_list_prices() -> None:
    ping = SimpleNamespace(partner="a", floor=5.0, list_price=20.0)
    other = SimpleNamespace(partner="b", floor=None, list_price=12.0)
    pending = SimpleNamespace(pings=(ping, other), fixed=())
    bid = SimpleNamespace(status="accepted", price=33.0, reference="r1", shared_price=None)
    offers, recorded = _offers(pending, {"a": bid})
    assert recorded
    assert [(o.partner, o.bid.status, o.bid.price, o.bid.reference) for o in offers] == [
        ("a", BidStatus.ACCEPTED, 33.0, "r1"),
        ("b", BidStatus.ACCEPTED, 12.0, None),
    ]
    offers, recorded = _offers(pending, {})
    assert not recorded and [o.bid.price for o in offers] == [20.0, 12.0]


# ---------------------------------------------------------------- the dry run over the fakes


class _WithReads:
    """A fake transaction with the simulator's reads (the fakes have no ``simulation``)."""

    def __init__(self, tx: Any) -> None:
        self._tx = tx
        self.simulation = SimpleNamespace(rotation=self._rotation)

    def _rotation(self, key: str) -> int:
        row = self._tx.caps._t.find("rotations", key)
        return int(row["counter"]) if row is not None else 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)


def _seeded() -> FakeStorage:
    storage = FakeStorage()

    def seed(tx: Any) -> None:
        for _ in range(2):
            tx.caps.reserve_cap("a", "", "d:2026-12-03", 10)
        tx.caps.next_rotation("p:r", 3)
        tx.wallets.configure_wallets({"a": WalletSpec(credit_limit=D(50))})

    storage.transaction(seed)
    return storage


@pytest.mark.parametrize("stored", [True, False])
def test_caps_and_rotations_start_from_the_stored_numbers_or_from_nothing(stored: bool) -> None:
    storage = _seeded()
    taken = Taken()

    def dry_run(tx: Any) -> list[Any]:
        dry = DryRunTx(_WithReads(tx), taken, stored=stored)
        caps = dry.caps
        out: list[Any] = [caps.reserve_cap("a", "", "d:2026-12-03", 3) for _ in range(2)]
        caps.release_caps("a", [["", "d:2026-12-03"]])
        out.append(caps.cap_used([("a", "", "d:2026-12-03")]))
        out.append([caps.next_rotation("p:r"), caps.next_rotation("p:r")])
        return out

    got = storage.read(dry_run)
    if stored:
        assert got == [(True, 3), (False, 3), {("a", "", "d:2026-12-03"): 2}, [3, 4]]
    else:
        assert got == [(True, 1), (True, 2), {("a", "", "d:2026-12-03"): 1}, [0, 1]]
    after = storage.read(
        lambda tx: (tx.caps.cap_used([("a", "", "d:2026-12-03")]), _WithReads(tx).simulation.rotation("p:r"))
    )
    assert after == ({("a", "", "d:2026-12-03"): 2}, 3)  # the stored numbers did not move


def test_a_dry_run_refuses_a_savepoint_it_could_not_undo() -> None:
    """What a dry run takes lives in memory (``Taken``), where a savepoint could not undo it: asked for one,
    it says so instead of handing out a mark that would leave the taken slots behind."""
    storage = _seeded()

    def ask(tx: Any) -> None:
        DryRunTx(_WithReads(tx), Taken(), stored=True).savepoint()

    with pytest.raises(TypeError, match="a dry run takes no savepoints"):
        storage.read(ask)


def test_money_is_held_in_memory_and_given_back() -> None:
    storage = _seeded()

    def dry_run(tx: Any) -> list[Any]:
        w = DryRunTx(_WithReads(tx), Taken(), stored=True).wallets
        out: list[Any] = [
            w.reserve_budget("j1", "a", "", "d:2026-12-03", D(30), D(50)),
            w.reserve_budget("j2", "a", "", "d:2026-12-03", D(30), D(50)),
            w.reserve_funds("j1", "a", D(40), D(50)),
            w.reserve_funds("j2", "a", D(20), D(50)),
        ]
        w.release_holds("j1", "a")
        out.append(w.reserve_funds("j3", "a", D(20), D(50)))
        out.append(w.reserve_budget("j3", "a", "", "d:2026-12-03", D(50), D(50)))
        return out

    got = storage.read(dry_run)
    assert got[:2] == [(True, D(0)), (False, D(30))]
    assert got[2] is None and got[3] == Funds(D(0), D(40), D(50))
    assert got[4:] == [None, (True, D(0))]
    assert storage.read(lambda tx: tx.wallets.funds("a")).held == D(0)


def test_dedup_marks_bids_and_offers_stay_in_memory_and_writes_elsewhere_are_refused() -> None:
    storage = FakeStorage()
    taken = Taken()

    def dry_run(tx: Any) -> list[Any]:
        dry = DryRunTx(_WithReads(tx), taken, stored=True)
        dry.dedup.put_marks([{"scope": "partner:a", "key_hash": "h", "lead_id": "lead_1", "seen_at": NOW}])
        dry.deliveries.insert_bids([{"id": "bid_1", "job_id": "j", "partner": "a", "delivery_id": None}])
        dry.deliveries.update_bid("bid_1", delivery_id="dlv_1")
        with pytest.raises(DryRunWrite):
            dry.deliveries.insert_attempt({})
        with pytest.raises(DryRunWrite):
            dry.batches.insert_batch()
        with pytest.raises(DryRunWrite):
            dry.wallets.settle_holds([])
        return [
            dry.dedup.load_marks([("partner:a", "h")]),
            [b.delivery_id for b in dry.deliveries.bids_of("j")],
            dry.jobs.job_had_errors("j"),
        ]

    marks, bids, errors = storage.read(dry_run)
    assert marks[("partner:a", "h")].lead_id == "lead_1" and bids == ["dlv_1"] and errors is False
    assert storage.read(lambda tx: tx.dedup.load_marks([("partner:a", "h")])) == {}
