"""The shape of a configuration document: one pydantic model per kind of object (``MODELS``), and the domain
spec each validated model stands for (``to_spec``). Sources, partners and the SMTP settings are here;
entities are in ``configuration.entities``, profiles in ``configuration.profiles``.

The scalar values are typed in ``configuration.values``, the channels in ``configuration.channels``.
Conditions and targets are parsed by hand (``leadrelay.domain.condition_syntax`` and
``configuration.validation``), which is why some fields are typed ``Any`` here; their canonical form is what
``to_spec`` reads.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, model_validator

from leadrelay.configuration.alerts import AlertModel
from leadrelay.configuration.breaker import AdaptivePingTimeoutModel, BreakerModel, breaker_switch
from leadrelay.configuration.channels import CHANNEL_KINDS as CHANNEL_KINDS
from leadrelay.configuration.channels import ChannelModel, PingModel, PingPii
from leadrelay.configuration.entities import DedupModel, EntityModel, dedup_spec
from leadrelay.configuration.hosted_form import HostedFormModel
from leadrelay.configuration.invoicing import InvoicingConfig, SourceInvoicingConfig
from leadrelay.configuration.money import Budget, PayoutConfig, WalletConfig, budget_of
from leadrelay.configuration.postback import SourcePostbackModel
from leadrelay.configuration.profiles import ProfileModel
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
    Hours,
    Money,
    Names,
    PositiveDuration,
    Strict,
    TimeZone,
    Wait,
    cap_periods,
    choice,
    parse_duration,
    problem,
    suggest,
    unknown,
)
from leadrelay.domain.condition_syntax import parse_condition
from leadrelay.domain.health import DEFAULT_POLICY
from leadrelay.domain.hours import parse_hours
from leadrelay.domain.invoices import Invoicing
from leadrelay.domain.model import (
    Pacing,
    PartnerSpec,
    SourceSpec,
)
from leadrelay.domain.smtp import DEFAULT_PORTS, Security, SmtpSettings

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


# ---------------------------------------------------------------- sources


MAX_PING_TOKEN_TTL_S = 3600.0  # a quote is a buyer's bid of the moment: an hour at most


def _ping_token_ttl(text: str) -> str:
    if parse_duration(text) > MAX_PING_TOKEN_TTL_S:
        raise problem("must be at most 1h (a ping's bids do not hold longer)")
    return text


class SourceModel(Strict):
    entities: Names = []
    wait: Wait = "0s"
    min_price: Money | None = None  # an auction sells this source's leads at no less
    show_buyer: bool = False  # its answers and relayed postbacks name the buyer and the price
    # how long a POST /v1/ping quote (its ping_token) holds
    ping_token_ttl: Annotated[PositiveDuration, AfterValidator(_ping_token_ttl)] = "2m"
    payout: PayoutConfig | None = None  # how the source is paid (configuration.money)
    payouts_by_entity: dict[str, PayoutConfig] = {}  # per entity, instead of ``payout``
    postback: SourcePostbackModel | None = None  # events relayed to the source (configuration.postback)
    invoicing: SourceInvoicingConfig | None = None  # its statements' period (configuration.invoicing)
    form: HostedFormModel | None = None  # its hosted lead form (configuration.hosted_form)
    timezone: TimeZone = "UTC"  # its caps' clock
    caps: Caps = {}  # the valid leads it may send per hour/day/week/month/total (more: 429)

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
            timezone=self.timezone,
            caps=cap_periods(self.caps),
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
        if (self.budget or self.wallet is not None) and self.price_from_answer and not self.price:
            raise problem(
                "a partner priced from its answer with a budget or a wallet needs a list price more than 0"
                " ('price'): it is what a lead reserves until the answer is known"
            )
        return self

    def to_spec(self, name: str) -> PartnerSpec:
        filters = parse_condition(self.filters, f"partners.{name}.filters") if self.filters else None
        return PartnerSpec(
            name=name,
            timezone=self.timezone,
            email=self.email,
            caps=cap_periods(self.caps),
            hours=parse_hours(self.hours) if self.hours is not None else None,
            filters=filters,
            paused=self.paused,
            channel=self.channel.to_spec(self.email) if self.channel is not None else None,
            price=self.price,
            price_from_answer=self.price_from_answer,
            cancel_period_s=parse_duration(self.cancel_period),
            dedup=dedup_spec(self.dedup),
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
            self.port = DEFAULT_PORTS[self.security]
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


MODELS: dict[str, type[Strict]] = {
    "entities": EntityModel,
    "sources": SourceModel,
    "partners": PartnerModel,
    "profiles": ProfileModel,
    "smtp": SmtpModel,
    "alerts": AlertModel,
}
