"""A partner's ping in the configuration language (issue 10, point 1): its shape and bounds, refused with
paths when it would carry a personal field (unless ``ping_pii: allowed``), canonical, built into the spec;
and the pure parts it runs on (the ping's view of a lead, the bid an answer gives, ``{{ ping.reference }}``
in the post)."""

from __future__ import annotations

import copy
import math
from typing import Any

import orjson
import pytest

from leadrelay.adapters.channels.payload import encode
from leadrelay.configuration.load import build_specs, dump_yaml, load_yaml_text, validate_document
from leadrelay.configuration.secrets import secret_places
from leadrelay.domain.attempts import AttemptResult, LeadView, Outcome
from leadrelay.domain.model import EntitySpec, FieldSpec, FieldType, PartnerSpec, WebhookChannel
from leadrelay.domain.ping import Bid, BidStatus, bid_of, ping_view
from leadrelay.errors import ConfigError, ConfigProblem

PING = "partners.acme.ping"
ALLOW = "a ping carries no personal data (or set 'ping_pii: allowed' on the partner)"
DOCUMENT = """
entities:
  solar:
    fields:
      first_name: {type: string}
      street_address: {type: string}
      nickname: {type: string, personal: true}
      city: {type: string, personal: false}
      name: {type: string, personal: false}     # a product name here, not a person's
      email: {type: email}
      phone: {type: phone}
      dob: {type: dob}
      ip: {type: ip}
      ssn: {type: string, sensitive: true}
      state: {type: state}
      zip: {type: postal_code}
      monthly_bill: {type: number}
partners:
  acme:
    price: 20
    channel:
      webhook:
        url: https://buyer.example/post
        mapping:
          ref: "{{ ping.reference }}"
          email: "{{ lead.email }}"
    ping:
      url: https://buyer.example/ping
      auth: {bearer: {token: ping-token}}
      mapping:
        state: "{{ lead.state }}"
        zip3: "{{ lead.zip[:3] }}"
        bill: {field: monthly_bill}
        city: {field: city}
        product: {field: name}
        tier: {when: {field: monthly_bill, op: gte, value: 200}, value: gold, else: silver}
      response: {outcome_search_term: accepted, price_path: bid.price, reference_path: bid.id}
"""


def document() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml_text(DOCUMENT)
    return data


def with_ping(**changes: Any) -> dict[str, Any]:
    """The document with the ping's keys changed (a value None removes the key)."""
    data = document()
    ping = data["partners"]["acme"]["ping"]
    for key, value in changes.items():
        if value is None:
            ping.pop(key, None)
        else:
            ping[key] = value
    return data


def problems_of(data: Any, existing: Any = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        validate_document(data, existing)
    return caught.value.problems


def test_a_ping_validates_to_its_canonical_form_and_spec() -> None:
    objects = validate_document(document())
    ping = objects["partners"]["acme"]["ping"]
    assert ping["timeout"] == "1s"  # the default: a ping answers within an auction's deadline
    assert "max_attempts" not in ping  # sent once
    assert ping["auth"] == {"bearer": {"token": "ping-token"}}
    assert objects["partners"]["acme"]["ping_pii"] is None
    spec = build_specs(objects).partners["acme"]
    assert isinstance(spec.ping, WebhookChannel)
    assert (spec.ping.url, spec.ping.timeout_s, spec.ping.max_attempts) == (
        "https://buyer.example/ping",
        1.0,
        1,
    )
    assert spec.ping.response is not None and spec.ping.response["price_path"] == "bid.price"
    assert spec.ping_pii is False
    assert validate_document(copy.deepcopy(objects)) == objects
    assert validate_document(load_yaml_text(dump_yaml(objects))) == objects  # export re-applies


def test_the_pings_auth_is_a_secret_place() -> None:
    ping = validate_document(document())["partners"]["acme"]
    assert [path for path, _, _ in secret_places("partners", ping)] == ["ping.auth.bearer.token"]


@pytest.mark.parametrize(
    ("field", "why"),
    [
        ("email", "'email' is a field of type email"),
        ("phone", "'phone' is a field of type phone"),
        ("dob", "'dob' is a field of type dob"),
        ("ip", "'ip' is a field of type ip"),
        ("ssn", "'ssn' is a sensitive field"),
        ("nickname", "'nickname' is marked personal"),
        ("first_name", "'first_name' is a personal field by its name (mark it 'personal: false' if not)"),
        (
            "street_address",
            "'street_address' is a personal field by its name (mark it 'personal: false' if not)",
        ),
    ],
)
def test_a_ping_naming_a_personal_field_is_refused_with_its_path(field: str, why: str) -> None:
    data = document()
    data["partners"]["acme"]["ping"]["mapping"]["contact"] = {"field": field}
    assert problems_of(data) == [ConfigProblem(f"{PING}.mapping.contact.field", f"{why}; {ALLOW}")]
    data["partners"]["acme"]["ping_pii"] = "allowed"  # the partner's explicit allowance
    assert validate_document(data)["partners"]["acme"]["ping_pii"] == "allowed"


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("Contact: {{ lead.email | lower }}!", ""),  # a template inside longer text
        ("{{ lead['email'] }}", ""),
        ("{{ lead.state ~ lead.email }}", ""),
        ({"when": {"field": "state", "op": "eq", "value": "CA"}, "value": "{{ lead.email }}"}, ".value"),
        (
            {"when": {"field": "state", "op": "eq", "value": "CA"}, "value": 1, "else": {"field": "email"}},
            ".else.field",
        ),
        ({"when": {"not": {"field": "email", "op": "exists"}}, "value": "no"}, ".when.not.field"),
    ],
)
def test_templates_references_and_conditions_are_searched_for_personal_fields(value: Any, where: str) -> None:
    data = document()
    data["partners"]["acme"]["ping"]["mapping"]["contact.email_addr"] = value
    found = problems_of(data)
    assert [p.path for p in found] == [f'{PING}.mapping."contact.email_addr"{where}']
    assert found[0].message.startswith("'email' is a field of type email")


