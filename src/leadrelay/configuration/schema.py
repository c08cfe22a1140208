"""The shape of a configuration document: one pydantic model per kind of object, and the domain spec each
validated model stands for (``to_spec``).

The scalar values are typed in ``configuration.values``, the channels in ``configuration.channels``.
Conditions and targets are parsed by hand (``leadrelay.domain.condition_syntax`` and
``configuration.validation``), which is why some fields are typed ``Any`` here; their canonical form is what
``to_spec`` reads.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args
from urllib.parse import urlsplit

import phonenumbers
from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from leadrelay.configuration.alerts import AlertModel
from leadrelay.configuration.breaker import AdaptivePingTimeoutModel, BreakerModel, breaker_switch
from leadrelay.configuration.channels import CHANNEL_KINDS as CHANNEL_KINDS
from leadrelay.configuration.channels import MAX_PING_TIMEOUT_S, ChannelModel, PingModel, PingPii
from leadrelay.configuration.hosted_form import HostedFormModel
from leadrelay.configuration.invoicing import InvoicingConfig, SourceInvoicingConfig
from leadrelay.configuration.money import Budget, PayoutConfig, WalletConfig, budget_of
from leadrelay.configuration.postback import SourcePostbackModel
from leadrelay.configuration.returns import ReturnsModel
from leadrelay.configuration.values import (
    CAP_PERIODS,
    ENV_REF_RE,
    NAME_RE,
    NAME_RULE,
    Caps,
    Duration,
    Email,
    EnvEmail,
    EnvPort,
    EnvText,
    FieldName,
    FieldNames,
    Hours,
    Money,
    Name,
    Names,
    PositiveDuration,
    PositiveInt,
    Present,
    Rank,
    Strict,
    TimeZone,
    Wait,
    choice,
    parse_duration,
    problem,
    suggest,
    unique,
    unknown,
)
from leadrelay.domain.condition_syntax import parse_condition
from leadrelay.domain.health import DEFAULT_POLICY
from leadrelay.domain.hours import parse_hours
from leadrelay.domain.invoices import Invoicing
from leadrelay.domain.model import (
    PERSONAL_TYPES,
    CapPeriod,
    ConsentSpec,
    DedupSpec,
    EntitySpec,
    FieldSpec,
    FieldType,
    Pacing,
    PartnerSpec,
    ProfileSpec,
    Rule,
    SourceSpec,
    Strategy,
    Target,
    Tier,
)
from leadrelay.domain.smtp import Security, SmtpSettings

__all__ = [
    "CAP_PERIODS",
    "ENV_REF_RE",
    "KINDS",
    "MODELS",
    "NAME_RE",
    "NAME_RULE",
    "SMTP_NAME",
    "Objects",
    "parse_duration",
    "suggest",
    "unknown",
]

Objects = dict[str, dict[str, dict[str, Any]]]
"""kind ("smtp", "entities", "sources", "partners", "profiles", "alerts") -> name -> canonical document."""
KINDS = ("smtp", "entities", "sources", "partners", "profiles", "alerts")
SMTP_NAME = "default"
STRATEGIES = tuple(s.value for s in Strategy)


# ---------------------------------------------------------------- entities and sources


def _region(value: Any) -> str:
    if not isinstance(value, str):
        raise problem("must be a two-letter country code such as US or CA")
    regions = phonenumbers.SUPPORTED_REGIONS
    if value.upper() not in regions:
        raise problem(unknown("region", value, sorted(regions)))
    return value.upper()


def _key_sets(value: Any) -> Any:
    """``email`` → ``[[email]]``; ``[email, phone]`` → one key of both fields; ``[[email], [phone]]`` →
    two keys, a duplicate on either."""
    if isinstance(value, str):
        return [[value]]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [value]
    return value


Region = Annotated[str, BeforeValidator(_region)]
KeySets = Annotated[list[Annotated[FieldNames, Field(min_length=1)]], BeforeValidator(_key_sets)]


class DedupModel(Strict):
    """Duplicates by key sets over normalized values within a lookback window."""

    keys: Annotated[KeySets, Field(min_length=1)]
    window: PositiveDuration = "30d"
    scope: Annotated[str, BeforeValidator(choice("dedup scope", ("entity", "global")))] = "entity"

    def to_spec(self) -> DedupSpec:
        return DedupSpec(tuple(tuple(key) for key in self.keys), parse_duration(self.window), self.scope)


class FieldModel(Strict):
    type: Annotated[str, BeforeValidator(choice("field type", [t.value for t in FieldType]))] = "string"
    required: bool = False
    max_length: PositiveInt | None = None
    choices: Annotated[list[str], AfterValidator(unique)] = []
    sensitive: bool = False
    region: Region | None = None  # phone fields: the default country (else the entity's region)
    personal: bool | None = None  # personal data, never in a ping; None: by type, name and sensitive

    @model_validator(mode="after")
    def _coherent(self) -> FieldModel:
        if self.type == FieldType.ENUM and not self.choices:
            raise problem("an enum field needs 'choices', e.g. choices: [shingle, tile]")
        if self.type != FieldType.ENUM and self.choices:
            raise problem("'choices' applies only to enum fields")
        if self.type != FieldType.STRING and self.max_length is not None:
            raise problem("'max_length' applies only to string fields")
        if self.type != FieldType.PHONE and self.region is not None:
            raise problem("'region' applies only to phone fields (set the entity's 'region' for all)")
        if self.personal is False and (self.type in PERSONAL_TYPES or self.sensitive):
            what = "a sensitive field" if self.sensitive else f"a field of type {self.type}"
            raise problem(f"'personal: false' cannot apply: {what} is always personal")
        return self

    def to_spec(self, name: str) -> FieldSpec:
        return FieldSpec(
            name,
            FieldType(self.type),
            self.required,
            self.max_length,
            tuple(self.choices),
            self.sensitive,
            self.region,
            self.personal,
        )


class ConsentModel(Strict):
    """One-to-one consent: the entity's field listing the sellers the consumer agreed to hear from."""

    field: FieldName

    def to_spec(self) -> ConsentSpec:
        return ConsentSpec(self.field)


