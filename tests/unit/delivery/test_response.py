# ruff: noqa: E501  (the case tables keep one case per line)
"""``interpret_response``: LeadConduit's custom-integration response spec case by case
(activeprospect/leadconduit-integration-custom test/response-spec.js, "with json body", "with plain text
body", "with html", "with xml body", "HTTP status code"), then leadrelay's own cases and differences."""

from __future__ import annotations

import json
from typing import Any, NamedTuple
from xml.etree import ElementTree as ET

import pytest

import leadrelay
from leadrelay.domain.delivery.response import (
    ResponseOutcome,
    ResponseRules,
    ResponseRulesError,
    interpret_response,
    parse_price,
)


class Res(NamedTuple):
    status: int
    headers: dict[str, str]
    body: str | bytes


# The spec's response builders: json() pretty-prints, xml() is xmlbuilder's pretty output, html() wraps
# the fragment in <html><body>, text() is text/plain.
def js(obj: Any, content_type: str = "application/json") -> Res:
    return Res(200, {"Content-Type": content_type}, json.dumps(obj, indent=2))


def xml(obj: dict[str, Any], content_type: str = "text/xml") -> Res:
    def fill(element: ET.Element, value: Any) -> None:
        if isinstance(value, dict):
            for name, child in value.items():
                for item in child if isinstance(child, list) else [child]:
                    fill(ET.SubElement(element, name), item)
        else:
            element.text = str(value)

    [(name, value)] = obj.items()
    root = ET.Element(name)
    fill(root, value)
    ET.indent(root)
    return Res(200, {"Content-Type": content_type}, '<?xml version="1.0"?>\n' + ET.tostring(root, "unicode"))


def html(fragment: str = "undefined") -> Res:
    return Res(200, {"Content-Type": "text/html"}, f"<html><body>{fragment}</body></html>")


def text(body: str, content_type: str = "text/plain") -> Res:
    return Res(200, {"Content-Type": content_type}, body)


REASON = {"baz": {"bip": "the reason text!"}}
TWO_REASONS = {"baz": {"bip": ["the reason text!", "another reason"]}}
PHONE_ERR = '{"err":1,"message":"PhoneNumber is a required field."}'

