"""A resend of a sale to the same buyer is not billed while the sale stands: the two copies are one sale.
Returning either copy returns that sale, once: RETURN entries undo the buyer's 10.00 and the source's 6.00
payout (README, *Returns*), and the other copy cannot be returned again. SQLite and PostgreSQL."""

from __future__ import annotations

from leadrelay.domain.ledger import EntryKind, Party
from tests.integration.test_actions import wait_final
from tests.integration.test_returns import Start, balances, entries, key_of, ret, sell
from tests.integration.test_returns import buyers as buyers
from tests.integration.test_returns import other_buyer as other_buyer
from tests.integration.test_returns import start as start
from tests.support import ADMIN


def returned(db_url: str, lead_id: str) -> list[tuple[str, str, str]]:
    """The RETURN entries of the lead: (party kind, party, amount)."""
    found = [e for e in entries(db_url, lead_id) if e.kind is EntryKind.RETURN]
    return sorted((e.party_kind.value, e.party, str(e.amount)) for e in found)


def test_returning_the_resent_copy_returns_the_billed_sale_once(start: Start, db_url: str) -> None:
    _, http = start()
    sold = sell(http)  # sunco buys at 10.00 (its answer's price); the source is paid 60 % = 6.00
    r = http.post(f"/v1/distributions/{sold['job']}/resend", headers=ADMIN)
    assert r.status_code == 200, r.text
    done = wait_final(http, r.json()["job_ids"][0])
    [resent] = [d for d in done["deliveries"] if d["status"] == "delivered"]

    sunco = key_of(http, "sunco")
    r = ret(http, sunco, delivery_id=resent["id"], reason="bad_phone", note="disconnected")
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["delivery_id"]) == ("approved", sold["delivery"]), r.json()
    assert returned(db_url, sold["lead_id"]) == [("partner", "sunco", "-10.00"), ("source", "web", "6.00")]
    assert balances(db_url, Party.PARTNER).get("sunco", 0) == 0

    again = ret(http, sunco, delivery_id=sold["delivery"], reason="bad_phone")
    assert again.status_code == 409 and "already returned" in again.json()["detail"], again.text
    by_lead = ret(http, sunco, lead_id=sold["lead_id"], reason="bad_phone")
    assert by_lead.status_code == 409 and "already returned" in by_lead.json()["detail"], by_lead.text
    assert len(returned(db_url, sold["lead_id"])) == 2


def test_a_resent_lead_returned_by_its_lead_id_returns_the_billed_sale(start: Start, db_url: str) -> None:
    _, http = start()
    sold = sell(http)
    r = http.post(f"/v1/distributions/{sold['job']}/resend", headers=ADMIN)
    assert r.status_code == 200, r.text
    wait_final(http, r.json()["job_ids"][0])
    r = ret(http, key_of(http, "sunco"), lead_id=sold["lead_id"], reason="bad_phone")
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["delivery_id"]) == ("approved", sold["delivery"]), r.json()
    assert returned(db_url, sold["lead_id"]) == [("partner", "sunco", "-10.00"), ("source", "web", "6.00")]
