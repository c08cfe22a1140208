"""``build_body``: the bodies LeadConduit's custom integration sends, case by case from its specs
(activeprospect/leadconduit-integration-custom test/json-spec.js, form-spec.js, xml-spec.js), plus where
leadrelay deliberately differs."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

import pytest

import leadrelay
from leadrelay.domain.delivery.body import build_body

DECL = '<?xml version="1.0" encoding="UTF-8"?>'


@pytest.mark.parametrize(
    ("values", "ascii", "body"),
    [
        # json-spec: should have url, method, headers, and body
        ({"fname": "Mel", "lname": "Gibson"}, False, '{"fname":"Mel","lname":"Gibson"}'),
        # json-spec: should send data as ASCII when told to / as original UTF-8 when told to
        ({"fname": "Mêl", "lname": "Gibson"}, True, '{"fname":"Mel","lname":"Gibson"}'),
        ({"fname": "Mêl", "lname": "Gibson"}, False, '{"fname":"Mêl","lname":"Gibson"}'),
        # json-spec: should support simple dot-notation
        ({"foo.bar.baz": "bip"}, False, '{"foo":{"bar":{"baz":"bip"}}}'),
        # json-spec: should support dot-notation arrays
        ({"foo.bar.baz.0": "bip", "foo.bar.baz.1": "bap"}, False, '{"foo":{"bar":{"baz":["bip","bap"]}}}'),
        # json-spec: should support dot-notation array reference
        ({"foo.bar.baz": ["bip", "bap"]}, False, '{"foo":{"bar":{"baz":["bip","bap"]}}}'),
        # json-spec: should compact array (a None item vanishes)
        ({"foo.0": "baz", "foo.1": None, "foo.2": "bip"}, False, '{"foo":["baz","bip"]}'),
        # json-spec: should build array (every top-level key numeric: a root array)
        (
            {"0.foo.bar": "baz", "1.foo.bip": "bap", "1.foo.bar": "bip"},
            False,
            '[{"foo":{"bar":"baz"}},{"foo":{"bip":"bap","bar":"bip"}}]',
        ),
        # json-spec: should support brackets in key names
        (
            {"foo.bar[what_is_your_interest]": "astrophysics"},
            False,
            '{"foo":{"bar[what_is_your_interest]":"astrophysics"}}',
        ),
        # json-spec: should compact array with missing index
        (
            {"0.foo.bar": "baz", "2.foo.bip": "bap", "2.foo.bar": "bip"},
            False,
            '[{"foo":{"bar":"baz"}},{"foo":{"bip":"bap","bar":"bip"}}]',
        ),
        # json-spec: should build object even though a json property has a leading digit
        ({"0.foo.bar": "baz", "bip": "bap"}, False, '{"0":{"foo":{"bar":"baz"}},"bip":"bap"}'),
        # json-spec: should normalize rich types (values arrive rendered: bool and number stay typed)
        (
            {"boolean": True, "number": 100000, "gender": "female"},
            False,
            '{"boolean":true,"number":100000,"gender":"female"}',
        ),
        # leadrelay: gaps compact in index order, whatever order the paths come in
        ({"foo.5": "b", "foo.0": "a"}, False, '{"foo":["a","b"]}'),
        ({"foo.10": "c", "foo.9": "b", "foo.2": "a"}, False, '{"foo":["a","b","c"]}'),
        # leadrelay: None outside an array stays null; a None item inside a list value vanishes
        ({"a": None, "b": ["x", None, "y"]}, False, '{"a":null,"b":["x","y"]}'),
        # leadrelay: transliteration drops what NFKD cannot reduce to ASCII (unidecode would spell ß as ss)
        ({"name": "Zoë Straße", "list": ["Ångström"]}, True, '{"name":"Zoe Strae","list":["Angstrom"]}'),
        # leadrelay: no paths at all is an empty object (LeadConduit sends [])
        ({}, False, "{}"),
    ],
)
def test_json(values: dict[str, Any], ascii: bool, body: str) -> None:
    assert build_body("json", values, ascii=ascii) == ("application/json", body)


def test_json_numbers_and_booleans_keep_their_types() -> None:
    _, body = build_body("json", {"a.b": 1.5, "a.c": False, "a.d.0": 0})
    assert json.loads(body) == {"a": {"b": 1.5, "c": False, "d": [0]}}


@pytest.mark.parametrize(
    ("values", "ascii", "body"),
    [
        # form-spec: should have url, method, headers, and body
        ({"fname": "Mel", "lname": "Gibson"}, False, "fname=Mel&lname=Gibson"),
        # form-spec: should send data as ASCII when told to / as original UTF-8 when told to
        ({"fname": "Mêl", "lname": "Gibson"}, True, "fname=Mel&lname=Gibson"),
        ({"fname": "Mêl", "lname": "Gibson"}, False, "fname=M%C3%AAl&lname=Gibson"),
        # form-spec: should support simple dot-notation
        ({"foo.bar.baz": "bip"}, False, "foo.bar.baz=bip"),
        # form-spec: should support simple bracket notation
        (
            {"profile[what_is_your_interest]": "whatever"},
            False,
            "profile%5Bwhat_is_your_interest%5D=whatever",
        ),
        # form-spec: should support dot-notation arrays
        ({"foo.bar.baz.0": "bip", "foo.bar.baz.1": "bap"}, False, "foo.bar.baz=bip&foo.bar.baz=bap"),
        # form-spec: should compact dot-notation arrays
        (
            {"foo.0": "bip", "foo.4": "bap", "bar.baz.2": 42, "bar.baz.9": 55},
            False,
            "foo=bip&foo=bap&bar.baz=42&bar.baz=55",
        ),
        # form-spec: should support dot-notation array reference
        ({"foo.bar.baz": ["bip", "bap"]}, False, "foo.bar.baz=bip&foo.bar.baz=bap"),
        # form-spec: should normalize rich types (booleans print as JavaScript does)
        (
            {"boolean": True, "number": 100000, "range": "1000-2000"},
            False,
            "boolean=true&number=100000&range=1000-2000",
        ),
        # form-spec: should encode form_field names and values by default
        ({"foo[bar]": 42, "foo[baz]": "zippity[do]"}, False, "foo%5Bbar%5D=42&foo%5Bbaz%5D=zippity%5Bdo%5D"),
        # leadrelay: encodeURIComponent's set (space is %20, ! ' ( ) * stay), None is an empty value
        (
            {"q": "a b&c=d/é", "keep": "!'()*~-_.", "none": None},
            False,
            "q=a%20b%26c%3Dd%2F%C3%A9&keep=!'()*~-_.&none=",
        ),
        # leadrelay: a whole float prints as an integer (as JavaScript would); others as they are
        ({"a": 2.0, "b": 2.5, "c": False}, False, "a=2&b=2.5&c=false"),
        # leadrelay: an object inside an array keeps its (compacted) index in the name
        ({"x.3.a": "1", "x.7.a": "2"}, False, "x.0.a=1&x.1.a=2"),
        # leadrelay: all-numeric top-level names are just names in a form
        ({"0": "a", "1": "b"}, False, "0=a&1=b"),
        ({}, False, ""),
    ],
)
def test_form(values: dict[str, Any], ascii: bool, body: str) -> None:
    assert build_body("form", values, ascii=ascii) == ("application/x-www-form-urlencoded", body)


@pytest.mark.parametrize(
    ("values", "ascii", "xml"),
    [
        # xml-spec: should have url, method, headers, and body
        (
            {"lead.fname": "Mel", "lead.lname": "Gibson"},
            False,
            "<lead>\n  <fname>Mel</fname>\n  <lname>Gibson</lname>\n</lead>",
        ),
        # xml-spec: should send data as ASCII when told to / as original UTF-8 when told to
        ({"lead.fname": "Mêl"}, True, "<lead>\n  <fname>Mel</fname>\n</lead>"),
        ({"lead.fname": "Mêl"}, False, "<lead>\n  <fname>Mêl</fname>\n</lead>"),
        # xml-spec: should support simple dot-notation
        ({"foo.bar.baz": "bip"}, False, "<foo>\n  <bar>\n    <baz>bip</baz>\n  </bar>\n</foo>"),
        # xml-spec: should support dot-notation arrays
        (
            {"foo.bar.baz.0": "bip", "foo.bar.baz.1": "bap"},
            False,
            "<foo>\n  <bar>\n    <baz>bip</baz>\n    <baz>bap</baz>\n  </bar>\n</foo>",
        ),
        # xml-spec: should compact array
        (
            {"foo.bar.0": "bip", "foo.bar.2": "bap"},
            False,
            "<foo>\n  <bar>bip</bar>\n  <bar>bap</bar>\n</foo>",
        ),
        # xml-spec: should support dot-notation array reference
        (
            {"foo.bar.baz": ["bip", "bap"]},
            False,
            "<foo>\n  <bar>\n    <baz>bip</baz>\n    <baz>bap</baz>\n  </bar>\n</foo>",
        ),
        # xml-spec: should normalize rich type array
        (
            {"lead.phone": ["5127891111x123", "5127892222x456"]},
            False,
            "<lead>\n  <phone>5127891111x123</phone>\n  <phone>5127892222x456</phone>\n</lead>",
        ),
        # xml-spec: should use raw value for invalid rich types (a root with text only)
        ({"number": "foo"}, False, "<number>foo</number>"),
        # xml-spec: should set attribute
        ({"foo.bar@id": "123", "foo.bar": "baz"}, False, '<foo>\n  <bar id="123">baz</bar>\n</foo>'),
        # xml-spec: should set attributes on arrays
        (
            {"foo.bar.0.@id": "123", "foo.bar.0.#text": "baz"},
            False,
            '<foo>\n  <bar id="123">baz</bar>\n</foo>',
        ),
        # leadrelay: text and attributes are escaped, booleans and numbers print as JavaScript does
        (
            {"lead@note": 'say "hi" & <go>', "lead.x": "a < b & c", "lead.ok": True, "lead.n": 3.0},
            False,
            '<lead note="say &quot;hi&quot; &amp; &lt;go&gt;">\n  <x>a &lt; b &amp; c</x>\n  <ok>true</ok>\n'
            "  <n>3</n>\n</lead>",
        ),
        # leadrelay: an attribute on the root, a None value is an empty element
        ({"lead@id": "7", "lead.empty": None}, False, '<lead id="7">\n  <empty />\n</lead>'),
    ],
)
def test_xml(values: dict[str, Any], ascii: bool, xml: str) -> None:
    content_type, body = build_body("xml", values, ascii=ascii)
    assert content_type == "application/xml"
    assert body == f"{DECL}\n{xml}"
    ET.fromstring(body.encode())  # well-formed


def test_xml_without_paths_is_the_declaration_alone() -> None:
    # xml-spec: should handle empty xml path
    assert build_body("xml", {}) == ("application/xml", DECL)


@pytest.mark.parametrize(
    ("fmt", "values", "message"),
    [
        (
            "xml",
            {"lead.a": "1", "other.b": "2"},
            "one root element, but the paths start with 'lead', 'other'",
        ),
        ("xml", {"0.a": "1"}, "starts with its root element's name"),
        ("xml", {"lead.bad name": "1"}, "'bad name' is not an XML name"),
        ("xml", {"lead.x.0": "1", "lead.x.y": "2"}, "'0' is not an XML name"),
        ("xml", {"lead.a@id.b": "1"}, "must end the path"),
        ("xml", {"lead.a@id": ["1", "2"]}, "takes one value, not a list"),
        ("xml", {"lead.#tail": "1"}, "the only '#' segment is '#text'"),
        ("json", {"a": "1", "a.b": "2"}, "'a' already holds a value"),
        ("json", {"a.b": "2", "a": "1"}, "collides with another path"),
        ("form", {"a..b": "1"}, "empty segment"),
        ("json", {"n": float("nan")}, "not a number a buyer can read"),
        ("yaml", {"a": "1"}, "unknown body format 'yaml'"),
    ],
)
def test_contradictions_are_refused(fmt: str, values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_body(fmt, values)


def test_unsupported_value_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="path 'a': expected text"):
        build_body("json", {"a": {"nested": 1}})  # type: ignore[dict-item]


def test_exported_lazily_from_the_package() -> None:
    assert leadrelay.build_body is build_body
    assert "build_body" in leadrelay.__all__
