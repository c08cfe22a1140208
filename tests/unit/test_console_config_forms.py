"""The configuration pages' forms (entrypoints/web/config_forms.py): a submitted form over the stored
document (blank secrets kept, cleared values removed, numbers read, YAML pieces parsed), the problems of
`apply` placed next to their inputs, and submitted YAML shown back without its secrets."""

from __future__ import annotations

from typing import Any

from leadrelay.entrypoints.web import config_forms as forms
from leadrelay.entrypoints.web import config_inputs

STORED: dict[str, Any] = {
    "timezone": "UTC",
    "caps": {"day": 10},
    "channel": {"webhook": {"url": "http://b.test/x", "auth": {"bearer": {"token": "***"}}, "timeout": "5s"}},
}


def submitted(doc: dict[str, Any] | None, **changes: str) -> dict[str, str]:
    """The form as the page shows ``doc``, with ``changes`` (input path → text)."""
    form = {item.name: forms.shown(item, doc) for item in config_inputs.inputs("partners")}
    form = {name: value for name, value in form.items() if value is not False}
    form = {name: ("1" if value is True else value) for name, value in form.items()}
    form.update({f"f.{path.replace('__', '.')}": text for path, text in changes.items()})
    return form


def test_an_unchanged_form_gives_the_stored_document_back() -> None:
    parsed = forms.from_form("partners", submitted(STORED), STORED)
    assert parsed.doc == STORED and parsed.problems == {}


def test_a_blank_secret_keeps_the_stored_one_and_a_typed_one_replaces_it() -> None:
    shown = submitted(STORED)
    assert shown["f.channel.webhook.auth.bearer.token"] == ""  # never shown
    kept = forms.from_form("partners", shown, STORED)
    assert kept.doc["channel"]["webhook"]["auth"]["bearer"]["token"] == "***"  # apply keeps the stored
    typed = forms.from_form(
        "partners", submitted(STORED, channel__webhook__auth__bearer__token="new"), STORED
    )
    assert typed.doc["channel"]["webhook"]["auth"]["bearer"]["token"] == "new"
    fresh = forms.from_form("partners", submitted(None, channel__webhook__url="http://b.test/y"), None)
    assert fresh.doc == {"channel": {"webhook": {"url": "http://b.test/y"}}}


def test_numbers_are_read_cleared_values_removed_and_bad_text_left_for_apply_to_name() -> None:
    doc = forms.from_form(
        "partners", submitted(STORED, caps__day="", price="12.5", caps__hour="x"), STORED
    ).doc
    assert doc["caps"] == {"hour": "x"} and doc["price"] == 12.5
    emptied = forms.from_form("partners", submitted(STORED, caps__day=""), STORED).doc
    assert "caps" not in emptied  # no empty mapping left behind


def test_a_yaml_piece_that_does_not_parse_is_a_problem_at_its_input_and_kept_as_typed() -> None:
    parsed = forms.from_form("partners", submitted(STORED, hours="{mon-fri: [unclosed"), STORED)
    assert list(parsed.problems) == ["hours"] and "invalid YAML" in parsed.problems["hours"][0]
    assert parsed.raw["hours"] == "{mon-fri: [unclosed"


def test_the_problems_of_apply_go_next_to_their_inputs() -> None:
    placed, top = forms.place_problems(
        "partners",
        "acme",
        [
            ("partners.acme.caps.day", "must be a positive integer"),
            ("partners.acme.channel.webhook.auth.bearer.token", "required"),
            ("partners.acme.filters.any[0].op", "unknown operator"),
            ("partners.acme.legal_name", "must be text"),
            ("profiles.main.rules[0].send_to.partners[0]", "unknown partner 'acme'"),
        ],
    )
    assert placed == {
        "caps.day": ["must be a positive integer"],
        "channel.webhook.auth.bearer.token": ["required"],
        "filters": ["any[0].op: unknown operator"],
    }
    assert top == ["partners.acme.legal_name: must be text", "profiles.main.rules[0].send_to.partners[0]: "
                   "unknown partner 'acme'"]  # fmt: skip
    rules, _ = forms.place_problems("profiles", "main", [("profiles.main.rules[1].when.all[0].field", "no")])
    assert rules == {"rules[1]": ["when.all[0].field: no"]}
    fields, _ = forms.place_problems("entities", "solar", [("entities.solar.fields.zip.type", "unknown")])
    assert fields == {"fields.zip": ["type: unknown"]}


