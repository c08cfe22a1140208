"""What the structured forms of the configuration pages show: for each kind of object (entity, source,
partner, profile), its sections and their inputs (``FORMS``), each named for the dotted path of its value in
the object's document. ``config_forms`` fills them from a document and reads them back."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from leadrelay.configuration.profiles import STRATEGIES as STRATEGIES
from leadrelay.configuration.schema import CAP_PERIODS
from leadrelay.domain.condition_tree import Op
from leadrelay.domain.model import FieldType

FIELD_TYPES = tuple(t.value for t in FieldType)
OPERATORS = tuple(op.value for op in Op)
METHODS = ("POST", "PUT", "PATCH", "GET")
FORMATS = ("json", "form", "xml")
BLANK_ROWS = 2  # empty rows for new entity fields


@dataclass(frozen=True, slots=True)
class Input:
    path: str  # the value's dotted path in the object's document
    label: str
    widget: str  # text | number | bool | select | list | secret | yaml | condition
    options: tuple[str, ...] = ()
    hint: str = ""
    default: Any = None  # what validation fills in when the value is left out (a flag's default)

    @property
    def name(self) -> str:
        return f"f.{self.path}"

    @property
    def id(self) -> str:
        return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.path)


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    inputs: tuple[Input, ...]


def _webhook(prefix: str, title: str, *, retries: bool) -> tuple[Section, Section]:
    request = (
        Input(f"{prefix}.url", "URL", "text", hint="http(s)://…"),
        Input(f"{prefix}.method", "Method", "select", ("", *METHODS)),
        Input(f"{prefix}.format", "Format", "select", ("", *FORMATS)),
        Input(f"{prefix}.timeout", "Timeout", "text", hint="e.g. 5s"),
        *((Input(f"{prefix}.max_attempts", "Attempts", "number"),) if retries else ()),
        Input(f"{prefix}.fields", "Fields sent", "list", hint="comma separated; blank: every field"),
        Input(f"{prefix}.mapping", "Mapping (YAML)", "yaml", hint="destination: {{ lead.field }} …"),
        Input(f"{prefix}.response", "Response rules (YAML)", "yaml", hint="e.g. {outcome_search_term: ok}"),
    )
    auth = (
        Input(f"{prefix}.auth.bearer.token", "Bearer token", "secret"),
        Input(f"{prefix}.auth.basic.username", "Basic auth user", "text"),
        Input(f"{prefix}.auth.basic.password", "Basic auth password", "secret"),
        Input(f"{prefix}.auth.api_key.name", "API key name", "text"),
        Input(f"{prefix}.auth.api_key.value", "API key value", "secret"),
        Input(f"{prefix}.auth.api_key.in", "API key in", "select", ("", "header", "query")),
        Input(f"{prefix}.signing.secret", "Signing secret", "secret"),
    )
    return Section(title, request), Section(f"{title}: authentication", auth)


FORMS: dict[str, tuple[Section, ...]] = {
    "partners": (
        Section(
            "General",
            (
                Input("email", "Email", "text"),
                Input("timezone", "Time zone", "text", hint="e.g. America/New_York"),
                Input("paused", "Paused", "bool"),
                Input("filters", "Filters", "condition"),
                Input("suppression", "Suppression lists", "list", hint="comma separated"),
            ),
        ),
        *_webhook("channel.webhook", "Webhook channel", retries=True),
        *_webhook("ping", "Ping", retries=False),
        Section(
            "Caps, hours and pacing",
            (
                *(
                    Input(f"caps.{p}", f"Cap per {p}" if p != "total" else "Cap in total", "number")
                    for p in CAP_PERIODS
                ),
                Input("pacing", "Pacing", "select", ("", "even"), hint="even: the day cap over the hours"),
                Input("hours", "Hours (YAML)", "yaml", hint='e.g. {mon-fri: "08:00-18:00"}'),
            ),
        ),
        Section(
            "Prices, budget and wallet",
            (
                Input("price", "Price", "number"),
                Input("min_price", "Minimum auction price", "number"),
                Input("cancel_period", "Cancel period", "text", hint="e.g. 7d"),
                Input("budget.day", "Budget per day", "number"),
                Input("budget.month", "Budget per month", "number"),
                Input("wallet.credit_limit", "Wallet credit limit", "number"),
                Input("wallet.low_balance", "Wallet low balance", "number"),
            ),
        ),
    ),
    "sources": (
        Section(
            "General",
            (
                Input("entities", "Entities", "list", hint="comma separated"),
                Input("wait", "Wait for the outcome", "text", hint="e.g. 0s, 10s"),
                Input("min_price", "Minimum auction price", "number"),
                Input("show_buyer", "Answers and postbacks name the buyer", "bool"),
            ),
        ),
        Section(
            "Payout and form",
            (
                Input("payout", "Payout (YAML)", "yaml", hint="e.g. {fixed: 5}"),
                Input("form", "Hosted form (YAML)", "yaml"),
            ),
        ),
    ),
    "entities": (
        Section(
            "General",
            (
                Input("region", "Region", "text", hint="phone numbers' country, e.g. US"),
                Input("dedup", "Duplicates (YAML)", "yaml", hint="e.g. {keys: [email], window: 30d}"),
                Input("suppression", "Suppression lists", "list", hint="comma separated"),
            ),
        ),
    ),
    "profiles": (
        Section(
            "General",
            (
                Input("entity", "Entity", "text"),
                Input("enabled", "Enabled", "bool", default=True),
                Input("auto_redistribute", "Redistribute automatically", "bool"),
                Input("default.partners", "Default target: partners", "list", hint="comma separated"),
                Input("default.strategy", "Default target: strategy", "select", ("", *STRATEGIES)),
            ),
        ),
    ),
}


def inputs(kind: str) -> Iterable[Input]:
    for section in FORMS[kind]:
        yield from section.inputs
