"""The fakes of ``tests/fakes`` answer as the SQL does: each scenario makes the same repository calls on
``SqlStorage`` over a migrated SQLite file and on ``FakeStorage``, and both must give the same answers
(values and their types) and leave the same rows in every table. The fakes' schema is the metadata's.

SQLite only: the fakes stand in for the storage in unit tests, and PostgreSQL's own behaviour (locks,
SKIP LOCKED) is the integration tests' subject.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
from sqlalchemy import JSON, BigInteger, Boolean, Float, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.exc import CompileError, IntegrityError, NoResultFound, StatementError

from leadrelay.adapters.db import schema_base as sql_tables
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.schema import metadata as sql_metadata
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.domain.after_sale_states import ReturnStatus
from leadrelay.domain.invoices import Invoice, InvoiceStatus, Invoicing, period_containing
from leadrelay.domain.invoices import draft as invoice_draft
from leadrelay.domain.invoices import issue as invoice_issue
from leadrelay.domain.ledger import Entry, EntryKind, Party
from leadrelay.domain.model import WalletSpec
from leadrelay.domain.privacy import FieldMatch
from leadrelay.domain.states import DeliveryStatus, JobStatus, LeadStatus, QueueState
from leadrelay.errors import Conflict, InvalidTransition
from leadrelay.services.ports import Storage, Tx
from leadrelay.services.writes import Writes
from tests.fakes import (
    START,
    FakeStorage,
    IntegrityViolation,
    attempt_row,
    delivery_row,
    job_row,
    lead_row,
    relay_row,
)
from tests.fakes.schema import TABLES, Col, Kind

Scenario = Callable[[Storage], list[Any]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


# ---------------------------------------------------------------- comparing answers


def plain(value: Any) -> Any:
    """An answer in a form that compares types too: a ``StrEnum`` is not its string, nor an int a float,
    nor a list a tuple; rows become their mappings."""
    if hasattr(value, "_mapping"):
        return ("row", {k: plain(v) for k, v in value._mapping.items()})
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, plain(dataclasses.asdict(value)))
    if isinstance(value, Mapping):
        return {(str(k) if isinstance(k, str) else plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, set | frozenset):
        return ("set", sorted(repr(plain(v)) for v in value))
    if isinstance(value, datetime):
        return ("datetime", value.isoformat())
    if isinstance(value, Enum):
        return (type(value).__name__, value.value)
    return (type(value).__name__, value)


def error_kind(exc: Exception) -> str:
    if isinstance(exc, IntegrityError | IntegrityViolation):
        return "integrity"
    if isinstance(exc, InvalidTransition):
        return "transition"
    if isinstance(exc, Conflict):
        return "conflict"
    if isinstance(exc, CompileError | KeyError):  # an UPDATE of a column the table lacks
        return "column"
    if isinstance(exc, NoResultFound | LookupError):
        return "missing"
    if isinstance(exc, ValueError) or (isinstance(exc, StatementError) and isinstance(exc.orig, ValueError)):
        return "value"
    raise exc


def attempt(storage: Storage, fn: Callable[[Tx], Any]) -> tuple[str, Any]:
    """A transaction's answer, or the kind of error that rolled it back."""
    try:
        return "ok", plain(storage.transaction(fn))
    except Exception as exc:
        return "error", error_kind(exc)


_GENERATED = {"api_keys": "id", "admin_tokens": "id", "audit_log": "id"}  # ids the store makes itself


def _all_rows(storage: Storage, table: str) -> list[Any]:
    if isinstance(storage, FakeStorage):
        return storage.rows(table)
    assert isinstance(storage, SqlStorage)
    query = select(sql_metadata.tables[table])
    return list(storage.db.read(lambda c: c.execute(query).all()))


def dump(storage: Storage) -> dict[str, list[Any]]:
    """Every faked table's rows, the ids the store makes itself masked, in a stable order."""
    out: dict[str, list[Any]] = {}
    for name in TABLES:
        rows = [dict(row._mapping) for row in _all_rows(storage, name)]
        masked = [{k: "<id>" if _GENERATED.get(name) == k else v for k, v in row.items()} for row in rows]
        out[name] = sorted((plain(row) for row in masked), key=repr)
    return out


# ---------------------------------------------------------------- scenarios: budgets and wallets


@scenario
def wallets_hold_release_and_settle_as_the_sql(s: Storage) -> list[Any]:
    d = Decimal
    topup = Entry("led_1", START, EntryKind.TOPUP, Party.PARTNER, "sunco", d("-50.00"), "USD", "cli")
    sale = Entry("led_2", START, EntryKind.SALE, Party.PARTNER, "sunco", d("20.00"), "USD", "system")
    return [
        attempt(s, lambda tx: tx.wallets.configure_wallets({"sunco": WalletSpec(d("0.00"), d("10.00"))})),
        attempt(s, lambda tx: tx.wallets.configure_wallets({"other": None})),
        attempt(s, lambda tx: tx.ledger.post([topup])),  # moves what sunco owes
        attempt(s, lambda tx: tx.wallets.reserve_funds("job_1", "sunco", d("30.00"), d("0.00"))),
        attempt(s, lambda tx: tx.wallets.reserve_funds("job_2", "sunco", d("30.00"), d("0.00"))),  # short
        attempt(s, lambda tx: tx.wallets.reserve_funds("job_2", "sunco", d("30.00"), d("10.00"))),  # credit
        attempt(
            s, lambda tx: tx.wallets.reserve_budget("job_1", "sunco", "", "d:2026-12-03", d("30"), d("50"))
        ),
        attempt(
            s, lambda tx: tx.wallets.reserve_budget("job_2", "sunco", "", "d:2026-12-03", d("30"), d("50"))
        ),
        attempt(s, lambda tx: tx.wallets.release_holds("job_2", "sunco")),
        attempt(s, lambda tx: tx.wallets.release_holds("job_2", "sunco")),  # once
        attempt(s, lambda tx: tx.ledger.post([sale])),
        attempt(s, lambda tx: tx.wallets.settle_holds([("job_1", "sunco", d("20.00"))])),
        attempt(s, lambda tx: tx.wallets.funds("sunco")),
        attempt(s, lambda tx: tx.wallets.funds("nobody")),
        attempt(s, lambda tx: tx.wallets.wallet_balances()),
        attempt(s, lambda tx: tx.wallets.budget_spent("sunco")),
    ]


# ---------------------------------------------------------------- scenarios: leads


@scenario
def leads_and_their_answers(s: Storage) -> list[Any]:
    leads = [
        lead_row("lead_1", data={"email": "a@x.com", "n": (1, 2)}),
        lead_row("lead_2", idempotency_key="k1", request_hash="h1", created_at=at(1), updated_at=at(1)),
        lead_row("lead_3", idempotency_key="k1", source="other", problems=[{"field": "zip", "error": "?"}]),
    ]
    return [
        attempt(s, lambda tx: tx.leads.insert_leads(leads)),
        attempt(s, lambda tx: tx.leads.insert_leads([])),
        # the key is taken for this source: skipped, not an error
        attempt(s, lambda tx: tx.leads.insert_leads([lead_row("lead_4", idempotency_key="k1")])),
        attempt(s, lambda tx: tx.leads.lead_by_idempotency_key("web", "k1")),
        attempt(s, lambda tx: tx.leads.lead_by_idempotency_key("web", "k9")),
        attempt(s, lambda tx: tx.leads.keep_answer("lead_2", 201, {"status": "queued"})),
        attempt(s, lambda tx: tx.leads.keep_answer("lead_2", 200, {"status": "delivered"})),  # first wins
        attempt(s, lambda tx: tx.leads.get_lead("lead_2")),
        attempt(s, lambda tx: tx.leads.get_lead("lead_1")),
        attempt(s, lambda tx: tx.leads.get_lead("nope")),
    ]


@scenario
def supplier_pings_are_used_once_and_not_after_they_expire(s: Storage) -> list[Any]:
    def ping(ping_id: str, expires_at: datetime) -> dict[str, Any]:
        auctions = {"solar-main": {"rule": "r", "max_posts": 3, "bids": [{"partner": "a", "price": 1.5}]}}
        return {
            "id": ping_id,
            "source": "web",
            "entity": "solar",
            "auctions": auctions,
            "price": 1.5,
            "expires_at": expires_at,
            "used_at": None,
            "lead_id": None,
            "created_at": START,
        }

    return [
        attempt(s, lambda tx: tx.deliveries.insert_supplier_ping(ping("ping_1", at(2)))),
        attempt(s, lambda tx: tx.deliveries.insert_supplier_ping(ping("ping_2", at(2)))),
        attempt(s, lambda tx: tx.deliveries.insert_supplier_ping(ping("ping_1", at(2)))),  # the key
        attempt(s, lambda tx: tx.deliveries.supplier_ping("ping_1")),
        attempt(s, lambda tx: tx.deliveries.supplier_ping("nope")),
        attempt(s, lambda tx: tx.deliveries.use_supplier_ping("ping_1", "lead_1", at(1))),
        attempt(s, lambda tx: tx.deliveries.use_supplier_ping("ping_1", "lead_2", at(1))),  # used
        attempt(s, lambda tx: tx.deliveries.use_supplier_ping("ping_2", "lead_3", at(2))),  # expired
        attempt(s, lambda tx: tx.deliveries.use_supplier_ping("nope", "lead_3", at(1))),
        attempt(s, lambda tx: tx.deliveries.supplier_ping("ping_1")),
        attempt(s, lambda tx: tx.deliveries.supplier_ping("ping_2")),
    ]


