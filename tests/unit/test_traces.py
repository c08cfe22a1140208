"""When tracing is on (``adapters.observability.traces.wanted``), and that it costs nothing when off: the
OpenTelemetry SDK and exporter are not imported (FastAPI imports the bare API itself when it is installed)
and a span is one shared do-nothing object."""

from __future__ import annotations

import subprocess
import sys

import pytest

from leadrelay.adapters.observability.traces import wanted


@pytest.mark.parametrize(
    ("env", "exporter"),
    [
        ({}, None),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, None),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, "otlp"),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, None),
        ({"OTEL_METRICS_EXPORTER": "otlp"}, None),  # metrics and logs are not traces
    ],
)
def test_the_standard_variables_switch_tracing(env: dict[str, str], exporter: str | None) -> None:
    assert wanted(env) == exporter


def test_off_by_default_imports_no_opentelemetry_sdk() -> None:
    code = (
        "import sys\n"
        "from leadrelay.entrypoints.api.app import create_app\n"
        "from leadrelay.entrypoints.worker import Worker\n"
        "from leadrelay.adapters.observability import traces\n"
        "with traces.span('delivery', {'leadrelay.lead_id': 'lead_1'}) as s:\n"
        "    s.set_attribute('x', 1)\n"
        "assert not traces.enabled()\n"
        "assert traces.span('a') is traces.span('b')\n"
        "sdk = ('opentelemetry.sdk', 'opentelemetry.exporter')\n"
        "print(sorted(m for m in sys.modules if m.startswith(sdk)))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
