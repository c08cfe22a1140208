"""Lead quality and privacy: the dedup marks and the lead search's keys (keyed hashes, no plaintext), the
suppression lists, the data keys and the installation's secrets."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from leadrelay.adapters.db.schema_base import ID, NAME, UTCDateTime, metadata

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

# ---------------------------------------------------------------- the console's lead search (issue 12)

lead_lookup = Table(  # a lead's email and phone keys (domain.lookup): HMAC-SHA256, no plaintext
    "lead_lookup",
    metadata,
    Column("key_hash", String(64), nullable=False),
    Column("lead_id", ID, nullable=False, index=True),  # erasure deletes by lead
    PrimaryKeyConstraint("key_hash", "lead_id"),  # a search is one index range of key_hash
)
