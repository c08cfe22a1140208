"""Logs: stdlib ``logging`` (every module's ``logging.getLogger``) rendered by structlog.

One handler on the root logger, with structlog's ``ProcessorFormatter``: each line gets its time, level,
logger, the ids bound for the task (``leadrelay.log_context``: lead, job, delivery) and is redacted
(:func:`redact`), then rendered as one JSON object per line or, on a terminal, as readable text.

``LEADRELAY_LOG_FORMAT``: ``auto`` (default: text on a terminal, JSON otherwise), ``json`` or ``console``;
``LEADRELAY_LOG_LEVEL``: ``info`` by default.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor

REDACTED = "[redacted]"
# keys whose values are secrets wherever they appear (headers, settings, extra= fields)
_SECRET_KEY = re.compile(r"secret|token|passw|authorization|api[-_]?key|credential|cookie", re.IGNORECASE)
# leadrelay's own keys and tokens (lr_… source keys, lrp_… partner keys, lra_… admin tokens), and the
# credential after "Bearer"/"Basic" in a header value
_SECRET_TEXT = re.compile(r"\blr[a-z]?_[A-Za-z0-9_\-]{4,}|(?<=Bearer )[^\s\"',;]+|(?<=Basic )[^\s\"',;]+")
# the processors' own keys: never redacted
_PLAIN = frozenset(("event", "level", "logger", "timestamp", "lead_id", "job_id", "delivery_id", "exception"))


def _clean(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return (
            _SECRET_TEXT.sub(REDACTED, value)
            if "lr" in value or "Bearer" in value or "Basic" in value
            else value
        )
    if depth > 4:
        return value
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) else _clean(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_clean(v, depth + 1) for v in value]
    return value


def redact(_: Any, __: str, event: EventDict) -> EventDict:
    """Mask secrets: the value of every key named like a secret (token, password, authorization,
    api_key, secret, credential, cookie), at any depth, and leadrelay keys (``lr_…``, ``lrp_…``,
    ``lra_…``) and Bearer/Basic credentials inside any text, the message and a traceback included."""
    for key, value in list(event.items()):
        if key not in _PLAIN and _SECRET_KEY.search(key):
            event[key] = REDACTED
        elif isinstance(value, str | Mapping | list | tuple):
            event[key] = _clean(value)
    return event


def _drop_color_message(_: Any, __: str, event: EventDict) -> EventDict:
    event.pop("color_message", None)  # uvicorn's second copy of its message
    return event


def use_json(fmt: str, stream: TextIO) -> bool:
    if fmt == "json":
        return True
    if fmt == "console":
        return False
    isatty = getattr(stream, "isatty", None)
    return not (isatty is not None and isatty())


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Route every stdlib log record (and structlog's own loggers) through one formatter on ``stream``
    (stderr by default). Idempotent: a second call replaces the handler it installed."""
    stream = stream or sys.stderr
    as_json = use_json(fmt, stream)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_color_message,
    ]
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    # a traceback is text before it is redacted, in both formats
    final += [structlog.processors.format_exc_info, redact]
    if as_json:
        final.append(structlog.processors.JSONRenderer())
    else:
        isatty = getattr(stream, "isatty", None)
        final.append(structlog.dev.ConsoleRenderer(colors=bool(isatty and isatty())))
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=final)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.set_name("leadrelay")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "leadrelay"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # the migrations' chatter (each `serve` start) only when debugging
    logging.getLogger("alembic").setLevel(logging.DEBUG if level.lower() == "debug" else logging.WARNING)
    structlog.configure(  # structlog's own loggers (none in leadrelay yet) end in the same handler
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def redacted(mapping: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """``mapping`` as a log line would show it (for tests and for logging a request's headers)."""
    return redact(None, "", dict(mapping))