# (rules, response, outcome, reason, price)
# fmt: off
SPEC: list[Any] = [
    # --- with json body ---
    pytest.param({}, js({"foo": "bar"}), "success", None, 0, id="json: should default to success without search term"),
    pytest.param({"outcome_on_match": "failure"}, js({"foo": "bar"}), "failure", None, 0, id="json: should default to failure per outcome on match"),
    pytest.param({"outcome_search_term": "foo"}, js({"foo": "bar"}), "success", None, 0, id="json: should find search term with exact match"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": "baz.bip"}, js({"baz": {"bip": "foo"}}), "success", None, 0, id="json: exact match at path"),
    pytest.param({"outcome_search_term": "bip"}, js({"foo": "bar"}), "failure", None, 0, id="json: should not find search term"),
    pytest.param({"outcome_search_term": "bip", "outcome_search_path": "baz.bip"}, js({"baz": {"bip": "foo"}}), "failure", None, 0, id="json: not find search term at path"),
    pytest.param({"outcome_search_term": "bip", "outcome_search_path": "baz.bip"}, js({"x": "bip", "baz": {"bip": "foo"}}), "failure", None, 0, id="json: not find search term at different path"),
    pytest.param({"outcome_search_term": "foo", "outcome_on_match": "failure"}, js({"foo": "bar"}), "failure", None, 0, id="json: failure on match per outcome on match"),
    pytest.param({"outcome_search_term": "foo", "outcome_on_match": "failure", "outcome_search_path": "baz.bip"}, js({"baz": {"bip": "foo"}}), "failure", None, 0, id="json: failure on match at path"),
    pytest.param({"outcome_search_term": "foo"}, js({"barfoobaz": "bip"}), "success", None, 0, id="json: partial match"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": "baz.bip"}, js({"baz": {"bip": "barfoobaz"}}), "success", None, 0, id="json: partial match at path"),
    pytest.param({"outcome_search_term": "[a-z]{3}foo[a-z]{3}"}, js({"barfoobaz": "bar"}), "success", None, 0, id="json: regex"),
    pytest.param({"outcome_search_term": "[a-z]{3}foo[a-z]{3}", "outcome_search_path": "baz.bip"}, js({"baz": {"bip": "barfoobaz"}}), "success", None, 0, id="json: regex at path"),
    pytest.param({"outcome_search_term": "/[a-z]{3}foo[a-z]{3}/"}, js({"barfoobaz": "bar"}), "success", None, 0, id="json: regex including slashes"),
    pytest.param({"outcome_search_term": "/[a-z]{3}foo[a-z]{3}/", "outcome_search_path": "baz.bip"}, js({"baz": {"bip": "barfoobaz"}}), "success", None, 0, id="json: regex with slashes at path"),
    pytest.param({"outcome_search_term": "foo"}, js({"baz": "FOO"}), "success", None, 0, id="json: case insensitive match 1"),
    pytest.param({"outcome_search_term": "FOO"}, js({"baz": "foo"}), "success", None, 0, id="json: case insensitive match 2"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": "baz"}, js({"baz": "FOO"}), "success", None, 0, id="json: case insensitive match at path 1"),
    pytest.param({"outcome_search_term": "FOO", "outcome_search_path": "baz"}, js({"baz": "foo"}), "success", None, 0, id="json: case insensitive match at path 2"),
    pytest.param({"outcome_search_term": "foo"}, js({"baz": "bar"}), "failure", None, 0, id="json: should not find match"),
    pytest.param({"outcome_search_term": "foo"}, js({"baz": {"bip": "bar"}}), "failure", None, 0, id="json: should not find match at path"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "baz.bip"}, js(REASON), "failure", "the reason text!", 0, id="json: should parse reason"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "baz.bip"}, js({"baz": {"bip": ""}}), "failure", None, 0, id="json: should discard empty reason"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "baz.bip"}, js({"baz": {"bip": "     "}}), "failure", None, 0, id="json: should discard whitespace reason"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "baz.bip"}, js(TWO_REASONS), "failure", "another reason, the reason text!", 0, id="json: should parse multiple reasons"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "baz.bip.1"}, js(TWO_REASONS), "failure", "another reason", 0, id="json: should parse single reason from array"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "array.0.bip"}, js([{"bip": "the reason text!"}]), "failure", "the reason text!", 0, id="json: should parse reason from array response"),
    pytest.param({"default_reason": "just because"}, js({"baz": "bip"}), "success", "just because", 0, id="json: should default reason"),
    pytest.param({"outcome_search_term": "bar", "reason_path": "baz.baz.baz"}, js({"baz": {"bip": "foo"}}), "failure", None, 0, id="json: should fail to parse reason"),
    pytest.param({"outcome_search_term": "bar", "reason_path": "baz.baz.baz", "default_reason": "just because"}, js({"baz": {"bip": "foo"}}), "failure", "just because", 0, id="json: default reason on failure to parse reason"),
    pytest.param({"outcome_search_term": "bar", "reason_path": "baz.*.details"}, js({"baz": {"foo": {"details": "bad data"}}}), "failure", "bad data", 0, id="json: reason with wildcard in path"),
    pytest.param({"outcome_search_term": "bar", "reason_path": "baz.*.details.*.more_details"}, js({"baz": {"foo": {"details": {"bip": {"more_details": "really bad data"}}}}}), "failure", "really bad data", 0, id="json: reason with multiple wildcards"),
    pytest.param({"outcome_search_term": "bar"}, xml({"foo": "bar"}, "application/json"), "success", None, 0, id="json: should revert to string search on non-JSON body"),
    pytest.param({"reason_path": '"message":"([^"]+)"'}, text(PHONE_ERR, "text/html; charset=UTF-8"), "success", "PhoneNumber is a required field.", 0, id="json: should revert to regex on non-JSON body"),
    pytest.param({
            "outcome_search_term": "success",
            "response_content_type_override": "application/json",
            "reason_path": "message",
        }, Res(422, {"Content-Type": "text/html; charset=UTF-8"}, PHONE_ERR), "failure", "PhoneNumber is a required field.", 0, id="json: should override response Content-Type"),
    pytest.param({"price_path": "baz.*.cost"}, js({"baz": {"foo": {"cost": 1.5}}}), "success", None, 1.5, id="json: should capture price on success"),
    pytest.param({"price_path": "price", "outcome_search_term": "success"}, js({"status": "success", "price": 18, "auth_code": "abc=="}), "success", None, 18, id="json: capture price with outcome_search_term"),
    pytest.param({}, js([{"foo": "foo"}, {"bar": "bar"}]), "success", None, 0, id="json: should capture json array body"),
    pytest.param({}, js({"0": {"foo": "foo"}}), "success", None, 0, id="json: should correctly handle numeric JSON strings"),
    # --- with plain text body ---
    pytest.param({}, text("foo"), "success", None, 0, id="text: should default to success without search term"),
    pytest.param({"outcome_on_match": "failure"}, text("foo"), "failure", None, 0, id="text: should default to failure per outcome on match"),
    pytest.param({"outcome_search_term": "foo"}, text("foo"), "success", None, 0, id="text: exact match"),
    pytest.param({"outcome_search_term": "bip"}, text("foo"), "failure", None, 0, id="text: should not find search term"),
    pytest.param({"outcome_search_term": "foo", "outcome_on_match": "failure"}, text("foo"), "failure", None, 0, id="text: failure on match"),
    pytest.param({"outcome_search_term": "foo"}, text("barfoobaz"), "success", None, 0, id="text: partial match"),
    pytest.param({"outcome_search_term": "[a-z]{3}foo[a-z]{3}"}, text("barfoobaz"), "success", None, 0, id="text: regex"),
    pytest.param({"outcome_search_term": "/[a-z]{3}foo[a-z]{3}/"}, text("barfoobaz"), "success", None, 0, id="text: regex including slashes"),
    pytest.param({"outcome_search_term": "foo"}, text("FOO"), "success", None, 0, id="text: case insensitive match"),
    pytest.param({"outcome_search_term": "foo"}, text("bar"), "failure", None, 0, id="text: should not find match"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "[a-z]+:(.*)"}, text("bad:the reason text!"), "failure", "the reason text!", 0, id="text: should parse reason"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "/[a-z]+:(.*)/"}, text("bad:the reason text!"), "failure", "the reason text!", 0, id="text: should parse reason with slashes"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "[a-z]+:(.*)"}, text("bad:"), "failure", None, 0, id="text: should discard empty reason"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "[a-z]+:(.*)"}, text("bad:     "), "failure", None, 0, id="text: should discard whitespace reason"),
    pytest.param({"default_reason": "just because"}, text("foo"), "success", "just because", 0, id="text: should default reason"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "whatever:(.*)"}, text("bad:the reason text!"), "failure", None, 0, id="text: should fail to parse reason"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "whatever:(.*)", "default_reason": "just because"}, text("bad:the reason text!"), "failure", "just because", 0, id="text: default reason on failure to parse"),
    pytest.param({"outcome_search_term": "bar"}, js({"foo": "bar"}, "plain/text"), "success", None, 0, id="text: should revert to string search on non-text body"),
    pytest.param({"price_path": r"/cost=([0-9]\.[0-9])/"}, text("foo&cost=1.5"), "success", None, 1.5, id="text: should capture price when price_path is present"),
    # --- with html ---
    pytest.param({}, html("<div>foo</div>"), "success", None, 0, id="html: should default to success without search term"),
    pytest.param({"outcome_on_match": "failure"}, html("<div>foo</div>"), "failure", None, 0, id="html: default to failure per outcome on match"),
    pytest.param({"outcome_search_term": "foo"}, html("<div>foo</div>"), "success", None, 0, id="html: exact match 1"),
    pytest.param({"outcome_search_term": "foo"}, html("<foo>bar</foo>"), "success", None, 0, id="html: exact match 2"),
    pytest.param({"outcome_search_term": "foo"}, html('<div id="foo">bar</div>'), "success", None, 0, id="html: exact match 3"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": "div"}, html("<div>foo</div>"), "success", None, 0, id="html: exact match at path 1"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": "div span"}, html("<div><span>foo</span></foo>"), "success", None, 0, id="html: exact match at path 2"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": 'div[id="bar"]'}, html('<div id="bar">foo</div>'), "success", None, 0, id="html: exact match at path 3"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": "div"}, html("<div>bar</div><div>foo</div>"), "success", None, 0, id="html: exact match at path 4"),
    pytest.param({"outcome_search_term": "foo"}, html("<div>bar</div>"), "failure", None, 0, id="html: should not find search term"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": "div"}, html("<div>bar</div>"), "failure", None, 0, id="html: not find search term at path"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": 'div[id="one"]'}, html('<div id="one">bar</div><div id="other">foo</div>'), "failure", None, 0, id="html: not find at different path"),
    pytest.param({"outcome_search_term": "foo", "outcome_on_match": "failure"}, html("<div>foo</div>"), "failure", None, 0, id="html: failure on match"),
    pytest.param({"outcome_search_term": "foo", "outcome_on_match": "failure", "outcome_search_path": "div"}, html("<div>foo</div>"), "failure", None, 0, id="html: failure on match at path"),
    pytest.param({"outcome_search_term": "foo"}, html("barfoobaz"), "success", None, 0, id="html: partial match"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": "div"}, html("<div>barfoobaz</div>"), "success", None, 0, id="html: partial match at path"),
    pytest.param({"outcome_search_term": "[a-z]{3}foo[a-z]{3}"}, html("bazfoobar"), "success", None, 0, id="html: regex"),
    pytest.param({"outcome_search_term": 'id="[a-z]+">foo<', "outcome_search_path": "body"}, html('<div id="bar">foo</div>'), "success", None, 0, id="html: regex at path (inner HTML)"),
    pytest.param({"outcome_search_term": "/[a-z]{3}foo[a-z]{3}/"}, html("bazfoobar"), "success", None, 0, id="html: regex including slashes"),
    pytest.param({"outcome_search_term": '/id="[a-z]+">foo</', "outcome_search_path": "body"}, html('<div id="bar">foo</div>'), "success", None, 0, id="html: regex including slashes at path"),
    pytest.param({"outcome_search_term": "foo"}, html("FOO"), "success", None, 0, id="html: case insensitive 1"),
    pytest.param({"outcome_search_term": "FOO"}, html("foo"), "success", None, 0, id="html: case insensitive 2"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": "div"}, html("<div>FOO</div>"), "success", None, 0, id="html: case insensitive at path 1"),
    pytest.param({"outcome_search_term": "FOO", "outcome_search_path": "div"}, html("<div>foo</div>"), "success", None, 0, id="html: case insensitive at path 2"),
    pytest.param({"outcome_search_term": "foo"}, html("baz"), "failure", None, 0, id="html: should not find match"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": "div"}, html("<div>baz</div>"), "failure", None, 0, id="html: not find match at path"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": "div"}, html("<dibaz</div>"), "failure", None, 0, id="html: should not error on broken html"),
    pytest.param({"outcome_search_term": "foo", "reason_path": 'div[id="message"]'}, html('<div>bar</div><div id="message">just because</div>'), "failure", "just because", 0, id="html: should parse reason"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "#message @reason"}, html('<div>bar</div><div id="message" reason="just because"></div>'), "failure", "just because", 0, id="html: parse reason from attribute"),
    pytest.param({"outcome_search_term": "foo", "reason_path": 'div[id="message"]'}, html('<div>bar</div><div id="message"></div>'), "failure", None, 0, id="html: should discard empty reason"),
    pytest.param({"outcome_search_term": "foo", "reason_path": 'div[id="message"]'}, html('<div>bar</div><div id="message">      </div>'), "failure", None, 0, id="html: should discard whitespace reason"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "div.message"}, html('<div class="message">the reason text!</div><div class="message">another reason</div>'), "failure", "another reason, the reason text!", 0, id="html: should parse multiple reasons"),
    pytest.param({"default_reason": "just because"}, html(), "success", "just because", 0, id="html: should default reason"),
    pytest.param({"outcome_search_term": "bar", "reason_path": "div.message"}, html("foo"), "failure", None, 0, id="html: should fail to parse reason"),
    pytest.param({"outcome_search_term": "bar", "reason_path": "div.message", "default_reason": "just because"}, html("foo"), "failure", "just because", 0, id="html: default reason on failure to parse"),
    pytest.param({"outcome_search_term": "bar"}, js({"foo": "bar"}, "text/html"), "success", None, 0, id="html: should revert to string search on non-HTML body"),
    pytest.param({"price_path": "div.cost"}, html('<div class="cost">1.5</div>'), "success", None, 1.5, id="html: should capture price"),
    # --- with xml body ---
    pytest.param({}, xml({"foo": "bar"}), "success", None, 0, id="xml: should default to success without search term"),
    pytest.param({"outcome_on_match": "failure"}, xml({"foo": "bar"}), "failure", None, 0, id="xml: default to failure per outcome on match"),
    pytest.param({"outcome_search_term": "foo"}, xml({"foo": "bar"}), "success", None, 0, id="xml: exact match"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": "/baz/bip/text()"}, xml({"baz": {"bip": "foo"}}), "success", None, 0, id="xml: exact match at path"),
    pytest.param({"outcome_search_term": "bip"}, xml({"foo": "bar"}), "failure", None, 0, id="xml: should not find search term"),
    pytest.param({"outcome_search_term": "bip", "outcome_search_path": "/baz/bip/text()"}, xml({"baz": {"bip": "foo"}}), "failure", None, 0, id="xml: not find search term at path"),
    pytest.param({"outcome_search_term": "bip", "outcome_search_path": "/baz/bip/text()"}, xml({"y": {"x": "bip", "baz": {"bip": "foo"}}}), "failure", None, 0, id="xml: not find at different path"),
    pytest.param({"outcome_search_term": "foo", "outcome_on_match": "failure"}, xml({"foo": "bar"}), "failure", None, 0, id="xml: failure on match"),
    pytest.param({
            "outcome_search_term": "foo",
            "outcome_on_match": "failure",
            "outcome_search_path": "/baz/bip/text()",
        }, xml({"baz": {"bip": "foo"}}), "failure", None, 0, id="xml: failure on match at path"),
    pytest.param({"outcome_search_term": "foo"}, xml({"barfoobaz": "bip"}), "success", None, 0, id="xml: partial match"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": "/baz/bip/text()"}, xml({"baz": {"bip": "barfoobaz"}}), "success", None, 0, id="xml: partial match at path"),
    pytest.param({"outcome_search_term": "[a-z]{3}foo[a-z]{3}"}, xml({"barfoobaz": "bar"}), "success", None, 0, id="xml: regex"),
    pytest.param({"outcome_search_term": "[a-z]{3}foo[a-z]{3}", "outcome_search_path": "/baz/bip/text()"}, xml({"baz": {"bip": "barfoobaz"}}), "success", None, 0, id="xml: regex at path"),
    pytest.param({"outcome_search_term": "/[a-z]{3}foo[a-z]{3}/"}, xml({"barfoobaz": "bar"}), "success", None, 0, id="xml: regex including slashes"),
    pytest.param({"outcome_search_term": "/[a-z]{3}foo[a-z]{3}/", "outcome_search_path": "/baz/bip/text()"}, xml({"baz": {"bip": "barfoobaz"}}), "success", None, 0, id="xml: regex with slashes at path"),
    pytest.param({"outcome_search_term": "foo"}, xml({"baz": "FOO"}), "success", None, 0, id="xml: case insensitive 1"),
    pytest.param({"outcome_search_term": "FOO"}, xml({"baz": "foo"}), "success", None, 0, id="xml: case insensitive 2"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": "/baz"}, xml({"baz": "FOO"}), "success", None, 0, id="xml: case insensitive at path 1"),
    pytest.param({"outcome_search_term": "FOO", "outcome_search_path": "/baz"}, xml({"baz": "foo"}), "success", None, 0, id="xml: case insensitive at path 2"),
    pytest.param({"outcome_search_term": "foo"}, xml({"baz": "bar"}), "failure", None, 0, id="xml: should not find match"),
    pytest.param({"outcome_search_term": "foo", "outcome_search_path": "/bip/text()"}, xml({"baz": {"bip": "bar"}}), "failure", None, 0, id="xml: not find match at path"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "/baz/bip/text()"}, xml(REASON), "failure", "the reason text!", 0, id="xml: should parse reason"),
    pytest.param({"outcome_search_term": "success", "reason_path": "/baz/bip/text()"}, text("<baz><bip><![CDATA[the reason character data!]]></bip></baz>", "text/xml"), "failure", "the reason character data!", 0, id="xml: should parse reason from CDATA"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "/baz/bip/text()"}, xml({"baz": {"bip": ""}}), "failure", None, 0, id="xml: should discard empty reason"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "/baz/bip/text()"}, xml({"baz": {"bip": "     "}}), "failure", None, 0, id="xml: should discard whitespace reason"),
    pytest.param({"outcome_search_term": "foo", "reason_path": "//bip/text()"}, xml(TWO_REASONS), "failure", "another reason, the reason text!", 0, id="xml: should parse multiple reasons"),
    pytest.param({"default_reason": "just because"}, xml({"baz": "bip"}), "success", "just because", 0, id="xml: should default reason"),
    pytest.param({"outcome_search_term": "bar", "reason_path": "/baz/baz/baz/text()"}, xml({"baz": {"bip": "foo"}}), "failure", None, 0, id="xml: should fail to parse reason"),
    pytest.param({
            "outcome_search_term": "bar",
            "reason_path": "/baz/baz/baz/text()",
            "default_reason": "just because",
        }, xml({"baz": {"bip": "foo"}}), "failure", "just because", 0, id="xml: default reason on failure to parse"),
    pytest.param({"outcome_search_term": "bar", "reason_path": "[[[[[   ", "default_reason": "just because"}, xml({"baz": {"bip": "foo"}}), "failure", "just because", 0, id="xml: default reason with invalid reason selector"),
    pytest.param({"outcome_search_term": "bar"}, js({"foo": {"bar": "baz"}}, "text/xml"), "success", None, 0, id="xml: should revert to string search on non-XML body"),
    pytest.param({"price_path": "bar/cost/text()"}, xml({"bar": {"cost": "1.5"}}), "success", None, 1.5, id="xml: should capture price (relative XPath)"),
    # --- HTTP status code ---
    pytest.param({}, Res(500, {"Content-Type": "text/plain"}, "oh no!"), "error", "Server error", 0, id="status: should error on HTTP 500"),
    pytest.param({}, Res(502, {"Content-Type": "text/plain"}, "oh no!"), "error", "Server error", 0, id="status: should error on HTTP 502"),
    pytest.param({}, Res(599, {"Content-Type": "text/plain"}, "oh no!"), "error", "Server error", 0, id="status: should error on HTTP 599"),
    pytest.param({}, Res(400, {"Content-Type": "text/plain"}, "oh no!"), "success", None, 0, id="status: should not error on HTTP 400"),
    pytest.param({"outcome_search_term": None, "outcome_on_match": None}, Res(200, {"Content-Type": "text/html"}, ""), "success", None, 0, id="status: success on 200 without outcome and search term"),
]
# fmt: on


