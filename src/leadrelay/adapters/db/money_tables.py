"""Money: the ledger, wallets, budgets and holds, returns, invoices, postbacks and the reports' rollup."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from leadrelay.adapters.db.schema_base import ID, NAME, Cents, UTCDateTime, metadata, one_of
from leadrelay.domain.after_sale_states import DeliveryOutcome, RelayStatus, ReturnStatus
from leadrelay.domain.budgets import HoldKind
from leadrelay.domain.invoices import InvoiceStatus, PeriodKind
from leadrelay.domain.ledger import EntryKind, Party
from leadrelay.domain.reports import COUNTERS, LEAD_COUNTERS

# ---------------------------------------------------------------- money (issue 11)

ledger_entries = Table(  # every movement of money, immutable (triggers refuse UPDATE and DELETE)
    "ledger_entries",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", ID, nullable=False, unique=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(16), nullable=False),  # EntryKind
    Column("party_kind", String(8), nullable=False),  # Party: partner | source
    Column("party", NAME, nullable=False),
    Column("amount", Cents, nullable=False),  # + the party owes the operator more; - it is owed more
    Column("currency", String(3), nullable=False),
    Column("actor", String(100), nullable=False),  # system | admin:NAME | partner:NAME | cli
    Column("lead_id", ID, index=True),
    Column("delivery_id", ID, index=True),
    Column("reverses", ID, unique=True),  # the entry a cancellation or return undoes (once)
    Column("margin", Cents),  # a sale's revenue less the payout posted with it; reversed with it
    Column("memo", Text),
    Index("ix_ledger_entries_party_at", "party_kind", "party", "at"),
    Index("ix_ledger_entries_at", "at"),
    one_of("kind", EntryKind),
    one_of("party_kind", Party),
)

# ---------------------------------------------------------------- postbacks (issue 11, point 5)

postbacks = Table(  # every postback a buyer sent that was accepted (append-only)
    "postbacks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("delivery_id", ID, nullable=False, index=True),
    Column("lead_id", ID, nullable=False, index=True),
    Column("partner", NAME, nullable=False),
    Column("outcome", String(16), nullable=False),  # DeliveryOutcome
    Column("revenue_cents", BigInteger),  # the reported revenue in cents (Decimal at the edges)
    Column("event_id", String(200)),  # the buyer's id of the event: a replay carries the same
    Column("note", Text),
    Column("received_at", UTCDateTime, nullable=False, index=True),
    UniqueConstraint("delivery_id", "event_id"),
    one_of("outcome", DeliveryOutcome),
)

outbound_postbacks = Table(  # an event relayed to a lead's source (its postback URL), with its attempts
    "outbound_postbacks",
    metadata,
    Column("id", ID, primary_key=True),  # also the webhook-id: the same on every retry
    Column("lead_id", ID, nullable=False, index=True),
    Column("source", NAME, nullable=False),
    Column("delivery_id", ID, nullable=False),
    Column("event", String(16), nullable=False),  # RelayEvent: sold, contacted, converted, …
    Column("url", Text, nullable=False),
    Column("body", JSON, nullable=False),  # fixed when stored: every retry sends the same
    Column("status", String(16), nullable=False),  # RelayStatus
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime),
    Column("lease_owner", String(128)),
    Column("lease_until", UTCDateTime),
    Column("last_status_code", Integer),
    Column("last_answer", Text),  # the source's last answer (bounded)
    Column("reason", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    UniqueConstraint("delivery_id", "event"),  # one relay of each event of a delivery
    Index("ix_outbound_postbacks_status_next", "status", "next_attempt_at"),
    one_of("status", RelayStatus),
)

# Budgets and wallets (domain.budgets): whole cents (BIGINT), moved by conditional UPDATEs.
wallets = Table(  # one row per partner with ledger entries (its balance), moved with every entry posted
    "wallets",
    metadata,
    Column("partner", NAME, primary_key=True),
    Column("owed", BigInteger, nullable=False),  # the partner's ledger balance, in cents
    Column("held", BigInteger, nullable=False),  # the expected prices of leads routed, not sold yet
    Column("credit_limit", BigInteger),  # NULL: no wallet (nothing is held); 0: prepaid only
    Column("low_balance", BigInteger),  # the configured low-balance threshold (read by alerts)
)

budget_counters = Table(  # money spent per partner, scope and cap window (as cap_counters counts leads)
    "budget_counters",
    metadata,
    Column("partner", NAME, nullable=False),
    Column("scope", NAME, nullable=False),  # "" for the partner's own budget, else the profile
    Column("window", String(32), nullable=False),
    Column("spent", BigInteger, nullable=False),
    PrimaryKeyConstraint("partner", "scope", "window"),
)

money_holds = Table(  # what a job's delivery to a partner holds, given back when it fails
    "money_holds",
    metadata,
    Column("job_id", ID, nullable=False),
    Column("partner", NAME, nullable=False),
    Column("kind", String(8), nullable=False),  # HoldKind: budget | wallet
    Column("scope", NAME, nullable=False),  # a budget's scope ("" for a wallet)
    Column("window", String(32), nullable=False),  # a budget's window ("" for a wallet)
    Column("amount", BigInteger, nullable=False),
    PrimaryKeyConstraint("job_id", "partner", "kind", "scope", "window"),
    one_of("kind", HoldKind),
)

returns = Table(  # a partner's return of a lead it bought (issue 11, point 4); the delivery stays delivered
    "returns",
    metadata,
    Column("id", ID, primary_key=True),
    Column("delivery_id", ID, nullable=False, unique=True),  # one return per delivery
    Column("lead_id", ID, nullable=False, index=True),
    Column("job_id", ID, nullable=False),
    Column("partner", NAME, nullable=False),
    Column("reason", NAME, nullable=False),
    Column("note", Text),
    Column("status", String(16), nullable=False),  # ReturnStatus
    Column("auto", Boolean, nullable=False, default=False),  # approved at once by its reason
    Column("delivered_at", UTCDateTime, nullable=False),  # the delivery's: the rate period it counts in
    Column("requested_at", UTCDateTime, nullable=False),
    Column("requested_by", String(100), nullable=False),  # partner:NAME | admin:NAME | cli:USER
    Column("decided_at", UTCDateTime),
    Column("decided_by", String(100)),
    Column("decision_note", Text),
    Column("redistributed_as", ID),  # the job that sent the lead on after an approval
    Index("ix_returns_partner_delivered_at", "partner", "delivered_at"),
    Index("ix_returns_status_requested_at", "status", "requested_at"),
    one_of("status", ReturnStatus),
)

_LIVE_INVOICE = f"status <> '{InvoiceStatus.VOID.value}'"
"""An invoice that counts: one per party and period (a void one may be issued again)."""

invoices = Table(  # partners' invoices and sources' statements (domain.invoices); lines frozen once issued
    "invoices",
    metadata,
    Column("id", ID, primary_key=True),
    Column("number", String(24), unique=True),  # given at issue: INV-2026-000001, ST-2026-000001
    Column("party_kind", String(8), nullable=False),  # Party: partner (invoice) | source (statement)
    Column("party", NAME, nullable=False),
    Column("period", String(8), nullable=False),  # PeriodKind
    Column("first_day", String(10), nullable=False),  # the period's local days (ISO dates), inclusive
    Column("last_day", String(10), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),  # exclusive
    Column("status", String(8), nullable=False),  # InvoiceStatus
    Column("currency", String(3), nullable=False),
    Column("total", Cents, nullable=False),
    Column("lines", JSON, nullable=False),  # the lines as issued (kept when voided)
    Column("actor", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("issued_at", UTCDateTime),
    Column("paid_at", UTCDateTime),
    Column("voided_at", UTCDateTime),
    Column("payment_entry", ID),  # the ledger entry that paid it
    # one invoice per party and period that is not void (drafted twice at once: one insert fails)
    Index(
        "uq_invoices_live_period",
        "party_kind",
        "party",
        "starts_at",
        unique=True,
        sqlite_where=text(_LIVE_INVOICE),
        postgresql_where=text(_LIVE_INVOICE),
    ),
    one_of("party_kind", Party),
    one_of("period", PeriodKind),
    one_of("status", InvoiceStatus),
)

invoice_lines = Table(  # which invoice holds each ledger entry (an entry is on one invoice at most)
    "invoice_lines",
    metadata,
    Column("entry_id", ID, primary_key=True),
    Column("invoice_id", ID, nullable=False, index=True),
)

invoice_counters = Table(  # the last number issued per series and year (gap-free: taken in the issue)
    "invoice_counters",
    metadata,
    Column("series", String(8), nullable=False),
    Column("year", Integer, nullable=False),
    Column("last", Integer, nullable=False),
    PrimaryKeyConstraint("series", "year"),
)

# the partner portal (issue 12 point 7): one tenant's rows, newest first, by cursor
Index("ix_returns_partner_id", returns.c.partner, returns.c.id)
Index(
    "ix_ledger_entries_party_seq", ledger_entries.c.party_kind, ledger_entries.c.party, ledger_entries.c.seq
)

# ---------------------------------------------------------------- reports (issue 11 point 7)

LEAD_ROWS = "partner = '' AND profile = ''"
"""The rollup rows of the leads' own counters (``domain.reports.LEAD_COUNTERS``), as SQL: a query names it
as it is written here, literally, so that even a generic plan of a prepared statement (PostgreSQL's, after
a few runs) can use ``ix_report_hours_leads``, whose condition it is."""

report_hours = Table(  # the rollup: one UTC hour's counters per source, entity, partner and profile
    "report_hours",
    metadata,
    Column("hour", UTCDateTime, nullable=False),
    Column("source", NAME, nullable=False),  # "": none (a partner's entry without a lead, …)
    Column("entity", NAME, nullable=False),
    Column("partner", NAME, nullable=False),  # "": a lead's own counts, a payout on acceptance
    Column("profile", NAME, nullable=False),
    *(Column(name, BigInteger, nullable=False, default=0, server_default="0") for name in COUNTERS),
    PrimaryKeyConstraint("hour", "source", "entity", "partner", "profile"),
    # the leads' own rows with their counters: the leads per hour (the dashboard's bars) read this index
    # alone, a few rows an hour, not every partner's row of every hour
    Index(
        "ix_report_hours_leads",
        "hour",
        "source",
        "entity",
        "partner",  # (always "": named for SQLite to read the index alone, the condition checked in it)
        "profile",
        *LEAD_COUNTERS,
        sqlite_where=text(LEAD_ROWS),
        postgresql_where=text(LEAD_ROWS),
    ),
)

report_days = Table(  # the same counters per UTC day, summed from report_hours as each day is rolled up
    "report_days",
    metadata,
    Column("day", UTCDateTime, nullable=False),  # midnight UTC
    Column("source", NAME, nullable=False),
    Column("entity", NAME, nullable=False),
    Column("partner", NAME, nullable=False),
    Column("profile", NAME, nullable=False),
    *(Column(name, BigInteger, nullable=False, default=0, server_default="0") for name in COUNTERS),
    PrimaryKeyConstraint("day", "source", "entity", "partner", "profile"),
)

report_watermark = Table(  # how far the rollup reaches: one row, moved by a conditional update
    "report_watermark",
    metadata,
    Column("name", String(16), primary_key=True),  # "hours"
    Column("rolled_until", UTCDateTime),  # every hour before it is in report_hours; None: none yet
)
