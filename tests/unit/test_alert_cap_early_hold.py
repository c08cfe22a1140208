"""``cap_early`` holds a firing rule "for the rest of the day" for the partners that breached it (named in
its detail), not for every partner it watches: another partner that fills its day cap late in its day (after
`before`, which never fires the rule) does not keep it firing once the breaching partner's day is over, nor is
it said to have used its cap up "before 14:00". (The hold was every watched partner's.)"""

from __future__ import annotations

from datetime import UTC, datetime, time

from leadrelay.domain.alert_checks import Observations, held_partners, reading
from leadrelay.domain.alerts import Action, AlertKind, AlertSpec, AlertState, Memory, decide

SPEC = AlertSpec("capped-early", AlertKind.CAP_EARLY, 100.0, before=time(14, 0), emails=("ops@example.com",))


def test_a_late_cap_of_another_partner_does_not_keep_the_rule_firing() -> None:
    # 2026-11-23 05:30 UTC: 00:30 in New York (sunco's day just began: its counter is new, 0 used),
    # 21:30 on the 22nd in Los Angeles (voltedge filled its cap at 16:00 there: after 14:00)
    now = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
    obs = Observations(
        now,
        day_caps={"sunco": (10, 0, "America/New_York"), "voltedge": (10, 10, "America/Los_Angeles")},
    )
    # before the rule fired (voltedge full after 14:00 local): no breach, as documented
    assert reading(SPEC, obs).breached is False
    # the rule fired yesterday at 09:00 New York for sunco; sunco's day is over and its counter is new
    fired_at = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
    memory = Memory(AlertState.FIRING, fired_at, fired_at, "sunco: 10 of its day cap of 10 used ...", 1)
    measured = reading(SPEC, obs, held=held_partners(memory.detail))
    assert measured.breached is False, measured.detail  # "voltedge: ... before 14:00 America/Los_Angeles"
    assert decide(measured, memory, 1800, now).action is Action.RESOLVE


def test_the_hold_still_resolves_at_the_breaching_partners_new_day() -> None:
    """The same rule with one partner resolves at that partner's new day (passes today: for contrast)."""
    now = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
    obs = Observations(now, day_caps={"sunco": (10, 0, "America/New_York")})
    assert reading(SPEC, obs, held={"sunco"}).breached is False
