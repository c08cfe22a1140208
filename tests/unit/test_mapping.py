"""Partner mappings: filters, constants, field references, native types, conditions, the sandbox, and
every problem refused when the configuration is applied, with its path."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from leadrelay.templating.mapping import CompiledMapping, MappingError, compile_mapping, mapping_for
from leadrelay.templating.sandbox import ENV

FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "phone",
        "zip",
        "state",
        "monthly_bill",
        "age",
        "homeowner",
        "dob",
        "key",
    }
)
EXISTS = {"field": "state", "op": "exists"}
LEAD: dict[str, Any] = {
    "first_name": "ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "phone": "+15125551212",
    "state": "CA",
    "monthly_bill": 180.0,
    "age": 42,
    "homeowner": True,
    "dob": "1990-05-01",
}


def compiled(doc: Any, fields: Any = FIELDS) -> CompiledMapping:
    result, problems = compile_mapping(doc, "m", fields)
    assert not problems and result is not None, problems
    return result


def render(doc: Any, values: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    return compiled(doc).render(LEAD if values is None else values, meta=meta)


def one(template: Any, values: dict[str, Any] | None = None) -> Any:
    return render({"x": template}, values).get("x", "<omitted>")


def problems(doc: Any, fields: Any = FIELDS) -> list[tuple[str, str]]:
    result, found = compile_mapping(doc, "m", fields)
    assert result is None and found
    return [(p.path, p.message) for p in found]


# ---------------------------------------------------------------- the example of the documentation


def test_a_mapping_renders_destination_paths() -> None:
    doc = {
        "contact.email": "{{ lead.email }}",
        "contact.phones.0": "{{ lead.phone | e164 }}",
        "contact.name": {"field": "first_name"},
        "source": "leadrelay",
        "tier": {
            "when": {"field": "monthly_bill", "op": "gte", "value": 200},
            "value": "gold",
            "else": "silver",
        },
    }
    assert render(doc) == {
        "contact.email": "ada@example.com",
        "contact.phones.0": "+15125551212",
        "contact.name": "ada",
        "source": "leadrelay",
        "tier": "silver",
    }
    assert render(doc, {**LEAD, "monthly_bill": 250.0})["tier"] == "gold"


# ---------------------------------------------------------------- filters


@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        ("{{ lead.v | upper }}", "ada", "ADA"),
        ("{{ lead.v | lower }}", "ADA", "ada"),
        ("{{ lead.v | title }}", "ada LOVELACE", "Ada Lovelace"),
        ("{{ lead.v | trim }}", "  ada \t", "ada"),
        ("{{ lead.v | digits }}", "(512) 555-1212 ext. ٣", "5125551212"),
        ("{{ lead.v | digits }}", 90210, "90210"),
        (
            "{{ lead.v | digits }}",
            "+15125551212;ext=123",
            "15125551212",
        ),  # a phone's number, not its extension
        ("{{ lead.v | e164 }}", "+15125551212;ext=123", "+15125551212"),
        ("{{ lead.v | national }}", "+15125551212;ext=123", "5125551212"),
        ("{{ lead.v | extension }}", "+15125551212;ext=123", "123"),
        ("{{ lead.v | extension }}", "(512) 555-1212 x 42", "42"),
        ("{{ lead.v | extension }}", "+15125551212", None),
        ("{{ lead.v | extension }}", "not a phone", None),
        ("{{ lead.v | e164 }}", "(512) 555-1212", "+15125551212"),
        ("{{ lead.v | e164 }}", "+44 20 7183 8750", "+442071838750"),
        ("{{ lead.v | e164('CA') }}", "604 555 0123", "+16045550123"),
        ("{{ lead.v | e164('GB') }}", "020 7183 8750", "+442071838750"),  # a national number of the region
        ("{{ lead.v | e164 }}", "not a phone", None),
        ("{{ lead.v | national }}", "+15125551212", "5125551212"),
        ("{{ lead.v | national }}", "+44 20 7183 8750", "2071838750"),
        ("{{ lead.v | format('+1{}') }}", "5125551212", "+15125551212"),
        ("{{ lead.v | format('{:.2f}') }}", 180.0, "180.00"),
        ("{{ lead.v | format('[{:>5}]') }}", "ab", "[   ab]"),
        ("{{ lead.v | format('{{{}}}') }}", "x", "{x}"),
        ("{{ lead.v | date }}", "1990-05-01", "1990-05-01"),
        ("{{ lead.v | date('%m/%d/%Y') }}", "1990-05-01", "05/01/1990"),
        ("{{ lead.v | date('%m/%d/%Y') }}", "June 2, 2014", "06/02/2014"),
        ("{{ lead.v | date('%Y-%m-%d %H:%M') }}", "2024-01-31T10:00:00-05:00", "2024-01-31 15:00"),
        ("{{ lead.v | date }}", "not a date", None),
        ("{{ lead.v | default('none') }}", "", "none"),
        ("{{ lead.v | default('none') }}", "given", "given"),
        ("{{ lead.v | default(0) }}", 0, 0),  # zero is a value
        ("{{ lead.v | map({'Yes': 1, 'No': 0}) }}", "yes", 1),
        ("{{ lead.v | map({'Yes': 1, 'No': 0}) }}", "No", 0),
        ("{{ lead.v | map({'Yes': 1, 'No': 0}) }}", "maybe", "maybe"),
        ("{{ lead.v | map({'Yes': 1, 'No': 0}, -1) }}", "maybe", -1),
        ("{{ lead.v | map({'Yes': 1}, default='?') }}", "maybe", "?"),
        ("{{ lead.v | map({'true': 'Y', 'false': 'N'}) }}", True, "Y"),
        ("{{ lead.v | map({180: 'one-eighty'}) }}", 180.0, "one-eighty"),
        ("{{ lead.v | truncate(3) }}", "Lovelace", "Lov"),
        ("{{ lead.v | truncate(30) }}", "Lovelace", "Lovelace"),
        ("{{ lead.v | truncate(0) }}", "Lovelace", ""),
        ("{{ lead.v | trim | upper | truncate(2) }}", "  ada ", "AD"),
    ],
)
def test_filters(template: str, value: Any, expected: Any) -> None:
    assert compiled({"x": template}, None).render({"v": value}) == {"x": expected}


@pytest.mark.parametrize("name", ["upper", "lower", "title", "trim", "digits", "e164", "national", "date"])
def test_a_missing_value_stays_missing_through_a_filter(name: str) -> None:
    assert one(f"{{{{ lead.zip | {name} }}}}", {}) is None
    assert one(f"{{{{ lead.zip | {name} | default('n/a') }}}}", {}) == "n/a"
    assert one(f"<{{{{ lead.zip | {name} }}}}>", {}) == "<>"


def test_the_truncate_and_map_filters_are_ours_not_jinjas() -> None:
    long = "x" * 300
    assert compiled({"x": "{{ lead.v | truncate(5) }}"}, None).render({"v": long}) == {"x": "xxxxx"}
    with pytest.raises(MappingError, match="truncate needs a whole number"):
        compiled({"x": "{{ lead.v | truncate('5') }}"}, None).render({"v": "abc"})
    with pytest.raises(MappingError, match="map needs a mapping"):
        compiled({"x": "{{ lead.v | map('upper') }}"}, None).render({"v": "abc"})


def test_only_the_documented_filters_exist() -> None:
    assert set(ENV.filters) == {
        "upper", "lower", "title", "trim", "digits", "e164", "national", "extension", "format", "date",
        "default", "map", "truncate",
    }  # fmt: skip
    assert problems({"x": "{{ lead.email | attr('x') }}"}) == [("m.x", "unknown filter 'attr'")]


# ---------------------------------------------------------------- values: constants, references, native types


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("leadrelay", "leadrelay"),
        ("", ""),
        (7, 7),
        (2.5, 2.5),
        (False, False),
        (None, None),
        ({"value": "{{ not a template }}"}, "{{ not a template }}"),
        ({"value": None}, None),
        ({"field": "age"}, 42),
        ({"field": "monthly_bill"}, 180.0),
        ({"field": "homeowner"}, True),
        ({"field": "last_name"}, "Lovelace"),
        ({"field": "zip"}, None),
        ({"field": "zip", "default": "00000"}, "00000"),
    ],
)
def test_constants_and_field_references(spec: Any, expected: Any) -> None:
    assert compiled({"x": spec}, None).render(LEAD) == {"x": expected}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ lead.age }}", 42),
        ("{{ lead.monthly_bill }}", 180.0),
        ("{{ lead.homeowner }}", True),
        ("{{ lead.age + 1 }}", 43),
        ("{{ lead.monthly_bill > 100 }}", True),
        ("{{ [lead.state, lead.age] }}", ["CA", 42]),
        ("{{ lead['email'] }}", "ada@example.com"),
        ("{{ lead.zip }}", None),  # a field this lead lacks: null in an expression
        ("{{- lead.age -}}", 42),
        # text: every other template
        ("{{ lead.age }} years", "42 years"),
        ("{{ lead.monthly_bill }}", 180.0),
        ("${{ lead.monthly_bill }}", "$180"),  # numbers as a buyer reads them
        ("{{ lead.homeowner }}/{{ lead.age }}", "true/42"),
        ("[{{ lead.zip }}]", "[]"),  # a field this lead lacks: empty in text
        (" {{ lead.age }}", " 42"),
        ("{% if lead.homeowner %}owner{% else %}renter{% endif %}", "owner"),
        ("{% if lead.zip %}zip{% else %}no zip{% endif %}", "no zip"),
        ("{{ lead.first_name }} {# a comment #}", "ada "),
    ],
)
def test_one_expression_keeps_its_type_and_the_rest_is_text(template: str, expected: Any) -> None:
    assert one(template) == expected


def test_the_other_template_variables() -> None:
    doc = {"id": "{{ lead_id }}", "who": "{{ partner }}/{{ entity }}", "test": "{{ test }}"}
    assert render(doc, lead_id="L1", partner="acme", entity="solar", test=False) == {
        "id": "L1",
        "who": "acme/solar",
        "test": False,
    }


def test_lead_is_only_fields_not_a_dict() -> None:
    values = {"items": "shingle", "values": "tile", "keys": 3}
    doc = {"a": "{{ lead.items }}", "b": "{{ lead.values }}", "c": "{{ lead.keys }}"}
    assert compiled(doc, None).render(values) == {"a": "shingle", "b": "tile", "c": 3}


# ---------------------------------------------------------------- conditions


def test_a_conditional_value_without_else_leaves_the_path_out() -> None:
    doc = {
        "vip": {"when": {"field": "monthly_bill", "op": "gte", "value": 500}, "value": True},
        "bill": {"field": "monthly_bill"},
    }
    assert render(doc) == {"bill": 180.0}
    assert render(doc, {**LEAD, "monthly_bill": 600.0}) == {"vip": True, "bill": 600.0}


def test_conditional_values_nest_and_may_be_templates_or_references() -> None:
    size = {
        "when": {"field": "monthly_bill", "op": "gte", "value": 300},
        "value": "large ({{ lead.monthly_bill }})",
        "else": {
            "when": {"field": "monthly_bill", "op": "gte", "value": 100},
            "value": {"field": "state"},
            "else": None,
        },
    }
    assert [one(size, {**LEAD, "monthly_bill": bill}) for bill in (400.0, 150.0, 50.0)] == [
        "large (400)",
        "CA",
        None,
    ]


def test_mappings_chooses_the_first_matching_entry() -> None:
    doc = [
        {"when": {"field": "state", "op": "eq", "value": "CA"}, "mapping": {"region": "west", "a": 1}},
        {"when": {"field": "state", "op": "in", "value": ["NY", "NJ"]}, "mapping": {"region": "east"}},
        {"mapping": {"region": "other", "email": "{{ lead.email }}"}},
    ]
    assert render(doc) == {"region": "west", "a": 1}
    assert render(doc, {**LEAD, "state": "nj"}) == {"region": "east"}
    assert render(doc, {**LEAD, "state": "TX"}) == {"region": "other", "email": "ada@example.com"}


def test_mappings_without_a_default_may_apply_to_no_lead() -> None:
    doc = [{"when": {"field": "state", "op": "eq", "value": "CA"}, "mapping": {"region": "west"}}]
    with pytest.raises(MappingError, match="no mapping applies to this lead"):
        render(doc, {**LEAD, "state": "TX"})


# ---------------------------------------------------------------- the sandbox


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("{{ lead.__class__.__mro__ }}", "access to '__class__' is not allowed"),
        ("{{ ''.__class__ }}", "access to '__class__' is not allowed"),
        ("{{ ''.__class__.__base__.__subclasses__() }}", "access to '__subclasses__' is not allowed"),
        ("{{ cycler.__init__.__globals__ }}", "unknown name 'cycler'"),
        ("{{ cycler.__init__.__globals__ }}", "access to '__globals__' is not allowed"),
        ("{{ lead._values }}", "access to '_values' is not allowed"),
        ("{{ lead.email['__class__'] }}", "access to '__class__' is not allowed"),
        ("{{ range(10) }}", "unknown name 'range'"),
        ("{{ self }}", "unknown name 'self'"),
        ("{% include 'other' %}", "cannot use other templates"),
        ("{% import 'other' as o %}", "cannot use other templates"),
        ("{{ lead.phone | format('{0.__class__}') }}", "plain '{}' placeholders, not '{0.__class__}'"),
        ("{{ lead.phone | format('{0[0]}') }}", "plain '{}' placeholders"),
        ("{{ lead.phone | format('{!r}') }}", "plain '{}' placeholders"),
    ],
)
def test_escapes_are_refused_when_applied(template: str, fragment: str) -> None:
    found = problems({"x": template}, None)
    assert any(path == "m.x" and fragment in message for path, message in found), found


@pytest.mark.parametrize(
    ("template", "values", "fragment"),
    [
        ("{{ lead[lead.key] }}", {"key": "__class__"}, "not allowed: access to attribute '__class__'"),
        ("{{ lead[lead.key] }}", {"key": "_values"}, "not allowed"),
        ("{{ lead.email[lead.key] }}", {"email": "a@b.c", "key": "__class__"}, "not allowed"),
        ("{{ lead.email[lead.key].__name__ }}", {"email": "a", "key": "upper"}, None),
        ("x{{ lead[lead.key] }}", {"key": "__init__"}, "not allowed"),
        ("{{ lead.email | format(lead.key) }}", {"email": "a", "key": "{0.__class__}"}, "placeholders"),
        ("{{ 'ab' * lead.age }}", {"age": 100_000}, "more than 10000 items"),
        ("{{ lead.age ** lead.age }}", {"age": 10_000}, "exponent over 100"),
        ("{{ lead.email.upper.__globals__ }}", {"email": "a"}, None),
    ],
)
def test_escapes_that_depend_on_the_lead_fail_the_render_safely(
    template: str, values: dict[str, Any], fragment: str | None
) -> None:
    result, found = compile_mapping({"x": template}, "m", None)
    if result is None:  # refused at apply time already (a private attribute in the template itself)
        assert any("not allowed" in p.message for p in found), found
        return
    with pytest.raises(MappingError) as caught:
        result.render(values)
    assert str(caught.value).startswith("x: ")
    assert fragment is None or fragment in str(caught.value)


def test_the_environment_itself_never_renders_an_unsafe_value_as_empty() -> None:
    """What the checks at apply time would refuse fails at render too: the sandbox is the last line."""
    with pytest.raises(SecurityError):
        ENV.from_string("{{ ''.__class__ }}").render()
    with pytest.raises(SecurityError):
        ENV.from_string("{{ lead.__class__.__mro__ }}").render(lead=object())
    with pytest.raises((SecurityError, UndefinedError)):
        ENV.from_string("{{ cycler.__init__.__globals__ }}").render()
    with pytest.raises(SecurityError):
        ENV.from_string("{{ x.append(1) }}").render(x=[])  # immutable: no mutation of what it is given


def test_runtime_errors_name_the_path_and_never_escape_as_other_exceptions() -> None:
    cases = {
        "a": "{{ lead.first_name | format('{:.2f}') }}",  # a string has no 'f' format
        "b": "{{ lead.zip.code }}",  # an attribute of a field the lead lacks
        "c": "{{ lead.age / 0 }}",
    }
    for path, template in cases.items():
        with pytest.raises(MappingError) as caught:
            compiled({path: template}, None).render(LEAD)
        assert str(caught.value).startswith(f"{path}: "), caught.value
    with pytest.raises(MappingError, match="the lead has no field 'zip'"):
        compiled({"b": "{{ lead.zip.code }}"}, None).render(LEAD)


# ---------------------------------------------------------------- problems when applied, with paths


@pytest.mark.parametrize(
    ("doc", "path", "fragment"),
    [
        ({"a": "{{ lead.email "}, "m.a", "invalid template: line 1: unexpected end of template"),
        ({"a": "{% if lead.email %}x"}, "m.a", "invalid template: line 1: Unexpected end of template"),
        ({"a": "{{ lead.email | uper }}"}, "m.a", "unknown filter 'uper'; did you mean 'upper'?"),
        ({"a": "{{ lead.email is emial }}"}, "m.a", "unknown test 'emial'"),
        (
            {"contact.email": "{{ lead.emial }}"},
            'm."contact.email"',
            "unknown field 'emial'; did you mean 'email'?",
        ),
        ({"a": "{{ lead['frist_name'] }}"}, "m.a", "unknown field 'frist_name'; did you mean 'first_name'?"),
        ({"a": "{{ leed.email }}"}, "m.a", "unknown name 'leed'; did you mean 'lead'?"),
        ({"a": {"field": "emial"}}, "m.a.field", "unknown field 'emial'; did you mean 'email'?"),
        ({"a": {"field": "email", "defualt": 1}}, "m.a.defualt", "unknown key; did you mean 'default'?"),
        ({"a": {"field": 3}}, "m.a.field", "must be a field name"),
        (
            {"a": {"when": {"field": "state", "op": "eqq", "value": "CA"}, "value": 1}},
            "m.a.when.op",
            "did you mean 'eq'?",
        ),
        (
            {"a": {"when": {"field": "stat", "op": "eq", "value": "CA"}, "value": 1}},
            "m.a.when.field",
            "did you mean 'state'?",
        ),
        (
            {"a": {"when": {"any": [{"field": "x", "op": "exists"}]}, "value": 1}},
            "m.a.when.any[0].field",
            "unknown field 'x'",
        ),
        ({"a": {"when": {"field": "state", "op": "eq"}, "value": 1}}, "m.a.when.value", "'eq' needs a value"),
        ({"a": {"when": EXISTS}}, "m.a.value", "required"),
        ({"a": {"when": EXISTS, "value": 1, "otherwise": 2}}, "m.a.otherwise", "unknown key"),
        ({"a": {"when": EXISTS, "value": "{{ lead.nope }}"}}, "m.a.value", "unknown field 'nope'"),
        ({"a": {"when": EXISTS, "value": 1, "else": [1]}}, "m.a.else", "a value is text"),
        ({"a": [1, 2]}, "m.a", "a value is text"),
        ({"a": {"value": [1]}}, "m.a.value", "a constant is text"),
        ({"a": {"foo": 1}}, "m.a", "a value is text"),
        ({"a": float("nan")}, "m.a", "must be a finite number"),
        ({"a..b": 1}, 'm."a..b"', "invalid destination path 'a..b'"),
        ({".a": 1}, 'm.".a"', "invalid destination path"),
        ({"a.": 1}, 'm."a."', "invalid destination path"),
        ({"a. b": 1}, 'm."a. b"', "invalid destination path"),
        ({"": 1}, 'm.""', "invalid destination path"),
        ({"a": 1, "a.b": 2}, 'm."a.b"', "'a' has a value of its own, so it cannot also hold 'a.b'"),
        ({1: "x"}, "m.1", "a destination path must be text"),
        ({}, "m", "must not be empty"),
        ([], "m", "must be a mapping of destination paths to values, or a list of {when, mapping}"),
        ("x", "m", "must be a mapping"),
        (
            [{"mapping": {"a": 1}}, {"mapping": {"a": 2}}],
            "m[0].when",
            "only the last entry may leave out 'when'",
        ),
        ([{"when": EXISTS}], "m[0].mapping", "required"),
        ([{"when": EXISTS, "mapping": {"a": 1}, "maping": {}}], "m[0].maping", "did you mean 'mapping'?"),
        ([{"mapping": {"a": "{{ lead.x }}"}}], "m[0].mapping.a", "unknown field 'x'"),
        (["x"], "m[0]", "must be a mapping: {when: <condition>, mapping: {...}}"),
    ],
)
def test_problems_are_refused_with_their_path(doc: Any, path: str, fragment: str) -> None:
    found = problems(doc)
    assert any(p == path and fragment in message for p, message in found), found


def test_conditional_values_cannot_nest_without_end() -> None:
    spec: Any = "leaf"
    for _ in range(12):
        spec = {"when": EXISTS, "value": spec}
    assert any("nest too deeply" in message for _, message in problems({"a": spec}))


def test_fields_are_not_checked_when_unknown() -> None:
    assert compiled({"a": "{{ lead.anything }}", "b": {"field": "whatever"}}, None).render({}) == {
        "a": None,
        "b": None,
    }


def test_every_problem_of_a_mapping_is_reported() -> None:
    found = problems({"a": "{{ lead.emial }}", "b": {"field": "phnoe"}, "c..d": 1, "e": "{{ x | nope }}"})
    assert {path for path, _ in found} == {"m.a", "m.b.field", 'm."c..d"', "m.e"}


# ---------------------------------------------------------------- compiled once


def test_mapping_for_compiles_a_document_once() -> None:
    doc = {
        "a": "{{ lead.email | upper }}",
        "b": {"when": {"field": "age", "op": "gt", "value": 40}, "value": 1},
    }
    first = mapping_for(doc)
    assert mapping_for(doc) is first  # the same object
    assert mapping_for({**doc}) is first  # an equal document, from another configuration load
    assert first.render(LEAD) == {"a": "ADA@EXAMPLE.COM", "b": 1}
    with pytest.raises(MappingError, match="unknown filter 'nope'"):
        mapping_for({"a": "{{ lead.email | nope }}"})


def test_canonical_documents_are_stable() -> None:
    doc = {
        "a": {"when": {"field": "state", "op": "in", "value": ["CA"]}, "value": {"field": "email"}},
        "b": {"value": None},
    }
    canonical = compiled(doc).document
    assert canonical == {
        "a": {
            "when": {"field": "state", "op": "in", "value": ["CA"], "case_sensitive": False},
            "value": {"field": "email"},
        },
        "b": {"value": None},
    }
    assert compiled(canonical).document == canonical
