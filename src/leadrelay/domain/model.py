"""The vocabulary of PRODUCT.md as plain, immutable values.

Everything here is standard library only. Configuration documents are validated elsewhere
(``leadrelay.configuration``) and turned into these specs; routing, caps and delivery consume them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from leadrelay.domain.batches import BatchSchedule
from leadrelay.domain.condition_tree import Condition
from leadrelay.domain.files import Destination, EmailDestination, FileFormat
from leadrelay.domain.health import DEFAULT_POLICY, BreakerPolicy
from leadrelay.domain.hosted_form import HostedFormSpec
from leadrelay.domain.invoices import DEFAULT_INVOICING, Invoicing
from leadrelay.domain.ledger import ZERO, PayoutModel
from leadrelay.domain.partner_auth import AuthSpec, SigningSpec
from leadrelay.domain.postback_relay import SourcePostback
from leadrelay.domain.returns import ReturnPolicy


class FieldType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    EMAIL = "email"
    PHONE = "phone"
    POSTAL_CODE = "postal_code"
    STATE = "state"
    DATE = "date"
    DATETIME = "datetime"
    DOB = "dob"
    ENUM = "enum"
    URL = "url"
    IP = "ip"
    GENDER = "gender"
    TRUSTEDFORM_CERT_URL = "trustedform_cert_url"
    JORNAYA_LEADID = "jornaya_leadid"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: FieldType = FieldType.STRING
    required: bool = False
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    sensitive: bool = False
    region: str | None = None  # phone: the default country; None: the entity's
    personal: bool | None = None  # marked personal (true) or not (false); None: by type, name, sensitive

    @property
    def is_personal(self) -> bool:
        """May this field identify a person (and so never go in a ping)? See :func:`personal_field`."""
        return personal_field(self.name, self.type, self.sensitive, self.personal)


PERSONAL_TYPES = frozenset({FieldType.EMAIL, FieldType.PHONE, FieldType.DOB, FieldType.IP})
"""Field types that always identify a person."""
PERSONAL_NAMES = frozenset(
    {
        "first_name",
        "middle_name",
        "last_name",
        "name",
        "full_name",
        "email",
        "email_address",
        "phone",
        "phone_number",
        "mobile",
        "mobile_phone",
        "cell_phone",
        "home_phone",
        "work_phone",
        "address",
        "address1",
        "address2",
        "address_1",
        "address_2",
        "street",
        "street_address",
        "dob",
        "date_of_birth",
        "birth_date",
        "birthdate",
        "ip",
        "ip_address",
        "ssn",
    }
)
"""Field names taken as personal unless the field is marked ``personal: false``."""


def personal_field(name: str, field_type: FieldType | str, sensitive: bool, personal: bool | None) -> bool:
    """Personal data (PRODUCT.md "Ping / post": a ping carries none): a field of a personal type (email,
    phone, dob, ip), a sensitive one, one marked ``personal: true``, or one with a usual personal name
    (``first_name``, ``street_address``, …) unless marked ``personal: false``."""
    if field_type in PERSONAL_TYPES or sensitive or personal is True:
        return True
    return personal is None and name.lower() in PERSONAL_NAMES


@dataclass(frozen=True, slots=True)
class DedupSpec:
    """Duplicates by any of ``keys`` (each a tuple of field names, compared on normalized values) within
    ``window_s`` seconds; ``scope`` is "entity" or "global" for an entity, ignored elsewhere."""

    keys: tuple[tuple[str, ...], ...]
    window_s: float = 30 * 86_400.0
    scope: str = "entity"


@dataclass(frozen=True, slots=True)
class ConsentSpec:
    """One-to-one consent: ``field`` holds the sellers the consumer agreed to hear from (see
    ``leadrelay.domain.consent``); only partners it names are offered the lead."""

    field: str


@dataclass(frozen=True, slots=True)
class EntitySpec:
    name: str
    fields: Mapping[str, FieldSpec]
    region: str = "US"
    dedup: DedupSpec | None = None
    suppression: tuple[str, ...] = ()
    consent: ConsentSpec | None = None
    sensitive: frozenset[str] = field(init=False)  # the names of fields encrypted at rest
    personal: frozenset[str] = field(init=False)  # the names of fields a ping never carries

    def __post_init__(self) -> None:
        names = frozenset(name for name, spec in self.fields.items() if spec.sensitive)
        object.__setattr__(self, "sensitive", names)
        personal = frozenset(name for name, spec in self.fields.items() if spec.is_personal)
        object.__setattr__(self, "personal", personal)

    def is_personal(self, name: str) -> bool:
        """Is the lead's value ``name`` personal? A field of the entity as it says (``personal``); a value
        it does not declare (kept as text) by its name alone (:func:`personal_field`)."""
        if name in self.fields:
            return name in self.personal
        return personal_field(name, FieldType.STRING, False, None)


# ---------------------------------------------------------------- partners, caps, hours, channels


class CapPeriod(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    TOTAL = "total"


@dataclass(frozen=True, slots=True)
class Hours:
    """Delivery hours: for each weekday (0 = Monday) the open windows as minutes since midnight.

    ``None`` (the default on a partner) means always open; an empty tuple for a day means closed that day.
    """

    windows: tuple[tuple[tuple[int, int], ...], ...]


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"
    HOLD = "hold"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class WebhookChannel:
    url: str
    format: str = "json"  # json | form | xml (GET: the values go in the query string)
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0
    max_attempts: int = 3
    fields: tuple[str, ...] | None = None  # None: every field
    mapping: Any = None  # the canonical mapping document (a dict, or a list of {when, mapping}); None: fields
    ascii: bool = False  # transliterate text to ASCII
    content_type: str | None = None  # None: the format's own
    response: Mapping[str, Any] | None = None  # LeadConduit response options; None: status and JSON decide
    status_policy: str = "strict"  # strict: only a 2xx is a success | body: the response rules decide
    auth: AuthSpec | None = None  # secrets opened, or ${ENV_VAR} references resolved when sending
    signing: SigningSpec | None = None  # Standard Webhooks signatures
    kind: ChannelKind = ChannelKind.WEBHOOK


@dataclass(frozen=True, slots=True)
class EmailChannel:
    to: tuple[str, ...]
    subject: str = "New lead: {{ lead.first_name }} {{ lead.last_name }}"
    body: str | None = None  # Jinja2 template; None renders a plain list of fields
    html: bool = False
    attach: str | None = None  # None | "csv" | "json"
    max_attempts: int = 3
    fields: tuple[str, ...] | None = None
    kind: ChannelKind = ChannelKind.EMAIL


@dataclass(frozen=True, slots=True)
class HoldChannel:
    """Store the lead for pick-up (``GET /v1/holds``, CSV export); release delivers it again."""

    max_attempts: int = 1
    fields: tuple[str, ...] | None = None
    kind: ChannelKind = ChannelKind.HOLD


@dataclass(frozen=True, slots=True)
class FileChannel:
    """Leads written into batch files (CSV, XLSX) and uploaded (SFTP, FTP/FTPS, S3) or mailed on a
    schedule; each file is one batch, logged with its leads and deliverable again. An email digest is one
    of these too: a CSV file mailed to the partner, with ``kind`` email."""

    destination: Destination | EmailDestination
    schedule: BatchSchedule
    format: FileFormat = field(default_factory=FileFormat)
    filename: str = "{partner}-{datetime}.csv"
    fields: tuple[str, ...] | None = None
    max_attempts: int = 8  # retryable upload failures (connection, timeout, server error), with backoff
    kind: ChannelKind = ChannelKind.FILE


ChannelSpec = WebhookChannel | EmailChannel | HoldChannel | FileChannel


def batch_schedule(spec: ChannelSpec | None) -> BatchSchedule | None:
    """The schedule of a batched channel (a digest or a file), None for one delivery per lead."""
    return spec.schedule if isinstance(spec, FileChannel) else None


class Pacing(StrEnum):
    """How a partner's day cap is spread over its day (``leadrelay.domain.pacing``)."""

    EVEN = "even"


