"""The schema, one for SQLite and PostgreSQL (SQLAlchemy Core metadata; Alembic's target)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

from leadrelay.domain.access import Role
from leadrelay.domain.alerts import AlertState, EventState
from leadrelay.domain.budgets import HoldKind
from leadrelay.domain.health import BreakerState
from leadrelay.domain.imports import ImportState
from leadrelay.domain.invoices import InvoiceStatus, PeriodKind
from leadrelay.domain.ledger import CENTS, EntryKind, Party
from leadrelay.domain.ping import BidStatus
from leadrelay.domain.reports import COUNTERS, LEAD_COUNTERS
from leadrelay.domain.states import (
    BatchStatus,
    DeliveryOutcome,
    DeliveryStatus,
    JobStatus,
    KeyOwner,
    LeadStatus,
    OfferStatus,
    QueueState,
    RelayStatus,
    ReturnStatus,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, straight to the text SQLAlchemy's DATETIME would store (same format, same order),
        without its per-field formatting: datetimes are bound on every row of the hot path."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime")
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Cents(TypeDecorator[Decimal]):
    """Money as a whole number of cents on both databases (exact sums in SQL; SQLite has no decimal type),
    handed to and from Python as a ``Decimal`` in cents. An amount with fractions of a cent is refused."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        cents = Decimal(value) * 100
        if cents != cents.to_integral_value():
            raise ValueError(f"not a whole number of cents: {value}")
        return int(cents)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / 100).quantize(CENTS)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


def one_of(column: str, states: type[StrEnum]) -> CheckConstraint:
    """A CHECK that a state column holds one of its enum's values (named ``ck_<table>_<column>``)."""
    values = ", ".join(f"'{state.value}'" for state in states)
    return CheckConstraint(f"{column} IN ({values})", name=column)


ID = String(40)
NAME = String(64)

config_objects = Table(
    "config_objects",
    metadata,
    Column("kind", String(16), nullable=False),
    Column("name", NAME, nullable=False),
    Column("doc", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("kind", "name"),
)

config_meta = Table(
    "config_meta",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("owner_kind", String(16), nullable=False),  # KeyOwner: a source's key or a partner's
    Column("owner", NAME, nullable=False),  # the source's or partner's name
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),  # revoked by hand, or with its owner's deletion
    Column("last_used_at", UTCDateTime),  # recorded at most once a minute per key and process
    Index("ix_api_keys_owner_kind_owner", "owner_kind", "owner"),
    one_of("owner_kind", KeyOwner),
)

admin_tokens = Table(
    "admin_tokens",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", NAME, nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("expires_at", UTCDateTime),  # None: never expires
    Column("last_used_at", UTCDateTime),  # recorded at most once a minute per token and process
    Column("role", String(16), nullable=False, server_default="admin"),  # access.Role: admin|operator|viewer
)