@pytest.mark.parametrize(("rules", "res", "outcome", "reason", "price"), SPEC)
def test_leadconduit_spec(
    rules: dict[str, Any], res: Res, outcome: str, reason: str | None, price: float
) -> None:
    assert interpret_response(rules, *res) == ResponseOutcome(outcome, reason, price)  # type: ignore[arg-type]


ORDER = {"order": {"id": "A-17", "items": [{"id": 1}, {"id": 2}], "tags": ["b", "a"], "none": None}}
LEAD_XML = (
    '<?xml version="1.0" encoding="ISO-8859-1"?>\n<result status="accepted">'
    '<lead id="L9"><price>$2.75</price><msg>ok</msg><msg>fine</msg></lead></result>'
)

# leadrelay's own cases: (rules, response, expected ResponseOutcome fields)
# fmt: off
OWN: list[Any] = [
    # reference_path on every body type; the first match is the reference
    pytest.param({"reference_path": "order.id"}, js(ORDER), ("success", None, 0, "A-17"), id="json reference"),
    pytest.param({"reference_path": "order.items.1.id"}, js(ORDER), ("success", None, 0, "2"), id="json dot path into an array"),
    pytest.param({"reference_path": "order.items[0].id"}, js(ORDER), ("success", None, 0, "1"), id="json bracket index"),
    pytest.param({"reason_path": "order.items.*.id"}, js(ORDER), ("success", "1, 2", 0, None), id="json wildcard over an array"),
    pytest.param({"reason_path": "order.tags"}, js(ORDER), ("success", "a, b", 0, None), id="json array of values: every item a reason, sorted"),
    pytest.param({"reason_path": "order.none", "default_reason": "none"}, js(ORDER), ("success", "none", 0, None), id="json null is no reason"),
    pytest.param({"reason_path": "order.items.0"}, js(ORDER), ("success", '{"id":1}', 0, None), id="json object found reads as JSON"),
    pytest.param({"reference_path": "array.1.id"}, js([{"id": "x"}, {"id": "y"}]), ("success", None, 0, "y"), id="json root array is 'array'"),
    pytest.param({"reason_path": "array"}, js(["b", "a", "a"]), ("success", "a, a, b", 0, None), id="json root array of values (duplicates kept, as LeadConduit)"),
    pytest.param({"outcome_search_term": "ok", "outcome_search_path": "order.tags"}, js(ORDER), ("failure", None, 0, None), id="json search path over array items"),
    pytest.param({"outcome_search_term": "^a$", "outcome_search_path": "order.tags"}, js(ORDER), ("success", None, 0, None), id="json search each array item alone"),
    pytest.param({"reason_path": "msg"}, text("status=rejected&msg=dup&msg=late", "application/x-www-form-urlencoded"), ("success", "dup, late", 0, None), id="form-urlencoded answer reads as fields"),
    # price parsing as LeadConduit's number type; fallback_price when none is found or it is no number
    pytest.param({"price_path": "p"}, js({"p": "$1.50"}), ("success", None, 1.5, None), id="price $1.50"),
    pytest.param({"price_path": "p"}, js({"p": "USD 1,000.25"}), ("success", None, 1000.25, None), id="price with thousands"),
    pytest.param({"price_path": "p"}, js({"p": "-3"}), ("success", None, -3, None), id="negative price"),
    pytest.param({"price_path": "p", "fallback_price": "2.5"}, js({"p": "free"}), ("success", None, 2.5, None), id="unparseable price falls back"),
    pytest.param({"price_path": "p", "fallback_price": 4}, js({"x": 1}), ("success", None, 4, None), id="missing price falls back"),
    pytest.param({"price_path": "p", "fallback_price": 4}, js({"p": 0}), ("success", None, 0, None), id="a found zero price is zero"),
    pytest.param({"price_path": "p"}, js({"p": ["7", "9"]}), ("success", None, 7, None), id="price from an array: the first"),
    pytest.param({"price_path": r"price: \$?([\d.]+)"}, text("ok price: $3.10"), ("success", None, 3.1, None), id="text price regex"),
    # XML: attributes, elements (their text), XPath functions, declared encodings, relative paths
    pytest.param({"reference_path": "/result/lead/@id", "price_path": "//price"}, text(LEAD_XML, "application/xml"), ("success", None, 2.75, "L9"), id="xml attribute and element text"),
    pytest.param({"reason_path": "result/lead/msg"}, text(LEAD_XML, "application/xml"), ("success", "fine, ok", 0, None), id="xml relative path from the document"),
    pytest.param({"reason_path": "count(//msg)"}, text(LEAD_XML, "text/xml"), ("success", "2", 0, None), id="xml number result prints as JS"),
    pytest.param({"reason_path": "string(/result/@status)"}, text(LEAD_XML, "text/xml"), ("success", "accepted", 0, None), id="xml string() with absolute path"),
    pytest.param({"outcome_search_term": "accepted", "outcome_search_path": "/result/@status"}, text(LEAD_XML, "text/xml"), ("success", None, 0, None), id="xml search an attribute"),
    pytest.param({"outcome_search_term": "lead", "outcome_search_path": "/result/lead/msg"}, text(LEAD_XML, "text/xml"), ("failure", None, 0, None), id="xml search element markup"),
    pytest.param({"reason_path": "/x:r/x:m/text()"}, text('<r xmlns="urn:x"><m>a</m></r>', "text/xml"), ("success", None, 0, None), id="xml unknown prefix: no match"),
    pytest.param({"reason_path": "/*[local-name()='r']/*/text()"}, text('<r xmlns="urn:x"><m>a</m></r>', "text/xml"), ("success", "a", 0, None), id="xml default namespace via local-name()"),
    pytest.param({"outcome_search_term": "ok", "reason_path": "/r/m"}, text("\ufeff\n  <r><m>&lt;b&gt; &amp; ok</m></r>", "text/xml"), ("success", "<b> & ok", 0, None), id="xml with BOM and leading space"),
    # HTML: attributes, text content, bodies that open with text are text (cheerio's rule), bad selectors
    pytest.param({"reference_path": "a.lead @href", "reason_path": "p"}, html('<a class="lead" href="/l/5">x</a><p> one <b>two</b> </p>'), ("success", "one two", 0, "/l/5"), id="html @attr and text content"),
    pytest.param({"reference_path": "a @data-ref"}, html("<a>no attribute</a>"), ("success", None, 0, None), id="html missing attribute"),
    pytest.param({"reason_path": "div::nonsense("}, html("<div>x</div>"), ("success", None, 0, None), id="html invalid selector: no match"),
    pytest.param({"reason_path": "error: (.*)"}, text("error: bad zip", "text/html"), ("success", "bad zip", 0, None), id="html opening with text is text"),
    # Text: regex flags and named groups; a regex without a group finds nothing
    pytest.param({"reason_path": "/^reason: (.*)$/m"}, text("status: no\nreason: duplicate\n"), ("success", "duplicate", 0, None), id="text /m flag"),
    pytest.param({"reason_path": "/REASON: (.*)/i"}, text("reason: dup"), ("success", "dup", 0, None), id="text /i flag"),
    pytest.param({"reason_path": "REASON: (.*)"}, text("reason: dup"), ("success", None, 0, None), id="text path regex is case-sensitive without /i"),
    pytest.param({"reason_path": "reason: (?<why>.*)"}, text("reason: dup"), ("success", "dup", 0, None), id="text JS named group"),
    pytest.param({"reason_path": "reason: .*"}, text("reason: dup"), ("success", None, 0, None), id="text regex without a group"),
    pytest.param({"reason_path": "reason: ([)"}, text("reason: dup"), ("success", None, 0, None), id="text invalid path regex: no match"),
    pytest.param({"outcome_search_term": "/accepted/i"}, text("ACCEPTED"), ("success", None, 0, None), id="search term /…/i"),
    pytest.param({"outcome_search_term": "/^ok$/m"}, text("status\nok\nmore"), ("success", None, 0, None), id="search term /…/m"),
    pytest.param({"outcome_search_term": "/api/v"}, text("see /api/v2"), ("success", None, 0, None), id="search term with an unknown 'flag' is a bare pattern"),
    # outcome_on_match: error, and outcome_on_match alone (LeadConduit then matches any non-blank scope)
    pytest.param({"outcome_search_term": "duplicate", "outcome_on_match": "error"}, text("duplicate lead"), ("error", None, 0, None), id="error on match"),
    pytest.param({"outcome_search_term": "duplicate", "outcome_on_match": "error"}, text("accepted"), ("success", None, 0, None), id="error on match: not found is success"),
    pytest.param({"outcome_on_match": "failure"}, text("   "), ("success", None, 0, None), id="outcome_on_match alone, blank body"),
    pytest.param({"outcome_on_match": " Failure "}, text("x"), ("failure", None, 0, None), id="outcome_on_match trimmed, any case"),
    # invalid bodies fall back to text; 5xx wins over everything
    pytest.param({"reason_path": r"\{(.*)"}, text("{broken", "application/json"), ("success", "broken", 0, None), id="invalid JSON is text"),
    pytest.param({"reason_path": "<r>(.*)<"}, text("<r>unclosed<", "application/xml"), ("success", "unclosed", 0, None), id="invalid XML is text"),
    pytest.param({"reason_path": "(.+)"}, text('"just a string"', "application/json"), ("success", "just a string", 0, None), id="JSON string body is its text"),
    pytest.param({"reason_path": "(.+)"}, text("42", "application/json"), ("success", "42", 0, None), id="JSON number body is text"),
    pytest.param({"reason_path": "(.*)"}, Res(503, {"Content-Type": "text/plain"}, "busy"), ("error", "Server error", 0, None), id="5xx ignores every rule"),
    pytest.param({"reason_path": "(.*)"}, Res(200, {}, "no content type"), ("success", "no content type", 0, None), id="no Content-Type is text"),
    pytest.param({"reason_path": "r"}, Res(200, {"content-TYPE": "application/json"}, '{"r":"x"}'), ("success", "x", 0, None), id="Content-Type found in any case"),
    pytest.param({"reason_path": "r"}, Res(200, {"Content-Type": "application/json; charset=iso-8859-1"}, '{"r":"Mêl"}'.encode("latin-1")), ("success", "Mêl", 0, None), id="bytes decoded by charset"),
]
# fmt: on


