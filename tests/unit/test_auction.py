"""The auction (issue 10, point 2): its configuration (``strategy: auction`` with deadline, floor and
max_posts; ``min_price`` on partners and sources), refused with paths where it cannot work, and the pure
decision (``domain.auction``): the floor's precedence, the ranking, the margin and the trace lines."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from leadrelay.configuration.load import build_specs, validate_document
from leadrelay.domain.auction import Offer, Sale, bid_line, decide, floor_of, rank
from leadrelay.domain.model import Strategy
from leadrelay.domain.ping import Bid, BidStatus
from leadrelay.errors import ConfigError
from tests.documents import base_config

RULE = "profiles.solar-main.rules[0].send_to"


def _doc(target: dict[str, Any], **partners: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(base_config(lambda name: f"https://{name}.example/lead"))
    for name, partner in doc["partners"].items():
        partner["ping"] = {"url": f"https://{name}.example/ping"}
        partner.update(partners.get(name, {}))
    doc["profiles"]["solar-main"]["rules"][0]["send_to"] = target
    return doc


def _problems(doc: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        validate_document(doc)
    return {p.path: p.message for p in caught.value.problems}


def test_an_auction_target_is_canonical_with_its_defaults_and_built_into_the_spec() -> None:
    doc = _doc({"partners": ["sunco", "brightpath"], "strategy": "auction"})
    doc["sources"]["web"]["min_price"] = 4.5
    doc["partners"]["sunco"]["min_price"] = 6
    objects = validate_document(doc)
    send_to = objects["profiles"]["solar-main"]["rules"][0]["send_to"]
    assert send_to == {
        "partners": ["sunco", "brightpath"],
        "strategy": "auction",
        "weights": {},
        "priorities": {},
        "deadline": "750ms",
        "floor": None,
        "max_posts": 3,
        "shared": None,
    }
    specs = build_specs(objects)
    target = specs.profiles["solar-main"].rules[0].send_to
    assert (target.strategy, target.deadline_s, target.floor, target.max_posts) == (
        Strategy.AUCTION,
        0.75,
        None,
        3,
    )
    assert specs.partners["sunco"].min_price == 6.0
    assert specs.sources["web"].min_price == 4.5
    # other strategies keep their canonical form (no auction keys)
    assert "deadline" not in objects["profiles"]["solar-main"]["default"]
    again = validate_document(doc)
    assert again == objects


def test_an_auction_target_takes_its_deadline_floor_and_max_posts() -> None:
    target = {"partners": ["sunco"], "strategy": "auction", "deadline": "0.4s", "floor": 7, "max_posts": 2}
    send_to = validate_document(_doc(target))["profiles"]["solar-main"]["rules"][0]["send_to"]
    assert (send_to["deadline"], send_to["floor"], send_to["max_posts"]) == ("400ms", 7.0, 2)


@pytest.mark.parametrize(
    ("target", "path", "words"),
    [
        (
            {"strategy": "priority", "floor": 5},
            f"{RULE}.floor",
            "applies only to strategies 'auction' and 'waterfall'",
        ),
        (
            {"strategy": "round_robin", "deadline": "1s"},
            f"{RULE}.deadline",
            "only to strategies 'auction' and 'waterfall'",
        ),
        ({"strategy": "auction", "deadline": "11s"}, f"{RULE}.deadline", "must be at most 10s"),
        ({"strategy": "auction", "deadline": "0s"}, f"{RULE}.deadline", "more than zero"),
        ({"strategy": "auction", "max_posts": 0}, f"{RULE}.max_posts", "greater than or equal to 1"),
        ({"strategy": "auction", "floor": -1}, f"{RULE}.floor", ""),
    ],
)
def test_bad_auction_settings_are_refused_with_their_path(
    target: dict[str, Any], path: str, words: str
) -> None:
    problems = _problems(_doc({"partners": ["sunco", "brightpath"]} | target))
    assert path in problems, problems
    assert words in problems[path]


def test_a_post_only_partner_without_a_price_cannot_sit_in_an_auction() -> None:
    doc = _doc({"partners": ["sunco", "voltedge"], "strategy": "auction"})
    doc["partners"]["voltedge"].pop("ping")
    problems = _problems(doc)
    assert "has no ping and no price" in problems[f"{RULE}.partners[1]"]
    doc["partners"]["voltedge"]["price"] = 8  # a post-only partner at its list price is fine
    validate_document(doc)


# ---------------------------------------------------------------- the decision


def _offer(partner: str, price: float | None, floor: float | None = None, **bid: Any) -> Offer:
    status = bid.pop("status", BidStatus.ACCEPTED)
    return Offer(partner, Bid(status, price, **bid), floor, bid.pop("ms", 40.0))


def test_the_floor_is_the_rules_else_the_partners_else_the_sources() -> None:
    assert floor_of(10, 6, 4) == 10
    assert floor_of(None, 6, 4) == 6
    assert floor_of(None, None, 4) == 4
    assert floor_of(None, None, None) is None
    assert floor_of(0, 6, 4) == 0  # a floor of 0 is a floor


def test_the_highest_counting_bid_wins_ties_by_priority_and_the_margin_is_over_the_next() -> None:
    offers = [
        _offer("a", 12, 10),
        _offer("b", 15, 10),
        _offer("c", 15, 10),
        _offer("d", 9, 10),  # below the floor
        _offer("e", None, 10, status=BidStatus.REFUSED),
        _offer("f", None, None, status=BidStatus.TIMEOUT),
    ]
    ranking = rank(offers, ["c", "a", "b", "d", "e", "f"])
    assert [o.partner for o in ranking.order] == ["c", "b", "a"]
    assert ranking.margin == 0.0
    assert ranking.winner is not None and ranking.winner.partner == "c"
    alone = rank([_offer("a", 12.5, 10)], ["a"])
    assert alone.margin == 2.5  # over the floor
    assert rank([_offer("a", 12.5)], ["a"]).margin is None  # no floor, no runner-up
    assert rank([_offer("a", None, 1, status=BidStatus.ERROR)], ["a"]).winner is None


def test_an_accepted_bid_without_a_price_never_counts() -> None:
    assert rank([_offer("a", None)], ["a"]).order == ()


def test_trace_lines_say_what_each_partner_answered() -> None:
    assert bid_line(_offer("a", 12, 10, reference="r1"), 750) == "a: bid 12.00 in 40 ms, ref r1"
    assert bid_line(_offer("a", 9, 10), 750) == "a: bid 9.00 below the floor 10.00 in 40 ms"
    late = Offer("a", Bid(BidStatus.TIMEOUT, reason="late"), None, 300.0)
    assert bid_line(late, 300) == "a: timeout (no answer within 300 ms)"
    refused = Offer("a", Bid(BidStatus.REFUSED, reason="no coverage"), None, 12.0)
    assert bid_line(refused, 750) == "a: refused the ping: no coverage in 12 ms"
    assert bid_line(Offer("a", Bid(BidStatus.ERROR, reason="HTTP 500"), None, 5.0), 750) == (
        "a: ping error: HTTP 500 in 5 ms"
    )
    assert bid_line(Offer("a", Bid(BidStatus.ACCEPTED, 11.0)), 750) == (
        "a: list price 11.00 (post only, not pinged)"
    )


def _shared(partner: str, price: float, shared: float | None, floor: float | None = None) -> Offer:
    return Offer(partner, Bid(BidStatus.ACCEPTED, price, shared_price=shared), floor, 30.0)


def test_a_shared_sale_is_chosen_only_when_its_sum_earns_more_than_the_best_exclusive_bid() -> None:
    offers = [_shared("a", 15, 9), _shared("b", 12, 7.2), _shared("c", 9, 5.4), _shared("d", 20, None)]
    shared = decide(offers, ["a", "b", "c", "d"], shared_max=3)
    assert shared.sale is Sale.SHARED  # 9 + 7.2 + 5.4 = 21.6 > 20
    assert [o.partner for o in shared.order] == ["a", "b", "c"]
    assert shared.margin == 1.6
    assert shared.line == "shared sale: a 9.00 + b 7.20 + c 5.40 = 21.60, more than 20.00 exclusive"
    two = decide(offers, ["a", "b", "c", "d"], shared_max=2)  # 16.2 < 20
    assert two.sale is Sale.EXCLUSIVE and two.winner is not None and two.winner.partner == "d"
    assert two.line == "exclusive sale: 20.00 is more than 16.20 shared"
    equal = decide([_shared("a", 10, 5), _shared("b", 1, 5)], ["a", "b"], shared_max=2)
    assert equal.sale is Sale.EXCLUSIVE  # a tie keeps the lead exclusive
    assert equal.line == "exclusive sale: 10.00 is not less than 10.00 shared"
    floored = decide([_shared("a", 10, 6, 5), _shared("b", 9, 4.8, 5)], ["a", "b"], shared_max=2)
    assert floored.sale is Sale.EXCLUSIVE  # b's shared 4.80 is under the floor: 6 < 10
    assert decide(offers, ["a"], shared_max=1).sale is Sale.EXCLUSIVE  # not a shared target


def test_a_priority_tier_takes_the_first_counting_bid_in_its_order() -> None:
    offers = [_offer("a", 9, 10), _offer("b", 11, 10), _offer("c", 30, 10)]
    decision = decide(offers, ["a", "b", "c"], by_price=False)
    assert [o.partner for o in decision.order] == ["b", "c"]  # a is under the floor
    assert decision.margin is None


def test_a_waterfall_names_its_partners_in_tiers() -> None:
    tiers = [{"partners": ["sunco"], "strategy": "auction", "floor": 20}, {"partners": ["brightpath"]}]
    objects = validate_document(_doc({"strategy": "waterfall", "tiers": tiers, "deadline": "1s"}))
    send_to = objects["profiles"]["solar-main"]["rules"][0]["send_to"]
    assert send_to["partners"] == ["sunco", "brightpath"]
    assert send_to["tiers"] == [
        {"partners": ["sunco"], "strategy": "auction", "floor": 20.0},
        {"partners": ["brightpath"], "strategy": "priority", "floor": None},
    ]
    target = build_specs(objects).profiles["solar-main"].rules[0].send_to
    assert target.strategy is Strategy.WATERFALL and target.deadline_s == 1.0
    assert [(t.partners, t.strategy, t.floor) for t in target.tiers] == [
        (("sunco",), Strategy.AUCTION, 20.0),
        (("brightpath",), Strategy.PRIORITY, None),
    ]


@pytest.mark.parametrize(
    ("target", "path", "words"),
    [
        ({"strategy": "waterfall"}, f"{RULE}.tiers", "a waterfall needs tiers"),
        (
            {"strategy": "waterfall", "partners": ["voltedge"], "tiers": [{"partners": ["sunco"]}]},
            RULE,
            "names its partners in its tiers",
        ),
        (
            {"strategy": "waterfall", "tiers": [{"partners": ["sunco"]}, {"partners": ["sunco"]}]},
            f"{RULE}.tiers[1].partners[0]",
            "already in tiers[0]",
        ),
        ({"strategy": "waterfall", "tiers": [{"partners": []}]}, f"{RULE}.tiers[0].partners", "at least one"),
        (
            {"strategy": "waterfall", "tiers": [{"partners": ["nobody"]}]},
            f"{RULE}.tiers[0].partners[0]",
            "unknown partner",
        ),
        (
            {"strategy": "waterfall", "tiers": [{"partners": ["sunco"], "strategy": "weighted"}]},
            f"{RULE}.tiers[0].strategy",
            "",
        ),
        ({"partners": ["sunco"], "tiers": [{"partners": ["sunco"]}]}, f"{RULE}.tiers", "only to strategy"),
        ({"partners": ["sunco"], "strategy": "auction", "shared": {"max": 1}}, f"{RULE}.shared.max", ""),
        ({"partners": ["sunco"], "shared": {"max": 2}}, f"{RULE}.shared", "applies only to strategies"),
    ],
)
def test_bad_waterfalls_and_shared_settings_are_refused_with_their_path(
    target: dict[str, Any], path: str, words: str
) -> None:
    problems = _problems(_doc(target))
    assert path in problems, problems
    assert words in problems[path]


@pytest.mark.parametrize("price", [-5.0, float("inf"), float("nan")])
def test_a_negative_or_infinite_bid_is_an_error_never_a_sale(price: float) -> None:
    from leadrelay.domain.attempts import AttemptResult, Outcome
    from leadrelay.domain.ping import bid_of

    bid = bid_of(AttemptResult(Outcome.SUCCESS, price=price))
    assert bid.status is BidStatus.ERROR and bid.price is None
    shared = bid_of(AttemptResult(Outcome.SUCCESS, price=10, shared_price=price))
    assert shared.status is BidStatus.ERROR


def test_a_bid_is_billed_to_the_cent() -> None:
    from leadrelay.domain.attempts import AttemptResult, Outcome
    from leadrelay.domain.ping import bid_of

    bid = bid_of(AttemptResult(Outcome.SUCCESS, price=12.3456789, shared_price=4.005))
    assert (bid.price, bid.shared_price) == (12.35, 4.01)  # half up, as the ledger bills a post's price
    assert bid_of(AttemptResult(Outcome.SUCCESS, price=2.675)).price == 2.68  # round() gave 2.67


def test_what_a_buyer_answered_is_bounded_and_nul_free_before_it_is_stored() -> None:
    from leadrelay.domain.attempts import AttemptResult, Outcome

    raw = AttemptResult(
        Outcome.SUCCESS, redirect_url="https://b.example/x\x00" + "y" * 3000, reference="r\x00"
    )
    kept = raw.storable()
    assert (
        kept.redirect_url is not None and "\x00" not in kept.redirect_url and len(kept.redirect_url) == 2000
    )
    assert kept.reference == "r\ufffd"
    clean = AttemptResult(Outcome.SUCCESS, reference="ok")
    assert clean.storable() is clean