@scenario
def lead_writes_the_schema_refuses(s: Storage) -> list[Any]:
    missing = lead_row("lead_8")
    del missing["data"]
    return [
        attempt(s, lambda tx: tx.leads.insert_leads([lead_row("lead_1")])),
        attempt(s, lambda tx: tx.leads.insert_leads([lead_row("lead_1")])),  # the key
        attempt(s, lambda tx: tx.leads.insert_leads([lead_row("lead_1", idempotency_key="k")])),
        attempt(s, lambda tx: tx.leads.insert_leads([missing])),  # NOT NULL, omitted
        attempt(s, lambda tx: tx.leads.insert_leads([lead_row("lead_9", entity=None)])),
        attempt(s, lambda tx: tx.leads.insert_leads([lead_row("lead_9", status="lost")])),  # CHECK
        attempt(s, lambda tx: tx.leads.insert_leads([lead_row("lead_9", created_at=datetime(2026, 1, 1))])),
        # a JSON column takes None as the JSON null, even where NULL is not allowed
        attempt(s, lambda tx: tx.leads.insert_leads([lead_row("lead_7", data=None, problems=None)])),
        attempt(s, lambda tx: tx.leads.get_lead("lead_7")),
        attempt(s, lambda tx: tx.leads.lead_outcome("lead_7")),  # problems: the JSON null
        attempt(s, lambda tx: tx.leads.lead_outcome("nope")),
        attempt(s, lambda tx: tx.leads.refresh_lead_status("nope", START)),
    ]


@scenario
def a_raising_transaction_leaves_nothing(s: Storage) -> list[Any]:
    def half(tx: Tx) -> None:
        tx.leads.insert_leads([lead_row("lead_1")])
        tx.jobs.insert_jobs([job_row("job_1", "lead_1")])
        tx.caps.reserve_cap("acme", "", "d:1", 5)
        tx.config.bump_version()
        tx.leads.insert_leads([lead_row("lead_1")])  # fails: the key is taken

    return [
        attempt(s, half),
        attempt(s, lambda tx: tx.leads.get_lead("lead_1")),
        attempt(s, lambda tx: tx.config.config_version()),
        attempt(s, lambda tx: tx.caps.cap_usage("acme")),
    ]


@scenario
def a_savepoint_rolled_back_undoes_only_what_came_after_it(s: Storage) -> list[Any]:
    """The worker's batch isolation: what was written before the mark stays, what came after it (inserts,
    updates, deletes, in tables written before the mark and in new ones) is undone; a released mark keeps
    everything; the transaction goes on after either."""

    def marks(tx: Tx) -> None:
        tx.leads.insert_leads([lead_row("lead_1")])
        tx.caps.reserve_cap("acme", "", "d:1", 5)
        mark = tx.savepoint()
        tx.leads.insert_leads([lead_row("lead_2")])
        tx.jobs.insert_jobs([job_row("job_2", "lead_2")])
        tx.caps.reserve_cap("acme", "", "d:1", 5)
        tx.config.bump_version()
        mark.roll_back()
        kept = tx.savepoint()
        tx.leads.insert_leads([lead_row("lead_3")])
        kept.release()
        tx.jobs.insert_jobs([job_row("job_3", "lead_3")])

    return [
        attempt(s, marks),
        attempt(s, lambda tx: [tx.leads.get_lead(i) for i in ("lead_1", "lead_2", "lead_3")]),
        attempt(s, lambda tx: tx.jobs.load_jobs(["job_2", "job_3"])),
        attempt(s, lambda tx: tx.caps.cap_usage("acme")),
        attempt(s, lambda tx: tx.config.config_version()),
    ]


@scenario
def lead_outcome_and_status(s: Storage) -> list[Any]:
    def seed(tx: Tx) -> None:
        tx.leads.insert_leads(
            [
                lead_row("lead_1"),
                lead_row("lead_2", status=LeadStatus.UNSOLD, entity="roofing"),
                lead_row("lead_3", status=LeadStatus.REJECTED),
                lead_row(
                    "lead_4",
                    is_test=True,
                    problems=[{"field": "zip", "error": "not a ZIP code"}],
                    status=LeadStatus.UNSOLD,
                ),
            ]
        )
        tx.jobs.insert_jobs(
            [
                job_row("job_2", "lead_1", status=JobStatus.DELIVERING),
                job_row("job_1", "lead_1", status=JobStatus.FAILED, error="buyer down"),
                job_row("job_3", "lead_1", status=JobStatus.UNSOLD, error="no partner"),
            ]
        )
        for i, status in enumerate(
            [DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.DELIVERED]
        ):
            tx.deliveries.insert_delivery(
                delivery_row(f"dlv_{3 - i}", "job_2", "lead_1", f"p{i}", status=status, price=10 + i)
            )

    def settle(tx: Tx) -> Any:
        tx.jobs.update_job("job_2", status=JobStatus.DELIVERED)
        return tx.leads.refresh_lead_statuses(["lead_1", "lead_2", "nope", "lead_1"], at(3))

    return [
        attempt(s, seed),
        attempt(s, lambda tx: tx.leads.lead_outcome("lead_1")),
        attempt(s, lambda tx: tx.leads.lead_outcome("lead_2")),  # no job: no enabled profile
        attempt(s, lambda tx: tx.leads.lead_outcome("lead_4")),  # a test lead, with its problems
        attempt(s, lambda tx: tx.leads.refresh_lead_status("lead_1", at(2))),  # queued stays queued
        attempt(s, settle),
        attempt(s, lambda tx: tx.leads.lead_outcome("lead_1")),
        attempt(s, lambda tx: tx.leads.refresh_lead_status("lead_3", at(4))),  # rejected → unsold: refused
    ]


# ---------------------------------------------------------------- scenarios: the queue


def _seed_jobs(tx: Tx) -> None:
    tx.leads.insert_leads([lead_row("lead_1", sealed="fake1:x:y", is_test=True), lead_row("lead_2")])
    tx.jobs.insert_jobs(
        [
            job_row("job_3", "lead_1", run_at=at(3)),
            job_row("job_1", "lead_1", run_at=at(1)),
            job_row("job_2", "lead_2", run_at=at(2)),
            job_row("job_4", "lead_2", run_at=at(10)),  # not due yet
            job_row("job_5", "lead_gone", run_at=at(0)),  # its lead is missing: load_jobs leaves it out
            job_row("job_6", "lead_2", run_at=at(0), queue_state=QueueState.DONE),
        ]
    )


@scenario
def claims_leases_and_releases(s: Storage) -> list[Any]:
    return [
        attempt(s, _seed_jobs),
        attempt(s, lambda tx: tx.jobs.claim_jobs("w1", 2, at(5), at(6))),
        attempt(s, lambda tx: tx.jobs.claim_jobs("w2", 10, at(5), at(6), only=["job_3", "job_1", "job_4"])),
        attempt(s, lambda tx: tx.jobs.claim_jobs("w2", 10, at(5), at(6), only=[])),
        attempt(s, lambda tx: tx.jobs.claim_jobs("w2", 0, at(5), at(6))),
        attempt(
            s, lambda tx: [tx.jobs.owns("job_5", "w1"), tx.jobs.owns("job_5", "w2"), tx.jobs.owns("x", "w1")]
        ),
        attempt(s, lambda tx: tx.jobs.extend_leases("w2", ["job_5", "job_1"], at(20))),  # not w2's: no change
        attempt(s, lambda tx: tx.jobs.extend_leases("w1", ["job_5", "job_1", "job_3"], at(8))),
        attempt(s, lambda tx: tx.jobs.extend_leases("w1", [], at(9))),
        # at 7 job_2's lease (until 6) ran out: w3 takes it over, with the due job_3; job_1 is still w1's
        attempt(s, lambda tx: tx.jobs.claim_jobs("w3", 10, at(7), at(30))),
        attempt(s, lambda tx: tx.jobs.release_jobs("w1", ["job_1", "job_2", "job_5"], at(8))),
        attempt(s, lambda tx: tx.jobs.release_jobs("w1", [], at(8))),
        # closed while still naming its last owner: nobody owns it
        attempt(
            s, lambda tx: tx.jobs.update_job("job_2", queue_state=QueueState.DONE, status=JobStatus.FAILED)
        ),
        attempt(s, lambda tx: [tx.jobs.owns("job_2", "w3"), tx.jobs.owns("job_3", "w3")]),
        attempt(s, lambda tx: tx.jobs.load_jobs(["job_5", "job_2", "job_1", "job_1", "nope"])),
        attempt(s, lambda tx: tx.jobs.load_jobs([], lock=True)),
        attempt(s, lambda tx: tx.jobs.claim_jobs("w4", -1, at(60), at(61))),  # SQLite: no limit
    ]


