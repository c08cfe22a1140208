"""The configuration language: every problem with its path, canonical documents, specs, YAML round trips."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadrelay.configuration.load import (
    Objects,
    build_specs,
    dump_yaml,
    load_yaml_text,
    parse_condition,
    parse_duration,
    smtp_settings,
    validate_document,
)
from leadrelay.domain.condition_tree import AllOf, AnyOf, Leaf, Not, Op
from leadrelay.domain.model import (
    CapPeriod,
    EmailChannel,
    FieldType,
    HoldChannel,
    Hours,
    PartnerSpec,
    ProfileSpec,
    Rule,
    SourceSpec,
    Strategy,
    Target,
    WebhookChannel,
)
from leadrelay.errors import ConfigError, ConfigProblem

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.yaml"

GOOD_YAML = """
smtp:
  host: 127.0.0.1
  port: 2525
  security: none
  username: null
  password: ${SMTP_PASSWORD}
  sender: leads@example.com
entities:
  solar:
    fields:
      first_name: {type: string, required: true, max_length: 50}
      phone: {type: phone, required: true}
      zip: {type: postal_code, required: true}
      state: {type: state}
      monthly_bill: {type: number}
      roof: {type: enum, choices: [shingle, tile, metal]}
      ssn: {type: string, sensitive: true}
sources:
  acme-media: {entities: [solar], wait: 5s}
partners:
  sunco:
    email: leads@sunco.example
    timezone: America/Los_Angeles
    caps: {month: 1000, day: 50}
    hours: {mon-fri: "08:00-18:00"}
    filters: {all: [{field: monthly_bill, op: gte, value: 100}]}
    price: 25.00
    cancel_period: 7d
    paused: false
    channel: {webhook: {url: "http://127.0.0.1:9100/buyer/sunco", format: json, timeout: 10s,
              headers: {X-Source: leadrelay}, fields: [first_name, phone], max_attempts: 3, method: POST}}
  brightpath:
    email: leads@brightpath.example
    cancel_period: 36h
    channel: {email: {attach: csv}}
  fallback-buyer:
    channel: {webhook: {url: "https://buyer.example/leads", timeout: 1500}}
  mailbox:
    channel: {email: {to: [leads@mailbox.example], subject: "New lead: {{ lead.first_name }}", attach: csv}}
profiles:
  solar-main:
    entity: solar
    enabled: true
    auto_redistribute: false
    partner_caps: {sunco: {day: 20}}
    rules:
      - name: west-coast
        when: {field: state, op: in, value: [CA, OR, WA]}
        send_to: {partners: [sunco, brightpath], strategy: priority}
      - name: big-bills
        when:
          any: [{field: monthly_bill, op: gt, value: 300}, {not: {field: zip, op: starts_with, value: 9}}]
        send_to: {partner: sunco}
      - name: split
        when: {field: roof, op: eq, value: tile, case_sensitive: true}
        send_to: {partners: [sunco, brightpath], strategy: weighted, weights: {brightpath: 30, sunco: 70}}
    default: {partners: [fallback-buyer], strategy: round_robin}