@dataclass(frozen=True, slots=True)
class WalletSpec:
    """A partner's wallet (``domain.budgets``): how far it may owe (``credit_limit``; 0: prepaid only) and
    the balance under which it is low (``low_balance``; None: no low-balance line)."""

    credit_limit: Decimal = ZERO
    low_balance: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PartnerSpec:
    name: str
    timezone: str = "UTC"
    email: str | None = None
    caps: Mapping[CapPeriod, int] = field(default_factory=dict)
    hours: Hours | None = None
    filters: Condition | None = None
    paused: bool = False
    channel: ChannelSpec | None = None
    price: float | None = None
    price_from_answer: bool = False  # the price in the buyer's answer (``price_path``) is the sale's
    cancel_period_s: float = 7 * 86_400.0  # how long after delivery a cancel is allowed
    dedup: DedupSpec | None = None  # never the same person twice within the window
    suppression: tuple[str, ...] = ()  # a listed lead removes this partner from the candidates
    failover: tuple[ChannelSpec, ...] = ()  # tried in order when the channel before ends in error
    ping: WebhookChannel | None = None  # the ping before the post (one attempt, its own timeout)
    ping_pii: bool = False  # ``ping_pii: allowed``: the ping may carry personal fields
    legal_name: str | None = None  # the name a consumer's consent names (with ``aliases`` and ``name``)
    aliases: tuple[str, ...] = ()
    pacing: Pacing | None = None  # even: the day cap spread over the delivery hours
    breaker: BreakerPolicy = DEFAULT_POLICY  # when the partner is skipped for its errors or timeouts
    adaptive_ping_margin_ms: float | None = None  # the ping's timeout: its p99 plus this (None: fixed)
    min_price: float | None = None  # an auction sells to it at no less (where the rule sets no floor)
    # what a consumer sees of it in a user-choice offer: its name, its logo, and its price when it allows
    display_name: str | None = None  # None: the partner's name
    logo_url: str | None = None
    show_price: bool = False
    budget: Mapping[CapPeriod, Decimal] = field(default_factory=dict)  # money per window (domain.budgets)
    wallet: WalletSpec | None = None  # prepaid funds or a credit limit (domain.budgets)
    returns: ReturnPolicy | None = None  # None: it may not return leads
    invoicing: Invoicing = DEFAULT_INVOICING  # its invoices' period, on its clock (``timezone``)

    def channel_at(self, step: int) -> ChannelSpec | None:
        """The channel of a failover step (0: the partner's own channel); None past the end."""
        if step == 0:
            return self.channel
        return self.failover[step - 1] if 0 < step <= len(self.failover) else None

    def hold_fields(self, step: int) -> tuple[str, ...] | None:
        """The fields a lead held at ``step`` shows in the hold export: the ``fields`` of the hold channel
        at that step, else of the partner's first hold channel (its configuration changed since), None
        for every field."""
        steps = (self.channel_at(step), self.channel, *self.failover)
        hold = next((spec for spec in steps if isinstance(spec, HoldChannel)), None)
        return hold.fields if hold is not None else None