@scenario
def job_updates(s: Storage) -> list[Any]:
    def update(tx: Tx) -> Any:
        tx.jobs.update_job(
            "job_1",
            status=JobStatus.DELIVERING,
            trace=[("rule", "r1"), {"picked": "acme"}],
            excluded=["beta"],
            finished_at=at(4),
            claims=7,
        )
        tx.jobs.update_job("nope", status=JobStatus.DELIVERED)  # no such job: nothing
        return tx.jobs.load_jobs(["job_1"])

    return [
        attempt(s, _seed_jobs),
        attempt(s, update),
        attempt(s, lambda tx: tx.jobs.update_job("job_1", status="sideways")),  # CHECK
        attempt(s, lambda tx: tx.jobs.update_job("job_1", profile=None)),  # NOT NULL
        attempt(s, lambda tx: tx.jobs.update_job("job_1", trace=None)),  # the JSON null
        attempt(s, lambda tx: tx.jobs.update_job("job_1", run_at=datetime(2026, 1, 1))),
        attempt(s, lambda tx: tx.jobs.load_jobs(["job_1"])),
    ]


# ---------------------------------------------------------------- scenarios: deliveries and attempts


@scenario
def deliveries_and_attempts(s: Storage) -> list[Any]:
    def seed(tx: Tx) -> None:
        _seed_jobs(tx)
        tx.deliveries.insert_delivery(
            delivery_row("dlv_2", "job_1", "lead_1", "acme", cap_windows=[["", "d:1"]])
        )
        tx.deliveries.insert_delivery(delivery_row("dlv_1", "job_1", "lead_1", "beta", price=7))
        tx.deliveries.insert_delivery(delivery_row("dlv_3", "job_2", "lead_2", "acme", is_test=True))
        omitted = delivery_row("dlv_4", "job_3", "lead_1", "acme")
        for column in ("channel_step", "attempts", "invoiced", "batch_id", "is_test"):
            del omitted[column]  # the columns' defaults
        tx.deliveries.insert_delivery(omitted)

    def attempts(tx: Tx) -> Any:
        tx.deliveries.insert_attempt(attempt_row("att_1", "dlv_1", "job_1", 1, outcome="error"))
        tx.deliveries.insert_attempt(
            attempt_row("att_2", "dlv_2", "job_1", 1, outcome="error", status_code=None)
        )
        tx.deliveries.insert_attempt(attempt_row("att_3", "dlv_2", "job_1", 2, outcome="failure"))
        tx.deliveries.update_delivery("dlv_1", status=DeliveryStatus.FAILED, attempts=1, reason="down")
        tx.deliveries.update_delivery("dlv_2", status=DeliveryStatus.FAILED, attempts=2)
        return [tx.jobs.job_had_errors("job_1"), tx.jobs.job_had_errors("job_2")]

    def refused_last(tx: Tx) -> Any:
        # dlv_1's last attempt was an error, but it is delivered now; dlv_2's last was a refusal
        tx.deliveries.update_delivery("dlv_1", status=DeliveryStatus.DELIVERED, delivered_at=at(5), price=3)
        return tx.jobs.job_had_errors("job_1")

    return [
        attempt(s, seed),
        attempt(s, lambda tx: tx.deliveries.job_deliveries("job_1")),
        attempt(s, lambda tx: tx.deliveries.job_deliveries("nope")),
        attempt(s, lambda tx: tx.deliveries.deliveries_of(["job_2", "job_4", "job_1", "job_3"])),
        attempt(s, attempts),
        attempt(s, refused_last),
        attempt(s, lambda tx: tx.deliveries.update_delivery("nope", status=DeliveryStatus.HELD)),
        attempt(s, lambda tx: tx.deliveries.update_delivery("dlv_1", status="lost")),
        attempt(s, lambda tx: tx.deliveries.insert_delivery(delivery_row("dlv_1", "job_1", "lead_1", "x"))),
        attempt(s, lambda tx: tx.deliveries.insert_attempt(attempt_row("att_1", "dlv_1", "job_1", 9))),
        attempt(s, lambda tx: tx.leads.lead_outcome("lead_1")),
        attempt(s, lambda tx: sorted(tx.deliveries.post_observations(START))),  # same start: any order
        attempt(s, lambda tx: sorted(tx.deliveries.post_observations(START, "acme"))),
        attempt(s, lambda tx: tx.deliveries.post_observations(START, "beta", limit=1)),
        attempt(s, lambda tx: tx.deliveries.post_observations(at(60))),
    ]


# ---------------------------------------------------------------- scenarios: caps and rotations


@scenario
def caps_and_rotations(s: Storage) -> list[Any]:
    def mark(tx: Tx) -> None:
        tx.dedup.put_marks(
            [
                {"scope": "partner:acme:email", "key_hash": "h1", "lead_id": "lead_1", "seen_at": at(0)},
                {"scope": "partner:acme:phone", "key_hash": "h2", "lead_id": "lead_1", "seen_at": at(0)},
                {"scope": "partner:acme:email", "key_hash": "h3", "lead_id": "lead_2", "seen_at": at(0)},
                {"scope": "partner:acmex:email", "key_hash": "h4", "lead_id": "lead_1", "seen_at": at(0)},
            ]
        )

    return [
        *[attempt(s, lambda tx: tx.caps.reserve_cap("acme", "", "d:1", 3)) for _ in range(5)],
        attempt(s, lambda tx: tx.caps.reserve_cap("acme", "main", "d:1", 1)),
        attempt(s, lambda tx: tx.caps.reserve_cap("acme", "", "total", 0)),  # a full window, row made
        attempt(s, lambda tx: tx.caps.cap_usage("acme")),
        attempt(s, lambda tx: tx.caps.cap_usage("nobody")),
        attempt(s, mark),
        attempt(
            s, lambda tx: tx.caps.release_caps("acme", [["", "d:1"], ["main", "d:1"], ("dedup", "lead_1")])
        ),
        attempt(
            s, lambda tx: tx.caps.release_caps("acme", [["main", "d:1"], ["", "never"]])
        ),  # never below 0
        attempt(s, lambda tx: tx.caps.cap_usage("acme")),
        attempt(s, lambda tx: tx.caps.reserve_cap("acme", "", "d:1", 3)),
        attempt(s, lambda tx: tx.dedup.count_marks()),
        attempt(s, lambda tx: tx.caps.next_rotation("p:r")),
        attempt(s, lambda tx: tx.caps.next_rotation("p:r", 3)),
        attempt(s, lambda tx: tx.caps.next_rotation("p:r")),
        attempt(s, lambda tx: tx.caps.next_rotation("p:other", 2)),
    ]


@scenario
def cap_reads_and_availability(s: Storage) -> list[Any]:
    return [
        attempt(s, lambda tx: tx.caps.cap_used([])),
        attempt(s, lambda tx: [tx.caps.reserve_cap("acme", "", "h:1", 5) for _ in range(2)]),
        attempt(s, lambda tx: tx.caps.reserve_cap("acme", "@load", "d:1", 2**31 - 1)),
        attempt(
            s,
            lambda tx: tx.caps.cap_used([("acme", "", "h:1"), ("acme", "@load", "d:1"), ("zed", "", "h:1")]),
        ),
        attempt(s, lambda tx: tx.caps.unavailable_partners()),
        attempt(s, lambda tx: tx.caps.availability()),
        attempt(s, lambda tx: tx.caps.set_availability("acme", False, "break", "ops", at(1))),
        attempt(s, lambda tx: tx.caps.set_availability("zed", True, None, "cli:me", at(2))),
        attempt(s, lambda tx: tx.caps.unavailable_partners()),
        attempt(s, lambda tx: tx.caps.set_availability("acme", True, None, "ops", at(3))),
        attempt(s, lambda tx: tx.caps.set_availability("zed", False, "gone", "ops", at(4))),
        attempt(s, lambda tx: tx.caps.unavailable_partners()),
        attempt(s, lambda tx: tx.caps.availability()),
    ]


def _breaker(
    state: str, minutes: float, retry: float | None = None, reason: str | None = None
) -> dict[str, Any]:
    return {
        "state": state,
        "opened_at": at(minutes) if state != "closed" else None,
        "retry_at": at(retry) if retry is not None else None,
        "reason": reason,
        "changed_at": at(minutes),
    }


@scenario
def breakers(s: Storage) -> list[Any]:
    """Conditional moves of circuit breakers (no row counts as closed) and the routing read."""
    return [
        attempt(s, lambda tx: tx.caps.unavailable_and_breakers()),
        attempt(s, lambda tx: tx.caps.move_breaker("acme", _breaker("open", 1, 2, "errors"), ["closed"])),
        attempt(s, lambda tx: tx.caps.move_breaker("acme", _breaker("open", 1, 2, "again"), ["closed"])),
        attempt(s, lambda tx: tx.caps.move_breaker("zed", _breaker("half_open", 1, 2), ["open"])),
        attempt(s, lambda tx: tx.caps.set_availability("zed", False, None, "ops", at(1))),
        attempt(s, lambda tx: tx.caps.unavailable_and_breakers()),
        attempt(
            s, lambda tx: tx.caps.move_breaker("acme", _breaker("half_open", 1.5, 3), ["open"], due=at(1.5))
        ),  # not due yet
        attempt(
            s,
            lambda tx: tx.caps.move_breaker(
                "acme", _breaker("half_open", 2, 3), ["open", "half_open"], at(2)
            ),
        ),
        attempt(  # a second trial at the same time: the first one moved retry_at on
            s,
            lambda tx: tx.caps.move_breaker(
                "acme", _breaker("half_open", 2, 3), ["open", "half_open"], at(2)
            ),
        ),
        attempt(s, lambda tx: tx.caps.move_breaker("acme", _breaker("closed", 4), ["half_open"])),
        attempt(s, lambda tx: tx.caps.unavailable_and_breakers()),
        attempt(s, lambda tx: tx.caps.move_breaker("acme", _breaker("open", 5, 6, "timeouts"), ["closed"])),
        attempt(s, lambda tx: tx.caps.move_breaker("acme", _breaker("bogus", 5), ["open"])),  # CHECK
        attempt(s, lambda tx: tx.caps.breakers()),
    ]


