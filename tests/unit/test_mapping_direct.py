"""The direct read of a lead field (``templating.sandbox._direct``) gives exactly what Jinja gives: the
same value and type, or the same exception, for every template shape it takes, over present, missing,
empty and odd values; the shapes it does not take still go through Jinja."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from jinja2 import pass_context

from leadrelay.templating.sandbox import ENV, Fields, compile_template

TEMPLATES = [
    "{{ lead.phone }}",
    "{{ lead['phone'] }}",
    "{{ lead.phone | e164 }}",
    "{{ lead.phone | digits }}",
    "{{ lead.phone | national('US') }}",
    "{{ lead.phone | extension }}",
    "{{ lead.first_name | upper | trim }}",
    "{{ lead.first_name | title }}",
    "{{ lead.first_name | default('n/a') }}",
    "{{ lead.first_name | truncate(3) }}",
    "{{ lead.first_name | truncate('x') }}",  # a filter that raises on its argument
    "{{ lead.dob }}",
    "{{ lead.dob | date('%m/%d/%Y') }}",
    "{{ lead.amount }}",
    "{{ lead.amount | format('{:.2f}') }}",
    "{{ lead.flags }}",
    "{{ lead.homeowner }}",
    "{{ lead.homeowner | lower }}",
    "{{ lead.missing }}",
    "{{ lead.missing | default(0) }}",
    "{{ lead['_odd'] }}",
    "{{ ping.reference }}",
    "{{ ping['price'] | default(0) }}",
    "{{ postback.url }}",
    "{{ ping.missing | default('none') }}",
    # constants Jinja writes into its code as names that fail (inf, nan) or folds (lists, dicts, sums)
    "{{ lead.first_name | default(1e999) }}",
    "{{ lead.first_name | default(1e999 - 1e999) }}",
    "{{ lead.first_name | truncate(1e999) }}",
    "{{ lead.homeowner | map({'True': 'yes'}) }}",
    "{{ lead.first_name | default('a' ~ 'b') }}",
    "{{ lead.first_name | default([1, 2]) }}",
]
LEADS: list[dict[str, Any]] = [
    {
        "phone": "+15125551212",
        "first_name": "  ada ",
        "dob": "1990-05-01",
        "amount": 180.0,
        "flags": ["a", 1, True, None, ("t", 2.0)],
        "homeowner": True,
        "_odd": 7,
    },
    {
        "phone": "(512) 555-1212 x12",
        "first_name": "",
        "dob": datetime.date(1990, 5, 1),
        "amount": Decimal("7.50"),
        "flags": ("x", {"k": 1}),
    },
    {"phone": None, "first_name": None, "dob": None, "amount": None, "flags": [], "homeowner": False},
    {"phone": 5125551212, "first_name": 42, "dob": "not a date", "amount": "12.5", "homeowner": None},
    {},
]


def outcome(render: Any, scope: dict[str, Any]) -> tuple[str, Any]:
    try:
        value = render(scope)
    except Exception as exc:  # what the mapping turns into MappingError: type and message must match
        return "raised", (type(exc), str(exc))
    return "value", (type(value), value)


@pytest.mark.parametrize("source", TEMPLATES)
def test_the_direct_read_gives_what_jinja_gives(source: str) -> None:
    direct, problems = compile_template(source, None)
    jinja, _ = compile_template(source, None, direct=False)
    assert not problems and direct is not None and jinja is not None
    assert direct is not jinja
    for values in LEADS:
        for ping in ({"reference": "r-1", "price": 12.5}, {"reference": None, "price": None}, {}):
            scope = {"lead": Fields(values), "lead_id": "L1", "ping": ping, "postback": {"url": "u"}}
            assert outcome(direct, scope) == outcome(jinja, scope), (source, values, ping)
        assert outcome(direct, {"lead": Fields(values)}) == outcome(jinja, {"lead": Fields(values)})


def test_the_direct_read_is_taken_for_a_field_through_constant_filters_only() -> None:
    """A template it does not take is Jinja's own render; one it takes is a function of its own."""
    taken = [
        "{{ lead.phone }}",
        "{{ lead['phone'] }}",
        "{{ lead.phone | e164 | default('x') }}",
        "{{ ping.reference }}",
    ]
    not_taken = [
        "{{ lead.first_name | default(1e999) }}",
        "{{ lead.homeowner | map({'True': 'yes'}) }}",
        "{{ lead.first_name | default('a' ~ 'b') }}",
        "{{ ping.items }}",  # the dict's method, to Jinja
        "{{ ping['keys'] }}",
        "{{ lead_id }}",
        "{{ lead.phone ~ 'x' }}",
        "{{ lead.phone | default(lead.email) }}",
        "{{ lead[lead.key] }}",
        "{{ lead.address.city }}",
        "tel: {{ lead.phone }}",
    ]
    for source in taken:
        render, _ = compile_template(source, None)
        assert getattr(render, "__name__", "") == "read", source
    for source in not_taken:
        render, _ = compile_template(source, None)
        assert getattr(render, "__name__", "") != "read", source


def test_a_direct_read_still_refuses_what_the_sandbox_refuses_at_compile_time() -> None:
    render, problems = compile_template("{{ lead.__class__ }}", None)
    assert render is None and problems == ["access to '__class__' is not allowed"]


def test_a_filter_that_jinja_hands_its_context_is_left_to_jinja(monkeypatch: pytest.MonkeyPatch) -> None:
    @pass_context
    def shout(context: Any, value: Any) -> str:
        return f"{value}!{context.get('lead_id')}"

    monkeypatch.setitem(ENV.filters, "shout", shout)
    direct, _ = compile_template("{{ lead.first_name | shout }}", None)
    jinja, _ = compile_template("{{ lead.first_name | shout }}", None, direct=False)
    assert getattr(direct, "__name__", "") != "read"
    scope = {"lead": Fields({"first_name": "ada"}), "lead_id": "L1"}
    assert direct is not None and jinja is not None and direct(scope) == jinja(scope) == "ada!L1"
