"""One day of traffic for the dashboard's tests, written through the repositories (so the same seed runs on
``FakeStorage`` in the unit tests and on SQLite and PostgreSQL in the integration tests), with the figures
the dashboard must show for it at ``NOW`` over the last 24 hours.

Hours (UTC): at 14:xx lead_1 (sold to sunco, later cancelled), lead_2 (rejected), lead_3 (duplicate); at
15:xx lead_4 (sold to sunco, brightpath's copy failed), lead_5 (suppressed), lead_6 from ``ads`` (voltedge
declined). Left out: lead_0 two days earlier (with its sale) and a test lead in the window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from leadrelay.domain.caps import window_key
from leadrelay.domain.ledger import Entry, EntryKind, Party
from leadrelay.domain.model import CapPeriod
from leadrelay.domain.states import DeliveryStatus, JobStatus, LeadStatus, QueueState
from leadrelay.services import configure
from leadrelay.services.ports import Storage, Tx
from tests.documents import base_config
from tests.fakes import FakeClock, attempt_row, delivery_row, job_row, lead_row

NOW = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)  # 10:30 in New York
D = Decimal


def at(hour: int, minute: int) -> datetime:
    return datetime(2026, 11, 22, hour, minute, tzinfo=UTC)


def document() -> dict[str, Any]:
    doc = base_config(lambda name: f"https://{name}.buyer.example/leads")
    doc["sources"]["ads"] = {"entities": ["solar"]}
    doc["partners"]["sunco"]["caps"] = {"day": 10}
    doc["partners"]["brightpath"].update(
        {"caps": {"day": 100}, "hours": {"daily": "08:00-18:00"}, "pacing": "even"}
    )
    return doc


def _sale(
    n: int, entry_id: str, when: datetime, kind: EntryKind, party: Party, who: str, amount: str, **kw: Any
) -> Entry:
    return Entry(entry_id, when, kind, party, who, D(amount), "USD", "system", f"lead_{n}", **kw)


def seed(storage: Storage) -> None:
    configure.apply_document_sync(storage, document(), actor="test", clock=FakeClock(NOW - timedelta(days=3)))
    storage.transaction(_traffic)


def _traffic(tx: Tx) -> None:
    old = NOW - timedelta(days=2)
    leads = [
        lead_row("lead_0", now=old, status=LeadStatus.DELIVERED),
        lead_row("lead_1", now=at(14, 10), status=LeadStatus.CANCELLED),
        lead_row("lead_2", now=at(14, 11), status=LeadStatus.REJECTED),
        lead_row("lead_3", now=at(14, 12), status=LeadStatus.DUPLICATE),
        lead_row("lead_4", now=at(15, 5), status=LeadStatus.DELIVERED),
        lead_row("lead_5", now=at(15, 6), status=LeadStatus.SUPPRESSED),
        lead_row("lead_6", now=at(15, 7), source="ads", status=LeadStatus.UNSOLD),
        lead_row("lead_t", now=at(15, 8), status=LeadStatus.DELIVERED, is_test=True),
    ]
    tx.leads.insert_leads(leads)
    done = {"queue_state": QueueState.DONE, "status": JobStatus.DELIVERED}
    tx.jobs.insert_jobs(
        [
            job_row("job_0", "lead_0", now=old, **done),
            job_row("job_1", "lead_1", now=at(14, 10), **done),
            job_row("job_4", "lead_4", now=at(15, 5), **done),
            job_row("job_6", "lead_6", now=at(15, 7), run_at=NOW - timedelta(seconds=90)),  # due: waits
            job_row("job_7", "lead_6", now=at(15, 7), run_at=NOW + timedelta(seconds=60)),  # a retry later
            job_row("job_8", "lead_6", now=at(15, 7), queue_state=QueueState.CLAIMED),
            job_row("job_t", "lead_t", now=at(15, 8), **done),
        ]
    )
    sold = {"status": DeliveryStatus.DELIVERED}
    deliveries = [
        delivery_row("d0", "job_0", "lead_0", "sunco", now=old, delivered_at=old, **sold),
        delivery_row("d1", "job_1", "lead_1", "sunco", now=at(14, 10), delivered_at=at(14, 10), **sold),
        delivery_row("d2", "job_4", "lead_4", "sunco", now=at(15, 5), delivered_at=at(15, 5), **sold),
        delivery_row("d3", "job_4", "lead_4", "brightpath", now=at(15, 5), status=DeliveryStatus.FAILED),
        delivery_row("d4", "job_6", "lead_6", "voltedge", now=at(15, 7), status=DeliveryStatus.FAILED),
        delivery_row("dt", "job_t", "lead_t", "sunco", now=at(15, 8), delivered_at=at(15, 8), is_test=True),
    ]
    for row in deliveries:
        tx.deliveries.insert_delivery(row)
    for attempt_id, delivery, job, started, ms in (
        ("a0", "d0", "job_0", old, 5000.0),
        ("a1", "d1", "job_1", at(14, 10), 120.0),
        ("a2", "d2", "job_4", at(15, 5), 80.0),
        ("a3", "d3", "job_4", at(15, 5), 600.0),
        ("a4", "d4", "job_6", at(15, 7), 40.0),
        ("at", "dt", "job_t", at(15, 8), 9000.0),
    ):
        tx.deliveries.insert_attempt(attempt_row(attempt_id, delivery, job, 1, now=started, duration_ms=ms))
    p, s = Party.PARTNER, Party.SOURCE
    tx.ledger.post(
        [
            _sale(0, "e0", old, EntryKind.SALE, p, "sunco", "99", delivery_id="d0", margin=D("50")),
            _sale(1, "e1", at(14, 10), EntryKind.SALE, p, "sunco", "25", delivery_id="d1", margin=D("10")),
            _sale(1, "e2", at(14, 10), EntryKind.PAYOUT, s, "web", "-15", delivery_id="d1"),
            _sale(4, "e3", at(15, 5), EntryKind.SALE, p, "sunco", "30", delivery_id="d2", margin=D("12")),
            _sale(4, "e4", at(15, 5), EntryKind.PAYOUT, s, "web", "-18", delivery_id="d2"),
            _sale(
                1,
                "e5",
                at(15, 20),
                EntryKind.CANCELLATION,
                p,
                "sunco",
                "-25",
                delivery_id="d1",
                reverses="e1",
                margin=D("-10"),
            ),
            _sale(
                1, "e6", at(15, 20), EntryKind.CANCELLATION, s, "web", "15", delivery_id="d1", reverses="e2"
            ),
        ]
    )
    for partner, zone, n in (("sunco", "America/Los_Angeles", 3), ("brightpath", "America/New_York", 7)):
        key = window_key(CapPeriod.DAY, ZoneInfo(zone), NOW)
        for _ in range(n):
            tx.caps.reserve_cap(partner, "", key, 1000)
    opened = {"opened_at": at(15, 0), "retry_at": at(15, 45), "reason": "5 timeouts", "changed_at": at(15, 0)}
    tx.caps.move_breaker("brightpath", {"state": "open", **opened}, ["closed"])
    closed = {"opened_at": None, "retry_at": None, "reason": None, "changed_at": at(13, 0)}
    tx.caps.move_breaker("voltedge", {"state": "closed", **closed}, ["closed"])
    for event_id, state, sent in (("alev_1", "firing", at(15, 1)), ("alev_2", "resolved", at(15, 21))):
        tx.alerts.insert_event(
            {
                "id": event_id,
                "alert": "brightpath-down",
                "state": state,
                "detail": f"brightpath <timeouts> {state}",
                "sent_at": sent,
                "targets": ["mailto:ops@example.com"],
                "error": None,
            }
        )


PARTNERS = {  # over the last 24 h at NOW
    "brightpath": {
        "offered": 1,
        "sold": 0,
        "acceptance_rate": "0.0000",
        "revenue": "0.00",
        "attempts": 1,
        "latency_p50_ms": 625.0,  # 600 ms: the 500-750 bucket, interpolated
        "latency_p95_ms": 737.5,
    },
    "sunco": {
        "offered": 2,
        "sold": 2,
        "acceptance_rate": "1.0000",
        "revenue": "30.00",  # 25 + 30 - 25 cancelled
        "attempts": 2,
        "latency_p50_ms": 100.0,
        "latency_p95_ms": 190.0,
    },
    "voltedge": {
        "offered": 1,
        "sold": 0,
        "acceptance_rate": "0.0000",
        "revenue": "0.00",
        "attempts": 1,
        "latency_p50_ms": 25.0,
        "latency_p95_ms": 47.5,
    },
}
SOURCES = {
    "ads": {"received": 1, "accepted": 1, "sold": 0, "revenue": "0.00", "payout": "0.00", "margin": "0.00"},
    "web": {
        "received": 5,
        "accepted": 2,
        "sold": 2,
        "revenue": "30.00",
        "payout": "18.00",
        "margin": "12.00",
    },
}
LEAD_HOURS = {  # UTC hour -> accepted, rejected, duplicates, suppressed (every other hour: zeros)
    at(14, 0): (1, 1, 1, 0),
    at(15, 0): (2, 0, 0, 1),
}
# partner, scope, period, used, limit, allowed (10:30 in New York, open 08:00-18:00: 151 of 600 minutes)
CAPS = [
    ("brightpath", "", "day", 7, 100, 26),
    ("sunco", "", "day", 3, 10, None),
]
QUEUE = {"due": 1, "scheduled": 1, "claimed": 1, "waiting": 0, "oldest_age_s": 90.0}


def check(body: dict[str, Any]) -> None:
    """The dashboard of this seed at ``NOW`` over 24 hours in UTC (``Dashboard.as_dict``), checked."""
    assert body["since"] == "2026-11-21T16:00:00+00:00"
    assert body["until"] == "2026-11-22T16:00:00+00:00"
    assert body["lead_statuses"] == ["accepted", "rejected", "duplicates", "suppressed"]
    assert len(body["leads"]) == 24
    hours = {datetime.fromisoformat(h["start"]): h for h in body["leads"]}
    for hour, h in hours.items():
        counts = LEAD_HOURS.get(hour, (0, 0, 0, 0))
        assert (h["accepted"], h["rejected"], h["duplicates"], h["suppressed"]) == counts, hour
        assert h["received"] == sum(counts)
    assert {p.pop("partner"): p for p in body["partners"]} == PARTNERS
    assert {s.pop("source"): s for s in body["sources"]} == SOURCES
    caps = [
        (c["partner"], c["scope"], c["period"], c["used"], c["limit"], c["allowed"]) for c in body["caps"]
    ]
    assert caps == CAPS
    queue = body["queue"]
    assert {k: queue[k] for k in QUEUE} == QUEUE
    assert queue["oldest_due"] == (NOW - timedelta(seconds=90)).isoformat()
    assert [(b["partner"], b["state"], b["reason"]) for b in body["breakers"]] == [
        ("brightpath", "open", "5 timeouts")
    ]
    assert [(a["id"], a["state"]) for a in body["alerts"]] == [("alev_2", "resolved"), ("alev_1", "firing")]
    assert body["currency"] == "USD"