def _alert_state(state: str, minutes: float) -> dict[str, Any]:
    return {
        "state": state,
        "since": at(minutes),
        "last_fired_at": at(minutes),
        "detail": f"{state} at {minutes}",
    }


@scenario
def alerts(s: Storage) -> list[Any]:
    """Alert rules' states moved on their version (no row counts as version 0), messages, the backlog."""
    event = {"alert": "a", "detail": "d", "targets": ["mailto:ops@example.com"], "error": None}
    return [
        attempt(s, lambda tx: tx.alerts.states()),
        attempt(s, lambda tx: tx.alerts.move_state("a", 0, _alert_state("firing", 1))),
        attempt(s, lambda tx: tx.alerts.move_state("a", 0, _alert_state("firing", 2))),  # moved already
        attempt(s, lambda tx: tx.alerts.move_state("b", 3, _alert_state("firing", 2))),  # no row: version 0
        attempt(s, lambda tx: tx.alerts.move_state("a", 1, _alert_state("ok", 3))),
        attempt(s, lambda tx: tx.alerts.move_state("a", 2, _alert_state("bogus", 4))),  # CHECK
        attempt(s, lambda tx: tx.alerts.states()),
        attempt(
            s,
            lambda tx: tx.alerts.insert_event({**event, "id": "alev_1", "state": "firing", "sent_at": at(1)}),
        ),
        attempt(
            s,
            lambda tx: tx.alerts.insert_event(
                {**event, "id": "alev_2", "state": "resolved", "sent_at": at(3)}
            ),
        ),
        attempt(
            s, lambda tx: tx.alerts.insert_event({**event, "id": "alev_3", "state": "nope", "sent_at": at(4)})
        ),
        attempt(s, lambda tx: tx.alerts.events(None, 10)),
        attempt(s, lambda tx: tx.alerts.events("a", 1)),
        attempt(s, lambda tx: tx.alerts.events("b", 10)),
        attempt(s, lambda tx: tx.alerts.queue_backlog(at(0))),
    ]


@scenario
def queue_depth(s: Storage) -> list[Any]:
    """The dashboard's queue: open jobs by queue state, and the oldest due."""
    s.transaction(lambda tx: tx.leads.insert_leads([lead_row("lead_1")]))
    jobs = [
        job_row("job_1", "lead_1", now=at(0), run_at=at(1)),
        job_row("job_2", "lead_1", now=at(0), run_at=at(3)),
        job_row("job_3", "lead_1", now=at(0), run_at=at(9)),
        job_row("job_4", "lead_1", now=at(0), queue_state=QueueState.CLAIMED),
        job_row("job_5", "lead_1", now=at(0), queue_state=QueueState.WAITING),
        job_row("job_6", "lead_1", now=at(0), queue_state=QueueState.DONE),
    ]
    return [
        attempt(s, lambda tx: tx.dashboard.queue_depth(at(5))),
        attempt(s, lambda tx: tx.jobs.insert_jobs(jobs)),
        attempt(s, lambda tx: tx.dashboard.queue_depth(at(5))),
        attempt(s, lambda tx: tx.dashboard.queue_depth(at(0))),
    ]


def _bid(bid_id: str, partner: str, status: str, minutes: float, duration_ms: float | None) -> dict[str, Any]:
    return {
        "id": bid_id,
        "job_id": "job_1",
        "lead_id": "lead_1",
        "partner": partner,
        "profile": "main",
        "rule": None,
        "status": status,
        "price": None,
        "floor": None,
        "reference": None,
        "reason": None,
        "duration_ms": duration_ms,
        "rank": None,
        "margin": None,
        "delivery_id": None,
        "is_test": False,
        "created_at": at(minutes),
    }


@scenario
def ping_observations(s: Storage) -> list[Any]:
    """The pings a partner's health counts: stored bids with a duration (post-only offers have none)."""
    rows = [
        _bid("bid_1", "acme", "accepted", 1, 40.0),
        _bid("bid_2", "acme", "timeout", 2, 750.0),
        _bid("bid_3", "beta", "error", 3, 5.0),
        _bid("bid_4", "acme", "accepted", 4, None),  # a post-only partner's list price
        _bid("bid_5", "acme", "refused", 5, 30.0),
    ]
    return [
        attempt(s, lambda tx: tx.deliveries.insert_bids(rows)),
        attempt(s, lambda tx: tx.deliveries.ping_observations(at(0))),
        attempt(s, lambda tx: tx.deliveries.ping_observations(at(2), "acme")),
        attempt(s, lambda tx: tx.deliveries.ping_observations(at(0), limit=2)),
        attempt(s, lambda tx: tx.deliveries.ping_observations(at(6))),
    ]


# ---------------------------------------------------------------- scenarios: configuration and credentials


@scenario
def configuration_objects_and_audit(s: Storage) -> list[Any]:
    return [
        attempt(s, lambda tx: tx.config.config_version()),
        attempt(s, lambda tx: [tx.config.bump_version(), tx.config.bump_version()]),
        attempt(s, lambda tx: tx.config.config_version()),
        attempt(
            s, lambda tx: tx.config.put_object("partner", "zeta", {"url": "https://z", "n": (1,)}, at(1))
        ),
        attempt(s, lambda tx: tx.config.put_object("partner", "acme", {"url": "https://a"}, at(1))),
        attempt(s, lambda tx: tx.config.put_object("entity", "solar", {"fields": {"email": "email"}}, at(1))),
        attempt(s, lambda tx: tx.config.put_object("partner", "acme", {"url": "https://b"}, at(2))),
        attempt(s, lambda tx: tx.config.load_objects()),
        attempt(
            s, lambda tx: [tx.config.delete_object("partner", "zeta"), tx.config.delete_object("x", "y")]
        ),
        attempt(s, lambda tx: tx.config.load_objects()),
        attempt(
            s,
            lambda tx: tx.config.audit(
                actor="admin", action="put", object_kind="partner", object_id="acme", at=at(2), reason="why"
            ),
        ),
        attempt(
            s,
            lambda tx: tx.config.audit(
                actor="cli",
                action="delete",
                object_kind="partner",
                object_id="zeta",
                at=at(3),
                detail={"a": 1},
            ),
        ),
    ]


@scenario
def api_keys(s: Storage) -> list[Any]:
    def add(tx: Tx) -> Any:
        first = tx.credentials.add_api_key("web", "key-aaaaaaaaaaaa", at(1))
        second = tx.credentials.add_api_key("web", "key-bbbbbbbbbbbb", at(2))
        third = tx.credentials.add_api_key("partner-feed", "key-cccccccccccc", at(1))
        again = tx.credentials.add_api_key("partner-feed", "key-aaaaaaaaaaaa", at(3))  # stored: its id
        found = tx.credentials.find_api_key("key-aaaaaaaaaaaa")
        assert found is not None
        return [again == first, found.id == first, len({first, second, third})]

    def revoke_one(tx: Tx) -> Any:
        found = tx.credentials.find_api_key("key-bbbbbbbbbbbb")
        assert found is not None
        return [
            tx.credentials.revoke_api_keys("web", at(4), found.id) == [found.id],
            tx.credentials.revoke_api_keys("partner-feed", at(4), found.id),  # not that source's
        ]

    def used(tx: Tx) -> Any:
        ids = [row.id for row in tx.credentials.list_api_keys("web")]
        tx.credentials.record_last_use("key", ids, at(6))
        tx.credentials.record_last_use("key", ids, at(5))  # late: never moves back
        tx.credentials.record_last_use("key", [], at(7))
        return len(ids)

    def masked(rows: Any) -> Any:
        return [{**row._mapping, "id": "<id>"} for row in rows]

    return [
        attempt(s, add),
        attempt(s, lambda tx: [tx.credentials.source_for_key(k) for k in ("key-aaaaaaaaaaaa", "nope")]),
        attempt(s, lambda tx: masked(tx.credentials.list_api_keys("web"))),
        attempt(s, revoke_one),
        attempt(s, lambda tx: tx.credentials.source_for_key("key-bbbbbbbbbbbb")),
        attempt(s, used),
        attempt(s, lambda tx: len(tx.credentials.revoke_api_keys("web", at(8)))),
        attempt(s, lambda tx: tx.credentials.revoke_api_keys("web", at(9))),
        attempt(s, lambda tx: masked([tx.credentials.find_api_key("key-aaaaaaaaaaaa")])),
        attempt(s, lambda tx: tx.credentials.find_api_key("nope")),
        attempt(s, lambda tx: masked(tx.credentials.list_api_keys("web"))),
    ]


