"""``strategy: user_choice`` and a partner's circuit breaker: a partner whose breaker is open and past its
cool-down is offered to one consumer, its trial (the breaker half-open, audited), not to every one with its
breaker left open for good, as it was (README: "After cool_down one trial lead goes (half_open)")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from leadrelay.adapters.db import breaker_store
from leadrelay.adapters.db.engine import Database
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_breaker_trials import breaker_and_audit, due_for_a_trial
from tests.integration.test_circuit_breaker import BREAKER
from tests.integration.test_routing_flow import serve
from tests.integration.test_user_choice import by_partner, choice_config, offered


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as b:
        yield b


def test_user_choice_gives_a_due_partner_one_trial_not_every_lead(db_url: str, buyers: BuyersThread) -> None:
    doc = choice_config(buyers, sunco={"breaker": BREAKER})
    db = Database(db_url)
    try:
        opened = due_for_a_trial(datetime.now(UTC))

        def seed(conn: Any) -> None:
            assert breaker_store.move_breaker(conn, "sunco", opened, ["closed"])

        db.transaction(seed)
    finally:
        db.dispose()
    with serve(db_url, doc) as server, server.client() as http:
        first = by_partner(offered(http, state="CA", monthly_bill=180))
        second = by_partner(offered(http, state="CA", monthly_bill=181))
    state, audit = breaker_and_audit(db_url)
    offered_sunco = ["SunCo Solar" in first, "SunCo Solar" in second]
    # sunco's breaker is open and due: the first lead offers it (its trial), the second does not
    assert offered_sunco == [True, False], (offered_sunco, state, audit)
    assert state == "half_open" and "partner.breaker_half_open" in audit, (state, audit)
