"""Webhook mappings in the configuration language: refused with their paths when applied, canonical,
built into specs, and written back by ``dump_yaml`` so that an export re-applies unchanged."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from leadrelay.configuration.load import build_specs, dump_yaml, load_yaml_text, validate_document
from leadrelay.domain.model import WebhookChannel
from leadrelay.errors import ConfigError, ConfigProblem

HOOK = "partners.acme.channel.webhook"
DOCUMENT = """
entities:
  solar:
    fields:
      first_name: {type: string}
      email: {type: email}
      phone: {type: phone}
      state: {type: state}
      monthly_bill: {type: number}
  roofing:
    fields:
      roof: {type: enum, choices: [shingle, tile]}
partners:
  acme:
    channel:
      webhook:
        url: http://127.0.0.1:9100/buyer/acme
        ascii: true
        content_type: application/vnd.acme+json
        mapping:
          contact.email: "{{ lead.email }}"
          contact.phones.0: "{{ lead.phone | e164 }}"
          contact.name: {field: first_name}
          roof: "{{ lead.roof | upper }}"
          source: leadrelay
          required: false
          nothing: null
          zero: 0
          empty: ""
          literal: {value: "{{ sent as it is }}"}
          tier: {when: {field: monthly_bill, op: gte, value: 200}, value: gold, else: silver}
          vip: {when: {field: monthly_bill, op: gte, value: 500}, value: true}
  beta:
    channel:
      webhook:
        url: http://127.0.0.1:9100/buyer/beta
        format: xml
        mappings:
          - when: {field: state, op: eq, value: CA}
            mapping: {lead.region: west, lead.email: "{{ lead.email }}"}
          - when: {any: [{field: state, op: eq, value: NY}, {field: roof, op: eq, value: tile}]}
            mapping: {lead.region: east}
          - mapping: {lead.region: other, lead@id: "{{ lead_id }}"}
