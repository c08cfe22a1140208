"""The OpenAPI document against the running API, fuzzed by schemathesis on SQLite and PostgreSQL, with an
admin token, a source key and a partner key: no server error, and every answer as documented (status code,
content type, body schema), for schema-valid and schema-invalid requests alike. Bounded: ``MAX_EXAMPLES``
per operation and mode, no shrinking (the first failure of an operation is reported as found).

Each generated request is sent to both servers, one on each database, with the same checks: generating the
cases costs more than serving them (py-spy: 58% of the test against 32% for calling and validating), so
both databases see the same requests for little more than the price of one. PostgreSQL is where stored
input breaks first (a NUL byte in a parameter, an integer out of its column's range); when it is not
available (and ``LEADRELAY_REQUIRE_ALL`` is not set) the test runs on SQLite alone.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from datetime import UTC, datetime
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from leadrelay.adapters.db import config_store
from leadrelay.adapters.db.engine import Database
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, prepare, source_headers

MAX_EXAMPLES = 30
NEGATIVE_EXAMPLES = 10
# the operations are fuzzed in shards, each with its own servers, so the suite's workers share them (one
# test of ~80 operations took over 3 minutes on one worker); an operation's shard is fixed by its label
SHARDS = 4
# Input checked against stored state or by the field types, which no static document can describe: a
# lead's fields are its entity's, a configuration object must fit the others, a value must be of its
# suppression list's kind, an erasure's email and phone are normalized as lead fields are. Their 422s are
# the product's validation, so a schema-valid request may be refused there; every other check still holds.
CONFIGURED_BODIES = {
    "POST /v1/leads",
    "POST /v1/ping",
    "POST /v1/config",
    "PUT /v1/{kind}/{name}",
    "GET /v1/suppression-lists/{name}/check",
    "POST /v1/erasures",
    "POST /v1/returns/import",  # a CSV body: its header and rows are checked as CSV, not by a schema
    # money: an amount is a decimal in whole cents whose allowed sign depends on the entry's kind and party
    # (a credit more than zero, an adjustment anything but zero), and a party must have a wallet
    "POST /v1/ledger",
    "POST /v1/partners/{name}/wallet/topup",
    "GET /v1/reports",  # its time zone (whole hours from UTC), its range and a pair of two dimensions
    "POST /v1/simulate",  # a stored lead, or a lead of a configured entity and source; a draft as `apply`'s
    "POST /v1/backtest",  # a draft configuration, checked as `apply` checks one
    "GET /v1/dashboard",  # its time zone: a name of the zone database
    # a page's cursor (`cursor`) is what the page before gave: any other text is a 422 naming it
    "GET /v1/holds",
    "GET /v1/holds.csv",
}


PARTNER_KEY = "lrp_test_partner_key_0001"
PARTNER = {"Authorization": f"Bearer {PARTNER_KEY}"}  # sunco's own key


def _credential(case: Any) -> dict[str, str]:
    """A source key where a source calls (posting a lead, reading its outcome), a partner's key on the
    partner's own routes (``/v1/partner…``), else an admin token."""
    is_source = case.path in ("/v1/leads", "/v1/ping") or (
        case.path == "/v1/leads/{lead_id}" and case.method == "GET"
    )
    if is_source:
        return source_headers()
    return PARTNER if case.path == "/v1/partner" or case.path.startswith("/v1/partner/") else ADMIN


def _add_partner_key(url: str) -> None:
    db = Database(url)
    try:
        now = datetime.now(UTC)
        db.transaction(lambda c: config_store.add_api_key(c, "sunco", PARTNER_KEY, now, owner_kind="partner"))
    finally:
        db.dispose()


def _session() -> requests.Session:
    """Kept-alive connections (a new one per request cost more than many requests); no cookies kept."""
    session = requests.Session()
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session


def _fuzz(
    operation: Any, mode: GenerationMode, servers: dict[str, tuple[str, requests.Session]]
) -> str | None:
    """The first failure of ``operation`` in ``mode`` on any of the servers (by database), or None."""
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
        excluded = [positive_data_acceptance] if operation.label in CONFIGURED_BODIES else []
        for database, (base_url, session) in servers.items():
            try:
                case.call_and_validate(
                    base_url=base_url, session=session, headers=_credential(case), excluded_checks=excluded
                )
            except (Exception, BaseExceptionGroup) as exc:  # a failed check: keep it, go on with the others
                found.append(f"{operation.label} [{mode.value}, {database}]: {exc}"[:4000])
                return

    started = time.monotonic()
    try:
        run()
    except Unsatisfiable:  # nothing in the operation can be made invalid (no parameters, no body)
        assert mode is GenerationMode.NEGATIVE, operation.label
    print(f"{operation.label} [{mode.value}]: {time.monotonic() - started:.1f}s")
    return found[0] if found else None


def shard_of(label: str) -> int:
    return zlib.crc32(label.encode()) % SHARDS


@pytest.mark.slow_start(45)
@pytest.mark.parametrize("shard", range(SHARDS))
def test_the_api_answers_as_its_openapi_document_says(
    shard: int, sqlite_url: str, request: pytest.FixtureRequest
) -> None:
    urls = {"sqlite": sqlite_url}
    try:
        urls["postgres"] = request.getfixturevalue("pg_url")
    except pytest.skip.Exception as skipped:  # no PostgreSQL here: SQLite alone, and say so
        print(f"PostgreSQL skipped: {skipped}")
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as buyers, contextlib.ExitStack() as servers:
        running = {}
        for database, url in urls.items():
            prepare(url, base_config(buyers.url))
            _add_partner_key(url)
            server = servers.enter_context(ServerThread(url))
            running[database] = (server.url, servers.enter_context(_session()))
        schema = schemathesis.openapi.from_url(f"{running['sqlite'][0]}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        mine = [op for op in operations if shard_of(op.label) == shard]
        assert mine, f"shard {shard} of {SHARDS} has no operation"
        failures = [
            failure
            for operation in mine
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            if (failure := _fuzz(operation, mode, running)) is not None
        ]
    assert not failures, f"{len(failures)} operations fail:\n\n" + "\n\n".join(failures)