def test_conditional_mappings_and_fields_lists_are_searched_too() -> None:
    mappings = [
        {"when": {"all": [{"field": "phone", "op": "exists"}]}, "mapping": {"a": "{{ lead.state }}"}},
        {"mapping": {"email_addr": "{{ lead.email }}"}},
    ]
    found = problems_of(with_ping(mapping=None, mappings=mappings))
    assert [p.path for p in found] == [
        f"{PING}.mappings[0].when.all[0].field",
        f"{PING}.mappings[1].mapping.email_addr",
    ]
    found = problems_of(with_ping(mapping=None, fields=["state", "zip", "dob"]))
    assert [p.path for p in found] == [f"{PING}.fields[2]"]


def test_a_template_that_may_read_any_field_is_refused() -> None:
    data = with_ping(mapping={"all": "{% for k in ['state'] %}{{ lead[k] }}{% endfor %}"})
    [found] = problems_of(data)
    assert found.path == f"{PING}.mapping.all" and "may read any field" in found.message


def test_personal_fields_of_stored_entities_count_and_a_name_no_entity_has_is_personal_by_name() -> None:
    data = document()
    entities = validate_document({"entities": data.pop("entities")})
    data["partners"]["acme"]["ping"]["mapping"] = {"e": "{{ lead.email }}"}
    assert [p.path for p in problems_of(data, entities)] == [f"{PING}.mapping.e"]
    other = {"entities": {"auto": {"fields": {"make": {"type": "string"}}}}}
    data["partners"]["acme"]["ping"]["mapping"] = {"make": "{{ lead.make }}"}
    data["partners"]["acme"]["channel"]["webhook"]["mapping"] = {"m": "{{ lead.make }}"}
    assert validate_document(data, validate_document(other))["partners"]["acme"]["ping"]["mapping"]
    data["partners"]["acme"]["ping"]["mapping"] = {"n": {"field": "full_name"}}
    data["partners"]["acme"]["ping"]["fields"] = None
    found = problems_of({"partners": data["partners"]})  # no entity known: the name alone decides
    assert found == [
        ConfigProblem(f"{PING}.mapping.n.field", f"'full_name' is a personal field by its name; {ALLOW}")
    ]


