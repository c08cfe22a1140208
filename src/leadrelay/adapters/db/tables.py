"""The pipeline's tables: configuration and keys, leads, jobs, deliveries and their attempts, auctions' bids
and offers, caps, rotations, partners' availability and breakers, the audit log and batches.

The other tables, by area: ``privacy_tables``, ``money_tables``, ``console_tables``; the whole schema is
``schema.metadata``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from leadrelay.adapters.db.schema_base import ID, NAME, UTCDateTime, metadata, one_of
from leadrelay.domain.after_sale_states import DeliveryOutcome
from leadrelay.domain.health import BreakerState
from leadrelay.domain.ping import BidStatus
from leadrelay.domain.states import (
    BatchStatus,
    DeliveryStatus,
    JobStatus,
    KeyOwner,
    LeadStatus,
    OfferStatus,
    QueueState,
)

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
    Column("claims", Integer, nullable=False, default=0),  # leases taken over (a lost worker's): MAX_CLAIMS
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
    Column("price", Float),  # the best winning bid (None: no bid counted)
    # by field, a keyed digest of each value pinged (``domain.ping_tokens.value_marks``): the lead must match
    Column("value_marks", JSON),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),  # set once, in the transaction that accepts the lead carrying it
    Column("lead_id", ID),  # that lead (a sale's posting looks up its lead's quote: one ping per lead)
    # the source's payout terms quoted (``domain.ledger.payout_terms``; {} none): its lead is paid on them
    Column("payout", JSON),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Index(
        "uq_supplier_pings_lead_id",
        "lead_id",
        unique=True,
        sqlite_where=text("lead_id IS NOT NULL"),
        postgresql_where=text("lead_id IS NOT NULL"),
    ),
    Index("ix_supplier_pings_source", "source"),  # a deleted source's tokens are revoked
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
    # a rerun offers afresh: the earlier round's offers stay in the job's history only
    Column("superseded", Boolean, nullable=False, default=False, server_default=false()),
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
    # the format, columns and fields it was cut with (domain.batch_format); None: cut before migration 0032
    Column("file_format", JSON),
    Index("ix_batches_status_next", "status", "next_attempt_at"),
    one_of("status", BatchStatus),
)

# the partner and source portals (issue 12 point 7): one tenant's rows, newest first, by cursor
Index("ix_leads_source_id", leads.c.source, leads.c.id)
Index("ix_deliveries_partner_id", deliveries.c.partner, deliveries.c.id)

Index("ix_audit_log_object_id", audit_log.c.object_id)  # the audit entries about a lead and its jobs

# ---------------------------------------------------------------- the distribution log's filters (0027)

# a job status, a routing rule or a profile, newest first: an index range read backwards, not a scan
Index("ix_jobs_status_id", jobs.c.status, jobs.c.id)
Index("ix_jobs_rule_id", jobs.c.rule, jobs.c.id)
Index("ix_jobs_profile_id", jobs.c.profile, jobs.c.id)
