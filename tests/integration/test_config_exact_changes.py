"""An object whose only change is the order of keys that mean something (an XML mapping's elements, an
entity's fields) or a value's type (`1` → `true`) is `updated` and stored, not reported `unchanged`."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadrelay.domain.delivery.body import build_body
from leadrelay.templating.mapping import compile_mapping
from tests.integration.test_cli import changes, cli, stored

BEFORE = """
entities:
  solar:
    fields:
      first_name: {type: string, required: true}
      phone: {type: phone, required: true}
      zip: {type: postal_code}
partners:
  acme:
    channel:
      webhook:
        url: https://buyer.example/leads
        format: xml
        mapping:
          lead.first: "{{ lead.first_name }}"
          lead.phone: "{{ lead.phone }}"
          lead.zip: "{{ lead.zip }}"
"""
AFTER = """
entities:
  solar:
    fields:
      zip: {type: postal_code}
      phone: {type: phone, required: true}
      first_name: {type: string, required: true}
partners:
  acme:
    channel:
      webhook:
        url: https://buyer.example/leads
        format: xml
        mapping:
          lead.zip: "{{ lead.zip }}"
          lead.phone: "{{ lead.phone }}"
          lead.first: "{{ lead.first_name }}"
"""


@pytest.mark.sqlite_only
def test_reordering_an_xml_mapping_or_entity_fields_is_applied(db_url: str, tmp_path: Path) -> None:
    before, after = tmp_path / "before.yaml", tmp_path / "after.yaml"
    before.write_text(BEFORE, encoding="utf-8")
    after.write_text(AFTER, encoding="utf-8")
    assert cli(db_url, "apply", "-f", str(before)).returncode == 0
    r = cli(db_url, "apply", "-f", str(after))
    assert r.returncode == 0, r.stderr

    objects = stored(db_url)
    mapping = objects["partners"]["acme"]["channel"]["webhook"]["mapping"]
    compiled, problems = compile_mapping(mapping, "mapping", None)
    assert compiled is not None, problems
    values = {"first_name": "Ada", "phone": "+15125551212", "zip": "94103"}
    _, body = build_body("xml", compiled.render(values))
    assert body.index("<zip>") < body.index("<phone>") < body.index("<first>"), body
    assert list(objects["entities"]["solar"]["fields"]) == ["zip", "phone", "first_name"]
    assert changes(r.stdout) == {("entities", "solar"): "updated", ("partners", "acme"): "updated"}


BOOL_BEFORE = """
entities:
  solar:
    fields:
      first_name: {type: string, required: true}
      phone: {type: phone, required: true}
      homeowner: {type: boolean}
sources:
  web: {entities: [solar]}
partners:
  acme:
    channel:
      webhook:
        url: https://buyer.example/leads
        mapping: {owner: "{{ lead.homeowner }}", test_mode: 1}
profiles:
  p:
    entity: solar
    rules:
      - name: owners
        when: {field: homeowner, op: eq, value: true}
        send_to: {partner: acme}
"""


@pytest.mark.sqlite_only
def test_changing_1_to_true_is_applied(db_url: str, tmp_path: Path) -> None:
    """A mapping constant changed from 1 to true is a change, stored; a rule comparing a boolean field
    with 1 (which never matches it) is refused."""
    before, after, rule = tmp_path / "before.yaml", tmp_path / "after.yaml", tmp_path / "rule.yaml"
    before.write_text(BOOL_BEFORE, encoding="utf-8")
    after.write_text(BOOL_BEFORE.replace("test_mode: 1", "test_mode: true"), encoding="utf-8")
    rule.write_text(BOOL_BEFORE.replace("value: true}", "value: 1}"), encoding="utf-8")
    assert cli(db_url, "apply", "-f", str(before)).returncode == 0
    r = cli(db_url, "apply", "-f", str(after))
    assert r.returncode == 0, r.stderr
    assert changes(r.stdout)[("partners", "acme")] == "updated"
    assert changes(r.stdout)[("profiles", "p")] == "unchanged"
    assert stored(db_url)["partners"]["acme"]["channel"]["webhook"]["mapping"]["test_mode"] is True

    refused = cli(db_url, "apply", "-f", str(rule))
    assert refused.returncode == 2
    assert "profiles.p.rules[0].when.value: 'homeowner' is a boolean field" in refused.stderr