class EntityModel(Strict):
    fields: Annotated[dict[FieldName, FieldModel], Field(min_length=1)]
    region: Region = "US"  # the default country of phone numbers
    dedup: DedupModel | None = None
    suppression: Names = []  # suppression lists every lead of this entity is checked against
    consent: ConsentModel | None = None  # only partners the lead's consent names get it

    def to_spec(self, name: str) -> EntitySpec:
        return EntitySpec(
            name,
            {key: field.to_spec(key) for key, field in self.fields.items()},
            region=self.region,
            dedup=_dedup(self.dedup),
            suppression=tuple(self.suppression),
            consent=self.consent.to_spec() if self.consent is not None else None,
        )


MAX_PING_TOKEN_TTL_S = 3600.0  # a quote is a buyer's bid of the moment: an hour at most


def _ping_token_ttl(text: str) -> str:
    if parse_duration(text) > MAX_PING_TOKEN_TTL_S:
        raise problem("must be at most 1h (a ping's bids do not hold longer)")
    return text


class SourceModel(Strict):
    entities: Names = []
    wait: Wait = "0s"
    min_price: Money | None = None  # an auction sells this source's leads at no less
    show_buyer: bool = False  # its answers name the buyer and the price
    # how long a POST /v1/ping quote (its ping_token) holds
    ping_token_ttl: Annotated[PositiveDuration, AfterValidator(_ping_token_ttl)] = "2m"
    payout: PayoutConfig | None = None  # how the source is paid (configuration.money)
    payouts_by_entity: dict[str, PayoutConfig] = {}  # per entity, instead of ``payout``
    postback: SourcePostbackModel | None = None  # events relayed to the source (configuration.postback)
    invoicing: SourceInvoicingConfig | None = None  # its statements' period (configuration.invoicing)
    form: HostedFormModel | None = None  # its hosted lead form (configuration.hosted_form)

    def to_spec(self, name: str) -> SourceSpec:
        return SourceSpec(
            name,
            tuple(self.entities),
            parse_duration(self.wait),
            self.min_price,
            self.show_buyer,
            parse_duration(self.ping_token_ttl),
            payout=self.payout.to_spec() if self.payout is not None else None,
            payout_by_entity={entity: p.to_spec() for entity, p in self.payouts_by_entity.items()},
            postback=self.postback.to_spec() if self.postback is not None else None,
            invoicing=self.invoicing.to_spec() if self.invoicing is not None else Invoicing(),
            form=self.form.to_spec() if self.form is not None else None,
        )