@scenario
def partner_keys(s: Storage) -> list[Any]:
    """A partner's keys beside a source's of the same name: each kind sees, lists and revokes its own."""

    def add(tx: Tx) -> Any:
        source = tx.credentials.add_api_key("sunco", "key-source-sunco", at(1))
        partner = tx.credentials.add_api_key("sunco", "lrp_partner-sunco", at(2), owner_kind="partner")
        other = tx.credentials.add_api_key("voltedge", "lrp_partner-volt", at(2), owner_kind="partner")
        again = tx.credentials.add_api_key("sunco", "lrp_partner-sunco", at(3))  # stored: its id, its kind
        return [again == partner, len({source, partner, other})]

    def masked(rows: Any) -> Any:
        return [{**row._mapping, "id": "<id>"} for row in rows]

    def revoke(tx: Tx) -> Any:
        found = tx.credentials.find_api_key("lrp_partner-sunco")
        assert found is not None
        return [
            tx.credentials.revoke_api_keys("sunco", at(4), found.id),  # not a source's key
            tx.credentials.revoke_api_keys("sunco", at(4), found.id, owner_kind="partner") == [found.id],
        ]

    return [
        attempt(s, add),
        attempt(
            s,
            lambda tx: [tx.credentials.source_for_key(k) for k in ("key-source-sunco", "lrp_partner-sunco")],
        ),
        attempt(s, lambda tx: masked(tx.credentials.list_api_keys("sunco"))),
        attempt(s, lambda tx: masked(tx.credentials.list_api_keys("sunco", owner_kind="partner"))),
        attempt(s, lambda tx: masked([tx.credentials.find_api_key("lrp_partner-volt")])),
        attempt(s, revoke),
        attempt(s, lambda tx: len(tx.credentials.revoke_api_keys("voltedge", at(5), owner_kind="partner"))),
        attempt(s, lambda tx: masked(tx.credentials.list_api_keys("sunco", owner_kind="partner"))),
        attempt(s, lambda tx: tx.credentials.add_api_key("x", "key-of-nobody-xx", at(6), owner_kind="admin")),
    ]


@scenario
def admin_tokens(s: Storage) -> list[Any]:
    def add(tx: Tx) -> Any:
        ids = [
            tx.credentials.add_admin_token("ops", "tok-one-xxxxxxxx", at(1)),
            # a moment later: two tokens of one instant are listed by id, and ids of one millisecond are
            # in random order
            tx.credentials.add_admin_token("ci", "tok-two-xxxxxxxx", at(1.001), expires_at=at(-5)),
        ]
        found = tx.credentials.find_admin_token("tok-two-xxxxxxxx")
        assert found is not None
        return [found.id == ids[1], len(set(ids))]

    def revoke(tx: Tx) -> Any:
        row = tx.credentials.find_admin_token("tok-one-xxxxxxxx")
        assert row is not None
        return [
            tx.credentials.revoke_admin_token(row.id, at(3)),
            tx.credentials.revoke_admin_token(row.id, at(4)),
        ]

    def used(tx: Tx) -> None:
        ids = [row.id for row in tx.credentials.list_admin_tokens()]
        tx.credentials.record_last_use("token", ids, at(2))

    def masked(rows: Any) -> Any:
        return [{**row._mapping, "id": "<id>"} for row in rows]

    return [
        attempt(s, add),
        # an expired token still names its admin here (the caller checks the expiry)
        attempt(s, lambda tx: [tx.credentials.admin_for_token(t) for t in ("tok-two-xxxxxxxx", "nope")]),
        attempt(s, lambda tx: tx.credentials.add_admin_token("again", "tok-one-xxxxxxxx", at(2))),  # unique
        attempt(s, used),
        attempt(s, revoke),
        attempt(s, lambda tx: tx.credentials.admin_for_token("tok-one-xxxxxxxx")),
        attempt(s, lambda tx: tx.credentials.revoke_admin_token("nope", at(5))),
        attempt(s, lambda tx: masked(tx.credentials.list_admin_tokens())),
        attempt(s, lambda tx: masked([tx.credentials.find_admin_token("tok-one-xxxxxxxx")])),
    ]


# ---------------------------------------------------------------- scenarios: dedup marks and suppression


def _mark(scope: str, key_hash: str, lead_id: str, minutes: float) -> dict[str, Any]:
    return {"scope": scope, "key_hash": key_hash, "lead_id": lead_id, "seen_at": at(minutes)}


@scenario
def dedup_marks(s: Storage) -> list[Any]:
    def put(tx: Tx) -> None:
        tx.dedup.lock_keys([("entity:solar:email", "h1")])
        tx.dedup.put_marks(
            [
                _mark("entity:solar:email", "h1", "lead_1", 1),
                _mark("entity:solar:email", "h2", "lead_1", 1),
                _mark("entity:solar:email", "h1", "lead_2", 2),  # the same key again: the last row wins
                _mark("global:phone", "h1", "lead_3", 3),
                _mark("partner:a_c:email", "h5", "lead_3", 3),
                _mark("partner:abc:email", "h6", "lead_3", 3),  # "_" is not a wildcard
            ]
        )
        tx.dedup.put_marks([])

    def put_then_load_nothing(tx: Tx) -> Any:
        tx.dedup.put_marks([_mark("s", "h", "lead_1", 1)])
        return tx.dedup.load_marks([])

    keys = [("entity:solar:email", "h1"), ("entity:solar:email", "h9"), ("global:phone", "h1")]
    return [
        attempt(s, lambda tx: [tx.dedup.any_marks(), tx.dedup.count_marks()]),
        attempt(s, put),
        attempt(s, lambda tx: tx.dedup.load_marks(keys)),
        attempt(s, lambda tx: tx.dedup.put_marks([_mark("global:phone", "h1", "lead_4", 4)])),  # moves
        attempt(s, lambda tx: tx.dedup.load_marks(keys)),
        attempt(s, lambda tx: tx.dedup.marks_after(None, 2)),
        attempt(s, lambda tx: tx.dedup.marks_after(("entity:solar:email", "h2"), 10)),
        attempt(s, lambda tx: tx.dedup.release_partner_marks("a_c", "lead_3")),
        attempt(s, lambda tx: tx.dedup.count_marks()),
        attempt(s, lambda tx: tx.dedup.forget_leads(["lead_1", "lead_4", "nope"])),
        attempt(s, lambda tx: tx.dedup.drop_marks([("entity:solar:email", "h1"), ("x", "y")])),
        attempt(s, lambda tx: [tx.dedup.any_marks(), tx.dedup.count_marks()]),
        attempt(s, put_then_load_nothing),
    ]


@scenario
def dedup_rekey(s: Storage) -> list[Any]:
    def seed(tx: Tx) -> None:
        tx.dedup.put_marks(
            [
                _mark("e:email", "old1", "lead_1", 1),
                _mark("e:email", "old2", "lead_2", 2),  # moves to new1 too, and is later: it stays
                _mark("e:email", "old3", "lead_3", 3),
                _mark("e:email", "new3", "lead_9", 9),  # already under new3, and later: old3 goes
                _mark("e:email", "old4", "lead_4", 4),
                _mark("e:email", "new4", "lead_0", 0),  # already under new4, but older: it goes
            ]
        )

    def move(tx: Tx) -> None:
        marks = {row.key_hash: row for row in tx.dedup.marks_after(None, 100)}
        tx.dedup.move_marks(
            [
                (marks["old1"], "new1"),
                (marks["old2"], "new1"),
                (marks["old3"], "new3"),
                (marks["old4"], "new4"),
            ]
        )

    return [attempt(s, seed), attempt(s, move), attempt(s, lambda tx: tx.dedup.marks_after(None, 100))]


@scenario
def suppression_lists(s: Storage) -> list[Any]:
    return [
        attempt(s, lambda tx: tx.suppression.create_list("dnc", "phone", "do not call", at(1))),
        attempt(s, lambda tx: tx.suppression.create_list("bounced", "email", None, at(2))),
        attempt(s, lambda tx: tx.suppression.create_list("dnc", "phone", None, at(3))),  # taken
        attempt(s, lambda tx: tx.suppression.add_hashes("dnc", ["a", "b", "a", "c"])),
        attempt(s, lambda tx: tx.suppression.add_hashes("dnc", ["c", "d"])),
        attempt(s, lambda tx: tx.suppression.add_hashes("bounced", iter(["a"]))),
        attempt(s, lambda tx: [tx.suppression.count_entries("dnc"), tx.suppression.count_entries("none")]),
        attempt(s, lambda tx: tx.suppression.get_list("dnc")),
        attempt(s, lambda tx: tx.suppression.get_list("dnc", lock=True, count=False)),
        attempt(s, lambda tx: tx.suppression.get_list("nope")),
        attempt(s, lambda tx: tx.suppression.lists()),
        attempt(s, lambda tx: tx.suppression.listed(["dnc", "bounced"], {"a", "d", "z"})),
        attempt(s, lambda tx: [tx.suppression.listed([], {"a"}), tx.suppression.listed(["dnc"], set())]),
        attempt(s, lambda tx: tx.suppression.remove_hashes("dnc", ["a", "a", "z"])),
        attempt(s, lambda tx: tx.suppression.delete_list("dnc")),
        attempt(s, lambda tx: tx.suppression.delete_list("dnc")),
        attempt(s, lambda tx: tx.suppression.lists()),
    ]