def test_personal_false_cannot_unmark_a_personal_type_or_a_sensitive_field() -> None:
    data = document()
    data["entities"]["solar"]["fields"]["email"]["personal"] = False
    data["entities"]["solar"]["fields"]["ssn"]["personal"] = False
    assert problems_of(data) == [
        ConfigProblem(
            "entities.solar.fields.email",
            "'personal: false' cannot apply: a field of type email is always personal",
        ),
        ConfigProblem(
            "entities.solar.fields.ssn",
            "'personal: false' cannot apply: a sensitive field is always personal",
        ),
    ]


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        (
            {"url": "ftp://buyer.example/ping"},
            "url",
            "must be an http:// or https:// URL, not 'ftp://buyer.example/ping'",
        ),
        ({"url": "not a url"}, "url", "must be an http:// or https:// URL, not 'not a url'"),
        ({"timeout": -1}, "timeout", "invalid duration -1: must be zero or more"),
        (
            {"timeout": "-1s"},
            "timeout",
            "invalid duration '-1s': use e.g. '500ms', '10s', '2m', '7d' or a number of seconds",
        ),
        ({"timeout": "0s"}, "timeout", "must be more than zero"),
        (
            {"timeout": "10001ms"},
            "timeout",
            "must be at most 10s: a ping answers within an auction's deadline",
        ),
        ({"max_attempts": 2}, "max_attempts", "a ping is sent once, never retried: leave out 'max_attempts'"),
        (
            {"response": {"outcome_search_term": "accepted", "reference_path": "id"}},
            "response.price_path",
            "a ping's response rules give the bid: add 'price_path' (where the answer says the price, "
            "e.g. price_path: bid.price) or 'fallback_price'",
        ),
        ({"mapping": {"x": "{{ lead.emial }}"}}, "mapping.x", "unknown field 'emial'; did you mean 'email'?"),
        ({"retries": 1}, "retries", "unknown key"),
    ],
)
def test_bad_pings_are_refused_with_their_paths(changes: dict[str, Any], path: str, message: str) -> None:
    [found] = problems_of(with_ping(**changes))
    assert found.path == f"{PING}.{path}"
    assert found.message.startswith(message)


def test_a_ping_needs_a_post_channel_and_ping_pii_takes_two_words() -> None:
    data = document()
    del data["partners"]["acme"]["channel"]
    assert problems_of(data) == [
        ConfigProblem(
            "partners.acme.ping", "a ping needs the partner's 'channel' too: the post that follows a bid"
        )
    ]
    data = document()
    data["partners"]["acme"]["ping_pii"] = "yes"
    assert problems_of(data) == [
        ConfigProblem(
            "partners.acme.ping_pii",
            "must be 'allowed' (the ping may carry personal fields) or 'refused' (the default)",
        )
    ]
    data["partners"]["acme"]["ping_pii"] = "refused"  # the default, said out loud: canonical null
    assert validate_document(data)["partners"]["acme"]["ping_pii"] is None


def test_a_fallback_price_is_enough_and_no_rules_read_a_json_answer() -> None:
    rules = {"outcome_search_term": "yes", "fallback_price": 3}
    assert validate_document(with_ping(response=rules))["partners"]["acme"]["ping"]["response"] == {
        "outcome_search_term": "yes",
        "fallback_price": 3.0,
    }
    assert validate_document(with_ping(response=None))["partners"]["acme"]["ping"]["response"] is None


# ---------------------------------------------------------------- the pure parts a ping runs on

SOLAR = EntitySpec(
    "solar",
    {
        "first_name": FieldSpec("first_name"),
        "city": FieldSpec("city", personal=False),
        "name": FieldSpec("name", personal=False),
        "email": FieldSpec("email", FieldType.EMAIL),
        "ssn": FieldSpec("ssn", sensitive=True),
        "state": FieldSpec("state", FieldType.STATE),
    },
)
VALUES = {
    "first_name": "Ada",
    "city": "Austin",
    "name": "Solar+",
    "email": "a@x.example",
    "ssn": "078-05",
    "state": "TX",
}


def partner(**ping: Any) -> PartnerSpec:
    return PartnerSpec("acme", ping=WebhookChannel("https://buyer.example/ping", **ping))


def test_the_ping_view_holds_no_personal_value_unless_allowed() -> None:
    assert SOLAR.personal == frozenset({"first_name", "email", "ssn"})
    view = ping_view(partner(), SOLAR, "lead_1", VALUES, key="k", test=True)
    assert view.values == {"city": "Austin", "name": "Solar+", "state": "TX", "test": True}
    assert view.sensitive == frozenset() and not view.redactor
    view = ping_view(partner(fields=("state", "email")), SOLAR, "lead_1", VALUES, key="k")
    assert view.values == {"state": "TX"}
    allowed = PartnerSpec("acme", ping=WebhookChannel("https://buyer.example/ping"), ping_pii=True)
    view = ping_view(allowed, SOLAR, "lead_1", VALUES, key="k")
    assert view.values == VALUES and view.sensitive == frozenset({"ssn"})
    assert view.redactor.text("ssn 078-05") == "ssn ***"
    generic = ping_view(partner(), None, "lead_1", {"first_name": "Ada", "make": "Volvo"}, key="k")
    assert generic.values == {"make": "Volvo"}  # no entity: the usual personal names are personal


