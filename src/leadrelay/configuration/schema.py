"""The shape of a configuration document, as pydantic models, and the small parsers they share.

Every closed set (field types, cap periods, strategies, …) is checked by a validator that answers with
"did you mean" so an operator sees ``unknown strategy 'round-robin'; did you mean 'round_robin'?``. Each
validator returns the canonical form of its value (durations as "10s", hours as ``format_hours`` gives
them), so dumping a validated model is the canonical document. Conditions and targets are parsed by hand
(``leadrelay.domain.condition_syntax`` and ``load``), which is why some fields are typed ``Any`` here.
"""

from __future__ import annotations

import functools
import math
import re
import zoneinfo
from collections.abc import Callable, Iterable
from typing import Annotated, Any
from urllib.parse import urlsplit

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from leadrelay.domain.hours import format_hours, parse_hours
from leadrelay.domain.model import CapPeriod, FieldType, Strategy
from leadrelay.domain.suggestions import suggest as suggest
from leadrelay.domain.suggestions import unknown as unknown
from leadrelay.templating.messages import check_template

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
NAME_RULE = "use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
FIELD_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
ENV_REF_RE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_EMAIL_RE = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")
_CONTENT_TYPE_RE = re.compile(r"[\w.+-]+/[\w.+-]+(?:[ \t]*;[ -~\t]*)?", re.ASCII)
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
CAP_PERIODS = tuple(p.value for p in CapPeriod)
STRATEGIES = tuple(s.value for s in Strategy)
DEFAULT_SUBJECT = "New lead: {{ lead.first_name }} {{ lead.last_name }}"

# What the storage holds, so that a value `apply` accepts can never fail a routing or a delivery later.
INT_MAX = 2**31 - 1  # an INTEGER column on PostgreSQL: cap counters, attempt numbers, batch sizes
MAX_ATTEMPTS = 100  # retries double their delay: beyond this the schedule is meaningless (and overflows)
MAX_PRICE = 1_000_000_000  # prices are stored as doubles: exact to the cent well past this
MAX_DURATION_S = 3660 * 86_400  # about ten years: windows are subtracted from today's date
MAX_WAIT_S = 60  # a source's default ?wait, bounded as the parameter is


def problem(message: str) -> PydanticCustomError:
    """A pydantic error whose message is ours verbatim (braces in it are not format fields)."""
    return PydanticCustomError("leadrelay", "{message}", {"message": message})


# ---------------------------------------------------------------- durations


def parse_duration(value: Any) -> float:
    """Seconds from ``"500ms"``, ``"10s"``, ``"2m"``, ``"3h"``, ``"7d"`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or text like '10s'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION_RE.match(value)):
        seconds = float(match[1]) * _UNIT_MS[match[2]] / 1000
    else:
        raise ValueError(
            f"invalid duration {value!r}: use e.g. '500ms', '10s', '2m', '7d' or a number of seconds"
        )
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid duration {value!r}: must be zero or more")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"invalid duration {value!r}: must be at most {MAX_DURATION_S // 86_400}d")
    return seconds


def format_duration(seconds: float) -> str:
    """The canonical text of a duration, in the largest exact unit, to the millisecond."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    for unit, size in _UNIT_MS.items():
        if ms % size == 0:
            return f"{ms // size}{unit}"
    raise AssertionError("unreachable: every whole number of milliseconds has a unit")


def _duration(value: Any) -> str:
    try:
        return format_duration(parse_duration(value))
    except ValueError as exc:
        raise problem(str(exc)) from None


def _wait(value: Any) -> str:
    text = _duration(value)
    if parse_duration(text) > MAX_WAIT_S:
        raise problem(f"must be at most {MAX_WAIT_S}s (the longest ?wait a post may ask for)")
    return text


def _positive_duration(value: Any) -> str:
    text = _duration(value)
    if text == "0s":
        raise problem("must be more than zero")
    return text


# ---------------------------------------------------------------- scalar validators


def _int_in(low: int, high: int, what: str) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise problem(f"must be {what} ({low} to {high})")
        return value

    return check


_positive_int = _int_in(1, INT_MAX, "a positive integer")


