"""The configuration documents and lead bodies the tests share (integration tests apply them to a real
database through ``tests.support.prepare``; the use cases' unit tests apply them to the fakes). Plain
data, cheap to import."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["alias_bomb", "base_config", "lead"]


def base_config(buyer_url: Callable[[str], str], **partner_overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A small solar configuration whose webhooks point at ``buyer_url(name)``."""

    def webhook(name: str, **extra: Any) -> dict[str, Any]:
        return {"webhook": {"url": buyer_url(name), "timeout": "5s", "max_attempts": 3, **extra}}

    partners: dict[str, Any] = {
        # sunco's answer may name the sale's price (its list price otherwise)
        "sunco": {
            "timezone": "America/Los_Angeles",
            "price": 25,
            "price_from_answer": True,
            "channel": webhook("sunco"),
        },
        "brightpath": {
            "timezone": "America/New_York",
            "filters": {"field": "monthly_bill", "op": "gte", "value": 100},
            "channel": webhook("brightpath"),
        },
        "voltedge": {"timezone": "America/New_York", "channel": webhook("voltedge")},
    }
    for name, override in partner_overrides.items():
        partners.setdefault(name, {"channel": webhook(name)}).update(override)
    return {
        "entities": {
            "solar": {
                "fields": {
                    "first_name": {"type": "string", "required": True, "max_length": 50},
                    "last_name": {"type": "string"},
                    "email": {"type": "email"},
                    "phone": {"type": "phone", "required": True},
                    "zip": {"type": "postal_code", "required": True},
                    "state": {"type": "state"},
                    "monthly_bill": {"type": "number"},
                }
            }
        },
        # the test source sees who bought its leads (a source does not by default: issue 10, point 7)
        "sources": {"web": {"entities": ["solar"], "show_buyer": True}},
        "partners": partners,
        "profiles": {
            "solar-main": {
                "entity": "solar",
                "rules": [
                    {
                        "name": "west-coast",
                        "when": {"field": "state", "op": "in", "value": ["CA", "OR", "WA"]},
                        "send_to": {"partners": ["sunco", "brightpath"], "strategy": "priority"},
                    }
                ],
                "default": {"partners": ["brightpath", "voltedge"], "strategy": "round_robin"},
            }
        },
    }


def lead(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "(512) 555-1212",
        "zip": "94103",
        "state": "CA",
        "monthly_bill": 180,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """ "Billion laughs": ``l0: &l0 [x, …]``, ``l1: &l1 [*l0, *l0, …]``, …: ``width ** levels`` values
    from a few hundred bytes of YAML."""
    names = [f"l{i}" for i in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [{', '.join(['x'] * width)}]"]
    for before, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [{', '.join([f'*{before}'] * width)}]")
    return "\n".join(lines) + "\n"