def test_a_ping_mapping_renders_from_the_view_only() -> None:
    hook = partner(mapping={"who": "{{ lead.first_name }}", "st": "{{ lead.state }}"})
    view = ping_view(hook, SOLAR, "lead_1", VALUES, key="k")
    assert hook.ping is not None
    assert orjson.loads(encode(view, hook.ping).body or b"") == {"who": None, "st": "TX"}


@pytest.mark.parametrize(
    ("result", "bid"),
    [
        (AttemptResult(Outcome.SUCCESS, price=12.5, reference="b-1"), Bid(BidStatus.ACCEPTED, 12.5, "b-1")),
        (AttemptResult(Outcome.SUCCESS, reference="b-2"), Bid(BidStatus.ACCEPTED, 20.0, "b-2")),  # list price
        (AttemptResult(Outcome.FAILURE, reason="no thanks"), Bid(BidStatus.REFUSED, None, None, "no thanks")),
        (
            AttemptResult(Outcome.ERROR, reason="timed out after 1s", retryable=True, timed_out=True),
            Bid(BidStatus.TIMEOUT, None, None, "timed out after 1s"),
        ),
        (
            AttemptResult(Outcome.ERROR, reason="HTTP 500", retryable=True),
            Bid(BidStatus.ERROR, None, None, "HTTP 500"),
        ),
    ],
)
def test_the_bid_an_answer_gives(result: AttemptResult, bid: Bid) -> None:
    assert bid_of(result, list_price=20.0) == bid
    assert bid.as_dict()["accepted"] is (bid.status == BidStatus.ACCEPTED)


def test_the_post_may_carry_the_ping_reference() -> None:
    spec = build_specs(validate_document(document())).partners["acme"]
    assert isinstance(spec.channel, WebhookChannel)
    lead = LeadView(
        "lead_1", "solar", "acme", {"email": "a@x.example"}, "k", ping_reference="bid-7", ping_price=9.5
    )
    assert orjson.loads(encode(lead, spec.channel).body or b"") == {"ref": "bid-7", "email": "a@x.example"}
    unpinged = LeadView("lead_1", "solar", "acme", {"email": "a@x.example"}, "k")
    assert orjson.loads(encode(unpinged, spec.channel).body or b"") == {"ref": None, "email": "a@x.example"}


@pytest.mark.parametrize(
    ("price", "shared"), [(2e9, None), (1_000_000_000.01, None), (12.0, 2e9), (-1.0, None), (math.inf, None)]
)
def test_a_bid_the_ledger_cannot_bill_is_an_error(price: float, shared: float | None) -> None:
    """A bid (or shared bid) below 0 or above the ledger's MAX_PRICE is an error bid, never accepted."""
    bid = bid_of(AttemptResult(Outcome.SUCCESS, price=price, shared_price=shared), list_price=20.0)
    assert (bid.status, bid.price) == (BidStatus.ERROR, None)
    assert bid.reason == "the bid is not an amount from 0 to 1000000000"


def test_a_bid_of_the_ledger_maximum_is_accepted() -> None:
    """MAX_PRICE itself is a bid like any other."""
    bid = bid_of(AttemptResult(Outcome.SUCCESS, price=1e9), list_price=20.0)
    assert (bid.status, bid.price) == (BidStatus.ACCEPTED, 1e9)


def test_a_value_the_entity_does_not_declare_is_personal_by_its_name() -> None:
    """A lead's undeclared values (kept as text) named like personal data never reach a ping; others do."""
    extra = {"mobile": "(512) 555-0000", "Email_Address": "ada@x.example", "street_address": "1 Main St"}
    view = ping_view(partner(), SOLAR, "lead_1", {**VALUES, **extra, "roof": "tile"}, key="k")
    assert view.values == {"city": "Austin", "name": "Solar+", "state": "TX", "roof": "tile"}
    view = ping_view(
        partner(fields=("state", "mobile", "roof")), SOLAR, "lead_1", {**VALUES, **extra}, key="k"
    )
    assert view.values == {"state": "TX"}
    generic = ping_view(partner(), None, "lead_1", {"Phone": "5125550000", "make": "Volvo"}, key="k")
    assert generic.values == {"make": "Volvo"}
