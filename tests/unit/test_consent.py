"""Consent scope (issue 10, point 9): the sellers a lead's one-to-one consent names, how a partner is
matched to them (legal name, aliases, its own name; case, spaces, punctuation and company suffixes
ignored), routing that offers the lead only to covered partners (trace: ``not in the consent scope``),
``require_consent``, the lead's list value, and the configuration that names them (paths of bad values)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from leadrelay.configuration.load import build_specs, load_yaml_text, validate_document
from leadrelay.domain.condition_tree import Leaf, Op
from leadrelay.domain.consent import consent_names, consent_scope, covered, partner_keys, seller_key
from leadrelay.domain.fields.lead import validate_lead
from leadrelay.domain.model import (
    ConsentSpec,
    EntitySpec,
    FieldSpec,
    PartnerSpec,
    ProfileSpec,
    Strategy,
    Target,
    WebhookChannel,
)
from leadrelay.domain.routing import compile_config, evaluate
from leadrelay.errors import ConfigError

HOOK = WebhookChannel(url="http://127.0.0.1:9/buyer")
NOW = dt.datetime(2026, 3, 10, 17, 0, tzinfo=dt.UTC)
FIELD = "consented_sellers"

# ---------------------------------------------------------------- names and keys


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Acme Solar", "acmesolar"),
        ("ACME SOLAR", "acmesolar"),
        ("  acme   solar ", "acmesolar"),
        ("acme-solar", "acmesolar"),
        ("Acme Solar, LLC", "acmesolar"),
        ("Acme Solar,LLC", "acmesolar"),  # a comma parts words
        ("Acme Solar L.L.C.", "acmesolar"),
        ("Acme Solar Inc.", "acmesolar"),
        ("Acme Solar Corp., Inc.", "acmesolar"),
        ("Acme Solar Co., Inc.", "acmesolarco"),  # "Co" and "Company" are part of a name
        ("Sun Company, Inc.", "suncompany"),
        ("Acme Solar Corporation", "acmesolar"),
        ("Acme Incorporated Solar", "acmeincorporatedsolar"),  # a suffix word only counts at the end
        ("Ａｃｍｅ Solar", "acmesolar"),  # full-width letters (NFKC)
        ("Straße Energie GmbH", "strasseenergiegmbh"),  # casefold; GmbH is not a suffix we drop
        ("Inc", "inc"),  # only suffixes: kept
        ("...", ""),
    ],
)
def test_seller_key_ignores_case_spaces_punctuation_and_company_suffixes(name: str, key: str) -> None:
    assert seller_key(name) == key


@pytest.mark.parametrize(
    ("value", "names"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ([], []),
        ("[]", []),
        (["Acme Solar", " Bright Path ", "", None], ["Acme Solar", "Bright Path"]),
        ('["Acme Solar","Bright Path"]', ["Acme Solar", "Bright Path"]),
        ("Acme Solar|Bright Path", ["Acme Solar", "Bright Path"]),
        ("Acme Solar; Bright Path;", ["Acme Solar", "Bright Path"]),
        ("Acme Solar, LLC", ["Acme Solar, LLC"]),  # a comma is part of a name, not a separator
        ("[not json", ["[not json"]),
        # an object, or a list in a list, names no seller: its text is not a name ('{"b":1}' is not "b1")
        ({"b": 1}, []),
        ('{"b": 1}', []),
        ([["a2"], {"b": 1}, "Acme Solar"], ["Acme Solar"]),
        ('[["a2"]]', []),
    ],
)
def test_consent_names_of_a_list_json_text_or_delimited_text(value: Any, names: list[str] | None) -> None:
    assert consent_names(value) == names


def test_a_partner_is_covered_by_its_name_legal_name_or_an_alias() -> None:
    keys = partner_keys("sunco", "Sun Company Holdings, Inc.", ["SunCo Energy", "Bright Roofs"])
    assert keys == {"sunco", "suncompanyholdings", "suncoenergy", "brightroofs"}
    for consent in (["SUNCO"], ["sun company holdings"], ["Sunco-Energy LLC"], "Other|bright roofs"):
        scope = consent_scope(consent)
        assert scope is not None and covered(keys, scope), consent
    for consent in (["Sun"], ["Suncompany"], ["Sun Company Holdings Co"], ["Sun LLC"], [], "Other Seller"):
        scope = consent_scope(consent)
        assert scope is not None and not covered(keys, scope), consent
    assert consent_scope(None) is None  # no consent value at all: not a scope


# ---------------------------------------------------------------- routing


def partners() -> dict[str, PartnerSpec]:
    return {
        "sunco": PartnerSpec("sunco", channel=HOOK, legal_name="Sun Company, Inc.", aliases=("SunCo",)),
        "brightpath": PartnerSpec("brightpath", channel=HOOK, legal_name="BrightPath Energy LLC"),
        "voltedge": PartnerSpec("voltedge", channel=HOOK, filters=Leaf("monthly_bill", Op.GTE, 100)),
    }


SOLAR = EntitySpec(
    "solar",
    {"state": FieldSpec("state"), FIELD: FieldSpec(FIELD), "monthly_bill": FieldSpec("monthly_bill")},
    consent=ConsentSpec(FIELD),
)


def route(
    values: dict[str, Any], *, require: bool = False, entity: EntitySpec = SOLAR
) -> tuple[list[str], list[str], str | None]:
    target = Target(("sunco", "brightpath", "voltedge"), Strategy.PRIORITY)
    profile = ProfileSpec("main", "solar", default=target, require_consent=require)
    config = compile_config(1, partners(), {"main": profile}, {"solar": entity})
    ev = evaluate(values, config.profiles["main"], config, NOW)
    return ev.candidates, ev.trace(config), ev.reason


def test_only_the_partners_the_consent_names_are_candidates() -> None:
    candidates, trace, _ = route({FIELD: '["sun company","Some Other Seller"]', "monthly_bill": 150})
    assert candidates == ["sunco"]
    assert trace == [
        "no rule matched; default",
        "brightpath: not in the consent scope",
        "voltedge: not in the consent scope",
    ]


def test_consent_matches_aliases_and_the_partner_name_across_case_and_punctuation() -> None:
    candidates, _, _ = route({FIELD: "SUNCO|Bright-Path Energy, L.L.C.|VoltEdge", "monthly_bill": 150})
    assert candidates == ["sunco", "brightpath", "voltedge"]


def test_consent_is_told_before_a_partner_filter() -> None:
    candidates, trace, _ = route({FIELD: "SunCo", "monthly_bill": 50})
    assert candidates == ["sunco"]
    assert "voltedge: not in the consent scope" in trace


def test_an_empty_consent_list_is_a_consent_to_nobody() -> None:
    candidates, trace, reason = route({FIELD: "[]", "monthly_bill": 150})
    assert candidates == []
    assert reason == "no eligible partner"
    assert trace[1:] == [f"{name}: not in the consent scope" for name in ("sunco", "brightpath", "voltedge")]


def test_a_lead_without_the_field_routes_as_today() -> None:
    candidates, trace, reason = route({"monthly_bill": 150})
    assert candidates == ["sunco", "brightpath", "voltedge"]
    assert reason is None and trace == ["no rule matched; default"]


def test_a_profile_that_requires_consent_leaves_a_lead_without_it_unsold() -> None:
    candidates, trace, reason = route({"monthly_bill": 150}, require=True)
    assert candidates == [] and reason == "no consent"
    assert trace == ["no consent (the profile requires consent and the lead has none)"]
    candidates, _, reason = route({FIELD: "brightpath", "monthly_bill": 150}, require=True)
    assert candidates == ["brightpath"] and reason is None


def test_require_consent_holds_even_when_the_entity_lost_its_consent_field() -> None:
    plain = EntitySpec("solar", {"monthly_bill": FieldSpec("monthly_bill")})
    lead = {FIELD: "SunCo", "monthly_bill": 150}
    assert route(lead, entity=plain)[0] == ["sunco", "brightpath", "voltedge"]
    assert route(lead, require=True, entity=plain)[2] == "no consent"


# ---------------------------------------------------------------- the lead's value


def test_a_json_list_is_kept_as_json_text_and_text_as_given() -> None:
    from_json = validate_lead(SOLAR, {FIELD: ["Sun Company", "BrightPath"]})
    assert from_json.ok and from_json.values[FIELD] == '["Sun Company","BrightPath"]'
    assert validate_lead(SOLAR, {FIELD: []}).values[FIELD] == "[]"
    assert validate_lead(SOLAR, {FIELD: "SunCo | BrightPath"}).values[FIELD] == "SunCo | BrightPath"
    assert FIELD not in validate_lead(SOLAR, {FIELD: ""}).values
    other = validate_lead(SOLAR, {"state": ["CA"]})  # other fields still take one value
    assert "state" not in other.values


# ---------------------------------------------------------------- configuration

DOCUMENT = """
entities:
  solar:
    fields:
      state: {type: state}
      consented_sellers: {type: string}
    consent: {field: consented_sellers}