# ---------------------------------------------------------------- partners


PACINGS = tuple(p.value for p in Pacing)


def _pacing(value: Any) -> str | None:
    """``even`` (or null: no pacing)."""
    return None if value is None else choice("pacing", PACINGS)(value)


def _display_name(value: Any) -> str:
    if not isinstance(value, str):
        raise problem("must be a string")
    text = value.strip()
    if not 0 < len(text) <= 100 or not text.isprintable():
        raise problem("must be 1 to 100 printable characters")
    return text


def _https_url(value: Any) -> str:
    """A URL a consumer's browser loads (a logo): https only."""
    if not isinstance(value, str):
        raise problem("must be a string")
    try:
        parts = urlsplit(value)
        ok = parts.scheme == "https" and bool(parts.hostname) and len(value) <= 2000
    except ValueError:
        ok = False
    if not ok:
        raise problem(f"must be an https:// URL, not '{value[:200]}'")
    return value


class PartnerModel(Strict):
    email: Email | None = None
    timezone: TimeZone = "UTC"
    caps: Caps = {}
    hours: Hours | None = None
    filters: Any = None  # a condition, parsed by hand
    price: Money | None = None
    price_from_answer: bool = False  # the price in the buyer's answer (response price_path) is the sale's
    cancel_period: Duration = "7d"
    paused: bool = False
    channel: ChannelModel | None = None
    dedup: DedupModel | None = None  # never the same person twice within the window
    suppression: Names = []  # lists that remove this partner from a lead's candidates
    failover: list[ChannelModel] = []  # tried in order when the channel before ends in error
    ping: PingModel | None = None  # the ping before the post (its mapping checked by hand)
    ping_pii: PingPii = None  # "allowed": the ping may carry personal fields; canonical None: refused
    legal_name: str | None = None  # the seller's name in a consumer's consent (checked by hand)
    aliases: list[str] = []  # other names of the seller in a consent (trade names, brands)
    pacing: Annotated[str | None, BeforeValidator(_pacing)] = None  # even: the day cap over the hours
    # the circuit breaker's thresholds; None: the defaults; ``off``: {enabled: false}
    breaker: Annotated[BreakerModel | None, BeforeValidator(breaker_switch)] = None
    adaptive_ping_timeout: AdaptivePingTimeoutModel | None = None  # the ping's p99 plus a margin
    min_price: Money | None = None  # an auction sells to it at no less (where the rule sets no floor)
    display_name: Annotated[str, BeforeValidator(_display_name)] | None = None  # user_choice: shown name
    logo_url: Annotated[str, BeforeValidator(_https_url)] | None = None  # user_choice: its logo (https)
    show_price: bool = False  # user_choice: its offers show its price
    budget: Budget = {}  # money per hour/day/week/month/total (domain.budgets)
    wallet: WalletConfig | None = None  # prepaid funds or a credit limit (domain.budgets)
    returns: ReturnsModel | None = None  # whether and how it may return leads (configuration.returns)
    invoicing: InvoicingConfig | None = None  # its invoices' period, on its timezone

    @model_validator(mode="after")
    def _reservable(self) -> PartnerModel:
        if (self.budget or self.wallet is not None) and self.price_from_answer and self.price is None:
            raise problem(
                "a partner priced from its answer with a budget or a wallet needs a list price ('price'):"
                " it is what a lead reserves until the answer is known"
            )
        return self

    def to_spec(self, name: str) -> PartnerSpec:
        filters = parse_condition(self.filters, f"partners.{name}.filters") if self.filters else None
        return PartnerSpec(
            name=name,
            timezone=self.timezone,
            email=self.email,
            caps=_caps(self.caps),
            hours=parse_hours(self.hours) if self.hours is not None else None,
            filters=filters,
            paused=self.paused,
            channel=self.channel.to_spec(self.email) if self.channel is not None else None,
            price=self.price,
            price_from_answer=self.price_from_answer,
            cancel_period_s=parse_duration(self.cancel_period),
            dedup=_dedup(self.dedup),
            suppression=tuple(self.suppression),
            failover=tuple(step.to_spec(self.email) for step in self.failover),
            ping=self.ping.to_spec() if self.ping is not None else None,
            ping_pii=self.ping_pii == "allowed",
            legal_name=self.legal_name,
            aliases=tuple(self.aliases),
            pacing=Pacing(self.pacing) if self.pacing is not None else None,
            breaker=self.breaker.to_spec() if self.breaker is not None else DEFAULT_POLICY,
            adaptive_ping_margin_ms=(
                self.adaptive_ping_timeout.margin_ms() if self.adaptive_ping_timeout is not None else None
            ),
            min_price=self.min_price,
            display_name=self.display_name,
            logo_url=self.logo_url,
            show_price=self.show_price,
            budget=budget_of(self.budget),
            wallet=self.wallet.to_spec() if self.wallet is not None else None,
            returns=self.returns.to_spec() if self.returns is not None else None,
            invoicing=self.invoicing.to_spec() if self.invoicing is not None else Invoicing(),
        )