@scenario
def deliveries_waiting_for_a_batch(s: Storage) -> list[Any]:
    def seed(tx: Tx) -> None:
        _seed_jobs(tx)
        batched = DeliveryStatus.BATCHED
        for i, (partner, step, batch_id) in enumerate(
            [
                ("acme", 0, None),
                ("acme", 0, None),
                ("acme", 1, None),
                ("beta", 0, "bat_1"),
                ("gamma", 0, None),
            ]
        ):
            status = DeliveryStatus.PENDING if partner == "gamma" else batched
            row = delivery_row(f"dlv_{i}", "job_1", "lead_1", partner, now=at(i), status=status)
            tx.deliveries.insert_delivery({**row, "channel_step": step, "batch_id": batch_id})

    return [
        attempt(s, seed),
        attempt(s, lambda tx: tx.batches.waiting_channels()),
        attempt(s, lambda tx: [tx.batches.waiting("acme", 0), tx.batches.waiting("acme", 1)]),
        attempt(s, lambda tx: [tx.batches.waiting("beta", 0), tx.batches.waiting("gamma", 0)]),
    ]


# ---------------------------------------------------------------- scenarios: the services' query objects


@scenario
def deferred_writes(s: Storage) -> list[Any]:
    def step(tx: Tx) -> Any:
        w = Writes()
        w.insert_delivery(delivery_row("dlv_9", "job_1", "lead_1", "acme", cap_windows=[["", "d:1"]]))
        w.insert_delivery(delivery_row("dlv_8", "job_2", "lead_2", "beta", status=DeliveryStatus.HELD))
        w.insert_attempt(attempt_row("att_1", "dlv_9", "job_1", 1, outcome="error", status_code=503))
        w.update_delivery("dlv_9", status=DeliveryStatus.RETRY, attempts=1, next_attempt_at=at(2))
        w.update_delivery("dlv_9", reason="HTTP 503")  # merged into the same row's update
        w.update_delivery("nope", reason="no such row")
        w.update_job("job_1", status=JobStatus.DELIVERING, trace=["a", ("b", 1)], updated_at=at(1))
        w.update_job("job_2", status=JobStatus.HELD, queue_state=QueueState.DONE, finished_at=at(1))
        w.update_job("job_3", status=JobStatus.UNSOLD, queue_state=QueueState.DONE, error="none")
        w.refresh_lead("lead_2")
        w.refresh_lead("lead_1")
        w.refresh_lead("nope")
        w.flush(tx, at(1))
        return [w.jobs, w.new_deliveries, w.leads]  # empty again

    def bad_column(tx: Tx) -> None:
        w = Writes()
        w.update_job("job_1", no_such_column=1)
        w.flush(tx, at(2))

    def bad_status(tx: Tx) -> None:
        w = Writes()
        w.update_delivery("dlv_9", status="lost")
        w.flush(tx, at(2))

    def nothing(tx: Tx) -> None:
        Writes().flush(tx, at(3))

    return [
        attempt(s, _seed_jobs),
        attempt(s, step),
        attempt(s, bad_column),
        attempt(s, bad_status),
        attempt(s, nothing),
        attempt(s, lambda tx: [tx.leads.get_lead("lead_1"), tx.leads.get_lead("lead_2")]),
        attempt(s, lambda tx: tx.deliveries.deliveries_of(["job_1", "job_2"])),
    ]


@scenario
def held_deliveries(s: Storage) -> list[Any]:
    held = DeliveryStatus.HELD

    def seed(tx: Tx) -> None:
        _seed_jobs(tx)
        for row in (
            delivery_row("dlv_3", "job_1", "lead_1", "acme", status=held, held_at=at(2), reason="down"),
            delivery_row("dlv_1", "job_2", "lead_2", "beta", status=held, held_at=at(2)),
            delivery_row("dlv_2", "job_3", "lead_1", "acme", status=held, held_at=at(1)),
            delivery_row("dlv_4", "job_3", "lead_1", "gamma"),  # pending
            delivery_row("dlv_5", "job_5", "lead_gone", "acme", status=held, held_at=at(0)),  # no lead
        ):
            tx.deliveries.insert_delivery(row)

    def release(tx: Tx) -> Any:
        return [
            tx.holds.update_held(
                "dlv_3", status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=at(5), held_at=None
            ),
            tx.holds.update_held("dlv_3", status=DeliveryStatus.PENDING),  # not held any more
            tx.holds.update_held("dlv_4", reason="x"),  # pending: not held
            tx.holds.update_held("nope", reason="x"),
        ]

    return [
        attempt(s, seed),
        attempt(s, lambda tx: tx.holds.held(None, 100)),
        attempt(s, lambda tx: tx.holds.held("acme", 100)),
        attempt(s, lambda tx: tx.holds.held(None, 2)),
        attempt(s, lambda tx: [tx.holds.delivery("dlv_4"), tx.holds.delivery("nope")]),
        attempt(s, release),
        attempt(s, lambda tx: tx.holds.update_held("dlv_1", no_such_column=1)),
        attempt(s, lambda tx: tx.holds.held(None, 100)),
    ]


@scenario
def erasure_statements(s: Storage) -> list[Any]:
    def seed(tx: Tx) -> None:
        tx.leads.insert_leads(
            [
                lead_row("lead_3", data={"email": "Ann@Example.com", "phone": "+15125551212"}, sealed="s"),
                lead_row("lead_1", data={"email": "bob@example.com", "phone": "+15125551212;ext=7"}),
                lead_row("lead_2", data={"email": "ann@example.com", "n": 5}, created_at=at(-60)),
                lead_row("lead_4", entity="roofing", data={"email": "ann@example.com"}, flags={"a": 1}),
                lead_row("lead_5", data={"email": "ann@example.com"}, erased_at=at(-1), created_at=at(-90)),
            ]
        )
        tx.jobs.insert_jobs(
            [
                job_row("job_1", "lead_1", trace=["ann", "x"], error="e"),
                job_row("job_2", "lead_1", status=JobStatus.DELIVERING, queue_state=QueueState.WAITING),
                job_row("job_3", "lead_1", status=JobStatus.DELIVERED, queue_state=QueueState.DONE),
                job_row("job_4", "lead_3"),
                job_row(  # a worker is posting it
                    "job_5",
                    "lead_1",
                    status=JobStatus.DELIVERING,
                    queue_state=QueueState.CLAIMED,
                    lease_owner="w1",
                    lease_until=at(9),
                ),
            ]
        )
        tx.deliveries.insert_delivery(delivery_row("dlv_1", "job_1", "lead_1", "acme", reason="ann said no"))
        batched = DeliveryStatus.BATCHED
        tx.deliveries.insert_delivery(delivery_row("dlv_2", "job_2", "lead_1", "beta", status=batched))
        held = DeliveryStatus.HELD
        tx.deliveries.insert_delivery(delivery_row("dlv_3", "job_3", "lead_1", "gamma", status=held))
        retry = DeliveryStatus.RETRY
        tx.deliveries.insert_delivery(delivery_row("dlv_4", "job_5", "lead_1", "delta", status=retry))
        tx.deliveries.insert_attempt(attempt_row("att_2", "dlv_1", "job_1", 1, reason="ann"))
        tx.deliveries.insert_attempt(attempt_row("att_1", "dlv_1", "job_1", 2))
        tx.deliveries.insert_attempt(attempt_row("att_3", "dlv_9", "job_4", 1))

    email = [FieldMatch("email", "ANN@example.com", "equal_ignoring_case")]
    phone = [FieldMatch("phone", "+15125551212"), FieldMatch("phone", "+15125551212;ext=", "prefix")]

    def finish(tx: Tx) -> None:
        open_ = [JobStatus.RECEIVED, JobStatus.ROUTING]
        tx.erasure.finish_lead_jobs(
            "lead_1",
            statuses=open_,
            queue_states=[QueueState.READY, QueueState.CLAIMED],
            status=JobStatus.UNSOLD,
            queue_state=QueueState.DONE,
            error="personal data erased",
            now=at(3),
        )
        tx.erasure.finish_job(
            "job_2",
            statuses=[JobStatus.DELIVERING],
            queue_states=[QueueState.WAITING],
            status=JobStatus.DELIVERED,
            queue_state=QueueState.DONE,
            error=None,
            now=at(4),
        )
        tx.erasure.finish_job(  # taken from its worker: the lease ends
            "job_5",
            statuses=[JobStatus.DELIVERING],
            queue_states=[QueueState.READY, QueueState.CLAIMED, QueueState.WAITING, QueueState.DONE],
            status=JobStatus.UNSOLD,
            queue_state=QueueState.DONE,
            error="personal data erased",
            now=at(4),
        )
        tx.erasure.finish_job(  # not in those states: unchanged
            "job_4",
            statuses=[JobStatus.DELIVERING],
            queue_states=[QueueState.READY],
            status=JobStatus.UNSOLD,
            queue_state=QueueState.DONE,
            error=None,
            now=at(4),
        )

    def erase(tx: Tx) -> None:
        tx.erasure.set_job_texts("job_1", ["***", "x"], None)
        tx.erasure.erase_attempt("att_2", "*** said")
        tx.erasure.erase_attempt("nope", None)
        tx.erasure.blank_leads(["lead_1", "lead_3", "nope"], at(5))

    def sort(rows: list[Any]) -> list[Any]:  # a join's order is the planner's
        return sorted(rows, key=lambda r: r.id)

    held, retry = DeliveryStatus.HELD, DeliveryStatus.RETRY

    return [
        attempt(s, seed),
        attempt(s, lambda tx: tx.erasure.unerased_leads(["lead_5", "lead_3", "lead_1", "nope"])),
        attempt(s, lambda tx: sorted(tx.erasure.leads_matching("solar", email))),
        attempt(s, lambda tx: sorted(tx.erasure.leads_matching("solar", phone))),
        attempt(s, lambda tx: sorted(tx.erasure.leads_matching("solar", [FieldMatch("n", "5")]))),
        attempt(s, lambda tx: tx.erasure.leads_matching("solar", [])),
        attempt(s, lambda tx: tx.erasure.leads_received_before(at(0), 10)),
        attempt(s, lambda tx: tx.erasure.leads_received_before(at(1), 2)),
        attempt(s, lambda tx: sort(tx.erasure.job_texts("lead_1"))),
        attempt(s, lambda tx: sort(tx.erasure.attempt_reasons("lead_1"))),
        attempt(s, lambda tx: sort(tx.erasure.delivery_reasons("lead_1"))),
        attempt(s, lambda tx: tx.erasure.lead_deliveries("lead_1", [DeliveryStatus.BATCHED])),
        attempt(
            s, lambda tx: sort(tx.erasure.lead_deliveries("lead_1", [held, retry, DeliveryStatus.PENDING]))
        ),
        attempt(s, lambda tx: tx.erasure.lead_deliveries("lead_1", [])),
        attempt(s, lambda tx: tx.erasure.lead_deliveries("lead_3", [DeliveryStatus.BATCHED])),
        attempt(s, finish),
        attempt(s, erase),
        attempt(s, lambda tx: tx.erasure.unerased_leads(["lead_1", "lead_2", "lead_3"])),
        attempt(s, lambda tx: tx.suppression_names.list_names()),
        attempt(s, lambda tx: tx.suppression.create_list("dnc", "phone", None, at(1))),
        attempt(s, lambda tx: tx.suppression_names.list_names()),
    ]