leads = Table(
    "leads",
    metadata,
    Column("id", ID, primary_key=True),
    Column("entity", NAME, nullable=False),
    Column("source", NAME, nullable=False),
    Column("status", String(16), nullable=False),  # LeadStatus (leadrelay.domain.states)
    Column("data", JSON, nullable=False),
    Column("raw", JSON, nullable=False),
    Column("problems", JSON),
    Column("flags", JSON),  # field -> ["toll_free", "invalid: …"]; None when nothing to say
    Column("sealed", Text),  # sensitive values, encrypted (leadrelay.adapters.crypto); None when none
    Column("duplicate_of", ID),  # the original lead of a duplicate
    Column("erased_at", UTCDateTime),  # personal data removed (erasure request or retention)
    Column("idempotency_key", String(200)),
    Column("request_hash", String(64)),
    # The first answer to a keyed request (HTTP status and body), replayed to repeats; None while the
    # first request is still in flight (waiting for the outcome) and for leads posted without a key.
    Column("answer_code", Integer),
    Column("answer", JSON),
    Column("is_test", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "idempotency_key"),
    one_of("status", LeadStatus),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("lead_id", ID, nullable=False, index=True),
    Column("profile", NAME, nullable=False),
    Column("kind", String(16), nullable=False),  # route | resend | test
    Column("status", String(16), nullable=False),  # JobStatus
    Column("parent_id", ID),
    Column("target_partner", NAME),
    Column("rule", NAME),
    Column("trace", JSON, nullable=False),
    Column("error", Text),
    Column("excluded", JSON, nullable=False),
    # the queue's own claim state, kept apart from the job's status
    Column("queue_state", String(8), nullable=False),  # QueueState
    Column("run_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(128)),
    Column("lease_until", UTCDateTime),
    Column("claims", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("answer_by", UTCDateTime),  # the source waits for its answer until then (?wait): auctions fit in
    Index("ix_jobs_queue", "queue_state", "run_at"),
    one_of("status", JobStatus),
    one_of("queue_state", QueueState),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", ID, primary_key=True),
    Column("job_id", ID, nullable=False, index=True),
    Column("lead_id", ID, nullable=False, index=True),
    Column("partner", NAME, nullable=False, index=True),
    Column("profile", NAME, nullable=False),
    Column("channel", String(16), nullable=False),  # the channel in use: webhook | email | hold
    Column(
        "channel_step", Integer, nullable=False, default=0, server_default="0"
    ),  # 0: the partner's channel, then failovers
    Column("status", String(16), nullable=False),  # DeliveryStatus
    Column("idempotency_key", String(128), nullable=False),  # job id + ":" + partner
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime),
    Column("cap_windows", JSON, nullable=False),  # [[scope, window], ...] reserved; released on failure
    Column("price", Float),
    Column("price_basis", String(8)),  # PriceBasis: bid | answer | rule | profile | list
    Column("reference", String(200)),
    Column("reason", Text),
    Column("invoiced", Boolean, nullable=False, default=False),
    Column("is_test", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Column("held_at", UTCDateTime),  # stored for pick-up by the hold channel
    Column("cancelled_at", UTCDateTime),
    Column("cancel_reason", Text),
    Column("batch_id", ID, index=True),  # a batched channel's file or digest this lead went into
    Column("ping_reference", String(200)),  # an auction's post: the winning bid's reference
    Column("redirect_url", Text),  # a sale's: where the buyer wants the consumer sent (told to the source)
    Column("outcome", String(16)),  # DeliveryOutcome: the buyer's latest postback; NULL: none yet
    # the leads waiting for a partner's next batch (DeliveryStatus.BATCHED), by partner and failover step
    Index("ix_deliveries_status_partner", "status", "partner", "channel_step"),
    Index("ix_deliveries_created_at", "created_at"),  # reports: the hour's deliveries made
    Index("ix_deliveries_delivered_at", "delivered_at"),  # reports: the hour's sales
    one_of("status", DeliveryStatus),
    one_of("outcome", DeliveryOutcome),
)

attempts = Table(  # every delivery attempt: one lead's (delivery_id, job_id) or one batch's (batch_id)
    "attempts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("delivery_id", ID, index=True),
    Column("job_id", ID, index=True),
    Column("batch_id", ID, index=True),  # a batch file or digest sent (its leads' deliveries point at it)
    Column("number", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("request", JSON),  # a lead's: what was sent (secrets redacted)
    Column("status_code", Integer),
    Column("response_body", Text),
    Column("outcome", String(16), nullable=False),  # success | error | failure
    Column("location", Text),  # a batch's: where a successful attempt put the file (sftp://…, mailto:…)
    Column("bytes", Integer),  # a batch's: the file's size
    Column("reason", Text),
    CheckConstraint(
        "(delivery_id IS NOT NULL AND job_id IS NOT NULL AND batch_id IS NULL)"
        " OR (delivery_id IS NULL AND job_id IS NULL AND batch_id IS NOT NULL)",
        name="one_subject",
    ),
    Index("ix_attempts_started_at", "started_at"),  # reports: the hour's latencies
)

bids = Table(  # every partner's answer in an auction (issue 10): a bid, a refusal, a timeout or an error
    "bids",
    metadata,
    Column("id", ID, primary_key=True),
    Column("job_id", ID, nullable=False, index=True),
    Column("lead_id", ID, nullable=False, index=True),
    Column("partner", NAME, nullable=False),
    Column("profile", NAME, nullable=False),
    Column("rule", NAME),
    Column("status", String(16), nullable=False),  # BidStatus
    Column("tier", Integer, nullable=False, default=0),  # a waterfall's tier (0: the first, or an auction)
    Column("price", Float),  # accepted: the bid (a post-only partner's list price)
    Column("shared_price", Float),  # the bid for the lead shared with others (None: exclusive only)
    Column("floor", Float),  # the lowest price this bid could win at (None: any)
    Column("reference", String(200)),  # the buyer's reference for the bid, carried by the post
    Column("reason", Text),
    Column("duration_ms", Float),  # the ping's time (None: a post-only partner, not pinged)
    Column("rank", Integer),  # among the bids that count: 1 is the winner (None: it does not count)
    Column("margin", Float),  # the winner's: its bid over the next one (or over the floor)
    Column("delivery_id", ID),  # the post this bid got (None: not offered the lead)
    Column("sold_as", String(16)),  # the sale its rank is for: exclusive | shared (None: not ranked)
    Column("superseded", Boolean, nullable=False, default=False),  # a rerun auctions the lead afresh
    Column("is_test", Boolean, nullable=False, default=False),
    Column("started_at", UTCDateTime, nullable=False),  # when the auction (a waterfall's first tier) began
    Column("created_at", UTCDateTime, nullable=False),  # when the answer was recorded
    Index("ix_bids_partner_created", "partner", "created_at"),  # per-buyer health over a window
    one_of("status", BidStatus),
)

supplier_pings = Table(  # a source's ping (issue 10 point 6): the quote and its bids, no personal data
    "supplier_pings",
    metadata,
    Column("id", ID, primary_key=True),
    Column("source", NAME, nullable=False),  # the source the token is bound to
    Column("entity", NAME, nullable=False),
    # per profile auctioned: {profile: {"rule", "max_posts", "bids": [{partner, status, price, floor,
    # reference, reason, duration_ms, rank, margin}]}}; never a lead value
    Column("auctions", JSON, nullable=False),
    Column("price", Float),  # the quote: the best winning bid (None: no bid counted)
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),  # set once, in the transaction that accepts the lead carrying it
    Column("lead_id", ID),  # that lead
    Column("created_at", UTCDateTime, nullable=False, index=True),
)

offers = Table(  # a partner offered to the consumer (strategy user_choice, issue 10 point 5)
    "offers",
    metadata,
    Column("id", ID, primary_key=True),
    Column("job_id", ID, nullable=False, index=True),
    Column("lead_id", ID, nullable=False, index=True),
    Column("partner", NAME, nullable=False),
    Column("place", Integer, nullable=False),  # its position among the job's offers (the target's order)
    Column("display_name", String(100), nullable=False),  # what the consumer sees of the partner
    Column("logo_url", Text),
    Column("price", Float),  # the partner's list price when offered: the sale's price if selected
    Column("show_price", Boolean, nullable=False, default=False),  # the offer shows its price
    Column("status", String(16), nullable=False),  # OfferStatus
    Column("expires_at", UTCDateTime, nullable=False),
    Column("selected_at", UTCDateTime),
    Column("expired_at", UTCDateTime),
    Column("delivery_id", ID),  # the post a selected offer got
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_offers_status_expires", "status", "expires_at"),  # the sweep of open offers past their time
    one_of("status", OfferStatus),
)

cap_counters = Table(
    "cap_counters",
    metadata,
    Column("partner", NAME, nullable=False),
    Column("scope", NAME, nullable=False),  # "" for the partner's own caps, else the profile
    Column("window", String(32), nullable=False),
    Column("used", Integer, nullable=False),
    PrimaryKeyConstraint("partner", "scope", "window"),
)

rotations = Table(
    "rotations",
    metadata,
    Column("key", String(140), primary_key=True),
    Column("counter", BigInteger, nullable=False),
)

partner_availability = Table(
    "partner_availability",
    metadata,
    # a partner with no row is available; a row is the last check-in or check-out (API, CLI)
    Column("partner", NAME, primary_key=True),
    Column("available", Boolean, nullable=False, default=True),
    Column("note", Text),
    Column("changed_by", String(100), nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    CheckConstraint("changed_by <> ''", name="changed_by"),
)

partner_breakers = Table(
    "partner_breakers",
    metadata,
    # a partner's circuit breaker (``leadrelay.domain.health``); no row: closed. Every change is audited.
    Column("partner", NAME, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("opened_at", UTCDateTime),
    Column("retry_at", UTCDateTime),  # open: a trial may go; half_open: the trial is given up
    Column("reason", Text),
    Column("changed_at", UTCDateTime, nullable=False),
    one_of("state", BreakerState),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", ID, primary_key=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("actor", String(100), nullable=False),
    Column("action", String(40), nullable=False),
    Column("object_kind", String(20), nullable=False),
    Column("object_id", String(128), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("reason", Text),
)


# ---------------------------------------------------------------- lead quality and privacy

dedup_marks = Table(
    "dedup_marks",
    metadata,
    # "entity:solar:email", "profile:p:email,phone", "global:email", "partner:acme:phone"
    Column("scope", String(140), nullable=False),
    Column("key_hash", String(64), nullable=False),  # HMAC-SHA256 of the key's values (installation_secrets)
    Column("lead_id", ID, nullable=False, index=True),  # the latest lead (the original of duplicates)
    Column("seen_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("scope", "key_hash"),
)

suppression_lists = Table(
    "suppression_lists",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("kind", String(16), nullable=False),  # phone | email | postal_code
    Column("description", Text),
    Column("created_at", UTCDateTime, nullable=False),
)

suppression_entries = Table(
    "suppression_entries",
    metadata,
    Column("list", NAME, nullable=False),
    Column("value_hash", String(64), nullable=False),  # SHA-256 hex of the normalized value
    PrimaryKeyConstraint("list", "value_hash"),
)

data_keys = Table(
    "data_keys",
    metadata,
    Column("id", String(16), primary_key=True),  # "k1", "k2", … named in every ciphertext
    Column("wrapped", Text, nullable=False),  # the data key, encrypted with LEADRELAY_SECRET_KEY
    Column("check", String(64), nullable=False),  # tells which secret wrapped it (HMAC of the key id)
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

installation_secrets = Table(
    "installation_secrets",
    metadata,
    Column("name", String(40), primary_key=True),  # "dedup": the key of the dedup marks
    # the key itself only when it is not derived from LEADRELAY_SECRET_KEY (generated once, base64)
    Column("value", Text),
    Column("fingerprint", String(64), nullable=False),  # HMAC of a fixed label: which key is in force
    Column("created_at", UTCDateTime, nullable=False),
)


# ---------------------------------------------------------------- batched delivery (digests, files)

batches = Table(
    "batches",
    metadata,
    Column("id", ID, primary_key=True),
    Column("partner", NAME, nullable=False, index=True),
    Column("channel", String(16), nullable=False),  # file | email (a digest)
    Column("channel_step", Integer, nullable=False),  # the partner's failover step it was cut for
    Column("status", String(16), nullable=False),  # BatchStatus
    Column("trigger", String(200), nullable=False),  # why it was cut: "50 leads waiting", a cron tick…
    Column("filename", String(255), nullable=False),  # fixed when cut: a retry replaces, never adds
    Column("lead_count", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime),
    Column("lease_owner", String(128)),
    Column("lease_until", UTCDateTime),
    Column("location", Text),  # where the last successful attempt put it: sftp://…, s3://…, mailto:…
    Column("bytes", Integer),
    Column("reason", Text),
    Column("is_test", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("sent_at", UTCDateTime),
    Index("ix_batches_status_next", "status", "next_attempt_at"),
    one_of("status", BatchStatus),
)


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

# ---------------------------------------------------------------- alerts (issue 11 point 9)

alert_states = Table(
    "alert_states",
    metadata,
    # an alert rule's last state (``leadrelay.domain.alerts``); no row: ok, never fired. ``version`` moves
    # with every change: a conditional UPDATE on it lets one process of many move the rule (and send).
    Column("alert", NAME, primary_key=True),
    Column("state", String(16), nullable=False),  # AlertState
    Column("since", UTCDateTime),
    Column("last_fired_at", UTCDateTime),  # the last "firing" message
    Column("detail", Text),
    Column("version", Integer, nullable=False),
    one_of("state", AlertState),
)

alert_events = Table(
    "alert_events",
    metadata,
    # every alert message sent (or tried): firing, resolved, or a test of the rule's targets
    Column("id", ID, primary_key=True),
    Column("alert", NAME, nullable=False),
    Column("state", String(16), nullable=False),  # EventState
    Column("detail", Text, nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("targets", JSON, nullable=False),  # ["mailto:ops@example.com", "https://hooks…"]
    Column("error", Text),  # what failed, target by target (NULL: every target took it)
    Index("ix_alert_events_alert_sent_at", "alert", "sent_at"),
    Index("ix_alert_events_sent_at", "sent_at"),
    one_of("state", EventState),
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
        sqlite_where=text("status <> 'void'"),
        postgresql_where=text("status <> 'void'"),
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


# ---------------------------------------------------------------- console users (domain/access.py)

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),  # trimmed, lower case
    Column("display_name", String(200), nullable=False),
    Column("role", String(16), nullable=False),  # access.Role
    Column("tenant", NAME),  # the partner's or source's name for those roles, else None
    Column("password_hash", String(200)),  # argon2id; None until an invitation is accepted
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime),
    Column("last_login_at", UTCDateTime),
    one_of("role", Role),
)

user_invitations = Table(
    "user_invitations",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", ID, nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
)

user_sessions = Table(
    "user_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the cookie's value
    Column("user_id", ID, nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),  # absolute
    Column("last_seen_at", UTCDateTime, nullable=False),  # idle expiry counts from it
    Column("csrf_secret", String(64), nullable=False),
    Column("ended_at", UTCDateTime),  # logout, a disabled user, a password reset
)

login_failures = Table(  # failed logins of the last minutes, counted per email and per client address
    "login_failures",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False),
    Column("address", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_login_failures_email_at", "email", "at"),
    Index("ix_login_failures_address_at", "address", "at"),
)

# the partner and source portals (issue 12 point 7): one tenant's rows, newest first, by cursor
Index("ix_leads_source_id", leads.c.source, leads.c.id)
Index("ix_deliveries_partner_id", deliveries.c.partner, deliveries.c.id)
Index("ix_returns_partner_id", returns.c.partner, returns.c.id)
Index(
    "ix_ledger_entries_party_seq", ledger_entries.c.party_kind, ledger_entries.c.party, ledger_entries.c.seq
)

# ---------------------------------------------------------------- the console's lead search (issue 12)

lead_lookup = Table(  # a lead's email and phone keys (domain.lookup): HMAC-SHA256, no plaintext
    "lead_lookup",
    metadata,
    Column("key_hash", String(64), nullable=False),
    Column("lead_id", ID, nullable=False, index=True),  # erasure deletes by lead
    PrimaryKeyConstraint("key_hash", "lead_id"),  # a search is one index range of key_hash
)
Index("ix_audit_log_object_id", audit_log.c.object_id)  # the audit entries about a lead and its jobs


lead_imports = Table(  # the console's CSV imports: progress read by any process, a file posted twice found
    "lead_imports",
    metadata,
    Column("id", ID, primary_key=True),
    Column("owner", ID, nullable=False),  # the user who started it: the only one it is shown to
    Column("actor", String(100), nullable=False),  # the owner as the audit log names them
    Column("filename", String(255), nullable=False),
    Column("sha256", String(64), nullable=False),  # of the uploaded file: the same file posted again
    Column("source", NAME, nullable=False),
    Column("entity", NAME, nullable=False),
    Column("state", String(16), nullable=False),  # imports.ImportState
    Column("error", Text),
    Column("total_bytes", BigInteger, nullable=False),
    Column("read_bytes", BigInteger, nullable=False, default=0),
    Column("rows_total", Integer),  # known once it finished
    Column("rows_done", Integer, nullable=False, default=0),
    Column("rows_accepted", Integer, nullable=False, default=0),
    Column("rows_rejected", Integer, nullable=False, default=0),
    Column("rows_errors", Integer, nullable=False, default=0),  # of the rejected: refused outright
    Column("counts", JSON, nullable=False),  # rows per lead status
    Column("rejects", LargeBinary),  # the rejects file, gzip; cleared a day after it finished
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),  # the heartbeat of the process that runs it
    Column("finished_at", UTCDateTime),
    one_of("state", ImportState),
    Index("ix_lead_imports_owner_sha256", "owner", "sha256"),
)

# ---------------------------------------------------------------- the distribution log's filters (0027)

# a job status, a routing rule or a profile, newest first: an index range read backwards, not a scan
Index("ix_jobs_status_id", jobs.c.status, jobs.c.id)
Index("ix_jobs_rule_id", jobs.c.rule, jobs.c.id)
Index("ix_jobs_profile_id", jobs.c.profile, jobs.c.id)

# ---------------------------------------------------------------- the hosted form's rate limit (0027)

form_posts = Table(  # posts per source and client address (an IPv6 client by its /64) per minute window
    "form_posts",
    metadata,
    Column("source", NAME, nullable=False),
    Column("client", String(64), nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("posts", Integer, nullable=False),
    PrimaryKeyConstraint("source", "client", "window_start"),
    Index("ix_form_posts_window_start", "window_start"),  # old windows deleted by range
)
