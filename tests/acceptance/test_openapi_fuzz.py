"""The OpenAPI document against the running API, fuzzed by schemathesis on SQLite and PostgreSQL, with an
admin token and a source key: no server error, and every answer as documented (status code, content type,
body schema), for schema-valid and schema-invalid requests alike. Bounded: ``MAX_EXAMPLES`` per operation
and mode, no shrinking (the first failure of an operation is reported as found)."""

from __future__ import annotations

import time
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, prepare, source_headers

MAX_EXAMPLES = 30
NEGATIVE_EXAMPLES = 10
# Input checked against stored state or by the field types, which no static document can describe: a
# lead's fields are its entity's, a configuration object must fit the others, a value must be of its
# suppression list's kind, an erasure's email and phone are normalized as lead fields are. Their 422s are
# the product's validation, so a schema-valid request may be refused there; every other check still holds.
CONFIGURED_BODIES = {
    "POST /v1/leads",
    "POST /v1/config",
    "PUT /v1/{kind}/{name}",
    "GET /v1/suppression-lists/{name}/check",
    "POST /v1/erasures",
}


def _credential(case: Any) -> dict[str, str]:
    """A source key where a source calls (posting a lead, reading its outcome), else an admin token."""
    is_source = case.path == "/v1/leads" or (case.path == "/v1/leads/{lead_id}" and case.method == "GET")
    return source_headers() if is_source else ADMIN


def _fuzz(operation: Any, mode: GenerationMode, base_url: str) -> str | None:
    """The first failure of ``operation`` in ``mode``, or None."""
    found: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES if mode is GenerationMode.POSITIVE else NEGATIVE_EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: Any) -> None:
        if found:
            return
        try:
            excluded = [positive_data_acceptance] if operation.label in CONFIGURED_BODIES else []
            case.call_and_validate(base_url=base_url, headers=_credential(case), excluded_checks=excluded)
        except (Exception, BaseExceptionGroup) as exc:  # a failed check: keep it, go on with the others
            found.append(f"{operation.label} [{mode.value}]: {exc}"[:4000])

    started = time.monotonic()
    try:
        run()
    except Unsatisfiable:  # nothing in the operation can be made invalid (no parameters, no body)
        assert mode is GenerationMode.NEGATIVE, operation.label
    print(f"{operation.label} [{mode.value}]: {time.monotonic() - started:.1f}s")
    return found[0] if found else None


def test_the_api_answers_as_its_openapi_document_says(db_url: str) -> None:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as buyers:
        prepare(db_url, base_config(buyers.url))
        with ServerThread(db_url) as server:
            schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
            failures = [
                failure
                for result in schema.get_all_operations()
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
                if (failure := _fuzz(result.ok(), mode, server.url)) is not None
            ]
    assert not failures, f"{len(failures)} operations fail:\n\n" + "\n\n".join(failures)