# ---------------------------------------------------------------- scenarios: user-choice offers


def offer_row(offer_id: str, job_id: str, place: int, **overrides: Any) -> dict[str, Any]:
    row = {
        "id": offer_id,
        "job_id": job_id,
        "lead_id": "lead_1",
        "partner": f"p{place}",
        "place": place,
        "display_name": f"Partner {place}",
        "logo_url": None,
        "price": 10.0 * place,
        "show_price": place == 1,
        "status": "open",
        "expires_at": at(10),
        "selected_at": None,
        "expired_at": None,
        "delivery_id": None,
        "created_at": at(0),
    }
    return row | overrides


@scenario
def offers_in_order_and_their_expiry(s: Storage) -> list[Any]:
    rows = [
        offer_row("ofr_9", "job_1", 1),  # ids are not the order: the place is
        offer_row("ofr_2", "job_1", 2, logo_url="https://x.example/l.png"),
        offer_row("ofr_5", "job_2", 1, expires_at=at(5)),
        offer_row("ofr_6", "job_2", 2, expires_at=at(5), status="expired", expired_at=at(1)),
        offer_row("ofr_7", "job_3", 1, lead_id="lead_2", expires_at=at(3)),
    ]
    return [
        attempt(s, lambda tx: tx.deliveries.insert_offers(rows)),
        attempt(s, lambda tx: tx.deliveries.insert_offers([])),
        attempt(s, lambda tx: tx.deliveries.insert_offers([offer_row("ofr_1", "job_1", 3, status="lost")])),
        attempt(s, lambda tx: tx.deliveries.insert_offers([offer_row("ofr_9", "job_1", 3)])),  # the key
        attempt(s, lambda tx: tx.deliveries.offers_of("job_1")),
        attempt(s, lambda tx: tx.deliveries.offers_of("nope")),
        attempt(s, lambda tx: tx.deliveries.lead_offers("lead_1")),
        attempt(s, lambda tx: tx.deliveries.get_offer("ofr_2")),
        attempt(s, lambda tx: tx.deliveries.get_offer("nope")),
        attempt(s, lambda tx: tx.deliveries.jobs_with_expired_offers(at(2), 10)),
        attempt(s, lambda tx: tx.deliveries.jobs_with_expired_offers(at(5), 10)),
        attempt(s, lambda tx: tx.deliveries.jobs_with_expired_offers(at(20), 10)),
        attempt(s, lambda tx: tx.deliveries.jobs_with_expired_offers(at(20), 2)),
        attempt(s, lambda tx: tx.deliveries.any_expired_offer(at(2))),
        attempt(s, lambda tx: tx.deliveries.any_expired_offer(at(3))),  # ofr_7's last instant
        attempt(s, lambda tx: tx.deliveries.update_offer("ofr_5", status="selected", selected_at=at(4))),
        attempt(s, lambda tx: tx.deliveries.update_offer("ofr_7", status="gone")),  # CHECK
        attempt(s, lambda tx: tx.deliveries.jobs_with_expired_offers(at(20), 10)),
        attempt(s, lambda tx: tx.deliveries.update_offer("ofr_7", status="expired", expired_at=at(4))),
        attempt(s, lambda tx: tx.deliveries.any_expired_offer(at(9))),  # ofr_6 expired, ofr_5 selected
        attempt(s, lambda tx: tx.deliveries.any_expired_offer(at(10))),  # ofr_9 and ofr_2 now
    ]


@scenario
def relays_due_claimed_and_taken_over(s: Storage) -> list[Any]:
    """The postback relay's cheap read (``any_due``) agrees with what a claim takes: a ready event due,
    or one whose sender's lease ran out."""
    return [
        attempt(s, lambda tx: tx.relays.any_due(at(1))),
        attempt(s, lambda tx: tx.relays.insert(relay_row("pbo_1", "dlv_1", "sold", at(1)))),
        attempt(s, lambda tx: tx.relays.insert(relay_row("pbo_2", "dlv_1", "converted", at(5)))),
        attempt(s, lambda tx: tx.relays.any_due(at(0))),
        attempt(s, lambda tx: tx.relays.any_due(at(1))),
        attempt(s, lambda tx: [r.id for r in tx.relays.claim("a", 10, at(1), at(2))]),
        attempt(s, lambda tx: tx.relays.any_due(at(1))),  # pbo_1 is a's; pbo_2 not due yet
        attempt(s, lambda tx: tx.relays.any_due(at(3))),  # a's lease ran out
        attempt(s, lambda tx: tx.relays.finish("pbo_1", "a", "sent", attempts=1)),
        attempt(s, lambda tx: tx.relays.any_due(at(3))),
        attempt(s, lambda tx: tx.relays.any_due(at(5))),
    ]


# ---------------------------------------------------------------- scenarios: the ledger


@scenario
def ledger_entries_balances_and_sale_facts(s: Storage) -> list[Any]:
    from decimal import Decimal

    from leadrelay.domain.ledger import Entry, EntryKind, Party

    def entry(i: int, kind: EntryKind, party_kind: Party, party: str, amount: str, **kw: Any) -> Entry:
        return Entry(f"led_{i}", at(i), kind, party_kind, party, Decimal(amount), "USD", "system", **kw)

    sale = entry(1, EntryKind.SALE, Party.PARTNER, "sunco", "25.00", lead_id="lead_1", delivery_id="dlv_1")
    payout = entry(2, EntryKind.PAYOUT, Party.SOURCE, "web", "-10.00", lead_id="lead_1", delivery_id="dlv_1")
    undo = entry(
        3, EntryKind.CANCELLATION, Party.PARTNER, "sunco", "-25.00", lead_id="lead_1", reverses="led_1"
    )
    top = entry(4, EntryKind.TOPUP, Party.PARTNER, "acme", "-100.00", memo="wire")
    again = entry(5, EntryKind.CANCELLATION, Party.PARTNER, "sunco", "-25.00", reverses="led_1")
    return [
        attempt(s, lambda tx: tx.ledger.post([sale, payout])),
        attempt(s, lambda tx: tx.ledger.post([undo, top])),
        attempt(s, lambda tx: tx.ledger.post([again])),  # an entry is undone once
        attempt(s, lambda tx: tx.ledger.post([sale])),  # its id is taken
        attempt(s, lambda tx: tx.ledger.post([])),
        attempt(s, lambda tx: tx.ledger.entries()),
        attempt(s, lambda tx: tx.ledger.entries(lead_ids=["lead_1"], party_kind=Party.PARTNER)),
        attempt(s, lambda tx: tx.ledger.entries(delivery_ids=["dlv_1"], kinds=[EntryKind.PAYOUT])),
        attempt(s, lambda tx: tx.ledger.entries(party="sunco", since=at(2), until=at(4))),
        attempt(s, lambda tx: tx.ledger.entries(limit=2)),
        attempt(s, lambda tx: tx.ledger.balances(Party.PARTNER)),
        attempt(s, lambda tx: tx.ledger.balances(Party.PARTNER, ["sunco", "nobody"])),
        attempt(s, lambda tx: tx.ledger.balances(Party.SOURCE)),
        attempt(s, lambda tx: tx.ledger.sale_facts(["nope"])),
    ]