def test_submitted_yaml_comes_back_without_its_secrets() -> None:
    text = "channel:\n  webhook:\n    url: http://b.test/x\n    auth: {bearer: {token: hunter2}}\n"
    assert "hunter2" not in forms.masked_text("partners", text)
    assert "'***'" in forms.masked_text("partners", text)
    broken = "channel:\n  webhook:\n    auth:\n      basic: {username: u, password: hunter2\n  [\n"
    assert "hunter2" not in forms.masked_text("partners", broken)


def test_entity_rows_keep_a_fields_other_settings_through_a_rename_and_drop_a_removed_one() -> None:
    stored = {
        "fields": {
            "zip": {"type": "postal_code", "required": True},
            "note": {"type": "string", "max_length": 9},
        }
    }
    form = {
        "fields-0-name": "postal", "fields-0-original": "zip", "fields-0-type": "postal_code",
        "fields-1-name": "note", "fields-1-original": "note", "fields-1-type": "string",
        "fields-1-sensitive": "1",
        "fields-2-name": "gone", "fields-2-original": "", "fields-2-remove": "1",
    }  # fmt: skip
    parsed = forms.from_form("entities", form, stored)
    assert parsed.doc["fields"] == {
        "postal": {"type": "postal_code"},
        "note": {"type": "string", "max_length": 9, "sensitive": True},
    }
    assert parsed.origins == ["zip", "note"]
    rows = forms.field_rows(parsed.doc, parsed.origins)
    assert [(r["name"], r["original"]) for r in rows] == [
        ("postal", "zip"),
        ("note", "note"),
        ("", ""),
        ("", ""),
    ]


def test_a_field_named_twice_is_refused_and_the_first_row_stays_as_it_was() -> None:
    """A new row named as an existing field replaced it (its type, required) on the form shown again, so
    a second Preview proposed the change (black-box pass, 2026-12-06)."""
    stored = {"fields": {"state": {"type": "state", "required": True}}}
    form = {
        "fields-0-name": "state", "fields-0-original": "state", "fields-0-type": "state",
        "fields-0-required": "1",
        "fields-1-name": "state", "fields-1-original": "", "fields-1-type": "string",
    }  # fmt: skip
    parsed = forms.from_form("entities", form, stored)
    assert parsed.doc["fields"] == {"state": {"type": "state", "required": True}}
    assert parsed.problems == {"fields.state": ["the field 'state' is given twice"]}, parsed.problems


def test_rule_rows_keep_a_rules_other_settings_and_a_waterfall_names_only_tiers() -> None:
    stored = {
        "entity": "solar",
        "rules": [
            {"name": "a", "when": {"field": "state", "op": "eq", "value": "CA"},
             "send_to": {"partners": ["x", "y"], "strategy": "weighted", "weights": {"x": 2, "y": 1}}},
            {"name": "w", "when": {"field": "state", "op": "eq", "value": "OR"},
             "send_to": {"strategy": "waterfall", "tiers": [{"partners": ["x"]}]}},
        ],
    }  # fmt: skip
    rows = forms.rule_rows(stored)
    form = {"f.entity": "solar", "f.enabled": "1"}
    for i, row in enumerate(rows):
        form.update(
            {
                f"rules-{i}-{key}": str(row[key])
                for key in ("name", "original", "when", "partners", "strategy")
            }
        )
    form["rules-0-when"] = '{"field": "state", "op": "in", "value": ["CA", "NV"]}'  # the builder's JSON
    parsed = forms.from_form("profiles", form, stored)
    assert parsed.problems == {}
    first, second = parsed.doc["rules"]
    assert first["when"] == {"field": "state", "op": "in", "value": ["CA", "NV"]}
    assert first["send_to"] == {"partners": ["x", "y"], "strategy": "weighted", "weights": {"x": 2, "y": 1}}
    assert second["send_to"] == {"strategy": "waterfall", "tiers": [{"partners": ["x"]}]}
    assert len(rows) == 3 and rows[2]["name"] == ""  # and an empty row for a new rule, left out when blank