@pytest.mark.parametrize(("rules", "res", "expected"), OWN)
def test_leadrelay_cases(
    rules: dict[str, Any], res: Res, expected: tuple[str, str | None, float, str | None]
) -> None:
    assert interpret_response(rules, *res) == ResponseOutcome(*expected)  # type: ignore[arg-type]


def test_xml_entities_are_not_expanded(tmp_path: Any) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    body = f'<!DOCTYPE r [<!ENTITY e SYSTEM "file://{secret}">]><r><m>&e;</m></r>'
    got = interpret_response(
        {"reason_path": "/r/m", "outcome_search_term": "secret"}, 200, {"Content-Type": "text/xml"}, body
    )
    assert got.reason is None
    assert got.outcome == "success"  # the raw body names the file, but its content never comes in


def test_price_is_a_float() -> None:
    got = interpret_response({"price_path": "p"}, 200, {"Content-Type": "application/json"}, '{"p": 18}')
    assert got.price == 18.0 and isinstance(got.price, float)


@pytest.mark.parametrize(
    ("options", "option", "message"),
    [
        (
            {"reason_pth": "x"},
            "reason_pth",
            "unknown response option 'reason_pth' (did you mean 'reason_path'?)",
        ),
        ({"outcome_serch_term": "x"}, "outcome_serch_term", "did you mean 'outcome_search_term'?"),
        ({"zzz": "x"}, "zzz", "known: outcome_search_term, "),
        ({"cookie_search_term": "x"}, "cookie_search_term", "a LeadConduit option leadrelay does not read"),
        ({"capture.bad": "x"}, "capture.bad", "a LeadConduit option leadrelay does not read"),
        (
            {"outcome_on_match": "donkey"},
            "outcome_on_match",
            "must be success, failure or error, not 'donkey'",
        ),
        ({"reason_path": 12}, "reason_path", "reason_path must be text, not int"),
        ({"fallback_price": "lots"}, "fallback_price", "fallback_price 'lots' is not a number"),
        ({"fallback_price": True}, "fallback_price", "is not a number"),
    ],
)
def test_bad_rules_are_refused_by_name(options: dict[str, object], option: str, message: str) -> None:
    with pytest.raises(ResponseRulesError) as caught:
        ResponseRules.from_mapping(options)
    assert caught.value.option == option
    assert message in str(caught.value)
    with pytest.raises(ValueError, match=option):  # interpret_response checks a mapping the same way
        interpret_response(options, 200, {}, "")