# ---------------------------------------------------------------- profiles


def _deadline(text: str) -> str:
    if parse_duration(text) > MAX_PING_TIMEOUT_S:
        raise problem(f"must be at most {MAX_PING_TIMEOUT_S:g}s")
    return text


def _offer_ttl(text: str) -> str:
    if parse_duration(text) > MAX_OFFER_TTL_S:
        raise problem("must be at most 7d")
    return text


AUCTION_KEYS = ("deadline", "floor", "max_posts", "shared")  # a target's keys that only an auction has


TIER_STRATEGIES = (Strategy.PRIORITY.value, Strategy.AUCTION.value)


class TierModel(Strict):
    partners: Names = []
    strategy: Annotated[str, BeforeValidator(choice("strategy", TIER_STRATEGIES))] = "priority"
    floor: Money | None = None

    def to_spec(self) -> Tier:
        return Tier(tuple(self.partners), Strategy(self.strategy), self.floor)


class SharedModel(Strict):
    max: Annotated[int, Field(ge=2, le=10)] = 2


USER_CHOICE_KEYS = ("offer_ttl",)  # a target's keys that only user_choice has
MAX_OFFER_TTL_S = 7 * 86_400.0


class TargetModel(Strict):
    partner: str | None = None
    partners: Names | None = None
    strategy: Annotated[str, BeforeValidator(choice("strategy", STRATEGIES))] = "priority"
    weights: dict[str, PositiveInt] = {}
    priorities: dict[str, Rank] = {}
    deadline: Annotated[PositiveDuration, AfterValidator(_deadline)] | None = None  # auction: 750ms
    floor: Money | None = None  # auction: the lowest winning bid
    max_posts: Annotated[int, Field(ge=1, le=10)] | None = None  # auction: posts per lead, 3
    offer_ttl: Annotated[PositiveDuration, AfterValidator(_offer_ttl)] | None = None  # user_choice: 10m
    tiers: list[TierModel] | None = None  # waterfall: the tiers in order
    shared: SharedModel | None = None  # auction, waterfall: sell to up to N buyers at their shared bids
    prices: dict[str, Money] = {}  # the rule's price per partner (instead of the partner's list price)

    def to_spec(self) -> Target:
        """The target of a canonical document (``partners``, with weights and priorities in their order)."""
        partners = tuple(self.partners or ())
        return Target(
            partners,
            Strategy(self.strategy),
            dict(self.weights),
            dict(self.priorities),
            deadline_s=parse_duration(self.deadline) if self.deadline is not None else 0.75,
            floor=self.floor,
            max_posts=self.max_posts if self.max_posts is not None else 3,
            offer_ttl_s=parse_duration(self.offer_ttl) if self.offer_ttl is not None else 600.0,
            tiers=tuple(tier.to_spec() for tier in self.tiers or ()),
            shared_max=self.shared.max if self.shared is not None else 1,
            prices=dict(self.prices),
        )


