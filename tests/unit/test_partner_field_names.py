"""A partner's dedup keys and its channel's `fields` name fields of the entities: a misspelt name is
refused with its path, as an entity's dedup key is (it would silently turn the option off)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from leadrelay.configuration.load import load_yaml_text, validate_document
from leadrelay.errors import ConfigError

DEMO = load_yaml_text(
    (Path(__file__).resolve().parents[2] / "examples" / "demo.yaml").read_text(encoding="utf-8")
)


def _problems(document: dict[str, Any]) -> list[str]:
    try:
        validate_document(document)
    except ConfigError as exc:
        return [problem.path for problem in exc.problems]
    return []


def test_the_same_typo_in_an_entity_dedup_is_refused() -> None:
    doc = copy.deepcopy(DEMO)
    doc["entities"]["solar"]["dedup"] = {"keys": [["emial"]], "window": "1d"}
    assert _problems(doc) == ["entities.solar.dedup.keys[0][0]"]


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("partners.sunco.dedup.keys[0][0]", lambda p: p.update(dedup={"keys": [["emial"]], "window": "90d"})),
        (
            "partners.sunco.channel.webhook.fields[0]",
            lambda p: p["channel"]["webhook"].update(fields=["frist_name", "phone"]),
        ),
        (
            "partners.sunco.failover[0].email.fields[1]",
            lambda p: p.update(failover=[{"email": {"to": "a@sunco.example", "fields": ["email", "phnoe"]}}]),
        ),
    ],
)  # fmt: skip
def test_a_partner_option_naming_no_field_is_refused(where: str, change: Any) -> None:
    doc = copy.deepcopy(DEMO)
    change(doc["partners"]["sunco"])
    assert _problems(doc) == [where]