@pytest.mark.parametrize(
    ("term", "message"),
    [("/[/", "'/[/' is not a valid regex"), ("(unclosed", "is not a valid regex"), ("/a(/i", "not a valid")],
)
def test_an_invalid_search_regex_is_refused_when_configured_but_never_found_when_interpreting(
    term: str, message: str
) -> None:
    # configuring (apply, check-response) refuses it by name, as before
    with pytest.raises(ResponseRulesError) as caught:
        ResponseRules.from_mapping({"outcome_search_term": term})
    assert caught.value.option == "outcome_search_term" and message in str(caught.value)
    # the library call answers as LeadConduit does: a term that is never found, even in its own text
    for body in ("accepted", term, "null", ""):
        got = interpret_response({"outcome_search_term": term, "default_reason": "no"}, 200, {}, body)
        assert got == ResponseOutcome("failure", "no", 0.0, None)
    inverse = {"outcome_search_term": term, "outcome_on_match": "failure"}
    assert interpret_response(inverse, 200, {}, "rejected").outcome == "success"
    assert interpret_response({"outcome_search_term": term}, 503, {}, "x").outcome == "error"


def test_rules_from_mapping_trim_and_drop_blanks() -> None:
    rules = ResponseRules.from_mapping(
        {"reason_path": "  msg ", "default_reason": "   ", "fallback_price": "$1.25", "price_path": None}
    )
    assert rules == ResponseRules(reason_path="msg", fallback_price=1.25)
    assert interpret_response(rules, 200, {}, "x") == ResponseOutcome("success", None, 1.25, None)