"""

DELETE = object()


def good() -> dict[str, Any]:
    data = load_yaml_text(GOOD_YAML)
    assert isinstance(data, dict)
    return data


def changed(*edits: tuple[str, Any]) -> dict[str, Any]:
    """The good document with ``(dotted.path, value)`` edits; numeric parts index lists."""
    data = good()
    for dotted, value in edits:
        *parents, last = [int(p) if p.isdigit() else p for p in dotted.split(".")]
        node: Any = data
        for part in parents:
            node = node[part]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list) and last == len(node):
            node.append(value)
        else:
            node[last] = value
    return data


def problems_of(data: Any, existing: Objects | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        validate_document(data, existing)
    return caught.value.problems


RULE0 = "profiles.solar-main.rules.0"
RULE1 = "profiles.solar-main.rules.1"
BAD = [
    # (edit, expected path, expected message fragment)
    (("partners.sunco.cpas", {"day": 1}), "partners.sunco.cpas", "unknown key; did you mean 'caps'?"),
    (("partners.sunco.caps.day", 0), "partners.sunco.caps.day", "must be a positive integer"),
    (("partners.sunco.caps.day", "50"), "partners.sunco.caps.day", "must be a positive integer"),
    (
        ("partners.sunco.caps.dya", 5),
        "partners.sunco.caps.dya",
        "unknown cap period 'dya'; did you mean 'day'?",
    ),
    (
        ("partners.sunco.timezone", "America/Los_Angles"),
        "partners.sunco.timezone",
        "unknown time zone 'America/Los_Angles'; did you mean 'America/Los_Angeles'?",
    ),
    (
        ("partners.sunco.filters", {"field": "zip", "op": "regex", "value": "(9"}),
        "partners.sunco.filters.value",
        "invalid regular expression: missing ), unterminated subpattern",
    ),
    (
        ("partners.sunco.filters.all.0", {"field": "state", "op": "in", "value": "CA"}),
        "partners.sunco.filters.all[0].value",
        "'in' needs a list of values",
    ),
    (
        ("partners.sunco.filters.all.0.op", "between"),
        "partners.sunco.filters.all[0].value",
        "'between' needs [low, high]",
    ),
    (
        ("partners.sunco.filters.all.0", {"field": "x", "op": "between", "value": [10, 1]}),
        "partners.sunco.filters.all[0].value",
        "low (10) is greater than high (1)",
    ),
    (
        ("partners.sunco.filters.all", []),
        "partners.sunco.filters.all",
        "must be a non-empty list of conditions",
    ),
    (("partners.sunco.filters.all.0.op", "=="), "partners.sunco.filters.all[0].op", "unknown operator '=='"),
    (
        ("partners.sunco.filters.all.0.value", DELETE),
        "partners.sunco.filters.all[0].value",
        "'gte' needs a value",
    ),
    (
        ("partners.sunco.filters", {"al": [{"field": "x", "op": "exists"}]}),
        "partners.sunco.filters.al",
        "unknown key; did you mean 'all'?",
    ),
    (
        ("partners.sunco.filters", {"not": {"field": "x", "op": "exists"}, "field": "y"}),
        "partners.sunco.filters",
        "'not' must be the only key",
    ),
    (
        (f"{RULE0}.send_to.partners", ["sunco", "brightpth"]),
        "profiles.solar-main.rules[0].send_to.partners[1]",
        "unknown partner 'brightpth'; did you mean 'brightpath'?",
    ),
    (
        (f"{RULE1}.send_to.partner", "sunko"),
        "profiles.solar-main.rules[1].send_to.partner",
        "unknown partner 'sunko'; did you mean 'sunco'?",
    ),
    (("profiles.solar-main.entity", "solr"), "profiles.solar-main.entity", "unknown entity 'solr'"),
    (
        (f"{RULE1}.when.any.0.field", "monthy_bill"),
        "profiles.solar-main.rules[1].when.any[0].field",
        "'monthy_bill' is not a field of entity 'solar'; did you mean 'monthly_bill'?",
    ),
    (
        (f"{RULE1}.when.any.1.not.op", "startswith"),
        "profiles.solar-main.rules[1].when.any[1].not.op",
        "unknown operator 'startswith'; did you mean 'starts_with'?",
    ),
    (
        (f"{RULE1}.name", "west-coast"),
        "profiles.solar-main.rules[1].name",
        "duplicate rule name 'west-coast'",
    ),
    ((f"{RULE0}.name", "West Coast"), "profiles.solar-main.rules[0].name", "invalid name 'West Coast'"),
    ((f"{RULE0}.when", None), "profiles.solar-main.rules[0].when", "required"),
    ((f"{RULE0}.name", ["a"]), "profiles.solar-main.rules[0].name", "must be a string"),
    (
        (f"{RULE0}.send_to.weights", {"sunco": 1}),
        "profiles.solar-main.rules[0].send_to.weights",
        "weights apply only to strategy 'weighted'",
    ),
    (
        ("profiles.solar-main.rules.2.send_to.weights", {"sunco": 70}),
        "profiles.solar-main.rules[2].send_to.weights",
        "no weight for partner 'brightpath'",
    ),
    (
        ("profiles.solar-main.rules.2.send_to.weights.mailbox", 5),
        "profiles.solar-main.rules[2].send_to.weights.mailbox",
        "'mailbox' is not one of this target's partners",
    ),
    (
        (f"{RULE0}.send_to.priorities", {"sunco": 1}),
        "profiles.solar-main.rules[0].send_to.priorities",
        "no priority for partner 'brightpath'",
    ),
    (
        (f"{RULE0}.send_to.strategy", "round-robin"),
        "profiles.solar-main.rules[0].send_to.strategy",
        "unknown strategy 'round-robin'; did you mean 'round_robin'?",
    ),
    ((f"{RULE1}.send_to.partners", ["sunco"]), "profiles.solar-main.rules[1].send_to", "not both"),
    (
        ("profiles.solar-main.partner_caps.sunko", {"day": 1}),
        "profiles.solar-main.partner_caps.sunko",
        "unknown partner 'sunko'",
    ),
    (("profiles.solar-main.enabeld", True), "profiles.solar-main.enabeld", "did you mean 'enabled'?"),
    (("profiles.solar-main.enabled", "yes"), "profiles.solar-main.enabled", "must be true or false"),
    (("profiles.solar-main.rules", {}), "profiles.solar-main.rules", "must be a list"),
    (
        ("partners.sunco.hours", {"mon-fry": "08:00-18:00"}),
        "partners.sunco.hours",
        "invalid hours: 'mon-fry'",
    ),
    (("partners.sunco.hours", {"mon-fri": "08:00-28:00"}), "partners.sunco.hours", "invalid hours"),
    (
        ("partners.mailbox.channel.email.subject", "Lead {{ lead.first_name "),
        "partners.mailbox.channel.email.subject",
        "invalid template: line 1",
    ),
    (("partners.mailbox.channel.email.to", DELETE), "partners.mailbox.channel.email.to", "required when"),
    (
        ("partners.mailbox.channel.email.to", ["nobody"]),
        "partners.mailbox.channel.email.to[0]",
        "not an email",
    ),
    (
        ("partners.mailbox.channel.email.attach", "xlsx"),
        "partners.mailbox.channel.email.attach",
        "unknown attachment format 'xlsx'",
    ),
    (
        ("partners.sunco.channel.webhook.url", "ftp://127.0.0.1/leads"),
        "partners.sunco.channel.webhook.url",
        "must be an http:// or https:// URL",
    ),
    (
        ("partners.sunco.channel.webhook.format", "jsn"),
        "partners.sunco.channel.webhook.format",
        "unknown format 'jsn'; did you mean 'json'?",
    ),
    (
        ("partners.sunco.channel.webhook.timeout", "0s"),
        "partners.sunco.channel.webhook.timeout",
        "more than zero",
    ),
    (
        ("partners.sunco.channel", {"webhok": {"url": "http://127.0.0.1:9100/x"}}),
        "partners.sunco.channel.webhok",
        "unknown key; did you mean 'webhook'?",
    ),
    (("partners.sunco.channel", {}), "partners.sunco.channel", "give exactly one channel"),
    (
        ("partners.sunco.channel", {"hold": {"fields": ["phone", "emial"]}}),
        "partners.sunco.channel.hold.fields[1]",
        "unknown field 'emial'",
    ),
    (("partners.sunco.cancel_period", "7 days"), "partners.sunco.cancel_period", "invalid duration '7 days'"),
    (("partners.sunco.price", -1), "partners.sunco.price", "must be a number, zero or more"),
    # billed to the cent: 12.345 was billed 12.35 while the source's answer said 12.345
    (("partners.sunco.price", 12.345), "partners.sunco.price", "must be in whole cents"),
    (("partners.sunco.wallet", {"credit_limit": 0.001}), "partners.sunco.wallet.credit_limit", "whole cents"),
    (("sources.acme-media.payout", {"fixed": 0.005}), "sources.acme-media.payout.fixed", "whole cents"),
    (("partners.Sun-Co", {}), "partners.Sun-Co", "invalid name 'Sun-Co'"),
    (("partners.sunco.email", "sunco"), "partners.sunco.email", "not an email address"),
    (("sources.acme-media.entities", ["solr"]), "sources.acme-media.entities[0]", "unknown entity 'solr'"),
    (("sources.acme-media.wait", -1), "sources.acme-media.wait", "must be zero or more"),
    (("entities.solar.fields.roof.type", "enm"), "entities.solar.fields.roof.type", "did you mean 'enum'?"),
    (("entities.solar.fields.roof.choices", DELETE), "entities.solar.fields.roof", "needs 'choices'"),
    (("entities.solar.fields.zip.max_length", 5), "entities.solar.fields.zip", "only to string fields"),
    (("entities.solar.fields.2fa", {}), "entities.solar.fields.2fa", "invalid field name"),
    (("entities.solar.fields", {}), "entities.solar.fields", "must not be empty"),
    (("smtp.security", "tsl"), "smtp.security", "unknown security 'tsl'; did you mean 'tls'?"),
    (("smtp.port", 70000), "smtp.port", "must be a port number"),
    (("partnrs", {}), "partnrs", "unknown section; did you mean 'partners'?"),
    (("partners", []), "partners", "must be a mapping of names to objects"),
]


def test_hold_fields_of_the_step_a_lead_was_held_at_else_the_first_hold_channel() -> None:
    listed, other = HoldChannel(fields=("phone", "zip")), HoldChannel(fields=("email",))
    hook = WebhookChannel(url="http://127.0.0.1:9/x")
    partner = PartnerSpec("sunco", channel=hook, failover=(listed, other))
    assert partner.hold_fields(1) == ("phone", "zip")
    assert partner.hold_fields(2) == ("email",)
    assert partner.hold_fields(0) == ("phone", "zip")  # its configuration changed since: the first hold
    assert PartnerSpec("a", channel=HoldChannel()).hold_fields(0) is None  # no fields: every field
    assert PartnerSpec("b", channel=hook).hold_fields(0) is None


@pytest.mark.parametrize(("edit", "path", "fragment"), BAD, ids=[case[1] + ":" + case[2] for case in BAD])
def test_a_bad_document_names_the_path_and_the_problem(
    edit: tuple[str, Any], path: str, fragment: str
) -> None:
    problems = problems_of(changed(edit))
    assert any(p.path == path and fragment in p.message for p in problems), problems


OUT_OF_RANGE = [
    (("partners.sunco.caps.day", 9_999_999_999), "partners.sunco.caps.day", "1 to 2147483647"),
    (("partners.sunco.caps.month", 2**63), "partners.sunco.caps.month", "1 to 2147483647"),
    (
        ("profiles.solar-main.partner_caps.sunco.day", 10**30),
        "profiles.solar-main.partner_caps.sunco.day",
        "",
    ),
    (("partners.sunco.price", 10**400), "partners.sunco.price", "at most 1000000000"),
    (("partners.sunco.price", 1e300), "partners.sunco.price", "at most 1000000000"),
    (
        ("partners.sunco.channel.webhook.max_attempts", 10**6),
        "partners.sunco.channel.webhook.max_attempts",
        "",
    ),
    (("partners.sunco.channel.webhook.timeout", "99999d"), "partners.sunco.channel.webhook.timeout", "3660d"),
    (("partners.sunco.cancel_period", 10**20), "partners.sunco.cancel_period", "at most 3660d"),
    (
        ("partners.sunco.channel.webhook.response", {"fallback_price": 10**400}),
        "partners.sunco.channel.webhook.response.fallback_price",
        "at most",
    ),
    (
        ("partners.sunco.channel.webhook.response", {"fallback_price": "9" * 401}),
        "partners.sunco.channel.webhook.response.fallback_price",
        "at most",
    ),
    (
        ("profiles.solar-main.rules.2.send_to.weights.sunco", 2**40),
        "profiles.solar-main.rules[2].send_to.weights.sunco",
        "",
    ),
    (("sources.acme-media.wait", "2m"), "sources.acme-media.wait", "at most 60s"),
]


@pytest.mark.parametrize(("edit", "path", "fragment"), OUT_OF_RANGE, ids=[c[1] for c in OUT_OF_RANGE])
def test_numbers_beyond_what_storage_holds_are_refused_with_their_path(
    edit: tuple[str, Any], path: str, fragment: str
) -> None:
    """A value `apply` accepts must never fail a routing later (an INTEGER column, a float, a date)."""
    problems = problems_of(changed(edit))
    assert any(p.path == path and fragment in p.message for p in problems), problems


def test_the_largest_values_storage_holds_are_accepted() -> None:
    document = changed(
        ("partners.sunco.caps.day", 2**31 - 1),
        ("partners.sunco.price", 1_000_000_000),
        ("partners.sunco.channel.webhook.max_attempts", 100),
        ("sources.acme-media.wait", "60s"),
    )
    validate_document(document)  # no ConfigError


@pytest.mark.parametrize("data", [None, [], "partners: {}", 3])
def test_the_document_must_be_a_mapping(data: Any) -> None:
    [only] = problems_of(data)
    assert only.path == "" and "must be a mapping with sections" in only.message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "partners:\n  sunco: {}\n  sunco: {}\n",
            "line 3, column 3: duplicate key 'sunco' (first given on line 2)",
        ),
        ("partners:\n  sunco: {caps: [1}\n", "line 2"),
        ("a: b: c\n", "line 1, column 5: mapping values are not allowed"),
        ("a: 1\n---\nb: 2\n", "expected a single document"),
    ],
)
def test_yaml_errors_carry_the_line(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_yaml_text(text)
    assert fragment in str(caught.value)


def test_yaml_keeps_dates_as_text() -> None:
    assert load_yaml_text("since: 2024-01-31\n") == {"since": "2024-01-31"}


def test_every_problem_of_a_document_is_reported() -> None:
    data = changed(
        ("partners.sunco.cpas", {"day": 1}),
        ("partners.sunco.timezone", "Mars/Olympus"),
        ("partners.mailbox.channel.email.attach", "pdf"),
        (
            "profiles.solar-main.enabeld",
            True,
        ),  # the profile's shape is wrong, yet its rules are still checked
        (f"{RULE0}.send_to.partners.1", "brightpth"),
        (f"{RULE1}.when.any.0.op", "greater"),
        ("sources.acme-media.entities", ["wind"]),
    )
    paths = {p.path for p in problems_of(data)}
    assert paths == {
        "partners.sunco.cpas",
        "partners.sunco.timezone",
        "partners.mailbox.channel.email.attach",
        "profiles.solar-main.enabeld",
        "profiles.solar-main.rules[0].send_to.partners[1]",
        "profiles.solar-main.rules[1].when.any[0].op",
        "sources.acme-media.entities[0]",
    }


def test_a_good_document_builds_the_expected_specs() -> None:
    specs = build_specs(validate_document(good()))
    assert specs.sources == {"acme-media": SourceSpec("acme-media", ("solar",), 5.0)}
    assert specs.entities["solar"].fields["roof"].choices == ("shingle", "tile", "metal")
    assert specs.entities["solar"].fields["ssn"].sensitive
    assert specs.entities["solar"].fields["zip"].type is FieldType.POSTAL_CODE
    weekday = ((480, 1080),)
    assert specs.partners["sunco"] == PartnerSpec(
        name="sunco",
        timezone="America/Los_Angeles",
        email="leads@sunco.example",
        caps={CapPeriod.DAY: 50, CapPeriod.MONTH: 1000},
        hours=Hours((weekday, weekday, weekday, weekday, weekday, (), ())),
        filters=AllOf((Leaf("monthly_bill", Op.GTE, 100),)),
        channel=WebhookChannel(
            url="http://127.0.0.1:9100/buyer/sunco",
            headers={"X-Source": "leadrelay"},
            fields=("first_name", "phone"),
        ),
        price=25.0,
        cancel_period_s=7 * 86_400.0,
    )
    brightpath = specs.partners["brightpath"]
    assert brightpath.channel == EmailChannel(to=("leads@brightpath.example",), attach="csv")
    assert brightpath.cancel_period_s == 36 * 3600.0  # 36h, exactly
    fallback = specs.partners["fallback-buyer"].channel
    assert isinstance(fallback, WebhookChannel) and fallback.timeout_s == 1500.0
    assert specs.profiles["solar-main"] == ProfileSpec(
        name="solar-main",
        entity="solar",
        rules=(
            Rule("west-coast", Leaf("state", Op.IN, ("CA", "OR", "WA")), Target(("sunco", "brightpath"))),
            Rule(
                "big-bills",
                AnyOf((Leaf("monthly_bill", Op.GT, 300), Not(Leaf("zip", Op.STARTS_WITH, "9")))),
                Target(("sunco",), Strategy.PRIORITY),
            ),
            Rule(
                "split",
                Leaf("roof", Op.EQ, "tile", case_sensitive=True),
                Target(("sunco", "brightpath"), Strategy.WEIGHTED, weights={"sunco": 70, "brightpath": 30}),
            ),
        ),
        default=Target(("fallback-buyer",), Strategy.ROUND_ROBIN),
        partner_caps={"sunco": {CapPeriod.DAY: 20}},
    )
    assert specs.smtp is not None and specs.smtp["password"] == "${SMTP_PASSWORD}"


def test_canonical_documents_fill_defaults_and_use_one_form() -> None:
    objects = validate_document(good())
    assert objects["partners"]["fallback-buyer"]["channel"]["webhook"]["timeout"] == "25m"
    assert objects["partners"]["brightpath"]["channel"]["email"]["to"] is None  # the partner's email
    assert objects["partners"]["sunco"]["caps"] == {"day": 50, "month": 1000}  # in period order
    rules = objects["profiles"]["solar-main"]["rules"]
    assert rules[1]["send_to"] == {
        "partners": ["sunco"],
        "strategy": "priority",
        "weights": {},
        "priorities": {},
    }
    assert rules[1]["when"]["any"][1] == {
        "not": {"field": "zip", "op": "starts_with", "value": "9", "case_sensitive": False}
    }
    assert rules[2]["send_to"]["weights"] == {"sunco": 70, "brightpath": 30}  # in partner order
    assert objects["smtp"]["default"]["timeout"] == "10s"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(good(), id="good"),
        pytest.param(load_yaml_text(DEMO.read_text()), id="demo"),
        pytest.param(changed(("profiles.solar-main.default", {"partners": []})), id="empty-default"),
        pytest.param(changed(("partners.sunco.hours", {"daily": "closed"})), id="closed"),
        pytest.param({"partners": {}, "sources": None}, id="empty-sections"),
    ],
)
def test_the_canonical_form_is_idempotent_through_yaml(data: Any) -> None:
    objects = validate_document(data)
    assert validate_document(copy.deepcopy(data)) == objects
    assert validate_document(copy.deepcopy(objects)) == objects  # the objects are a document too
    text = dump_yaml(objects)
    assert validate_document(load_yaml_text(text)) == objects
    assert dump_yaml(validate_document(load_yaml_text(text))) == text


def test_dumped_yaml_is_short_and_ordered() -> None:
    text = dump_yaml(validate_document(good()))
    assert text.index("smtp:") < text.index("entities:") < text.index("partners:") < text.index("profiles:")
    assert text.index("  brightpath:") < text.index("  fallback-buyer:") < text.index("  sunco:")
    assert "case_sensitive: false" not in text and "email_to" not in text
    assert "when: {field: state, op: in, value: [CA, OR, WA]}" in text


def test_priorities_rank_the_partners_of_a_target() -> None:
    target = {
        "partners": ["sunco", "brightpath", "mailbox"],
        "strategy": "priority",
        "priorities": {"mailbox": 2, "sunco": 1, "brightpath": 1},
    }
    objects = validate_document(changed((f"{RULE0}.send_to", target)))
    send_to = build_specs(objects).profiles["solar-main"].rules[0].send_to
    assert send_to == Target(
        ("sunco", "brightpath", "mailbox"),
        Strategy.PRIORITY,
        priorities={"sunco": 1, "brightpath": 1, "mailbox": 2},
    )


def test_an_empty_default_means_do_nothing() -> None:
    objects = validate_document(changed(("profiles.solar-main.default", {"partners": []})))
    assert objects["profiles"]["solar-main"]["default"] is None
    assert build_specs(objects).profiles["solar-main"].default is None


def test_references_resolve_against_stored_objects() -> None:
    stored = validate_document(good())
    profile: dict[str, Any] = {
        "entity": "solar",
        "rules": [
            {
                "name": "ca",
                "when": {"field": "state", "op": "eq", "value": "CA"},
                "send_to": {"partner": "sunco"},
            }
        ],
    }
    objects = validate_document({"profiles": {"second": profile}}, existing=stored)
    assert list(objects) == ["profiles"]
    profile["rules"][0]["when"]["field"] = "county"
    problems = problems_of({"profiles": {"second": profile}}, existing=stored)
    assert problems == [
        ConfigProblem("profiles.second.rules[0].when.field", "'county' is not a field of entity 'solar'")
    ]
    assert problems_of({"profiles": {"second": profile}})[0].message.startswith("unknown entity 'solar'")


def test_partner_filters_may_name_any_field() -> None:
    objects = validate_document(
        changed(("partners.sunco.filters", {"field": "credit_score", "op": "gte", "value": 700}))
    )
    assert objects["partners"]["sunco"]["filters"]["field"] == "credit_score"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("500ms", 0.5),
        ("2m", 120.0),
        ("3h", 10800.0),
        ("7d", 604800.0),
        (15, 15.0),
        (0.25, 0.25),
    ],
)
def test_durations(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["10", "10 sec", "-1s", -1, True, None, "1e3s", [1]])
def test_bad_durations(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"field": "zip", "op": "starts_with", "value": 90}, Leaf("zip", Op.STARTS_WITH, "90")),
        ({"field": "a", "op": "between", "value": [1, 2.5]}, Leaf("a", Op.BETWEEN, (1, 2.5))),
        ({"field": "a", "op": "exists"}, Leaf("a", Op.EXISTS)),
        ({"field": "a", "op": "exists", "value": False}, Leaf("a", Op.EXISTS, False)),
        ({"not": {"all": [{"field": "a", "op": "empty"}]}}, Not(AllOf((Leaf("a", Op.EMPTY),)))),
    ],
)
def test_parse_condition(data: Any, expected: Any) -> None:
    assert parse_condition(data, "when") == expected


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        ("state = CA", "when", "a condition is a mapping"),
        ({"field": "a", "op": "eq", "value": [1]}, "when.value", "use 'in' for a list"),
        (
            {"field": "a", "op": "in", "value": [1, {}]},
            "when.value[1]",
            "must be text, a number or true/false",
        ),
        ({"field": "a", "op": "gt", "value": True}, "when.value", "must be a number"),
        ({"field": "a", "op": "exists", "value": "x"}, "when.value", "takes no value"),
        (
            {"any": [{"field": "a", "op": "eq", "value": 1}, {"op": "eq", "value": 1}]},
            "when.any[1].field",
            "required",
        ),
        (
            {"field": "a", "op": "eq", "value": 1, "case_sensitive": "no"},
            "when.case_sensitive",
            "true or false",
        ),
    ],
)
def test_bad_conditions(data: Any, path: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_condition(data, "when")
    assert any(p.path == path and fragment in p.message for p in caught.value.problems), caught.value.problems


_TEXT = st.text(st.characters(exclude_categories=["Cc", "Cs"]) | st.sampled_from("\x85\u2028 "), max_size=8)
_SCALARS = st.one_of(_TEXT, st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False), st.booleans())
_ORDERED = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False))
_LEAVES = st.one_of(
    st.fixed_dictionaries(
        {
            "field": st.sampled_from(["a", "zip", "state"]),
            "op": st.sampled_from(["eq", "ne"]),
            "value": _SCALARS,
        },
        optional={"case_sensitive": st.booleans()},
    ),
    st.fixed_dictionaries(
        {
            "field": st.just("b"),
            "op": st.sampled_from(["in", "not_in"]),
            "value": st.lists(_SCALARS, min_size=1),
        }
    ),
    st.fixed_dictionaries(
        {"field": st.just("c"), "op": st.sampled_from(["gt", "gte", "lt", "lte"]), "value": _ORDERED}
    ),
    st.fixed_dictionaries(
        {
            "field": st.just("d"),
            "op": st.sampled_from(["starts_with", "contains"]),
            "value": st.text(max_size=5),
        }
    ),
    st.fixed_dictionaries({"field": st.just("e"), "op": st.sampled_from(["exists", "empty"])}),
)
_CONDITIONS = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.builds(lambda items: {"all": items}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda items: {"any": items}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda item: {"not": item}, inner),
    ),
    max_leaves=8,
)


@given(_CONDITIONS)
def test_a_condition_survives_canonical_form_and_yaml(data: dict[str, Any]) -> None:
    document = {"partners": {"p": {"filters": data}}}
    objects = validate_document(document)
    assert validate_document(load_yaml_text(dump_yaml(objects))) == objects
    canonical = objects["partners"]["p"]["filters"]
    assert parse_condition(canonical, "filters") == parse_condition(data, "filters")


def test_conditions_cannot_nest_without_end() -> None:
    data: dict[str, Any] = {"field": "a", "op": "exists"}
    for _ in range(30):
        data = {"not": data}
    with pytest.raises(ConfigError, match="nest too deeply"):
        parse_condition(data, "when")


def test_smtp_settings_resolve_environment_references() -> None:
    smtp = validate_document(changed(("smtp.port", "${SMTP_PORT}")))["smtp"]["default"]
    settings = smtp_settings(smtp, {"SMTP_PASSWORD": "s3cret", "SMTP_PORT": "2526"})
    assert (settings.port, settings.password, settings.sender) == (2526, "s3cret", "leads@example.com")
    with pytest.raises(ConfigError) as caught:
        smtp_settings(smtp, {"SMTP_PORT": "x"})
    assert [p.path for p in caught.value.problems] == ["smtp.password", "smtp.port"]


def test_smtp_settings_refuse_a_sealed_password_left_closed() -> None:
    """A password still sealed (the process lacks the secret key) is never used as the password."""
    smtp = {"host": "mail.example", "port": 587, "security": "starttls", "password": "lr1:k1:AAAAbbbb"}
    with pytest.raises(ConfigError, match="LEADRELAY_SECRET_KEY") as caught:
        smtp_settings(smtp, {})
    assert [p.path for p in caught.value.problems] == ["smtp.password"]


def test_smtp_defaults_the_port_by_security() -> None:
    objects = validate_document({"smtp": {"host": "mail.example", "security": "tls"}})
    assert objects["smtp"]["default"]["port"] == 465


def test_the_demo_validates() -> None:
    specs = build_specs(validate_document(load_yaml_text(DEMO.read_text())))
    assert set(specs.entities["solar"].fields) == {
        "first_name",
        "last_name",
        "email",
        "phone",
        "zip",
        "state",
        "monthly_bill",
    }
    assert list(specs.sources) == ["demo-web"] and specs.sources["demo-web"].wait_s == 5.0
    assert set(specs.partners) == {"sunco", "brightpath", "voltedge", "inbox-partner"}
    for name in ("sunco", "brightpath", "voltedge"):
        channel = specs.partners[name].channel
        assert isinstance(channel, WebhookChannel)
        assert channel.url == f"http://127.0.0.1:9100/buyer/{name}"
        assert CapPeriod.DAY in specs.partners[name].caps
    assert specs.partners["inbox-partner"].channel == EmailChannel(
        to=("leads@inbox.example",),
        subject=specs.partners["inbox-partner"].channel.subject,  # type: ignore[union-attr]
        attach="csv",
    )
    profile = specs.profiles["solar-main"]
    assert [rule.name for rule in profile.rules] == ["west-coast", "texas-auction", "big-bills"]
    assert profile.rules[1].when == Leaf("state", Op.EQ, "TX")
    assert profile.rules[1].send_to == Target(
        ("sunco", "brightpath", "voltedge"), Strategy.AUCTION, deadline_s=0.75, floor=8.0, max_posts=3
    )
    assert specs.partners["sunco"].ping is not None and specs.partners["sunco"].ping.timeout_s == 0.5
    assert profile.rules[2].when == Leaf("monthly_bill", Op.GTE, 250)
    assert profile.rules[2].send_to == Target(("voltedge",))
    assert profile.default == Target(("brightpath", "voltedge", "inbox-partner"), Strategy.ROUND_ROBIN)
    assert specs.smtp is not None and (specs.smtp["host"], specs.smtp["port"]) == ("127.0.0.1", 8025)


@pytest.mark.parametrize("name", ["lead_id", "received_at", "source"])
def test_an_entity_field_may_not_take_the_name_of_a_built_in_batch_column(name: str) -> None:
    """Every batch file and digest row has ``lead_id``, ``received_at`` and ``source``: a field of that
    name would take the built-in column's place (a form's "source" instead of the lead's source)."""
    problems = problems_of(changed((f"entities.solar.fields.{name}", {"type": "string"})))
    assert [(p.path, "built-in column" in p.message) for p in problems] == [
        (f"entities.solar.fields.{name}", True)
    ], problems