partners:
  sunco:
    legal_name: Sun Company, Inc.
    aliases: [SunCo, Sun Co Energy]
    channel: {hold: {}}
profiles:
  main:
    entity: solar
    require_consent: true
    default: {partner: sunco}
"""


def document() -> Any:
    return load_yaml_text(DOCUMENT)


def problems(doc: Any) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        validate_document(doc)
    return [(p.path, p.message) for p in caught.value.problems]


def test_the_consent_configuration_validates_into_specs() -> None:
    specs = build_specs(validate_document(document()))
    assert specs.entities["solar"].consent == ConsentSpec("consented_sellers")
    assert specs.partners["sunco"].legal_name == "Sun Company, Inc."
    assert specs.partners["sunco"].aliases == ("SunCo", "Sun Co Energy")
    assert specs.profiles["main"].require_consent is True


def test_the_consent_field_must_be_a_string_field_of_the_entity() -> None:
    doc = document()
    doc["entities"]["solar"]["consent"] = {"field": "sellers"}
    [(path, message)] = problems(doc)
    assert (path, message) == ("entities.solar.consent.field", "unknown field 'sellers'")
    doc["entities"]["solar"]["consent"] = {"field": "state"}
    [(path, message)] = problems(doc)
    assert path == "entities.solar.consent.field" and "string field without max_length" in message
    doc["entities"]["solar"]["consent"] = {"field": "consented_sellers"}
    doc["entities"]["solar"]["fields"]["consented_sellers"]["max_length"] = 200
    assert [p for p, _ in problems(doc)] == ["entities.solar.consent.field"]


@pytest.mark.parametrize(
    ("consent", "path"),
    [
        ("consented_sellers", "entities.solar.consent"),
        ({"fields": "consented_sellers"}, "entities.solar.consent.fields"),
        ({}, "entities.solar.consent.field"),
    ],
)
def test_a_bad_consent_shape_is_refused_with_its_path(consent: Any, path: str) -> None:
    doc = document()
    doc["entities"]["solar"]["consent"] = consent
    assert path in [p for p, _ in problems(doc)]


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"legal_name": 12}, "partners.sunco.legal_name", "must be a string"),
        ({"legal_name": "--"}, "partners.sunco.legal_name", "must name a seller"),
        ({"aliases": "SunCo"}, "partners.sunco.aliases", "must be a list"),
        ({"aliases": ["SunCo", 3]}, "partners.sunco.aliases[1]", "must be a string"),
        ({"aliases": ["SunCo", "SUN-CO"]}, "partners.sunco.aliases[1]", "the same seller as aliases[0]"),
        ({"aliases": ["Sun Company LLC"]}, "partners.sunco.aliases[0]", "the same seller as legal_name"),
    ],
)
def test_bad_seller_names_are_refused_with_their_path(change: dict[str, Any], path: str, words: str) -> None:
    doc = document()
    doc["partners"]["sunco"] |= change
    found = problems(doc)
    assert any(p == path and words in m for p, m in found), found


def test_require_consent_needs_the_entity_to_name_a_consent_field() -> None:
    doc = document()
    del doc["entities"]["solar"]["consent"]
    [(path, message)] = problems(doc)
    assert path == "profiles.main.require_consent"
    assert "entity solar names no consent field" in message
    doc["profiles"]["main"]["require_consent"] = "yes"
    assert [p for p, _ in problems(doc)] == ["profiles.main.require_consent"]
