"""A return at exactly the partner's max_rate is allowed: the rate is the decimal written, not a float."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leadrelay.configuration.returns import ReturnsModel
from leadrelay.domain.returns import Accepted, RateFigures, decide_return


def test_a_return_at_exactly_max_rate_is_allowed() -> None:
    policy = ReturnsModel(reasons=["bad_phone"], max_rate="2.8%").to_spec()
    now = datetime(2026, 11, 20, tzinfo=UTC)
    # 6 returns already of 250 leads sold: this one makes 7 of 250, exactly 2.8%
    figures = RateFigures(6, 250, now - timedelta(days=19), now + timedelta(days=11))
    decision = decide_return(
        policy, partner="sunco", reason="bad_phone", delivered_at=now, now=now, figures=figures
    )
    assert isinstance(decision, Accepted), (policy.max_rate, decision)
