"""The pure return policy (``leadrelay.domain.returns``) and its configuration (``returns:``): the window's
edges, the rate at and over its maximum, auto-approval by reason, the rate period on the partner's clock,
and the configuration's checks naming the path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from leadrelay.configuration.load import load_yaml_text
from leadrelay.configuration.specs import build_specs, dump_yaml
from leadrelay.configuration.validation import validate_document
from leadrelay.domain.after_sale_states import RETURN, ReturnStatus
from leadrelay.domain.returns import (
    Accepted,
    RateFigures,
    RatePeriod,
    Refused,
    ReturnPolicy,
    decide_return,
    percent,
    period_bounds,
)
from leadrelay.errors import ConfigError, InvalidTransition
from tests.documents import base_config

DELIVERED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WEEK = 7 * 86_400.0
POLICY = ReturnPolicy(
    window_s=WEEK,
    reasons=("bad_phone", "duplicate", "not_interested"),
    max_rate=Decimal("0.15"),
    auto_approve=frozenset({"bad_phone"}),
)


def figures(returned: int, sold: int) -> RateFigures:
    return RateFigures(returned, sold, datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def decide(
    policy: ReturnPolicy | None = POLICY,
    reason: str = "duplicate",
    after: timedelta = timedelta(hours=1),
    rate: RateFigures | None = None,
) -> Accepted | Refused:
    return decide_return(
        policy,
        partner="sunco",
        reason=reason,
        delivered_at=DELIVERED,
        now=DELIVERED + after,
        figures=rate if rate is not None else figures(0, 100),
    )


# ---------------------------------------------------------------- the window


@pytest.mark.parametrize(
    ("after", "taken"),
    [
        (timedelta(0), True),
        (timedelta(days=7) - timedelta(seconds=1), True),
        (timedelta(days=7), True),  # exactly at the window's end: still in
        (timedelta(days=7, seconds=1), False),  # one second after: out
        (timedelta(days=30), False),
    ],
)
def test_the_window_includes_its_last_instant(after: timedelta, taken: bool) -> None:
    got = decide(after=after)
    assert isinstance(got, Accepted) is taken
    if not taken:
        assert isinstance(got, Refused) and got.why == "window"
        assert "7 days after delivery" in got.detail and "2026-12-08T12:00:00Z" in got.detail


# ---------------------------------------------------------------- the rate


@pytest.mark.parametrize(
    ("returned", "sold", "taken"),
    [
        (0, 100, True),
        (14, 100, True),  # the 15th of 100: exactly 15%, at the maximum
        (15, 100, False),  # the 16th: 16%, over it
        (2, 20, True),  # 3/20 = 15%
        (3, 20, False),  # 4/20 = 20%
        (0, 1, False),  # one lead sold, returned: 100%
        (0, 0, False),  # nothing sold in the period
    ],
)
def test_the_rate_is_allowed_at_its_maximum_and_refused_over_it(
    returned: int, sold: int, taken: bool
) -> None:
    got = decide(rate=figures(returned, sold))
    assert isinstance(got, Accepted) is taken
    if not taken:
        assert isinstance(got, Refused) and got.why == "rate"
        assert "max_rate of 15%" in got.detail
        if sold:
            assert f"{returned + 1} returns of {sold} leads sold" in got.detail


def test_without_a_max_rate_no_figures_are_needed() -> None:
    policy = ReturnPolicy(window_s=WEEK, reasons=("duplicate",))
    got = decide_return(
        policy, partner="p", reason="duplicate", delivered_at=DELIVERED, now=DELIVERED, figures=None
    )
    assert got == Accepted(ReturnStatus.REQUESTED, auto=False)
    with pytest.raises(ValueError, match="rate figures"):
        decide_return(
            POLICY, partner="p", reason="duplicate", delivered_at=DELIVERED, now=DELIVERED, figures=None
        )


# ---------------------------------------------------------------- reasons and auto-approval


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("bad_phone", Accepted(ReturnStatus.APPROVED, auto=True)),
        ("duplicate", Accepted(ReturnStatus.REQUESTED, auto=False)),
        ("not_interested", Accepted(ReturnStatus.REQUESTED, auto=False)),
    ],
)
def test_a_reason_listed_in_auto_approve_is_approved_at_once(reason: str, expected: Accepted) -> None:
    assert decide(reason=reason) == expected


def test_an_unknown_reason_is_refused_naming_the_reasons() -> None:
    got = decide(reason="changed_mind")
    assert isinstance(got, Refused) and got.why == "reason"
    assert "'changed_mind'" in got.detail and "bad_phone, duplicate, not_interested" in got.detail


def test_the_reason_is_checked_before_the_window_and_the_window_before_the_rate() -> None:
    late_and_over = decide(reason="nope", after=timedelta(days=9), rate=figures(50, 10))
    assert isinstance(late_and_over, Refused) and late_and_over.why == "reason"
    assert decide(after=timedelta(days=9), rate=figures(50, 10)) == Refused(
        "window",
        decide(after=timedelta(days=9)).detail,  # type: ignore[union-attr]
    )


def test_a_partner_without_a_policy_may_not_return() -> None:
    got = decide(policy=None)
    assert isinstance(got, Refused) and got.why == "policy" and "no returns: policy" in got.detail


def test_an_auto_approved_reason_still_keeps_to_the_window_and_the_rate() -> None:
    assert isinstance(decide(reason="bad_phone", after=timedelta(days=8)), Refused)
    assert isinstance(decide(reason="bad_phone", rate=figures(15, 100)), Refused)


# ---------------------------------------------------------------- the rate period, on the partner's clock


@pytest.mark.parametrize(
    ("period", "at", "start", "end"),
    [
        (
            RatePeriod.MONTH,
            "2026-12-15T10:00:00+00:00",
            "2026-12-01T08:00:00+00:00",
            "2027-01-01T08:00:00+00:00",
        ),
        # 03:00 UTC on Dec 1 is still Nov 30 in Los Angeles
        (
            RatePeriod.MONTH,
            "2026-12-01T03:00:00+00:00",
            "2026-11-01T07:00:00+00:00",
            "2026-12-01T08:00:00+00:00",
        ),
        (
            RatePeriod.WEEK,
            "2026-12-03T20:00:00+00:00",
            "2026-11-30T08:00:00+00:00",
            "2026-12-07T08:00:00+00:00",
        ),
        (
            RatePeriod.DAY,
            "2026-12-03T20:00:00+00:00",
            "2026-12-03T08:00:00+00:00",
            "2026-12-04T08:00:00+00:00",
        ),
    ],
)
def test_period_bounds_on_the_partners_clock(period: RatePeriod, at: str, start: str, end: str) -> None:
    got = period_bounds(period, ZoneInfo("America/Los_Angeles"), datetime.fromisoformat(at))
    assert got == (datetime.fromisoformat(start), datetime.fromisoformat(end))
    assert all(b.tzinfo is UTC for b in got)


def test_period_bounds_want_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        period_bounds(RatePeriod.DAY, UTC, datetime(2026, 12, 1))


@pytest.mark.parametrize(("rate", "text"), [("0.15", "15%"), ("1", "100%"), ("0.125", "12.5%")])
def test_percent(rate: str, text: str) -> None:
    assert percent(Decimal(rate)) == text


# ---------------------------------------------------------------- the return's states


def test_return_transitions() -> None:
    R = ReturnStatus
    assert RETURN.check(R.REQUESTED, R.APPROVED) is R.APPROVED
    assert RETURN.check(R.REQUESTED, R.DENIED) is R.DENIED
    for src, dst in ((R.APPROVED, R.DENIED), (R.DENIED, R.APPROVED), (R.APPROVED, R.APPROVED)):
        with pytest.raises(InvalidTransition, match="return cannot go"):
            RETURN.check(src, dst)
    assert RETURN.terminal() == {R.APPROVED, R.DENIED}
    assert RETURN.check_initial("requested") is R.REQUESTED
    for state in ("approved", "denied"):
        with pytest.raises(InvalidTransition):
            RETURN.check_initial(state)


# ---------------------------------------------------------------- the configuration


def config(returns: Any) -> dict[str, Any]:
    doc = base_config(lambda name: f"http://127.0.0.1:9/{name}")
    doc["partners"]["sunco"]["returns"] = returns
    return doc


def test_returns_configuration_is_canonical_built_and_exported() -> None:
    objects = validate_document(
        config(
            {
                "window": "168h",
                "reasons": ["bad_phone", "duplicate"],
                "max_rate": 0.15,
                "auto_approve": ["bad_phone"],
            }
        )
    )
    assert objects["partners"]["sunco"]["returns"] == {
        "window": "7d",
        "reasons": ["bad_phone", "duplicate"],
        "max_rate": "15%",
        "rate_period": "month",
        "auto_approve": ["bad_phone"],
        "redistribute": False,
    }
    specs = build_specs(objects)
    assert specs.partners["sunco"].returns == POLICY.__class__(
        window_s=WEEK,
        reasons=("bad_phone", "duplicate"),
        max_rate=Decimal("0.15"),
        auto_approve=frozenset({"bad_phone"}),
    )
    assert specs.partners["voltedge"].returns is None
    text = dump_yaml(objects)
    assert "returns:" in text
    assert validate_document(load_yaml_text(text)) == objects


@pytest.mark.parametrize(
    ("returns", "path", "words"),
    [
        ({"reasons": []}, "partners.sunco.returns.reasons", "empty"),
        ({}, "partners.sunco.returns.reasons", ""),
        ({"reasons": ["a", "a"]}, "partners.sunco.returns.reasons", ""),
        ({"reasons": ["Bad Phone"]}, "partners.sunco.returns.reasons", ""),
        ({"reasons": ["a"], "window": "0s"}, "partners.sunco.returns.window", "more than zero"),
        ({"reasons": ["a"], "max_rate": "150%"}, "partners.sunco.returns.max_rate", "at most 100%"),
        ({"reasons": ["a"], "rate_period": "year"}, "partners.sunco.returns.rate_period", "rate period"),
        ({"reasons": ["a"], "auto_approve": ["b"]}, "partners.sunco.returns.auto_approve[0]", "not one of"),
        ({"reasons": ["a"], "limit": 3}, "partners.sunco.returns.limit", "unknown"),
        ("7d", "partners.sunco.returns", ""),
    ],
)
def test_bad_returns_configuration_names_the_path(returns: Any, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_document(config(returns))
    assert any(p.path.startswith(path) and words in p.message for p in caught.value.problems), (
        caught.value.problems
    )
