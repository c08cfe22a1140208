"""The fakes' copy of the schema of ``leadrelay.adapters.db.schema``: each table's columns (with the kind of
value they hold, whether they may be NULL and the default of an omitted column), its key, its unique
constraints and its state columns. ``tests/unit/test_fakes_contract.py`` keeps it equal to the SQLAlchemy
metadata, so the fakes need not import SQLAlchemy.

Batches and the key tables (``data_keys``, ``installation_secrets``) are left out: nothing fakes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from leadrelay.domain.after_sale_states import DeliveryOutcome, RelayStatus, ReturnStatus
from leadrelay.domain.alerts import AlertState, EventState
from leadrelay.domain.budgets import HoldKind
from leadrelay.domain.health import BreakerState
from leadrelay.domain.invoices import InvoiceStatus, PeriodKind
from leadrelay.domain.ledger import EntryKind, Party
from leadrelay.domain.ping import BidStatus
from leadrelay.domain.reports import COUNTERS
from leadrelay.domain.states import DeliveryStatus, JobStatus, KeyOwner, LeadStatus, OfferStatus, QueueState

Kind = Literal["str", "int", "float", "bool", "json", "time", "money"]


@dataclass(frozen=True, slots=True)
class Col:
    name: str
    kind: Kind
    nullable: bool = True
    default: Any = None  # what an INSERT that omits the column stores


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    columns: tuple[Col, ...]
    key: tuple[str, ...]
    unique: tuple[tuple[str, ...], ...] = ()
    states: Mapping[str, type[StrEnum]] = field(default_factory=dict)
    checks: tuple[str, ...] = ()  # other CHECK constraints, by name (the fakes' writers keep them)

    def column(self, name: str) -> Col:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(col.name for col in self.columns)


def _s(name: str, *, null: bool = True) -> Col:
    return Col(name, "str", null)


def _t(name: str, *, null: bool = True) -> Col:
    return Col(name, "time", null)


def _j(name: str, *, null: bool = True) -> Col:
    return Col(name, "json", null)


def _i(name: str, *, null: bool = True, default: int | None = None) -> Col:
    return Col(name, "int", null, default)


def _flag(name: str) -> Col:
    return Col(name, "bool", False, False)


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "config_objects",
            (
                _s("kind", null=False),
                _s("name", null=False),
                _j("doc", null=False),
                _t("updated_at", null=False),
            ),
            key=("kind", "name"),
        ),
        TableSpec("config_meta", (_i("id", null=False), _i("version", null=False)), key=("id",)),
        TableSpec(
            "api_keys",
            (
                _s("id", null=False),
                _s("owner_kind", null=False),
                _s("owner", null=False),
                _s("key_hash", null=False),
                _s("prefix", null=False),
                _t("created_at", null=False),
                _t("revoked_at"),
                _t("last_used_at"),
            ),
            key=("id",),
            unique=(("key_hash",),),
            states={"owner_kind": KeyOwner},
        ),
        TableSpec(
            "admin_tokens",
            (
                _s("id", null=False),
                _s("name", null=False),
                _s("token_hash", null=False),
                _t("created_at", null=False),
                _t("revoked_at"),
                _t("expires_at"),
                _t("last_used_at"),
                _s("role", null=False),
            ),
            key=("id",),
            unique=(("token_hash",),),
        ),
        TableSpec(
            "leads",
            (
                _s("id", null=False),
                _s("entity", null=False),
                _s("source", null=False),
                _s("status", null=False),
                _j("data", null=False),
                _j("raw", null=False),
                _j("problems"),
                _j("flags"),
                _s("sealed"),
                _s("duplicate_of"),
                _t("erased_at"),
                _s("idempotency_key"),
                _s("request_hash"),
                _i("answer_code"),
                _j("answer"),
                _flag("is_test"),
                _t("created_at", null=False),
                _t("updated_at", null=False),
            ),
            key=("id",),
            unique=(("source", "idempotency_key"),),
            states={"status": LeadStatus},
        ),
        TableSpec(
            "jobs",
            (
                _s("id", null=False),
                _s("lead_id", null=False),
                _s("profile", null=False),
                _s("kind", null=False),
                _s("status", null=False),
                _s("parent_id"),
                _s("target_partner"),
                _s("rule"),
                _j("trace", null=False),
                _s("error"),
                _j("excluded", null=False),
                _s("queue_state", null=False),
                _t("run_at", null=False),
                _s("lease_owner"),
                _t("lease_until"),
                _i("claims", null=False, default=0),
                _t("created_at", null=False),
                _t("updated_at", null=False),
                _t("finished_at"),
                _t("answer_by"),
            ),
            key=("id",),
            states={"status": JobStatus, "queue_state": QueueState},
        ),
        TableSpec(
            "deliveries",
            (
                _s("id", null=False),
                _s("job_id", null=False),
                _s("lead_id", null=False),
                _s("partner", null=False),
                _s("profile", null=False),
                _s("channel", null=False),
                _i("channel_step", null=False, default=0),
                _s("status", null=False),
                _s("idempotency_key", null=False),
                _i("attempts", null=False, default=0),
                _t("next_attempt_at"),
                _j("cap_windows", null=False),
                Col("price", "float"),
                _s("price_basis"),
                _s("reference"),
                _s("reason"),
                _flag("invoiced"),
                _flag("is_test"),
                _t("created_at", null=False),
                _t("delivered_at"),
                _t("held_at"),
                _t("cancelled_at"),
                _s("cancel_reason"),
                _s("batch_id"),
                _s("ping_reference"),
                _s("redirect_url"),
                _s("outcome"),
            ),
            key=("id",),
            states={"status": DeliveryStatus, "outcome": DeliveryOutcome},
        ),
        TableSpec(
            "attempts",
            (
                _s("id", null=False),
                _s("delivery_id"),  # a lead's attempt: delivery_id and job_id; a batch's: batch_id
                _s("job_id"),
                _s("batch_id"),
                _i("number", null=False),
                _t("started_at", null=False),
                Col("duration_ms", "float", False),
                _j("request"),
                _i("status_code"),
                _s("response_body"),
                _s("outcome", null=False),
                _s("location"),
                _i("bytes"),
                _s("reason"),
            ),
            key=("id",),
            checks=("one_subject",),  # a lead's attempt or a batch's, never both
        ),
        TableSpec(
            "bids",
            (
                _s("id", null=False),
                _s("job_id", null=False),
                _s("lead_id", null=False),
                _s("partner", null=False),
                _s("profile", null=False),
                _s("rule"),
                _s("status", null=False),
                _i("tier", null=False, default=0),
                Col("price", "float"),
                Col("shared_price", "float"),
                Col("floor", "float"),
                _s("reference"),
                _s("reason"),
                Col("duration_ms", "float"),
                _i("rank"),
                Col("margin", "float"),
                _s("delivery_id"),
                _s("sold_as"),
                _flag("superseded"),
                _flag("is_test"),
                _t("started_at", null=False),
                _t("created_at", null=False),
            ),
            key=("id",),
            states={"status": BidStatus},
        ),
        TableSpec(
            "supplier_pings",
            (
                _s("id", null=False),
                _s("source", null=False),
                _s("entity", null=False),
                _j("auctions", null=False),
                Col("price", "float"),
                _j("value_marks"),
                _t("expires_at", null=False),
                _t("used_at"),
                _s("lead_id"),
                _j("payout"),
                _t("created_at", null=False),
            ),
            key=("id",),
        ),
        TableSpec(
            "offers",
            (
                _s("id", null=False),
                _s("job_id", null=False),
                _s("lead_id", null=False),
                _s("partner", null=False),
                _i("place", null=False),
                _s("display_name", null=False),
                _s("logo_url"),
                Col("price", "float"),
                _flag("show_price"),
                _s("status", null=False),
                _t("expires_at", null=False),
                _t("selected_at"),
                _t("expired_at"),
                _s("delivery_id"),
                _flag("superseded"),
                _t("created_at", null=False),
            ),
            key=("id",),
            states={"status": OfferStatus},
        ),
        TableSpec(
            "cap_counters",
            (
                _s("partner", null=False),
                _s("scope", null=False),
                _s("window", null=False),
                _i("used", null=False),
            ),
            key=("partner", "scope", "window"),
        ),
        TableSpec("rotations", (_s("key", null=False), _i("counter", null=False)), key=("key",)),
        TableSpec(
            "partner_availability",
            (
                _s("partner", null=False),
                Col("available", "bool", False, True),
                _s("note"),
                _s("changed_by", null=False),
                _t("changed_at", null=False),
            ),
            key=("partner",),
            checks=("changed_by",),  # never empty: who checked the partner in or out
        ),
        TableSpec(
            "partner_breakers",
            (
                _s("partner", null=False),
                _s("state", null=False),
                _t("opened_at"),
                _t("retry_at"),
                _s("reason"),
                _t("changed_at", null=False),
            ),
            key=("partner",),
            states={"state": BreakerState},
        ),
        TableSpec(
            "audit_log",
            (
                _s("id", null=False),
                _t("at", null=False),
                _s("actor", null=False),
                _s("action", null=False),
                _s("object_kind", null=False),
                _s("object_id", null=False),
                _j("detail", null=False),
                _s("reason"),
            ),
            key=("id",),
        ),
        TableSpec(
            "dedup_marks",
            (
                _s("scope", null=False),
                _s("key_hash", null=False),
                _s("lead_id", null=False),
                _t("seen_at", null=False),
            ),
            key=("scope", "key_hash"),
        ),
        TableSpec(
            "lead_lookup",
            (_s("key_hash", null=False), _s("lead_id", null=False)),
            key=("key_hash", "lead_id"),
        ),
        TableSpec(
            "form_posts",
            (
                _s("source", null=False),
                _s("client", null=False),
                _t("window_start", null=False),
                _i("posts", null=False),
            ),
            key=("source", "client", "window_start"),
        ),
        TableSpec(
            "suppression_lists",
            (_s("name", null=False), _s("kind", null=False), _s("description"), _t("created_at", null=False)),
            key=("name",),
        ),
        TableSpec(
            "suppression_entries",
            (_s("list", null=False), _s("value_hash", null=False)),
            key=("list", "value_hash"),
        ),
        TableSpec(
            "ledger_entries",
            (
                _i("seq", null=False),
                _s("id", null=False),
                _t("at", null=False),
                _s("kind", null=False),
                _s("party_kind", null=False),
                _s("party", null=False),
                Col("amount", "money", False),
                _s("currency", null=False),
                _s("actor", null=False),
                _s("lead_id"),
                _s("delivery_id"),
                _s("reverses"),
                Col("margin", "money"),
                _s("memo"),
            ),
            key=("seq",),
            unique=(("id",), ("reverses",)),
            states={"kind": EntryKind, "party_kind": Party},
        ),
        TableSpec(
            "alert_states",
            (
                _s("alert", null=False),
                _s("state", null=False),
                _t("since"),
                _t("last_fired_at"),
                _s("detail"),
                _i("version", null=False),
            ),
            key=("alert",),
            states={"state": AlertState},
        ),
        TableSpec(
            "alert_events",
            (
                _s("id", null=False),
                _s("alert", null=False),
                _s("state", null=False),
                _s("detail", null=False),
                _t("sent_at", null=False),
                _j("targets", null=False),
                _s("error"),
            ),
            key=("id",),
            states={"state": EventState},
        ),
        TableSpec(
            "postbacks",
            (
                _s("id", null=False),
                _s("delivery_id", null=False),
                _s("lead_id", null=False),
                _s("partner", null=False),
                _s("outcome", null=False),
                _i("revenue_cents"),
                _s("event_id"),
                _s("note"),
                _t("received_at", null=False),
            ),
            key=("id",),
            unique=(("delivery_id", "event_id"),),
            states={"outcome": DeliveryOutcome},
        ),
        TableSpec(
            "outbound_postbacks",
            (
                _s("id", null=False),
                _s("lead_id", null=False),
                _s("source", null=False),
                _s("delivery_id", null=False),
                _s("event", null=False),
                _s("url", null=False),
                _j("body", null=False),
                _s("status", null=False),
                _i("attempts", null=False),
                _t("next_attempt_at"),
                _s("lease_owner"),
                _t("lease_until"),
                _i("last_status_code"),
                _s("last_answer"),
                _s("reason"),
                _t("created_at", null=False),
                _t("sent_at"),
            ),
            key=("id",),
            unique=(("delivery_id", "event"),),
            states={"status": RelayStatus},
        ),
        TableSpec(
            "wallets",
            (
                _s("partner", null=False),
                _i("owed", null=False),
                _i("held", null=False),
                _i("credit_limit"),
                _i("low_balance"),
            ),
            key=("partner",),
        ),
        TableSpec(
            "budget_counters",
            (
                _s("partner", null=False),
                _s("scope", null=False),
                _s("window", null=False),
                _i("spent", null=False),
            ),
            key=("partner", "scope", "window"),
        ),
        TableSpec(
            "money_holds",
            (
                _s("job_id", null=False),
                _s("partner", null=False),
                _s("kind", null=False),
                _s("scope", null=False),
                _s("window", null=False),
                _i("amount", null=False),
            ),
            key=("job_id", "partner", "kind", "scope", "window"),
            states={"kind": HoldKind},
        ),
        TableSpec(
            "returns",
            (
                _s("id", null=False),
                _s("delivery_id", null=False),
                _s("lead_id", null=False),
                _s("job_id", null=False),
                _s("partner", null=False),
                _s("reason", null=False),
                _s("note"),
                _s("status", null=False),
                _flag("auto"),
                _t("delivered_at", null=False),
                _t("requested_at", null=False),
                _s("requested_by", null=False),
                _t("decided_at"),
                _s("decided_by"),
                _s("decision_note"),
                _s("redistributed_as"),
            ),
            key=("id",),
            unique=(("delivery_id",),),
            states={"status": ReturnStatus},
        ),
        TableSpec(
            "invoices",
            (
                _s("id", null=False),
                _s("number"),
                _s("party_kind", null=False),
                _s("party", null=False),
                _s("period", null=False),
                _s("first_day", null=False),
                _s("last_day", null=False),
                _s("timezone", null=False),
                _t("starts_at", null=False),
                _t("ends_at", null=False),
                _s("status", null=False),
                _s("currency", null=False),
                Col("total", "money", False),
                _j("lines", null=False),
                _s("actor", null=False),
                _t("created_at", null=False),
                _t("updated_at", null=False),
                _t("issued_at"),
                _t("paid_at"),
                _t("voided_at"),
                _s("payment_entry"),
            ),
            key=("id",),
            unique=(("number",),),
            states={"party_kind": Party, "period": PeriodKind, "status": InvoiceStatus},
        ),
        TableSpec(
            "invoice_lines", (_s("entry_id", null=False), _s("invoice_id", null=False)), key=("entry_id",)
        ),
        TableSpec(
            "invoice_counters",
            (_s("series", null=False), _i("year", null=False), _i("last", null=False)),
            key=("series", "year"),
        ),
        TableSpec(
            "report_hours",
            (
                _t("hour", null=False),
                *(_s(name, null=False) for name in ("source", "entity", "partner", "profile")),
                *(_i(name, null=False, default=0) for name in COUNTERS),
            ),
            key=("hour", "source", "entity", "partner", "profile"),
        ),
        TableSpec(
            "report_days",
            (
                _t("day", null=False),
                *(_s(name, null=False) for name in ("source", "entity", "partner", "profile")),
                *(_i(name, null=False, default=0) for name in COUNTERS),
            ),
            key=("day", "source", "entity", "partner", "profile"),
        ),
        TableSpec("report_watermark", (_s("name", null=False), _t("rolled_until")), key=("name",)),
    )
}