def test_exported_lazily_from_the_package() -> None:
    assert leadrelay.interpret_response is interpret_response
    assert leadrelay.ResponseOutcome is ResponseOutcome


def test_an_option_name_that_is_not_text_is_refused_by_name() -> None:
    with pytest.raises(ResponseRulesError) as caught:
        ResponseRules.from_mapping({3: "x"})  # type: ignore[dict-item]
    assert caught.value.option == "3"


@pytest.mark.parametrize(
    ("text", "price"),
    [
        ("1e3", 1000.0),
        ("12.5e3", 12500.0),
        ("1.25E2", 125.0),
        ("$1,000.50", 1000.5),
        ("+12", 12.0),
        (" -3.5 ", -3.5),
        ("1e999", float("inf")),  # out of range: refused where an amount is checked (sale_amount)
        ("no price", None),
    ],
)
def test_a_price_is_read_as_written_exponent_included(text: str, price: float | None) -> None:
    """An exponent is the number's (LeadConduit's type would run "1e3" together as 13); other text keeps
    only digits, '.' and '-' ("$1,000.50")."""
    assert parse_price(text) == price


def test_a_price_path_with_an_exponent_bills_the_number_written() -> None:
    body = json.dumps({"status": "accepted", "bid": {"price": "1.25e2"}})
    rules = {"outcome_search_term": "accepted", "outcome_search_path": "status", "price_path": "bid.price"}
    result = interpret_response(rules, 200, {"Content-Type": "application/json"}, body)
    assert (result.outcome, result.price) == ("success", 125.0)


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://buyer.example/thanks?id=1", True),
        ("HTTPS://BUYER.EXAMPLE/up", True),  # a scheme in any letter case is the scheme
        ("  http://buyer.example/  ", True),  # trimmed
        ("https://buyer.example/a\r\nSet-Cookie: x=1", False),  # a line break would split a Location header
        ("https://buyer.example/a b", False),
        ("https://buyer.example/\x7f", False),
        ("https://", False),  # no host
        ("https:///path", False),
        ("http://[::1", False),  # not a URL at all
        ("javascript:alert(1)", False),
        ("//buyer.example/x", False),
        ("https://buyer.example/" + "x" * 2000, False),
    ],
)
def test_a_redirect_url_is_passed_on_only_when_it_is_an_http_url_with_a_host(url: str, kept: bool) -> None:
    rules = {"redirect_url_path": "next"}
    result = interpret_response(rules, 200, {"Content-Type": "application/json"}, json.dumps({"next": url}))
    assert result.redirect_url == (url.strip() if kept else None)
