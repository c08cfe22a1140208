"""The routing decision: first matching rule, default, partner eligibility and the words of the trace."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest

from leadrelay.domain.condition_tree import AllOf, Leaf, Op
from leadrelay.domain.hours import parse_hours
from leadrelay.domain.model import (
    PartnerSpec,
    ProfileSpec,
    Rule,
    Strategy,
    Target,
    WebhookChannel,
)
from leadrelay.domain.routing import (
    CompiledConfig,
    Evaluation,
    compile_config,
    describe_candidates,
    evaluate,
    rotation_key,
)

HOOK = WebhookChannel(url="http://127.0.0.1:9/buyer")
WEEKDAYS_8_18 = parse_hours({"mon-fri": "08:00-18:00"})
WEST = Leaf("state", Op.IN, ["CA", "OR", "WA"])
TUESDAY_NOON = dt.datetime(2026, 3, 10, 17, 0, tzinfo=dt.UTC)  # 10:00 in Los Angeles, 13:00 in New York


def partner(name: str, **kw: Any) -> PartnerSpec:
    kw.setdefault("channel", HOOK)
    return PartnerSpec(name=name, **kw)


def base_partners(**overrides: Mapping[str, Any]) -> dict[str, PartnerSpec]:
    specs: dict[str, dict[str, Any]] = {
        "sunco": {"timezone": "America/Los_Angeles"},
        "brightpath": {"timezone": "America/New_York", "filters": Leaf("monthly_bill", Op.GTE, 100)},
        "voltedge": {"timezone": "America/New_York"},
    }
    for name, extra in overrides.items():
        specs.setdefault(name, {}).update(extra)
    return {name: partner(name, **kw) for name, kw in specs.items()}


def solar_main(*, rules: tuple[Rule, ...] | None = None, default: Target | str | None = "rr") -> ProfileSpec:
    if rules is None:
        rules = (Rule("west-coast", WEST, Target(("sunco", "brightpath"))),)
    if default == "rr":
        default = Target(("brightpath", "voltedge"), Strategy.ROUND_ROBIN)
    assert not isinstance(default, str)
    return ProfileSpec(name="solar-main", entity="solar", rules=rules, default=default)


def run(
    values: Mapping[str, Any],
    *,
    partners: Mapping[str, PartnerSpec] | None = None,
    profile: ProfileSpec | None = None,
    now: dt.datetime = TUESDAY_NOON,
    exclude: frozenset[str] = frozenset(),
    rotation: int = 0,
) -> tuple[Evaluation, list[str]]:
    prof = profile or solar_main()
    config: CompiledConfig = compile_config(1, partners or base_partners(), {prof.name: prof})
    ev = evaluate(values, config.profiles[prof.name], config, now, exclude=exclude, rotation=rotation)
    return ev, ev.trace(config)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


# ---------------------------------------------------------------- rules: first match wins, else default


@pytest.mark.parametrize(
    ("values", "rule", "candidates", "first_line"),
    [
        (
            {"state": "CA", "monthly_bill": 180},
            "west-coast",
            ["sunco", "brightpath"],
            "rule west-coast matched",
        ),
        (
            {"state": "wa", "monthly_bill": 180},
            "west-coast",
            ["sunco", "brightpath"],
            "rule west-coast matched",
        ),
        (
            {"state": "TX", "monthly_bill": 180},
            "default",
            ["brightpath", "voltedge"],
            "no rule matched; default",
        ),
        ({"monthly_bill": 180}, "default", ["brightpath", "voltedge"], "no rule matched; default"),
    ],
)
def test_rule_or_default(values: dict[str, Any], rule: str, candidates: list[str], first_line: str) -> None:
    ev, trace = run(values)
    assert ev.rule == rule
    assert ev.candidates == candidates
    assert ev.reason is None
    assert trace[0] == first_line


def test_first_matching_rule_wins_in_profile_order() -> None:
    rules = (
        Rule("big-bill", Leaf("monthly_bill", Op.GTE, 300), Target(("voltedge",))),
        Rule("west-coast", WEST, Target(("sunco",))),
        Rule("california", Leaf("state", Op.EQ, "CA"), Target(("brightpath",))),
    )
    profile = solar_main(rules=rules)
    cases = [
        ({"state": "CA", "monthly_bill": 400}, "big-bill", ["voltedge"]),
        ({"state": "CA", "monthly_bill": 150}, "west-coast", ["sunco"]),  # california matches too: later
        ({"state": "TX", "monthly_bill": 150}, "default", ["brightpath", "voltedge"]),
    ]
    for values, rule, candidates in cases:
        ev, _ = run(values, profile=profile)
        assert (ev.rule, ev.candidates) == (rule, candidates), values
        assert ev.target is not None


def test_no_rule_and_no_default_applies_nothing() -> None:
    ev, trace = run({"state": "TX", "monthly_bill": 180}, profile=solar_main(default=None))
    assert ev.rule is None
    assert ev.target is None
    assert ev.candidates == []
    assert ev.reason == "no rule matched and the profile has no default"
    assert trace == ["no rule matched; no default"]


def test_a_rule_that_sends_to_nobody() -> None:
    ev, trace = run({"state": "TX"}, profile=solar_main(default=Target(())))
    assert ev.rule == "default"
    assert ev.candidates == []
    assert ev.reason == "rule default sends to nobody"
    assert trace == ["no rule matched; default"]


def test_a_profile_without_rules_uses_its_default() -> None:
    ev, _ = run({"state": "CA", "monthly_bill": 180}, profile=solar_main(rules=()))
    assert ev.rule == "default"
    assert ev.candidates == ["brightpath", "voltedge"]


# ---------------------------------------------------------------- partner eligibility and the trace


@pytest.mark.parametrize(
    ("partners", "exclude", "candidates", "line"),
    [
        (
            base_partners(),
            frozenset({"sunco"}),
            ["brightpath"],
            "sunco: excluded (already tried or cancelled for this lead)",
        ),
        (base_partners(sunco={"paused": True}), frozenset(), ["brightpath"], "sunco: partner paused"),
        (base_partners(sunco={"channel": None}), frozenset(), ["brightpath"], "sunco: no delivery channel"),
        (
            base_partners(brightpath={"filters": Leaf("monthly_bill", Op.GTE, 500)}),
            frozenset(),
            ["sunco"],
            "brightpath: filter monthly_bill gte 500 failed (180)",
        ),
    ],
    ids=["excluded", "paused", "no-channel", "filtered"],
)
def test_ineligible_partner_gets_a_trace_line(
    partners: dict[str, PartnerSpec], exclude: frozenset[str], candidates: list[str], line: str
) -> None:
    ev, trace = run({"state": "CA", "monthly_bill": 180}, partners=partners, exclude=exclude)
    assert ev.rule == "west-coast"
    assert ev.candidates == candidates
    assert trace == ["rule west-coast matched", line]


def test_unknown_partner_in_a_target() -> None:
    profile = solar_main(rules=(Rule("west-coast", WEST, Target(("ghost", "sunco"))),))
    ev, trace = run({"state": "CA"}, profile=profile)
    assert ev.candidates == ["sunco"]
    assert trace == ["rule west-coast matched", "ghost: unknown partner"]


def test_eligible_partners_get_no_line_from_the_evaluation() -> None:
    # their "chosen" / "cap reached" line is written when caps are reserved
    _, trace = run({"state": "CA", "monthly_bill": 180})
    assert trace == ["rule west-coast matched"]


@pytest.mark.parametrize(
    ("values", "line"),
    [
        ({"state": "TX", "monthly_bill": 80}, "brightpath: filter monthly_bill gte 100 failed (80)"),
        ({"state": "TX", "monthly_bill": 99.5}, "brightpath: filter monthly_bill gte 100 failed (99.5)"),
        ({"state": "TX"}, "brightpath: filter monthly_bill gte 100 failed (missing)"),
        ({"state": "TX", "monthly_bill": ""}, "brightpath: filter monthly_bill gte 100 failed (empty)"),
    ],
)
def test_filter_failure_explains_the_value(values: dict[str, Any], line: str) -> None:
    ev, trace = run(values)
    assert ev.candidates == ["voltedge"]
    assert trace == ["no rule matched; default", line]


def test_filter_failure_names_the_failing_conjunct() -> None:
    filters = AllOf((Leaf("monthly_bill", Op.GTE, 100), Leaf("zip", Op.STARTS_WITH, "9")))
    partners = base_partners(brightpath={"filters": filters})
    ev, trace = run({"state": "TX", "monthly_bill": 180, "zip": "10001"}, partners=partners)
    assert ev.candidates == ["voltedge"]
    assert trace[1] == "brightpath: filter zip starts_with 9 failed (10001)"


def test_every_partner_ineligible_says_why() -> None:
    partners = base_partners(voltedge={"paused": True})
    ev, trace = run({"state": "TX", "monthly_bill": 50}, partners=partners)
    assert ev.candidates == []
    assert ev.reason == "no eligible partner"
    assert trace == [
        "no rule matched; default",
        "brightpath: filter monthly_bill gte 100 failed (50)",
        "voltedge: partner paused",
    ]


def test_a_paused_partner_is_reported_paused_even_when_its_filter_fails() -> None:
    partners = base_partners(brightpath={"paused": True})
    _, trace = run({"state": "TX", "monthly_bill": 50}, partners=partners)
    assert "brightpath: partner paused" in trace


# ---------------------------------------------------------------- delivery hours in the partner's zone


def test_outside_delivery_hours_on_a_saturday() -> None:
    partners = base_partners(sunco={"hours": WEEKDAYS_8_18})
    saturday = utc("2026-03-07T17:12:00")  # 09:12 PST
    ev, trace = run({"state": "CA", "monthly_bill": 180}, partners=partners, now=saturday)
    assert ev.candidates == ["brightpath"]
    assert trace == [
        "rule west-coast matched",
        "sunco: outside delivery hours (Sat 09:12 America/Los_Angeles)",
    ]


@pytest.mark.parametrize(
    ("now", "open_"),
    [
        ("2026-03-10T14:59:00", False),  # 07:59 PDT
        ("2026-03-10T15:00:00", True),  # 08:00 PDT: a window includes its start
        ("2026-03-11T00:59:00", True),  # 17:59 PDT
        ("2026-03-11T01:00:00", False),  # 18:00 PDT: and excludes its end
    ],
)
def test_delivery_hours_window_edges(now: str, open_: bool) -> None:
    partners = base_partners(sunco={"hours": WEEKDAYS_8_18})
    ev, _ = run({"state": "CA", "monthly_bill": 180}, partners=partners, now=utc(now))
    assert ("sunco" in ev.candidates) is open_


@pytest.mark.parametrize(
    ("now", "open_", "line"),
    [
        # Monday after the spring-forward (2026-03-08): 12:30 UTC is 08:30 EDT
        ("2026-03-09T12:30:00", True, None),
        # the Friday before: the same UTC time is 07:30 EST
        ("2026-03-06T12:30:00", False, "voltedge: outside delivery hours (Fri 07:30 America/New_York)"),
        # autumn: 2026-11-02 (Monday, EST again) 12:30 UTC is 07:30 EST, closed
        ("2026-11-02T12:30:00", False, "voltedge: outside delivery hours (Mon 07:30 America/New_York)"),
        ("2026-10-30T12:30:00", True, None),  # Friday 08:30 EDT
    ],
)
def test_delivery_hours_follow_daylight_saving_time(now: str, open_: bool, line: str | None) -> None:
    partners = base_partners(voltedge={"hours": WEEKDAYS_8_18})
    ev, trace = run({"state": "TX", "monthly_bill": 50}, partners=partners, now=utc(now))
    assert ev.candidates == (["voltedge"] if open_ else [])
    if line is not None:
        assert line in trace


def test_each_partner_is_checked_in_its_own_zone() -> None:
    # 14:30 UTC on a Monday: 10:30 in New York (open), 06:30 in Los Angeles (closed)
    partners = base_partners(sunco={"hours": WEEKDAYS_8_18}, brightpath={"hours": WEEKDAYS_8_18})
    ev, trace = run({"state": "CA", "monthly_bill": 180}, partners=partners, now=utc("2026-03-09T14:30:00"))
    assert ev.candidates == ["brightpath"]
    assert "sunco: outside delivery hours (Mon 07:30 America/Los_Angeles)" in trace


# ---------------------------------------------------------------- strategies through evaluate


@pytest.mark.parametrize(("rotation", "first"), [(0, "brightpath"), (1, "voltedge"), (2, "brightpath")])
def test_round_robin_default_rotates_with_the_counter(rotation: int, first: str) -> None:
    ev, _ = run({"state": "TX", "monthly_bill": 180}, rotation=rotation)
    assert ev.candidates[0] == first
    assert sorted(ev.candidates) == ["brightpath", "voltedge"]


def test_round_robin_rotates_over_the_eligible_only() -> None:
    ev0, _ = run({"state": "TX", "monthly_bill": 80}, rotation=0)
    ev1, _ = run({"state": "TX", "monthly_bill": 80}, rotation=1)
    assert ev0.candidates == ev1.candidates == ["voltedge"]


def test_broadcast_offers_every_eligible_partner() -> None:
    rule = Rule("all", WEST, Target(("sunco", "brightpath", "voltedge"), Strategy.BROADCAST))
    ev, _ = run({"state": "CA", "monthly_bill": 180}, profile=solar_main(rules=(rule,)), rotation=5)
    assert ev.candidates == ["sunco", "brightpath", "voltedge"]
    assert ev.target is not None and ev.target.strategy is Strategy.BROADCAST


def test_weighted_target_through_evaluate() -> None:
    target = Target(("brightpath", "voltedge"), Strategy.WEIGHTED, weights={"brightpath": 3, "voltedge": 1})
    profile = solar_main(default=target)
    got = [
        run({"state": "TX", "monthly_bill": 180}, profile=profile, rotation=r)[0].candidates[0]
        for r in range(8)
    ]
    assert got.count("brightpath") == 6
    assert got.count("voltedge") == 2


# ---------------------------------------------------------------- compile once, small helpers


def test_one_compiled_config_serves_many_leads() -> None:
    prof = solar_main()
    config = compile_config(7, base_partners(), {prof.name: prof})
    assert config.version == 7
    compiled = config.profiles["solar-main"]
    rules = [evaluate({"state": s}, compiled, config, TUESDAY_NOON).rule for s in ("CA", "TX", "OR", None)]
    assert rules == ["west-coast", "default", "west-coast", "default"]


def test_rotation_key_and_candidate_description() -> None:
    assert rotation_key("solar-main", "west-coast") == "solar-main:west-coast"
    assert rotation_key("solar-main", "default") == "solar-main:default"
    assert rotation_key("solar-main", None) == "solar-main:default"
    assert describe_candidates(["a", "b"]) == "a, b"
    assert describe_candidates([]) == "none"
