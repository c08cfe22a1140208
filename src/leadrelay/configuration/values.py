"""The values a configuration document is made of, as pydantic types, and the small parsers they share.

Every closed set (field types, cap periods, strategies, …) is checked by a validator that answers with
"did you mean" so an operator sees ``unknown strategy 'round-robin'; did you mean 'round_robin'?``. Each
validator returns the canonical form of its value (durations as "10s", hours as ``format_hours`` gives
them), so dumping a validated model is the canonical document.
"""

from __future__ import annotations

import functools
import math
import re
import types
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Annotated, Any, TypeVar, Union, cast, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from leadrelay.domain.hours import format_hours, parse_hours
from leadrelay.domain.model import CapPeriod
from leadrelay.domain.suggestions import suggest as suggest
from leadrelay.domain.suggestions import unknown as unknown
from leadrelay.templating.messages import check_template

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
NAME_RULE = "use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
FIELD_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
ENV_REF_RE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_EMAIL_RE = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
CAP_PERIODS = tuple(p.value for p in CapPeriod)

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
    if isinstance(value, int):
        # an integer past a float's range is out of bounds too: clamped to just outside them
        seconds = float(max(-1, min(value, MAX_DURATION_S + 1)))
    elif isinstance(value, float):
        seconds = value
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


_CENT = Decimal("0.01")


def _money(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise problem("must be a number, zero or more")
    if value > MAX_PRICE or not math.isfinite(value):  # compared before float(): 10**400 overflows it
        raise problem(f"must be a number of at most {MAX_PRICE}")
    written = Decimal(str(value))  # as written (a float through its shortest text: 12.3 is 12.3)
    if written != written.quantize(_CENT):  # billed to the cent: 12.345 would be billed 12.35, said 12.345
        raise problem(f"must be in whole cents (at most two decimal places), not {value}")
    return float(value)


def choice(what: str, choices: Iterable[str]) -> Callable[[Any], str]:
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
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise problem(unknown("time zone", value[:100], _zones())) from None
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
    try:
        port = parts.port  # ValueError: not a number from 0 to 65535
    except ValueError:
        port = 0
    if port == 0:
        raise problem(f"its port must be a number from 1 to 65535, in '{value}'")
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


def unique(items: list[str]) -> list[str]:
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
Emails = Annotated[list[Email], BeforeValidator(_emails), AfterValidator(unique), Field(min_length=1)]
Url = Annotated[str, BeforeValidator(_url)]
Template = Annotated[str, BeforeValidator(_template)]
Hours = Annotated[dict[str, str], BeforeValidator(_hours)]
CapPeriodName = Annotated[str, BeforeValidator(choice("cap period", CAP_PERIODS))]
Caps = Annotated[dict[CapPeriodName, PositiveInt], AfterValidator(_cap_order)]
Names = Annotated[list[str], AfterValidator(unique)]
FieldNames = Annotated[list[FieldName], AfterValidator(unique)]
EnvText = Annotated[str, BeforeValidator(_env_or(_text))]
EnvPort = Annotated[int | str, BeforeValidator(_env_or(_port))]
EnvEmail = Annotated[str, BeforeValidator(_env_or(_email))]


class Strict(BaseModel):
    """A configuration model: unknown keys refused, no coercion but by the validators above."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @classmethod
    def stored(cls: type[_S], doc: Mapping[str, Any]) -> _S:
        """The model of a stored document, built without validating it again.

        What the store holds is what ``validate_document`` returned: canonical values, validated when the
        document was applied. Validating them once more would refuse a document a hand-edited database
        (or an older version) left out of range, which the runtime has always taken as it is.
        """
        values = {}
        for name, info in cls.model_fields.items():
            key = info.alias or name
            if key in doc:
                values[name] = _stored(info.annotation, doc[key])
        return cast(_S, cls.model_construct(**values))  # the mypy plugin types it as Strict


_S = TypeVar("_S", bound=Strict)


def _stored(annotation: Any, value: Any) -> Any:
    """``value`` with the mappings a model annotation types as models built as stored models."""
    annotation = unwrap(annotation)
    if value is None:
        return None
    if isinstance(annotation, type) and issubclass(annotation, Strict) and isinstance(value, Mapping):
        return annotation.stored(value)
    if get_origin(annotation) is list and isinstance(value, list):
        return [_stored(get_args(annotation)[0], item) for item in value]
    if get_origin(annotation) is dict and isinstance(value, Mapping):
        return {key: _stored(get_args(annotation)[1], item) for key, item in value.items()}
    return value


def unwrap(annotation: Any) -> Any:
    """The type inside ``Annotated[...]`` and ``X | None``."""
    while get_origin(annotation) in (Annotated, Union, types.UnionType):
        annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
    return annotation


def cap_periods(caps: Mapping[str, int]) -> dict[CapPeriod, int]:
    """Validated ``Caps`` as the domain counts them: by ``CapPeriod``."""
    return {CapPeriod(period): count for period, count in caps.items()}