class RuleModel(Strict):
    name: Name
    when: Present  # a condition, parsed by hand
    send_to: Present  # a target, checked by hand


class ProfileModel(Strict):
    entity: str
    enabled: bool = True
    auto_redistribute: bool = False
    partner_caps: dict[str, Caps] = {}
    email_to: Annotated[list[Email], AfterValidator(unique)] = []
    dedup: DedupModel | None = None
    suppression: Names = []
    require_consent: bool = False  # a lead without its entity's consent field is unsold: "no consent"
    partner_prices: dict[str, Money] = {}  # the profile's price per partner (a rule's prices come first)
    partner_budgets: dict[str, Budget] = {}  # money caps per partner within the profile
    rules: list[RuleModel] = []
    default: Any = None  # a target or null, checked by hand

    def to_spec(self, name: str) -> ProfileSpec:
        rules = tuple(
            Rule(
                rule.name,
                parse_condition(rule.when, f"profiles.{name}.rules[{i}].when"),
                TargetModel.stored(rule.send_to).to_spec(),
            )
            for i, rule in enumerate(self.rules)
        )
        return ProfileSpec(
            name=name,
            entity=self.entity,
            rules=rules,
            default=TargetModel.stored(self.default).to_spec() if self.default is not None else None,
            enabled=self.enabled,
            auto_redistribute=self.auto_redistribute,
            partner_caps={partner: _caps(caps) for partner, caps in self.partner_caps.items()},
            email_to=tuple(self.email_to),
            dedup=_dedup(self.dedup),
            suppression=tuple(self.suppression),
            require_consent=self.require_consent,
            partner_prices=dict(self.partner_prices),
            partner_budgets={partner: budget_of(b) for partner, b in self.partner_budgets.items()},
        )


class SmtpModel(Strict):
    host: EnvText = "127.0.0.1"
    port: EnvPort | None = None  # None: by security
    security: Annotated[Security, BeforeValidator(choice("security", get_args(Security)))] = "none"
    username: EnvText | None = None
    password: EnvText | None = None
    sender: EnvEmail = "leadrelay@localhost"
    timeout: PositiveDuration = "10s"

    @model_validator(mode="after")
    def _default_port(self) -> SmtpModel:
        if self.port is None:
            self.port = {"none": 25, "starttls": 587, "tls": 465}[self.security]
        return self

    def to_spec(self) -> SmtpSettings:
        """The settings of a document whose ``${ENV_VAR}`` references are resolved (``smtp_settings``)."""
        assert isinstance(self.port, int), "the port's reference is resolved first"
        return SmtpSettings(
            host=self.host,
            port=self.port,
            security=self.security,
            username=self.username,
            password=self.password,
            sender=self.sender,
            timeout_s=parse_duration(self.timeout),
        )


def _dedup(model: DedupModel | None) -> DedupSpec | None:
    return model.to_spec() if model is not None else None


def _caps(caps: dict[str, int]) -> dict[CapPeriod, int]:
    return {CapPeriod(period): count for period, count in caps.items()}


MODELS: dict[str, type[Strict]] = {
    "entities": EntityModel,
    "sources": SourceModel,
    "partners": PartnerModel,
    "profiles": ProfileModel,
    "smtp": SmtpModel,
    "alerts": AlertModel,
}