def return_row(return_id: str, delivery_id: str, lead_id: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": return_id,
        "delivery_id": delivery_id,
        "lead_id": lead_id,
        "job_id": "job_1",
        "partner": "sunco",
        "reason": "duplicate",
        "note": None,
        "status": "requested",
        "auto": False,
        "delivered_at": at(1),
        "requested_at": at(2),
        "requested_by": "partner:sunco",
    }
    return {**row, **values}


@scenario
def returns_and_their_rate_figures(s: Storage) -> list[Any]:
    def seed(tx: Tx) -> None:
        tx.leads.insert_leads([lead_row("lead_1"), lead_row("lead_2"), lead_row("lead_t", is_test=True)])
        tx.jobs.insert_jobs(
            [job_row("job_1", "lead_1"), job_row("job_2", "lead_2"), job_row("job_t", "lead_t")]
        )
        for row in (
            delivery_row("dl_1", "job_1", "lead_1", "sunco", status="delivered", delivered_at=at(1)),
            delivery_row("dl_2", "job_2", "lead_2", "sunco", status="delivered", delivered_at=at(3)),
            delivery_row("dl_3", "job_2", "lead_2", "volt", status="delivered", delivered_at=at(3)),
            delivery_row("dl_4", "job_1", "lead_1", "sunco", now=at(1), status="failed"),
            delivery_row("dl_t", "job_t", "lead_t", "sunco", status="delivered", delivered_at=at(1)),
        ):
            tx.deliveries.insert_delivery(row)

    return [
        attempt(s, seed),
        attempt(s, lambda tx: tx.returns.insert(return_row("ret_1", "dl_1", "lead_1"))),
        attempt(s, lambda tx: tx.returns.insert(return_row("ret_2", "dl_1", "lead_1"))),  # one per delivery
        attempt(
            s, lambda tx: tx.returns.insert(return_row("ret_3", "dl_9", "lead_9", status="lost"))
        ),  # CHECK
        attempt(
            s,
            lambda tx: tx.returns.insert(
                return_row("ret_4", "dl_2", "lead_2", job_id="job_2", delivered_at=at(3), requested_at=at(4))
            ),
        ),
        attempt(s, lambda tx: tx.returns.get("ret_1")),
        attempt(s, lambda tx: tx.returns.get("nope", lock=True)),
        attempt(s, lambda tx: tx.returns.update("ret_4", status="denied", decided_at=at(5), decided_by="x")),
        attempt(s, lambda tx: tx.returns.update("ret_4", status="gone")),  # CHECK
        attempt(s, lambda tx: tx.returns.of_deliveries(["dl_1", "dl_2", "dl_9"])),
        attempt(s, lambda tx: tx.returns.of_deliveries([])),
        attempt(s, lambda tx: tx.returns.of_leads(["lead_2"])),
        attempt(s, lambda tx: tx.returns.find()),
        attempt(s, lambda tx: tx.returns.find(partner="sunco", status=ReturnStatus.DENIED)),
        attempt(s, lambda tx: tx.returns.find(limit=1)),
        attempt(s, lambda tx: tx.returns.deliveries("sunco", lead_id="lead_1")),
        attempt(s, lambda tx: tx.returns.deliveries("sunco", delivery_id="dl_3", lock=True)),
        attempt(s, lambda tx: tx.returns.deliveries("volt", delivery_id="dl_3")),
        attempt(s, lambda tx: tx.returns.rate_figures("sunco", at(0), at(10))),
        attempt(s, lambda tx: tx.returns.rate_figures("sunco", at(0), at(3))),
        attempt(s, lambda tx: tx.returns.rate_figures("volt", at(3), at(4))),
    ]


# ---------------------------------------------------------------- scenarios: invoices


@scenario
def invoices_hold_entries_once_and_count_numbers(s: Storage) -> list[Any]:
    def entry(i: int, kind: EntryKind, amount: str, reverses: str | None = None) -> Entry:
        return Entry(f"led_{i}", at(i), kind, Party.PARTNER, "acme", Decimal(amount), "USD", "t", "lead_1",
                     "dlv_1", reverses)  # fmt: skip

    def seed(tx: Tx) -> None:
        tx.leads.insert_leads([lead_row("lead_1")])
        tx.jobs.insert_jobs([job_row("job_1", "lead_1")])
        tx.deliveries.insert_delivery(delivery_row("dlv_1", "job_1", "lead_1", "acme", price=7))
        tx.ledger.post([entry(1, EntryKind.SALE, "7.00"), entry(2, EntryKind.CREDIT, "-1.50"),
                        entry(3, EntryKind.SALE, "2.00")])  # fmt: skip

    period = period_containing(START.date(), Invoicing())

    def draft(tx: Tx) -> Invoice:
        open_ = tx.invoices.open_entries(Party.PARTNER, "acme")
        d = invoice_draft("inv_1", Party.PARTNER, "acme", period, open_, now=at(5), currency="USD", actor="t")
        tx.invoices.insert(d)
        tx.invoices.claim(d.id, [x.entry_id for x in d.lines])
        return d

    def issue(tx: Tx) -> Invoice | None:
        seq = tx.invoices.next_number("INV", 2026)
        got = tx.invoices.get("inv_1")
        assert got is not None
        issued = invoice_issue(got, seq, at(6))
        tx.invoices.set_state(issued)
        tx.invoices.set_invoiced(issued.sold_deliveries, True)
        return tx.invoices.get("inv_1")

    return [
        attempt(s, seed),
        attempt(s, draft),
        attempt(s, lambda tx: tx.invoices.open_entries(Party.PARTNER, "acme")),
        attempt(s, lambda tx: tx.invoices.claim("inv_2", ["led_3", "led_1"])),  # led_1 is held
        attempt(s, lambda tx: tx.invoices.next_number("ST", 2026)),
        attempt(s, issue),
        attempt(s, lambda tx: tx.invoices.next_number("INV", 2026)),
        attempt(s, lambda tx: tx.invoices.find(party_kind=Party.PARTNER, party="acme")),
        attempt(s, lambda tx: tx.invoices.find(status=InvoiceStatus.DRAFT)),
        attempt(s, lambda tx: tx.invoices.find(starts_at=period.starts_at, limit=1)),
        attempt(s, lambda tx: tx.invoices.release("inv_1")),
        attempt(s, lambda tx: tx.invoices.open_entries(Party.PARTNER, "acme")),
        attempt(s, lambda tx: tx.invoices.get("nope")),
    ]


# ---------------------------------------------------------------- the contract


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_fake_answers_as_sqlite(name: str, sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        sql = SqlStorage(db)
        expected = SCENARIOS[name](sql)
        expected_rows = dump(sql)
    finally:
        db.dispose()
    fake: Storage = FakeStorage()
    assert SCENARIOS[name](fake) == expected
    assert dump(fake) == expected_rows


# ---------------------------------------------------------------- rows and schema


def test_fake_rows_behave_like_sqlalchemy_rows(sqlite_url: str) -> None:
    def seed(tx: Tx) -> None:
        tx.leads.insert_leads([lead_row("lead_1")])

    db = Database(sqlite_url)
    try:
        sql = SqlStorage(db)
        sql.transaction(seed)
        real = sql.read(lambda tx: tx.leads.get_lead("lead_1"))
    finally:
        db.dispose()
    fake = FakeStorage()
    fake.transaction(seed)
    got = fake.read(lambda tx: tx.leads.get_lead("lead_1"))
    assert got is not None and real is not None
    assert got._fields == real._fields
    assert got._asdict() == real._asdict()
    assert tuple(got) == tuple(real) and got == tuple(real) and len(got) == len(real)
    assert got[0] == real[0] == "lead_1" and got.status == real.status
    for row in (got, real):
        with pytest.raises(AttributeError):
            row.status = "x"
        with pytest.raises(AttributeError):
            _ = row.no_such_column


def _kind(column: Any) -> Kind:
    kinds: list[tuple[type[Any], Kind]] = [
        (sql_tables.UTCDateTime, "time"),
        (sql_tables.Cents, "money"),
        (JSON, "json"),
        (Boolean, "bool"),
        (Float, "float"),
        (BigInteger, "int"),
        (Integer, "int"),
        (Text, "str"),
        (String, "str"),
    ]
    return next(kind for cls, kind in kinds if isinstance(column.type, cls))


@pytest.mark.parametrize("name", list(TABLES))
def test_the_fake_schema_is_the_metadata(name: str) -> None:
    table = sql_metadata.tables[name]
    spec = TABLES[name]
    expected = tuple(
        Col(c.name, _kind(c), bool(c.nullable), getattr(c.default, "arg", None)) for c in table.columns
    )
    assert spec.columns == expected
    assert spec.key == tuple(c.name for c in table.primary_key.columns)
    unique = {tuple(c.name for c in k.columns) for k in table.constraints if isinstance(k, UniqueConstraint)}
    unique |= {(c.name,) for c in table.columns if c.unique}
    assert set(spec.unique) == unique
    checks = {k.name for k in table.constraints if k.name and str(k.name).startswith("ck_")}
    assert {f"ck_{name}_{column}" for column in (*spec.states, *spec.checks)} == checks