def _money(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise problem("must be a number, zero or more")
    if value > MAX_PRICE or not math.isfinite(value):  # compared before float(): 10**400 overflows it
        raise problem(f"must be a number of at most {MAX_PRICE}")
    return float(value)


def _choice(what: str, choices: Iterable[str]) -> Callable[[Any], str]:
    allowed = tuple(choices)

    def check(value: Any) -> str:
        if value not in allowed:
            if not isinstance(value, str):
                raise problem(f"must be one of: {', '.join(allowed)}")
            raise problem(unknown(what, value, allowed))
        return str(value)

    return check


def _name(value: Any) -> str:
    if not isinstance(value, str):
        raise problem("must be a string")
    if not NAME_RE.match(value):
        raise problem(f"invalid name '{value}': {NAME_RULE}")
    return value


def _field_name(value: Any) -> str:
    if not isinstance(value, str) or not FIELD_NAME_RE.match(value):
        raise problem(f"invalid field name {value!r}: use letters, digits and '_', not starting with a digit")
    return value


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _timezone(value: Any) -> str:
    if not isinstance(value, str):
        raise problem("must be a string")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise problem(unknown("time zone", value, _zones())) from None
    return value


def _email(value: Any) -> str:
    if not isinstance(value, str):
        raise problem("must be a string")
    if not _EMAIL_RE.match(value.strip()):
        raise problem(f"not an email address: '{value}'")
    return value.strip()


def _emails(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _url(value: Any) -> str:
    if not isinstance(value, str):
        raise problem("must be a string")
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise problem(f"must be an http:// or https:// URL, not '{value}'")
    return value


def _template(value: Any) -> str:
    if not isinstance(value, str):
        raise problem("must be a string")
    error = check_template(value)
    if error is not None:
        raise problem(f"invalid template: {error}")
    return value


def _hours(value: Any) -> dict[str, str]:
    example = 'e.g. {mon-fri: "08:00-18:00"}'
    if not isinstance(value, dict):
        raise problem(f"must be a mapping of days to times, {example}")
    for day, times in value.items():
        texts = times if isinstance(times, list) else [times]
        if not isinstance(day, str) or not all(isinstance(t, str) for t in texts):
            raise problem(f'must map days to "HH:MM-HH:MM" text or lists of it, {example}')
    try:
        return format_hours(parse_hours(value))
    except ValueError as exc:
        raise problem(f"invalid hours: {exc}") from None


def _cap_order(caps: dict[str, int]) -> dict[str, int]:
    return {p: caps[p] for p in CAP_PERIODS if p in caps}


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise problem(f"'{item}' is listed twice")
        seen.add(item)
    return items


def _env_or(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def validate(value: Any) -> Any:
        if isinstance(value, str) and ENV_REF_RE.match(value):
            return value
        return check(value)

    return validate


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise problem("must be a port number (1-65535) or a ${ENV_VAR} reference")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise problem("must be a string or a ${ENV_VAR} reference")
    return value


def _present(value: Any) -> Any:
    if value is None:
        raise problem("required")
    return value


Present = Annotated[Any, BeforeValidator(_present)]
PositiveInt = Annotated[int, BeforeValidator(_positive_int)]
Attempts = Annotated[int, BeforeValidator(_int_in(1, MAX_ATTEMPTS, "a positive integer"))]
Rank = Annotated[int, BeforeValidator(_int_in(-INT_MAX, INT_MAX, "an integer"))]
Duration = Annotated[str, BeforeValidator(_duration)]
PositiveDuration = Annotated[str, BeforeValidator(_positive_duration)]
Wait = Annotated[str, BeforeValidator(_wait)]
Money = Annotated[float, BeforeValidator(_money)]
Name = Annotated[str, BeforeValidator(_name)]
FieldName = Annotated[str, BeforeValidator(_field_name)]
TimeZone = Annotated[str, BeforeValidator(_timezone)]
Email = Annotated[str, BeforeValidator(_email)]
Emails = Annotated[list[Email], BeforeValidator(_emails), AfterValidator(_unique), Field(min_length=1)]
Url = Annotated[str, BeforeValidator(_url)]
Template = Annotated[str, BeforeValidator(_template)]
Hours = Annotated[dict[str, str], BeforeValidator(_hours)]
CapPeriodName = Annotated[str, BeforeValidator(_choice("cap period", CAP_PERIODS))]
Caps = Annotated[dict[CapPeriodName, PositiveInt], AfterValidator(_cap_order)]
Names = Annotated[list[str], AfterValidator(_unique)]
FieldNames = Annotated[list[FieldName], AfterValidator(_unique)]
EnvText = Annotated[str, BeforeValidator(_env_or(_text))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


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
    scope: Annotated[str, BeforeValidator(_choice("dedup scope", ("entity", "global")))] = "entity"


class FieldModel(Strict):
    type: Annotated[str, BeforeValidator(_choice("field type", [t.value for t in FieldType]))] = "string"
    required: bool = False
    max_length: PositiveInt | None = None
    choices: Annotated[list[str], AfterValidator(_unique)] = []
    sensitive: bool = False
    region: Region | None = None  # phone fields: the default country (else the entity's region)

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
        return self


class EntityModel(Strict):
    fields: Annotated[dict[FieldName, FieldModel], Field(min_length=1)]
    region: Region = "US"  # the default country of phone numbers
    dedup: DedupModel | None = None
    suppression: Names = []  # suppression lists every lead of this entity is checked against


class SourceModel(Strict):
    entities: Names = []
    wait: Wait = "0s"


# ---------------------------------------------------------------- partners and channels


def _content_type(value: Any) -> str:
    if not isinstance(value, str):
        raise problem("must be a string")
    if not _CONTENT_TYPE_RE.fullmatch(value):
        raise problem(f"not a content type: '{value}' (e.g. application/vnd.acme+json; charset=utf-8)")
    return value


ContentType = Annotated[str, BeforeValidator(_content_type)]
STATUS_POLICIES = ("strict", "body")


def _response(value: Any) -> dict[str, Any] | None:
    """LeadConduit's response options, checked as ``ResponseRules.from_mapping`` checks them; a bad one is
    reported at ``response.<option>``. The canonical form keeps the options that say something, in
    LeadConduit's order: text trimmed, ``outcome_on_match`` lowercased, ``fallback_price`` a number."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise problem(
            "must be a mapping of LeadConduit response options, e.g. {outcome_search_term: accepted}"
        )
    from leadrelay.domain.delivery.response import OPTIONS, ResponseRules, ResponseRulesError  # lxml: lazily

    try:
        for name in value:  # YAML keys may be numbers; from_mapping expects names
            if not isinstance(name, str):
                raise ResponseRulesError(
                    str(name), f"unknown response option {name!r}; known: {', '.join(OPTIONS)}"
                )
        price = value.get("fallback_price")
        if isinstance(price, int | float) and not isinstance(price, bool) and not abs(price) <= MAX_PRICE:
            raise ResponseRulesError("fallback_price", f"fallback_price must be at most {MAX_PRICE}")
        rules = ResponseRules.from_mapping(value)
        if rules.fallback_price is not None and not abs(rules.fallback_price) <= MAX_PRICE:
            raise ResponseRulesError("fallback_price", f"fallback_price must be at most {MAX_PRICE}")
    except ResponseRulesError as exc:
        where = InitErrorDetails(type=problem(str(exc)), loc=(str(exc.option),), input=value.get(exc.option))
        raise ValidationError.from_exception_data("response", [where]) from None  # at response.<option>
    canonical = {name: getattr(rules, name) for name in OPTIONS if getattr(rules, name) is not None}
    return canonical or None


ResponseOptions = Annotated[dict[str, Any] | None, BeforeValidator(_response)]


class WebhookModel(Strict):
    """A buyer's HTTP endpoint. What it receives: every field, a chosen list (``fields``), or an explicit
    ``mapping`` / conditional ``mappings`` (checked by hand, ``leadrelay.templating.mapping``)."""

    url: Url
    format: Annotated[str, BeforeValidator(_choice("format", ("json", "form", "xml")))] = "json"
    method: Annotated[str, BeforeValidator(_choice("method", ("POST", "PUT", "PATCH", "GET")))] = "POST"
    headers: dict[str, str] = {}
    timeout: PositiveDuration = "10s"
    max_attempts: Attempts = 3
    fields: FieldNames | None = None
    mapping: Any = None  # destination path -> value
    mappings: Any = None  # [{when, mapping}, ..., {mapping}]
    ascii: bool = False  # transliterate text to ASCII (Mêl -> Mel)
    content_type: ContentType | None = None  # overrides the format's; a Content-Type header overrides both
    response: ResponseOptions = None  # LeadConduit response options: how the buyer's answer reads
    status_policy: Annotated[str, BeforeValidator(_choice("status policy", STATUS_POLICIES))] = "strict"
    auth: Any = (
        None  # checked by hand (configuration.partner_auth): headers | api_key | bearer | basic | oauth2
    )
    signing: Any = None  # {secret, scheme: standard-webhooks}, checked by hand

    @model_validator(mode="after")
    def _coherent(self) -> WebhookModel:
        given = [name for name in ("fields", "mapping", "mappings") if getattr(self, name) is not None]
        if len(given) > 1:
            raise problem(
                f"give one of 'fields', 'mapping' or 'mappings', not {' and '.join(repr(g) for g in given)}: "
                "every field (none of them), a chosen list, or an explicit mapping"
            )
        if self.method == "GET" and self.format == "xml":
            raise problem("GET sends the values in the query string; an XML body needs POST, PUT or PATCH")
        if self.status_policy == "body" and self.response is None:
            raise problem(
                "status_policy 'body' reads the outcome from the answer's body: it needs 'response' rules "
                "(e.g. response: {outcome_search_term: accepted})"
            )
        return self


class EmailModel(Strict):
    to: Emails | None = None  # None: the partner's email
    subject: Template = DEFAULT_SUBJECT
    body: Template | None = None
    html: bool = False
    attach: Annotated[str, BeforeValidator(_choice("attachment format", ("csv", "json")))] | None = None
    max_attempts: Attempts = 3
    fields: FieldNames | None = None
    digest: Any = None  # None: one message per lead; else a DigestModel (configuration.batching)


class HoldModel(Strict):
    """Store the lead for pick-up (``GET /v1/holds``, CSV export) until an operator releases it."""

    fields: FieldNames | None = None


CHANNEL_KINDS = ("webhook", "email", "hold", "file")


class ChannelModel(Strict):
    webhook: WebhookModel | None = None
    email: EmailModel | None = None
    hold: HoldModel | None = None
    file: Any = None  # a FileModel (configuration.batching), checked by hand

    @model_validator(mode="after")
    def _one(self) -> ChannelModel:
        if sum(getattr(self, kind) is not None for kind in CHANNEL_KINDS) != 1:
            raise problem("give exactly one channel: 'webhook', 'email', 'hold' or 'file'")
        return self


class PartnerModel(Strict):
    email: Email | None = None
    timezone: TimeZone = "UTC"
    caps: Caps = {}
    hours: Hours | None = None
    filters: Any = None  # a condition, parsed by hand
    price: Money | None = None
    cancel_period: Duration = "7d"
    paused: bool = False
    channel: ChannelModel | None = None
    dedup: DedupModel | None = None  # never the same person twice within the window
    suppression: Names = []  # lists that remove this partner from a lead's candidates
    failover: list[ChannelModel] = []  # tried in order when the channel before ends in error


# ---------------------------------------------------------------- profiles


class TargetModel(Strict):
    partner: str | None = None
    partners: Names | None = None
    strategy: Annotated[str, BeforeValidator(_choice("strategy", STRATEGIES))] = "priority"
    weights: dict[str, PositiveInt] = {}
    priorities: dict[str, Rank] = {}


class RuleModel(Strict):
    name: Name
    when: Present  # a condition, parsed by hand
    send_to: Present  # a target, checked by hand


class ProfileModel(Strict):
    entity: str
    enabled: bool = True
    auto_redistribute: bool = False
    partner_caps: dict[str, Caps] = {}
    email_to: Annotated[list[Email], AfterValidator(_unique)] = []
    dedup: DedupModel | None = None
    suppression: Names = []
    rules: list[RuleModel] = []
    default: Any = None  # a target or null, checked by hand


class SmtpModel(Strict):
    host: EnvText = "127.0.0.1"
    port: Annotated[int | str, BeforeValidator(_env_or(_port))] | None = None  # None: by security
    security: Annotated[str, BeforeValidator(_choice("security", ("none", "starttls", "tls")))] = "none"
    username: EnvText | None = None
    password: EnvText | None = None
    sender: Annotated[str, BeforeValidator(_env_or(_email))] = "leadrelay@localhost"
    timeout: PositiveDuration = "10s"

    @model_validator(mode="after")
    def _default_port(self) -> SmtpModel:
        if self.port is None:
            self.port = {"none": 25, "starttls": 587, "tls": 465}[self.security]
        return self


MODELS: dict[str, type[Strict]] = {
    "entities": EntityModel,
    "sources": SourceModel,
    "partners": PartnerModel,
    "profiles": ProfileModel,
    "smtp": SmtpModel,
}
