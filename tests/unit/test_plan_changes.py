"""``plan_changes`` compares documents exactly: the order of a mapping's keys and a value's type count
(``==`` on dicts ignores the one and takes ``True`` for ``1``); the same document is ``unchanged``."""

from __future__ import annotations

from leadrelay.services.configure import Change, plan_changes


def test_order_and_type_are_changes_and_the_same_document_is_unchanged() -> None:
    stored = {
        "entities": {"solar": {"fields": {"a": {"type": "string"}, "b": {"type": "phone"}}}},
        "partners": {"acme": {"mapping": {"x": 1}}, "same": {"mapping": {"y": 2, "z": [1, 2]}}},
    }
    incoming = {
        "entities": {"solar": {"fields": {"b": {"type": "phone"}, "a": {"type": "string"}}}},
        "partners": {"acme": {"mapping": {"x": True}}, "same": {"mapping": {"y": 2, "z": [1, 2]}}},
    }
    assert plan_changes(stored, incoming) == [
        Change("entities", "solar", "updated"),
        Change("partners", "acme", "updated"),
        Change("partners", "same", "unchanged"),
    ]