# ---------------------------------------------------------------- profiles


class Strategy(StrEnum):
    PRIORITY = "priority"
    ROUND_ROBIN = "round_robin"
    WEIGHTED = "weighted"
    BROADCAST = "broadcast"
    LEAST_LOADED = "least_loaded"
    AUCTION = "auction"  # ping the eligible partners at once; the best bid at or above the floor wins
    USER_CHOICE = "user_choice"  # offer the eligible partners to the consumer, who selects one
    WATERFALL = "waterfall"  # ping tree: tiers in order, each by priority or auction, until sold


@dataclass(frozen=True, slots=True)
class Tier:
    """One tier of a waterfall: its partners in priority order, sold by ``priority`` (the first partner
    whose bid or list price reaches the floor) or ``auction`` (the highest), at no less than ``floor``."""

    partners: tuple[str, ...]
    strategy: Strategy = Strategy.PRIORITY
    floor: float | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Who a rule sends to: one or more partners and how to choose among the eligible ones.

    ``partners`` is in priority order; ``priorities`` may give explicit ranks (lower first, equal ranks
    rotate); ``weights`` is used by the weighted strategy. An empty ``partners`` means "do nothing".
    """

    partners: tuple[str, ...]
    strategy: Strategy = Strategy.PRIORITY
    weights: Mapping[str, int] = field(default_factory=dict)
    priorities: Mapping[str, int] = field(default_factory=dict)
    # an auction's: how long the pings may take, the lowest winning bid (None: the partner's minimum,
    # else the source's), and how many posts a lead may get when the best bidder refuses it
    deadline_s: float = 0.75
    floor: float | None = None
    max_posts: int = 3
    offer_ttl_s: float = 600.0  # user_choice: how long the offers are valid
    tiers: tuple[Tier, ...] = ()  # a waterfall's, in order (``partners`` is all of theirs)
    shared_max: int = 1  # ``shared: {max: N}``: a lead may be sold to up to N buyers at their shared bids
    prices: Mapping[str, float] = field(default_factory=dict)  # the rule's price per partner


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    when: Condition
    send_to: Target


@dataclass(frozen=True, slots=True)
class ProfileSpec:
    name: str
    entity: str
    rules: tuple[Rule, ...] = ()
    default: Target | None = None
    enabled: bool = True
    auto_redistribute: bool = False
    partner_caps: Mapping[str, Mapping[CapPeriod, int]] = field(default_factory=dict)
    email_to: tuple[str, ...] = ()  # overrides a partner's email recipient for this profile
    dedup: DedupSpec | None = None
    suppression: tuple[str, ...] = ()
    require_consent: bool = False  # a lead without its entity's consent field is unsold ("no consent")
    partner_prices: Mapping[str, float] = field(default_factory=dict)  # the profile's price per partner
    partner_budgets: Mapping[str, Mapping[CapPeriod, Decimal]] = field(default_factory=dict)  # money caps


@dataclass(frozen=True, slots=True)
class SourceSpec:
    name: str
    entities: tuple[str, ...] = ()  # empty: every entity
    wait_s: float = 0.0  # default ?wait for this source's posts
    min_price: float | None = None  # an auction sells its leads at no less (where nothing else says)
    show_buyer: bool = False  # its answers and relayed postbacks name the buyer (else: sold or not only)
    ping_token_ttl_s: float = 120.0  # how long a supplier ping's quote holds (POST /v1/ping)
    payout: PayoutModel | None = None  # how the source is paid (None: not at all)
    payout_by_entity: Mapping[str, PayoutModel] = field(default_factory=dict)  # per source × entity
    postback: SourcePostback | None = None  # events relayed to the source (domain.postback_relay)
    invoicing: Invoicing = DEFAULT_INVOICING  # its statements' period and clock
    form: HostedFormSpec | None = None  # its hosted lead form (domain.hosted_form); None: it has none
    timezone: str = "UTC"  # its caps' clock
    caps: Mapping[CapPeriod, int] = field(default_factory=dict)  # valid leads it may send per period

    def payout_for(self, entity: str) -> PayoutModel | None:
        """The payout model of this source's leads of ``entity``."""
        return self.payout_by_entity.get(entity, self.payout)
