"""A partner's channels as configuration: a webhook, an email (one per lead, or a digest), a hold, or a
batch file, and how each becomes the domain's channel spec.

A webhook's ``mapping`` / ``mappings`` (``configuration.mappings``), ``auth`` and ``signing``
(``configuration.partner_auth``), an email's ``digest`` and a ``file`` (``configuration.batching``) are
checked on their own by ``configuration.validation``, so that their problems come with the others of the
partner; here they are typed ``Any`` and read with their own models in ``to_spec``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from leadrelay.configuration.batching import DigestModel, FileModel
from leadrelay.configuration.partner_auth import AuthModel, SigningModel
from leadrelay.configuration.values import (
    MAX_PRICE,
    Attempts,
    Emails,
    FieldNames,
    PositiveDuration,
    Strict,
    Template,
    Url,
    choice,
    parse_duration,
    problem,
)
from leadrelay.domain.model import ChannelSpec, EmailChannel, HoldChannel, WebhookChannel
from leadrelay.domain.partner_auth import check_header

DEFAULT_SUBJECT = "New lead: {{ lead.first_name }} {{ lead.last_name }}"
_CONTENT_TYPE_RE = re.compile(r"[\w.+-]+/[\w.+-]+(?:[ \t]*;[ -~\t]*)?", re.ASCII)


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


def _sendable_headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        check_header(name, value)
    return headers


class WebhookModel(Strict):
    """A buyer's HTTP endpoint. What it receives: every field, a chosen list (``fields``), or an explicit
    ``mapping`` / conditional ``mappings`` (checked by hand, ``leadrelay.templating.mapping``)."""

    url: Url
    format: Annotated[str, BeforeValidator(choice("format", ("json", "form", "xml")))] = "json"
    method: Annotated[str, BeforeValidator(choice("method", ("POST", "PUT", "PATCH", "GET")))] = "POST"
    headers: Annotated[dict[str, str], AfterValidator(_sendable_headers)] = {}
    timeout: PositiveDuration = "10s"
    max_attempts: Attempts = 3
    fields: FieldNames | None = None
    mapping: Any = None  # destination path -> value
    mappings: Any = None  # [{when, mapping}, ..., {mapping}]
    ascii: bool = False  # transliterate text to ASCII (Mêl -> Mel)
    content_type: ContentType | None = None  # overrides the format's; a Content-Type header overrides both
    response: ResponseOptions = None  # LeadConduit response options: how the buyer's answer reads
    status_policy: Annotated[str, BeforeValidator(choice("status policy", STATUS_POLICIES))] = "strict"
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

    def to_spec(self) -> WebhookChannel:
        return WebhookChannel(
            url=self.url,
            format=self.format,
            method=self.method,
            headers=dict(self.headers),
            timeout_s=parse_duration(self.timeout),
            max_attempts=self.max_attempts,
            fields=_tuple(self.fields),
            mapping=self.mapping if self.mapping is not None else self.mappings,
            ascii=self.ascii,
            content_type=self.content_type,
            response=dict(self.response) if self.response is not None else None,
            auth=AuthModel.stored(self.auth).to_spec() if self.auth else None,
            signing=SigningModel.stored(self.signing).to_spec() if self.signing else None,
            status_policy=self.status_policy,
        )


MAX_PING_TIMEOUT_S = 10.0


def _ping_timeout(text: str) -> str:
    if parse_duration(text) > MAX_PING_TIMEOUT_S:
        raise problem(f"must be at most {MAX_PING_TIMEOUT_S:g}s: a ping answers within an auction's deadline")
    return text


def _ping_pii(value: Any) -> str | None:
    """``allowed``, or ``refused`` (the default, canonical null)."""
    if value not in ("allowed", "refused", None):
        raise problem("must be 'allowed' (the ping may carry personal fields) or 'refused' (the default)")
    return "allowed" if value == "allowed" else None


def _never_retried(value: Any) -> int:
    raise problem("a ping is sent once, never retried: leave out 'max_attempts'")


PingTimeout = Annotated[PositiveDuration, AfterValidator(_ping_timeout)]
PingPii = Annotated[str | None, BeforeValidator(_ping_pii)]


class PingModel(WebhookModel):
    """A partner's ping: a webhook request of its own (url, method, format, headers, auth, signing,
    mapping or fields, response rules), sent once (never retried) within ``timeout`` (at most 10s). Its
    answer is a bid: accepted or not by the response rules, the price at ``response.price_path`` (without
    rules: a JSON body's ``price``), the reference at ``response.reference_path`` (else ``reference``/``id``).
    Which fields it may carry is checked with the partner (``configuration.ping``)."""

    timeout: PingTimeout = "1s"
    max_attempts: Annotated[int, BeforeValidator(_never_retried)] = 1  # left out of the canonical form

    @model_validator(mode="after")
    def _bid_price(self) -> PingModel:
        rules = self.response
        if rules is not None and "price_path" not in rules and "fallback_price" not in rules:
            why = problem(
                "a ping's response rules give the bid: add 'price_path' (where the answer says the price, "
                "e.g. price_path: bid.price) or 'fallback_price'"
            )
            where = InitErrorDetails(type=why, loc=("response", "price_path"), input=None)
            raise ValidationError.from_exception_data("ping", [where])  # at ping.response.price_path
        return self

    def to_spec(self) -> WebhookChannel:
        return replace(super().to_spec(), max_attempts=1)


class EmailModel(Strict):
    to: Emails | None = None  # None: the partner's email
    subject: Template = DEFAULT_SUBJECT
    body: Template | None = None
    html: bool = False
    attach: Annotated[str, BeforeValidator(choice("attachment format", ("csv", "json")))] | None = None
    max_attempts: Attempts = 3
    fields: FieldNames | None = None
    digest: Any = None  # None: one message per lead; else a DigestModel (configuration.batching)

    def to_spec(self, partner_email: str | None) -> EmailChannel:
        return EmailChannel(
            to=tuple(self.to or [partner_email]),  # type: ignore[list-item]  # validation: one is given
            subject=self.subject,
            body=self.body,
            html=self.html,
            attach=self.attach,
            max_attempts=self.max_attempts,
            fields=_tuple(self.fields),
        )


class HoldModel(Strict):
    """Store the lead for pick-up (``GET /v1/holds``, CSV export) until an operator releases it."""

    fields: FieldNames | None = None

    def to_spec(self) -> HoldChannel:
        return HoldChannel(fields=_tuple(self.fields))


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

    def to_spec(self, partner_email: str | None) -> ChannelSpec:
        """The domain's channel; an email to no one in particular goes to the partner's ``email``."""
        if self.webhook is not None:
            return self.webhook.to_spec()
        if self.file is not None:
            return FileModel.stored(self.file).to_spec(partner_email)
        if self.email is not None and self.email.digest is not None:
            digest = DigestModel.stored(self.email.digest)
            return digest.to_spec(self.email.to, self.email.fields, self.email.max_attempts, partner_email)
        if self.email is not None:
            return self.email.to_spec(partner_email)
        assert self.hold is not None, "validation: exactly one channel"
        return self.hold.to_spec()


def _tuple(names: list[str] | None) -> tuple[str, ...] | None:
    return tuple(names) if names is not None else None
