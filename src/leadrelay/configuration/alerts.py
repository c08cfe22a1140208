"""Alert rules as configuration: the top-level ``alerts:`` list (or a mapping of names to rules).

::

    alerts:
      - name: acme-failing
        kind: failure_rate        # see leadrelay.domain.alert_checks for every kind
        threshold: 50             # percent for rates, ms for latency, jobs, a duration, money …
        window: 15m
        partners: [acme]          # optional: every partner by default
        min_requests: 10
        cool_down: 30m
        notify:
          email: [ops@example.com]
          webhook: {url: "https://hooks.example.com/leadrelay", secret: "${ALERT_SECRET}"}

Each rule is stored as an object of kind ``alerts`` under its name; ``export`` writes the list back.
"""

from __future__ import annotations

import math
import re
from datetime import time
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from leadrelay.configuration.values import (
    INT_MAX,
    MAX_PRICE,
    Emails,
    EnvText,
    Names,
    PositiveDuration,
    Strict,
    Url,
    choice,
    format_duration,
    parse_duration,
    problem,
)
from leadrelay.domain.alerts import PARTNER_KINDS, WINDOW_KINDS, AlertKind, AlertSpec, WebhookTarget
from leadrelay.domain.partner_auth import SigningSpec

__all__ = ["ALERT_KINDS", "AlertModel", "alert_sections"]

ALERT_KINDS = tuple(k.value for k in AlertKind)
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_PERCENT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_DEFAULT_WINDOW = {AlertKind.BATCH_FAILED: "1d"}
# kind -> (what the threshold is, required)
_THRESHOLDS: dict[AlertKind, tuple[str, bool]] = {
    AlertKind.FAILURE_RATE: ("percent", True),
    AlertKind.TIMEOUT_RATE: ("percent", True),
    AlertKind.LATENCY: ("ms", True),
    AlertKind.CAP_EARLY: ("percent", False),
    AlertKind.WALLET_LOW: ("money", True),
    AlertKind.QUEUE_BACKLOG: ("count", True),
    AlertKind.QUEUE_AGE: ("duration", True),
    AlertKind.BATCH_FAILED: ("count", False),
    AlertKind.CIRCUIT_OPEN: ("none", False),
}


def _local_time(value: Any) -> str:
    if not isinstance(value, str) or not _TIME_RE.match(value.strip()):
        raise problem('must be a local time "HH:MM", e.g. "14:00"')
    return value.strip()


class WebhookTargetModel(Strict):
    url: Url
    secret: EnvText | None = None  # Standard Webhooks signing (a literal is stored encrypted)

    @model_validator(mode="after")
    def _signable(self) -> WebhookTargetModel:
        if self.secret is not None:  # an empty one, or a whsec_ one that is not base64, signs nothing
            try:
                SigningSpec(self.secret)
            except ValueError as exc:
                raise problem(f"secret: {exc}") from None
        return self


class NotifyModel(Strict):
    email: Emails | None = None
    webhook: WebhookTargetModel | None = None

    @model_validator(mode="after")
    def _some(self) -> NotifyModel:
        if self.email is None and self.webhook is None:
            raise problem("give 'email: [addresses]' or 'webhook: {url: …}' (or both)")
        return self


class AlertModel(Strict):
    kind: Annotated[str, BeforeValidator(choice("alert kind", ALERT_KINDS))]
    threshold: Any = None  # by kind, checked by hand (see _threshold)
    window: PositiveDuration | None = None  # by kind: rates and latency 15m, batch_failed 1d
    partners: Names | None = None
    min_requests: Annotated[int, Field(ge=1, le=INT_MAX, strict=True)] | None = None
    before: Annotated[str, BeforeValidator(_local_time)] | None = None  # cap_early: the local time
    cool_down: PositiveDuration = "30m"
    notify: NotifyModel

    def to_spec(self, name: str) -> AlertSpec:
        kind = AlertKind(self.kind)
        what, _ = _THRESHOLDS[kind]
        threshold: float | Decimal | None
        if self.threshold is None:
            threshold = None
        elif what == "duration":
            threshold = parse_duration(self.threshold)
        elif what == "money":
            threshold = Decimal(str(self.threshold))
        else:
            threshold = float(self.threshold)
        hook = self.notify.webhook
        return AlertSpec(
            name=name,
            kind=kind,
            threshold=threshold,
            cool_down_s=parse_duration(self.cool_down),
            window_s=parse_duration(self.window) if self.window is not None else 900.0,
            partners=tuple(self.partners or ()),
            min_requests=self.min_requests if self.min_requests is not None else 10,
            before=time.fromisoformat(self.before) if self.before is not None else None,
            emails=tuple(self.notify.email or ()),
            webhook=WebhookTarget(hook.url, hook.secret) if hook is not None else None,
        )


