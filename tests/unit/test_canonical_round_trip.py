"""The canonical objects ``validate_document`` returns are themselves a valid document that validates to
the same objects: what is stored validates again when a delete or a partial document checks what stays,
and ``export`` re-applies. Over the demo's document and one document per selling strategy and option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from leadrelay.configuration.validation import validate_document
from tests.documents import base_config
from tests.integration.test_auction import auction_config

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.yaml"


def _url(name: str) -> str:
    return f"http://127.0.0.1:9/{name}"


def _ping(name: str) -> str:
    return f"http://127.0.0.1:9/{name}/ping"


def _with_target(doc: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    doc["profiles"]["solar-main"]["rules"][0]["send_to"] = target
    return doc


DOCUMENTS = {
    "demo": lambda: yaml.safe_load(DEMO.read_text(encoding="utf-8")),
    "priority": lambda: base_config(_url),
    "weights": lambda: _with_target(
        base_config(_url),
        {
            "partners": ["sunco", "brightpath"],
            "strategy": "weighted",
            "weights": {"sunco": 2, "brightpath": 1},
        },
    ),
    "broadcast": lambda: _with_target(
        base_config(_url), {"partners": ["sunco", "brightpath"], "strategy": "broadcast"}
    ),
    "auction, shared": lambda: _with_target(
        auction_config(_url, _ping),
        {
            "partners": ["sunco", "brightpath", "voltedge"],
            "strategy": "auction",
            "floor": 5,
            "shared": {"max": 2},
        },
    ),
    "waterfall": lambda: _with_target(
        auction_config(_url, _ping),
        {
            "strategy": "waterfall",
            "deadline": "2s",
            "tiers": [
                {"partners": ["brightpath"], "strategy": "priority", "floor": 20},
                {"partners": ["sunco", "voltedge"], "strategy": "auction"},
            ],
        },
    ),
    "user choice": lambda: _with_target(
        base_config(_url), {"partners": ["sunco", "brightpath"], "strategy": "user_choice", "offer_ttl": "5m"}
    ),
}


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_the_canonical_form_validates_to_itself(name: str) -> None:
    canonical = validate_document(DOCUMENTS[name]())
    assert validate_document(canonical) == canonical
    assert validate_document(yaml.safe_load(yaml.safe_dump(canonical))) == canonical  # as export writes it
