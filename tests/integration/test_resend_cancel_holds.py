"""After a resend took over a cancelled sale, cancelling the resend gives back the sale's kept cap slot,
budget and wallet money and dedup mark; a sent batch whose leads were all cancelled is not redelivered
as an empty one (a second reading of 2026-12-06 found both); SQLite and PostgreSQL."""

from __future__ import annotations

import time
from decimal import Decimal

from sqlalchemy import select

from leadrelay.adapters.db.tables import batches, jobs
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_email_digests import digest_config, post_leads
from tests.integration.test_resend_money import job_of, nth, ok, sale_side, wait_delivered
from tests.support import ADMIN, Mailbox, ServerThread, base_config, prepare, rows, source_headers, wait_for

D = Decimal
WAIT = "/v1/leads?wait=15"


def test_cancelling_the_resend_after_the_original_gives_the_kept_budget_back(db_url: str) -> None:
    """sunco: day budget 50 at 25 a lead. Lead 1 sold, resent; the original cancelled (the resend takes
    over: the original's holds are kept for it); then the resend is cancelled too. Nothing of lead 1 is
    billed any more, so two more leads fit sunco's budget. The original's holds were kept at its cancel
    and the resend has none of its own (``_direct``: no caps), so nothing gives them back."""
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as buyers:
        sunco = {"budget": {"day": 50}, "price_from_answer": False}
        prepare(db_url, base_config(buyers.url, sunco=sunco))
        with ServerThread(db_url) as server, server.client() as http:
            first = ok(http.post(WAIT, json=nth(1), headers=source_headers()))
            assert first["partner"] == "sunco", first
            job = job_of(http, first["lead_id"])
            resend = ok(http.post(f"/v1/distributions/{job}/resend", headers=ADMIN))["job_ids"][0]
            wait_delivered(http, resend)
            ok(http.post(f"/v1/distributions/{job}/cancel", json={"reason": "dup"}, headers=ADMIN))
            ok(http.post(f"/v1/distributions/{resend}/cancel", json={"reason": "dup"}, headers=ADMIN))
            assert sale_side(http, "sunco") == D("0.00")
            later = [ok(http.post(WAIT, json=nth(i), headers=source_headers())) for i in (2, 3)]
    assert [a["partner"] for a in later] == ["sunco", "sunco"], later


def test_a_sent_digest_whose_leads_were_all_cancelled_is_not_recorded_failed_on_redeliver(
    db_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    """A digest of one lead is sent; the sale is cancelled; the operator redelivers the batch. The redeliver
    check counts ``lead_count`` (only erasure lowers it) so it is accepted; the sender then renders no lead
    (a cancelled one is not sent again) and dissolves the batch: a batch sent and delivered is now failed."""
    _box, port = mailbox
    prepare(db_url, digest_config(port, {"every": 1}))
    with ServerThread(db_url, batch_interval=0.1) as server, server.client() as http:
        post_leads(server, 1)
        wait_for(lambda: rows(db_url, select(batches).where(batches.c.status == "sent")))
        wait_for(lambda: {j.status for j in rows(db_url, select(jobs))} == {"delivered"})
        (job,) = rows(db_url, select(jobs))
        assert http.post(f"/v1/distributions/{job.id}/cancel", json={}, headers=ADMIN).status_code == 200
        (batch,) = rows(db_url, select(batches))
        again = http.post(f"/v1/batches/{batch.id}/redeliver", headers=ADMIN)
        time.sleep(2)  # several batch passes
        after = http.get(f"/v1/batches/{batch.id}", headers=ADMIN).json()
    assert again.status_code == 409 or after["status"] == "sent", (
        f"redeliver {again.status_code}; the sent batch is now {after['status']!r} ({after['reason']})"
    )
