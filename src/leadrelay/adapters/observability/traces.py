"""Optional OpenTelemetry traces: one span per stage of a lead (``intake``, ``routing``, ``auction``,
``delivery``), each carrying the lead's id (``leadrelay.lead_id``) and, where known, the job, the
delivery and the partner.

Off unless the standard OpenTelemetry variables ask for it: ``OTEL_TRACES_EXPORTER=otlp`` (or
``console``), or an ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``;
``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` turn it off. Spans go out over OTLP/HTTP
(protobuf) in batches; the SDK reads its other variables itself (``OTEL_SERVICE_NAME``, default
``leadrelay``; ``OTEL_EXPORTER_OTLP_HEADERS``; ``OTEL_BSP_SCHEDULE_DELAY``…). It needs the ``otel``
extra (``pip install 'leadrelay[otel]'``). When off, nothing of OpenTelemetry is imported and a span is
one shared do-nothing object.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Protocol

log = logging.getLogger("leadrelay.traces")


class Span(Protocol):
    def set_attribute(self, key: str, value: Any) -> None: ...


class _NoSpan:
    """The span when tracing is off: a context manager that does nothing."""

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def set_attribute(self, key: str, value: Any) -> None:
        return None


_NO_SPAN = _NoSpan()


def wanted(env: Mapping[str, str]) -> str | None:
    """Which exporter the environment asks for (``otlp`` or ``console``), or None: tracing off."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        first = exporter.split(",")[0].strip()
        if first in ("otlp", "console"):
            return first
        if first != "none":
            log.warning(
                "OTEL_TRACES_EXPORTER=%s is not supported (otlp, console, none): tracing is off", first
            )
        return None
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return "otlp"
    return None


@functools.cache
def _tracer() -> Any:
    """The OpenTelemetry tracer, or None when tracing is off (decided once per process)."""
    exporter_name = wanted(os.environ)
    if exporter_name is None:
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
    except ImportError:
        log.warning("OpenTelemetry tracing is asked for but not installed (pip install 'leadrelay[otel]')")
        return None
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    exporter: SpanExporter
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    else:
        if protocol != "http/protobuf":
            log.warning("OTLP protocol %s is not supported: spans are sent as http/protobuf", protocol)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    named = "OTEL_SERVICE_NAME" in os.environ or "service.name" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    resource = Resource.create({} if named else {"service.name": "leadrelay"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    atexit.register(provider.shutdown)
    _providers.append(provider)
    return provider.get_tracer("leadrelay")


_providers: list[Any] = []


def enabled() -> bool:
    return _tracer() is not None


def span(name: str, attributes: Mapping[str, Any] | None = None) -> AbstractContextManager[Span]:
    """A span named ``name`` around a block (attributes: strings or numbers; None values left out)."""
    tracer = _tracer()
    if tracer is None:
        return _NO_SPAN
    attrs = {k: v for k, v in (attributes or {}).items() if v is not None}
    manager: AbstractContextManager[Span] = tracer.start_as_current_span(name, attributes=attrs)
    return manager


def flush(timeout_ms: int = 5000) -> None:
    """Send the spans still buffered (at a runtime's stop; the process's exit shuts the SDK down)."""
    for provider in _providers:
        provider.force_flush(timeout_ms)
