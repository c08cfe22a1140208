"""Plain YAML scalars are read by YAML 1.2's core schema: only true/false are booleans, only plain
decimal numbers are numbers; everything else YAML 1.1 would convert stays the text written."""

from __future__ import annotations

from typing import Any

import pytest

from leadrelay.configuration.export import dump_value
from leadrelay.configuration.load import dump_yaml, load_yaml_text, validate_document
from leadrelay.errors import ConfigError, ConfigProblem


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("false", False),
        ("FALSE", False),
        ("ON", "ON"),
        ("on", "on"),
        ("off", "off"),
        ("yes", "yes"),
        ("No", "No"),
        ("y", "y"),
        ("07", "07"),
        ("012345", "012345"),
        ("0o17", "0o17"),
        ("0x1F", "0x1F"),
        ("0b101", "0b101"),
        ("1_000", "1_000"),
        ("8:30", "8:30"),
        ("18:30:00", "18:30:00"),
        ("2026-01-02", "2026-01-02"),
        ("=", "="),
        ("0", 0),
        ("12", 12),
        ("-3", -3),
        ("+4", 4),
        ("1.5", 1.5),
        ("-0.25", -0.25),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("~", None),
        ("null", None),
        ("", None),
    ],
)
def test_a_plain_scalar_is_read_as_yaml_1_2_reads_it(written: str, read: Any) -> None:
    value = load_yaml_text(f"value: {written}\n")["value"]
    assert value == read
    assert type(value) is type(read)


def test_merge_keys_still_merge() -> None:
    assert load_yaml_text("a: &x {b: 1}\nc: {<<: *x, d: 2}\n")["c"] == {"b": 1, "d": 2}


def test_enum_choices_yes_and_no_are_text_and_a_boolean_choice_says_to_quote_it() -> None:
    document = "entities:\n  e:\n    fields:\n      a: {type: enum, choices: [yes, no]}\n"
    assert validate_document(load_yaml_text(document))["entities"]["e"]["fields"]["a"]["choices"] == [
        "yes",
        "no",
    ]
    with pytest.raises(ConfigError) as refused:
        validate_document(
            load_yaml_text("entities:\n  e:\n    fields:\n      a: {type: enum, choices: [true, 2]}\n")
        )
    assert refused.value.problems == [
        ConfigProblem("entities.e.fields.a.choices[0]", "must be a string: quote it ('true')"),
        ConfigProblem("entities.e.fields.a.choices[1]", "must be a string: quote it ('2')"),
    ]


BOOLEAN_RULES = """
entities:
  solar:
    fields:
      phone: {type: phone, required: true}
      homeowner: {type: boolean}
partners:
  acme: {channel: {hold: {}}}
profiles:
  p:
    entity: solar
    rules:
      - {name: a, when: {field: homeowner, op: eq, value: yes}, send_to: {partner: acme}}
      - {name: b, when: {field: homeowner, op: in, value: [true, 1]}, send_to: {partner: acme}}
      - {name: c, when: {field: homeowner, op: ne, value: false}, send_to: {partner: acme}}
      - {name: d, when: {field: homeowner, op: exists}, send_to: {partner: acme}}
"""


def test_a_boolean_field_is_compared_with_true_or_false() -> None:
    """``yes`` (text now) or ``1`` never equals a boolean field's normalized true: refused with its path."""
    with pytest.raises(ConfigError) as refused:
        validate_document(load_yaml_text(BOOLEAN_RULES))
    assert refused.value.problems == [
        ConfigProblem(
            "profiles.p.rules[0].when.value",
            "'homeowner' is a boolean field: compare it with true or false, not 'yes'",
        ),
        ConfigProblem(
            "profiles.p.rules[1].when.value[1]",
            "'homeowner' is a boolean field: compare it with true or false, not 1",
        ),
    ]


@pytest.mark.parametrize(
    "value",
    ["1e3", "-2E4", "1.0e3", ".5", "+4", "ON", "yes", "012345", "8:30", "true", "0x1F", 1e20, 12, True],
)
def test_export_writes_text_that_reads_back_as_text(value: Any) -> None:
    """``dump_yaml`` and ``dump_value`` quote a string this loader (or a YAML 1.1 one) would read as
    another value."""
    read = load_yaml_text(dump_yaml({"sources": {"web": {"x": value}}}))["sources"]["web"]["x"]
    assert read == value
    assert type(read) is type(value)
    alone = load_yaml_text(dump_value([value]))  # a console form's YAML field
    assert alone == [value]
    assert type(alone[0]) is type(value)
