"""apply → export → apply: the stored documents come back identical, the export is a fixed point, and the
specs the runtime builds from what is stored are those of the validated document.

The documents are drawn from the example configuration (examples/demo.yaml) and from a partner whose
channel and failover steps are drawn from every kind the language has: webhooks (fields, mapping,
conditional mappings, response rules, each kind of auth, signing, literal and ``${ENV}`` secrets),
emails, digests, holds and batch files to each destination, and its ping (mappings, auth, signing, response
rules, ``ping_pii``). The storage, the clock and the key ring are
the in-memory fakes with the real AES key ring (its tokens are what ``configuration.secrets`` opens), so the
whole path (validation, sealing, storage, masking, YAML, opening) runs in memory.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadrelay.adapters.crypto import KeyRing
from leadrelay.configuration.load import build_specs, load_yaml_text, validate_document
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.configure import Change, apply_document_sync, export_yaml, stored_objects
from tests.fakes import FakeSealer, FakeStorage, FakeTx

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.yaml"
T = TypeVar("T")

ENTITIES = {
    "solar": {
        "fields": {
            "first_name": {"type": "string", "required": True, "max_length": 50},
            "email": {"type": "email"},
            "phone": {"type": "phone", "region": "CA"},
            "state": {"type": "state"},
            "monthly_bill": {"type": "number"},
            "roof": {"type": "enum", "choices": ["shingle", "tile"]},
            "ssn": {"type": "string", "sensitive": True},
        },
        "dedup": {"keys": [["email"], ["phone"]], "window": "1d"},
    }
}
WEBHOOK = {"url": "https://buyer.example/leads"}
WEIGHTS = {"spare": 1, "buyer": 3}  # not in the partners' order: the stored target puts them in it
AUTHS = [
    {"headers": {"X-Api-Key": "literal-key", "X-Env": "${BUYER_KEY}"}},
    {"api_key": {"name": "key", "value": "literal", "in": "query"}},
    {"bearer": {"token": "${BUYER_TOKEN}"}},
    {"basic": {"username": "relay", "password": "literal-password"}},
    {
        "oauth2": {
            "token_url": "https://auth.buyer.example/token",
            "client_id": "relay",
            "client_secret": "literal-secret",
            "scope": "leads:write",
            "auth_method": "body",
        }
    },
]
DESTINATIONS = [
    {"sftp": {"host": "sftp.buyer.example", "username": "relay", "password": "literal-password"}},
    {"sftp": {"host": "${SFTP_HOST}", "port": 2222, "username": "relay", "private_key": "${SFTP_KEY}"}},
    {"ftp": {"host": "ftp.buyer.example", "username": "relay", "password": "pw", "tls": True}},
    {"s3": {"bucket": "buyer-leads", "prefix": "in/", "access_key_id": "AK", "secret_access_key": "SK"}},
    {"email": {"to": ["files@buyer.example"], "subject": "{count} leads ({date})"}},
]
CHANNELS: list[dict[str, Any]] = [
    {"webhook": {**WEBHOOK, "fields": ["first_name", "email"], "timeout": 2500, "method": "PUT"}},
    {
        "webhook": {
            **WEBHOOK,
            "format": "xml",
            "mapping": {
                "lead.name": "{{ lead.first_name }}",
                "lead.tier": {"when": {"field": "monthly_bill", "op": "gte", "value": 200}, "value": "gold"},
                "lead.none": None,
            },
            "response": {"outcome_search_term": " accepted ", "reason_path": "reason"},
            "status_policy": "body",
        }
    },
    {
        "webhook": {
            **WEBHOOK,
            "mappings": [
                {"when": {"field": "state", "op": "eq", "value": "CA"}, "mapping": {"region": "west"}},
                {"mapping": {"region": "other", "email": "{{ lead.email }}"}},
            ],
            "ascii": True,
            "content_type": "application/vnd.buyer+json",
            "signing": {"secret": "whsec_literal"},
        }
    },
    *({"webhook": {**WEBHOOK, "auth": auth, "headers": {"Authorization": "Bearer x"}}} for auth in AUTHS),
    {"email": {"to": "leads@buyer.example", "attach": "csv", "fields": ["first_name"]}},
    {"email": {"subject": "Lead {{ lead.first_name }}", "body": "<p>{{ lead.email }}</p>", "html": True}},
    {"email": {"digest": {"every": 50, "idle": "30m"}}},
    {"email": {"digest": {"daily_at": "08:30", "columns": ["lead_id", "email"]}, "to": ["a@buyer.example"]}},
    {"hold": {}},
    {"hold": {"fields": ["first_name", "phone"]}},
    {"webhook": {"url": "https://hooks.example.com/new-lead", "fields": []}},  # none: not every field
    {"email": {"subject": "A new lead", "fields": []}},
    {"hold": {"fields": []}},
    *(
        {"file": {"schedule": {"cron": "0 8 * * 1-5", "count": 500}, "destination": destination}}
        for destination in DESTINATIONS
    ),
    {
        "file": {
            "format": "xlsx",
            "columns": ["lead_id", "first_name"],
            "filename": "{partner}-{date}.{ext}",
            "schedule": {"idle": "10m"},
            "destination": DESTINATIONS[0],
        }
    },
]


PINGS: list[dict[str, Any] | None] = [
    None,
    {
        "url": "https://buyer.example/ping",
        "timeout": "750ms",
        "mapping": {
            "st": "{{ lead.state }}",
            "bill": {"field": "monthly_bill"},
            "tier": {"when": {"field": "monthly_bill", "op": "gte", "value": 200}, "value": "gold"},
            "none": None,
        },
        "response": {
            "outcome_search_term": "accepted",
            "price_path": "bid.price",
            "reference_path": "bid.id",
        },
        "auth": {"bearer": {"token": "literal-ping-token"}},
    },
    {
        "url": "https://buyer.example/ping",
        "method": "GET",
        "fields": ["state", "roof"],
        "headers": {"X-Key": "k"},
    },
    {  # a partner that allows personal fields in its ping
        "url": "https://buyer.example/ping",
        "format": "xml",
        "mappings": [
            {
                "when": {"field": "state", "op": "eq", "value": "CA"},
                "mapping": {"p.email": "{{ lead.email }}"},
            },
            {"mapping": {"p.state": "{{ lead.state }}"}},
        ],
        "response": {"fallback_price": 4},
        "signing": {"secret": "whsec_ping"},
        "ping_pii": "allowed",
    },
]


def partner_document(
    channel: dict[str, Any],
    failover: list[dict[str, Any]],
    caps: dict[str, int],
    ping: Any = None,
    strategy: str = "weighted",
    paced: bool = False,
    consent: bool = False,
) -> Any:
    ping = copy.deepcopy(ping)
    pii = ping.pop("ping_pii", None) if ping else None
    partner = {
        "email": "leads@buyer.example",
        "timezone": "America/Chicago",
        "caps": caps,
        "hours": {"mon-fri": "08:00-18:00"},
        "filters": {"any": [{"field": "state", "op": "in", "value": ["CA", "TX"]}]},
        "price": 12.5,
        "channel": channel,
        "failover": failover,
        "ping": ping,
        "ping_pii": pii,
    }
    entities = copy.deepcopy(ENTITIES)
    if consent:  # one-to-one consent: the entity's field, the partner's names, the profile's requirement
        entities["solar"]["fields"]["consented_sellers"] = {"type": "string"}
        entities["solar"]["consent"] = {"field": "consented_sellers"}
        partner |= {"legal_name": "Buyer Solar, LLC", "aliases": ["BuyerCo", "Sunny Leads"]}
    if paced and "day" in caps:
        partner["pacing"] = "even"
    target: dict[str, Any] = {"partners": ["buyer", "spare"], "strategy": strategy}
    if strategy == "weighted":
        target["weights"] = WEIGHTS
    document = {
        "smtp": {"host": "mail.example", "password": "literal-smtp-password", "security": "starttls"},
        "entities": entities,
        "sources": {"web": {"entities": ["solar"], "wait": "2s"}},
        "partners": {"buyer": copy.deepcopy(partner), "spare": {"channel": {"hold": {}}}},
        "profiles": {
            "main": {
                "entity": "solar",
                "rules": [
                    {
                        "name": "west",
                        "when": {"field": "state", "op": "eq", "value": "CA"},
                        "send_to": target,
                    }
                ],
                "default": {"partner": "spare"},
            }
        },
    }
    if consent:
        document["profiles"]["main"]["require_consent"] = True
    return document


documents = st.one_of(
    st.just(load_yaml_text(DEMO.read_text())),
    st.builds(
        partner_document,
        st.sampled_from(CHANNELS),
        st.lists(st.sampled_from(CHANNELS), max_size=2),
        st.dictionaries(st.sampled_from(["hour", "day", "month", "total"]), st.integers(1, 10_000)),
        st.sampled_from(PINGS),
        st.sampled_from(["weighted", "least_loaded"]),
        st.booleans(),
        st.booleans(),
    ),
)


class _NoSuppressionLists:
    def list_names(self) -> list[str]:
        return []


class _Tx:
    """The fake transaction, with the suppression list names the apply checks (these documents name none)."""

    def __init__(self, tx: FakeTx) -> None:
        self._tx = tx
        self.suppression_names = _NoSuppressionLists()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)


class _Storage(FakeStorage):
    def transaction(self, fn: Callable[[Any], T], *, relaxed: bool = False) -> T:
        return super().transaction(lambda tx: fn(_Tx(tx)), relaxed=relaxed)


def sealer() -> FakeSealer:
    return FakeSealer(ring=KeyRing({"k1": bytes(range(32))}, "k1"))  # type: ignore[arg-type]  # a Ring


def apply(storage: FakeStorage, document: Any, sealer: FakeSealer) -> list[Change]:
    return apply_document_sync(storage, copy.deepcopy(document), actor="test", sealer=sealer)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_an_export_applies_back_to_the_same_stored_documents(document: Any) -> None:
    storage, keys = _Storage(), sealer()
    assert {c.action for c in apply(storage, document, keys)} == {"created"}
    stored = storage.read(stored_objects)
    exported = export_yaml(storage)

    assert {c.action for c in apply(storage, load_yaml_text(exported), keys)} == {"unchanged"}
    assert storage.read(stored_objects) == stored
    assert export_yaml(storage) == exported


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_the_runtime_builds_the_specs_of_the_validated_document(document: Any) -> None:
    """What is stored (secrets sealed) and opened again gives the specs of the document as validated."""
    storage, keys = _Storage(), sealer()
    apply(storage, document, keys)
    live = storage.read(ConfigCache(sealer=keys).current)
    assert live.specs == build_specs(validate_document(copy.deepcopy(document)))


@pytest.mark.parametrize("ping", PINGS[1:])
def test_every_kind_of_ping_round_trips_with_its_secrets_sealed(ping: dict[str, Any]) -> None:
    document = partner_document(CHANNELS[0], [], {}, ping)
    storage, keys = _Storage(), sealer()
    apply(storage, document, keys)
    stored = storage.read(stored_objects)
    exported = export_yaml(storage)
    assert "literal-ping-token" not in exported and "whsec_ping" not in exported
    assert "literal-ping-token" not in repr(stored) and "whsec_ping" not in repr(stored)
    assert {c.action for c in apply(storage, load_yaml_text(exported), keys)} == {"unchanged"}
    assert storage.read(stored_objects) == stored
    live = storage.read(ConfigCache(sealer=keys).current)
    assert live.specs == build_specs(validate_document(copy.deepcopy(document)))
    assert live.specs.partners["buyer"].ping is not None


def test_consent_keys_round_trip_and_reach_the_specs() -> None:
    """``consent``, ``legal_name``, ``aliases`` and ``require_consent`` are exported, apply back unchanged
    and give the specs; a profile that does not require consent exports no ``require_consent``."""
    document = partner_document(CHANNELS[0], [], {}, consent=True)
    storage, keys = _Storage(), sealer()
    apply(storage, document, keys)
    stored = storage.read(stored_objects)
    exported = export_yaml(storage)
    assert "consent: {field: consented_sellers}" in exported
    assert "legal_name: Buyer Solar, LLC" in exported
    assert "aliases: [BuyerCo, Sunny Leads]" in exported
    assert "require_consent: true" in exported
    assert {c.action for c in apply(storage, load_yaml_text(exported), keys)} == {"unchanged"}
    assert storage.read(stored_objects) == stored
    specs = storage.read(ConfigCache(sealer=keys).current).specs
    assert specs.entities["solar"].consent is not None
    assert specs.entities["solar"].consent.field == "consented_sellers"
    assert specs.partners["buyer"].legal_name == "Buyer Solar, LLC"
    assert specs.partners["buyer"].aliases == ("BuyerCo", "Sunny Leads")
    assert specs.profiles["main"].require_consent is True
    assert "require_consent" not in export_yaml(_applied(partner_document(CHANNELS[0], [], {})))


def _applied(document: Any) -> FakeStorage:
    storage = _Storage()
    apply(storage, document, sealer())
    return storage


def test_least_loaded_and_even_pacing_round_trip() -> None:
    document = partner_document(CHANNELS[0], [], {"day": 100, "hour": 20}, None, "least_loaded", True)
    storage, keys = _Storage(), sealer()
    apply(storage, document, keys)
    exported = export_yaml(storage)
    assert "pacing: even" in exported and "strategy: least_loaded" in exported
    assert {c.action for c in apply(storage, load_yaml_text(exported), keys)} == {"unchanged"}
    live = storage.read(ConfigCache(sealer=keys).current)
    assert live.specs.partners["buyer"].pacing == "even"
    assert live.specs.partners["spare"].pacing is None
    rule = live.specs.profiles["main"].rules[0].send_to
    assert rule.strategy == "least_loaded"
    assert live.compiled.load_counted == frozenset({"spare"})  # uncapped and load balanced


@pytest.mark.parametrize(
    ("pacing", "caps", "problem"),
    [
        ("even", {"hour": 5}, "pacing spreads the day cap"),
        ("steady", {"day": 5}, "unknown pacing 'steady'"),
    ],
)
def test_pacing_needs_a_day_cap_and_a_known_mode(pacing: str, caps: dict[str, int], problem: str) -> None:
    from leadrelay.errors import ConfigError

    document = partner_document(CHANNELS[0], [], caps)
    document["partners"]["buyer"]["pacing"] = pacing
    with pytest.raises(ConfigError) as raised:
        validate_document(document)
    assert any(p.path == "partners.buyer.pacing" and problem in p.message for p in raised.value.problems), (
        raised.value.problems
    )