"""


def document() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml_text(DOCUMENT)
    return data


def hook(data: dict[str, Any], partner: str = "acme") -> dict[str, Any]:
    webhook: dict[str, Any] = data["partners"][partner]["channel"]["webhook"]
    return webhook


def problems_of(data: Any, existing: Any = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        validate_document(data, existing)
    return caught.value.problems


def test_a_document_with_mappings_validates_to_canonical_objects() -> None:
    objects = validate_document(document())
    acme = objects["partners"]["acme"]["channel"]["webhook"]
    assert acme["mapping"]["tier"] == {
        "when": {"field": "monthly_bill", "op": "gte", "value": 200, "case_sensitive": False},
        "value": "gold",
        "else": "silver",
    }
    assert acme["mapping"]["vip"] == {
        "when": {"field": "monthly_bill", "op": "gte", "value": 500, "case_sensitive": False},
        "value": True,
    }
    assert list(acme["mapping"]) == list(hook(document())["mapping"])  # the order is the body's order
    assert acme["mappings"] is None and acme["fields"] is None
    assert (acme["ascii"], acme["content_type"], acme["format"]) == (
        True,
        "application/vnd.acme+json",
        "json",
    )
    beta = objects["partners"]["beta"]["channel"]["webhook"]
    assert [sorted(entry) for entry in beta["mappings"]] == [
        ["mapping", "when"],
        ["mapping", "when"],
        ["mapping"],
    ]


def test_the_export_round_trips() -> None:
    objects = validate_document(document())
    text = dump_yaml(objects)
    assert "required: false" in text and "nothing: null" in text and "zero: 0" in text
    assert validate_document(load_yaml_text(text)) == objects
    assert validate_document(copy.deepcopy(objects)) == objects  # the objects are a document too
    assert dump_yaml(validate_document(load_yaml_text(text))) == text


def test_specs_carry_the_canonical_mapping() -> None:
    objects = validate_document(document())
    specs = build_specs(objects)
    acme = specs.partners["acme"].channel
    assert isinstance(acme, WebhookChannel)
    assert acme.mapping == objects["partners"]["acme"]["channel"]["webhook"]["mapping"]
    assert (acme.ascii, acme.content_type, acme.fields) == (True, "application/vnd.acme+json", None)
    beta = specs.partners["beta"].channel
    assert isinstance(beta, WebhookChannel)
    assert (
        beta.format == "xml" and beta.mapping == objects["partners"]["beta"]["channel"]["webhook"]["mappings"]
    )


def test_a_stored_webhook_from_before_mappings_still_builds() -> None:
    stored = validate_document(document())
    old = hook(stored)
    for key in ("mapping", "mappings", "ascii", "content_type"):
        del old[key]
    channel = build_specs(stored).partners["acme"].channel
    assert isinstance(channel, WebhookChannel)
    assert (channel.mapping, channel.ascii, channel.content_type) == (None, False, None)


def edit(change: Any) -> dict[str, Any]:
    data = document()
    change(hook(data))
    return data


BAD: list[tuple[Any, str, str]] = [
    (
        lambda h: h["mapping"].update({"contact.email": "{{ lead.emial }}"}),
        f'{HOOK}.mapping."contact.email"',
        "unknown field 'emial'; did you mean 'email'?",
    ),
    (
        lambda h: h["mapping"].update({"source": "{{ lead.email | uper }}"}),
        f"{HOOK}.mapping.source",
        "unknown filter 'uper'; did you mean 'upper'?",
    ),
    (
        lambda h: h["mapping"].update({"source": "{{ lead.email }"}),
        f"{HOOK}.mapping.source",
        "invalid template: line 1:",
    ),
    (
        lambda h: h["mapping"].update({"source": "{{ ''.__class__ }}"}),
        f"{HOOK}.mapping.source",
        "access to '__class__' is not allowed",
    ),
    (
        lambda h: h["mapping"]["tier"]["when"].update(op="greater"),
        f"{HOOK}.mapping.tier.when.op",
        "unknown operator 'greater'",
    ),
    (
        lambda h: h["mapping"]["tier"]["when"].update(field="monthly_bil"),
        f"{HOOK}.mapping.tier.when.field",
        "unknown field 'monthly_bil'; did you mean 'monthly_bill'?",
    ),
    (
        lambda h: h["mapping"].update({"contact..email": 1}),
        f'{HOOK}.mapping."contact..email"',
        "invalid destination path 'contact..email'",
    ),
    (lambda h: h.update(fields=["email"]), HOOK, "give one of 'fields', 'mapping' or 'mappings'"),
    (lambda h: h.update(mappings=[{"mapping": {"a": 1}}]), HOOK, "not 'mapping' and 'mappings'"),
    (lambda h: h.update(mapping=["a"]), f"{HOOK}.mapping", "must be a mapping of destination paths"),
    (lambda h: h.update(format="yaml"), f"{HOOK}.format", "unknown format 'yaml'"),
    (lambda h: h.update(method="GET", format="xml"), HOOK, "GET sends the values in the query string"),
    (lambda h: h.update(content_type="json"), f"{HOOK}.content_type", "not a content type: 'json'"),
    (
        lambda h: h.update(content_type="text/plain\r\nX-Evil: 1"),
        f"{HOOK}.content_type",
        "not a content type",
    ),
    (lambda h: h.update(ascii="yes"), f"{HOOK}.ascii", "must be true or false"),
    (
        lambda h: h.update(format="xml"),
        f"{HOOK}.mapping",
        "cannot make the xml body: an XML body has one root element",
    ),
]


@pytest.mark.parametrize(("change", "path", "fragment"), BAD, ids=[f"{case[1]}:{case[2]}" for case in BAD])
def test_a_bad_mapping_is_refused_with_its_path(change: Any, path: str, fragment: str) -> None:
    found = problems_of(edit(change))
    assert any(p.path == path and fragment in p.message for p in found), found


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        (lambda h: h["mappings"][0].pop("when"), f"{HOOK}.mappings[0].when", "only the last entry"),
        (
            lambda h: h["mappings"][1]["when"]["any"][1].update(field="rooof"),
            f"{HOOK}.mappings[1].when.any[1].field",
            "unknown field 'rooof'; did you mean 'roof'?",
        ),
        (
            lambda h: h["mappings"][2]["mapping"].update({"other.x": 1}),
            f"{HOOK}.mappings[2].mapping",
            "an XML body has one root element, but the paths start with 'lead', 'other'",
        ),
        (lambda h: h.update(mappings={"a": 1}), f"{HOOK}.mappings", "must be a list of {when, mapping}"),
        (lambda h: h.update(mappings=[]), f"{HOOK}.mappings", "must be a mapping of destination paths"),
    ],
)
def test_a_bad_conditional_mapping_is_refused_with_its_path(change: Any, path: str, fragment: str) -> None:
    data = document()
    change(hook(data, "beta"))
    found = [p for p in problems_of(data) if p.path.startswith("partners.beta")]
    assert any(p.path == path.replace("acme", "beta") and fragment in p.message for p in found), found


def test_every_entitys_fields_may_be_named() -> None:
    """A partner is not tied to one entity: ``lead.roof`` (roofing) and ``lead.email`` (solar) are fine."""
    objects = validate_document(document())
    assert objects["partners"]["acme"]["channel"]["webhook"]["mapping"]["roof"] == "{{ lead.roof | upper }}"


def test_stored_entities_count_too() -> None:
    stored = validate_document(document())
    data = {"partners": {"acme": load_yaml_text(DOCUMENT)["partners"]["acme"]}}
    assert validate_document(data, stored)["partners"]["acme"] == stored["partners"]["acme"]
    hook(data)["mapping"]["x"] = "{{ lead.rof }}"
    [problem] = problems_of(data, stored)
    assert (problem.path, problem.message) == (
        f"{HOOK}.mapping.x",
        "unknown field 'rof'; did you mean 'roof'?",
    )


def test_fields_are_not_checked_when_no_entity_is_known() -> None:
    data = {"partners": {"acme": load_yaml_text(DOCUMENT)["partners"]["acme"]}}
    hook(data)["mapping"]["x"] = "{{ lead.anything }}"
    assert (
        validate_document(data)["partners"]["acme"]["channel"]["webhook"]["mapping"]["x"]
        == "{{ lead.anything }}"
    )


def test_get_and_a_content_type_header_are_accepted() -> None:
    data = edit(lambda h: h.update(method="GET", headers={"Content-Type": "text/plain"}))
    webhook = validate_document(data)["partners"]["acme"]["channel"]["webhook"]
    assert (webhook["method"], webhook["headers"]) == ("GET", {"Content-Type": "text/plain"})