def canonical_threshold(kind: AlertKind, value: Any) -> tuple[Any, str | None]:
    """The stored form of a rule's threshold, or the problem with it."""
    what, required = _THRESHOLDS[kind]
    if value is None:
        if required:
            return None, f"required: alert kind '{kind}' needs a threshold ({_EXAMPLES[what]})"
        return {"percent": 100.0, "count": 1}.get(what) if kind != AlertKind.CIRCUIT_OPEN else None, None
    if what == "none":
        return None, f"alert kind '{kind}' takes no threshold"
    if what == "duration":
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            return None, str(exc)
        return (format_duration(seconds), None) if seconds > 0 else (None, "must be more than zero")
    if what == "percent" and isinstance(value, str) and (match := _PERCENT_RE.match(value)):
        value = float(match[1])
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None, f"must be {_EXAMPLES[what]}"
    if what == "percent":
        return (
            (float(value), None) if 0 < value <= 100 else (None, "must be a percentage above 0, at most 100")
        )
    if what == "count":
        ok = isinstance(value, int) and 0 <= value <= INT_MAX
        return (value, None) if ok else (None, "must be a whole number, zero or more")
    if what == "money":
        return (float(value), None) if 0 <= value <= MAX_PRICE else (None, "must be an amount, zero or more")
    return (float(value), None) if value > 0 else (None, "must be a number of milliseconds above zero")


_EXAMPLES = {
    "percent": "a percentage, e.g. 20 or '20%'",
    "ms": "a number of milliseconds, e.g. 800",
    "money": "an amount of money, e.g. 100",
    "count": "a whole number, e.g. 500",
    "duration": "a duration, e.g. '10m'",
    "none": "nothing",
}


def check_alert(model: AlertModel, document: dict[str, Any]) -> list[tuple[str, str]]:
    """The problems of a validated rule (relative path, message), and its canonical fields filled in."""
    kind = AlertKind(model.kind)
    problems: list[tuple[str, str]] = []
    threshold, why = canonical_threshold(kind, model.threshold)
    if why is not None:
        problems.append(("threshold", why))
    document["threshold"] = threshold
    if kind in WINDOW_KINDS:
        document["window"] = model.window or _DEFAULT_WINDOW.get(kind, "15m")
    elif model.window is not None:
        problems.append(("window", f"alert kind '{kind}' has no window"))
    if kind not in PARTNER_KINDS and model.partners is not None:
        problems.append(("partners", f"alert kind '{kind}' is not about partners"))
    rates = (AlertKind.FAILURE_RATE, AlertKind.TIMEOUT_RATE, AlertKind.LATENCY)
    if kind in rates:
        document["min_requests"] = model.min_requests if model.min_requests is not None else 10
    elif model.min_requests is not None:
        problems.append(("min_requests", "applies only to failure_rate, timeout_rate and latency"))
    if kind is AlertKind.CAP_EARLY and model.before is None:
        problems.append(("before", 'required: the local time the day cap must last until, e.g. "14:00"'))
    elif kind is not AlertKind.CAP_EARLY and model.before is not None:
        problems.append(("before", "applies only to alert kind 'cap_early'"))
    return problems


def alert_sections(value: Any) -> tuple[dict[Any, Any], list[tuple[str, str]]]:
    """The ``alerts`` section as a mapping of names to rules: a list of rules with a ``name`` each (the
    documented form), or already a mapping (the stored form). Problems are (path, message)."""
    if isinstance(value, dict):
        return value, []
    if not isinstance(value, list):
        return {}, [("alerts", "must be a list of alert rules, each with a 'name'")]
    out: dict[Any, Any] = {}
    problems: list[tuple[str, str]] = []
    for i, rule in enumerate(value):
        if not isinstance(rule, dict):
            problems.append((f"alerts[{i}]", "must be a mapping"))
            continue
        name = rule.get("name")
        if not isinstance(name, str):
            problems.append((f"alerts[{i}].name", "required: the rule's name"))
            continue
        if name in out:
            problems.append((f"alerts[{i}].name", f"duplicate alert name '{name}'"))
            continue
        out[name] = {k: v for k, v in rule.items() if k != "name"}
    return out, problems


def stored_spec(name: str, doc: dict[str, Any]) -> AlertSpec:
    return AlertModel.stored(doc).to_spec(name)
