"""How a buyer's answer reads as a delivery outcome, exactly as LeadConduit's custom integration reads it
(activeprospect/leadconduit-integration-custom, lib/response.js), so response rules written for
LeadConduit keep their meaning: the body decides, not the status (only a 5xx is an error), and a body
that does not parse as its Content-Type says is searched as plain text, never an exception.

An invalid ``outcome_search_term`` regex is refused where rules are configured (``apply``,
``check-response``: ``ResponseRules.from_mapping``), naming the option; ``interpret_response`` given the
options as a mapping reads it as LeadConduit does, as a term that is never found (so ``failure`` under the
default ``outcome_on_match``), and does not raise. (LeadConduit's ``String.match(null)`` then finds the
text "null"; leadrelay does not copy that accident.)

A leading byte order mark (U+FEFF, as .NET servers often send before JSON) is not part of the answer: it
is dropped before anything is read (``answer_text``).
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Any, Literal, get_args
from urllib.parse import parse_qs, urlsplit

from cssselect import SelectorError
from lxml import etree, html
from lxml.cssselect import CSSSelector

from leadrelay.domain.delivery.answer_text import decode_answer, without_bom
from leadrelay.domain.delivery.body import text_of

Outcome = Literal["success", "failure", "error"]
DocKind = Literal["json", "xml", "html", "text"]
_INVERSE: dict[str, Outcome] = {"success": "failure", "failure": "success", "error": "success"}
_TEXT_OPTIONS = (
    "outcome_search_term",
    "outcome_on_match",
    "outcome_search_path",
    "reason_path",
    "price_path",
    "shared_price_path",
    "redirect_url_path",
    "reference_path",
    "default_reason",
    "response_content_type_override",
)
OPTIONS = (*_TEXT_OPTIONS, "fallback_price")
_UNSUPPORTED = ("capture", "cookie_search_term")  # LeadConduit options whose results have no place here
_JS_LITERAL = re.compile(r"/(.+)/([a-z]*)", re.S)
_JS_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "g": 0, "u": 0, "y": 0, "d": 0}
_HTML_ATTRIBUTE = re.compile(r"\s*@([a-z_:][-a-z0-9_:.]*)", re.I)
_INDEX = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class ResponseOutcome:
    """What the answer means for the lead: price 0 when none is found and there is no fallback."""

    outcome: Outcome
    reason: str | None = None
    price: float = 0.0
    reference: str | None = None
    shared_price: float | None = None  # a ping's bid for the lead shared with others (None: not given)
    redirect_url: str | None = None  # where the buyer wants the consumer sent next


class ResponseRulesError(ValueError):
    """A response option is unknown or unusable; ``option`` names it."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class ResponseRules:
    """LeadConduit's response options, checked once (a bad regex is refused here, not silently unmatched,
    unless ``check_regex`` is false: then ``search`` is None and the term is never found)."""

    outcome_search_term: str | None = None
    outcome_on_match: Outcome | None = None
    outcome_search_path: str | None = None
    reason_path: str | None = None
    price_path: str | None = None
    shared_price_path: str | None = None
    redirect_url_path: str | None = None
    reference_path: str | None = None
    default_reason: str | None = None
    fallback_price: float | None = None
    response_content_type_override: str | None = None
    search: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    check_regex: InitVar[bool] = True

    def __post_init__(self, check_regex: bool) -> None:
        if self.outcome_on_match is not None and self.outcome_on_match not in get_args(Outcome):
            raise ResponseRulesError(
                "outcome_on_match",
                f"outcome_on_match must be success, failure or error, not {self.outcome_on_match!r}",
            )
        search: re.Pattern[str] | None = None
        try:
            search = js_regex(self.outcome_search_term or ".*", ignore_case=True)
        except re.error as exc:
            if not check_regex:
                object.__setattr__(self, "search", None)
                return
            raise ResponseRulesError(
                "outcome_search_term",
                f"outcome_search_term {self.outcome_search_term!r} is not a valid regex: {exc}",
            ) from None
        object.__setattr__(self, "search", search)

    @classmethod
    def from_mapping(cls, options: Mapping[str, object], *, check_regex: bool = True) -> ResponseRules:
        """Rules from option names → values (a partner's config); unknown names are refused by name, and
        so is an invalid search regex unless ``check_regex`` is false (then it is never found)."""
        for name in options:
            if not isinstance(name, str):
                raise ResponseRulesError(str(name), f"response option names are text, not {name!r}")
            if name not in OPTIONS:
                hint = difflib.get_close_matches(name, OPTIONS, n=1)
                why = f" (did you mean {hint[0]!r}?)" if hint else f"; known: {', '.join(OPTIONS)}"
                if name.split(".")[0] in _UNSUPPORTED:
                    why = " (a LeadConduit option leadrelay does not read)"
                raise ResponseRulesError(name, f"unknown response option {name!r}{why}")
        values: dict[str, Any] = {}
        for name in _TEXT_OPTIONS:
            value = options.get(name)
            if value is not None and not isinstance(value, str):
                raise ResponseRulesError(name, f"{name} must be text, not {type(value).__name__}")
            if value and value.strip():
                values[name] = value.strip().lower() if name == "outcome_on_match" else value.strip()
        price = options.get("fallback_price")
        if price is not None and price != "":
            values["fallback_price"] = parse_price(price)
            if values["fallback_price"] is None:
                raise ResponseRulesError("fallback_price", f"fallback_price {price!r} is not a number")
        return cls(**values, check_regex=check_regex)


def interpret_response(
    rules: ResponseRules | Mapping[str, object], status: int, headers: Mapping[str, str], body: str | bytes
) -> ResponseOutcome:
    """The outcome, reason, price and reference a buyer's answer carries under ``rules``; rules given as a
    mapping are checked first (ResponseRulesError, a ValueError, names a bad option), except that an invalid
    ``outcome_search_term`` regex is, as in LeadConduit, a term never found (a ``failure`` by default)."""
    if not isinstance(rules, ResponseRules):
        rules = ResponseRules.from_mapping(rules, check_regex=False)
    if 500 <= status <= 599:
        return ResponseOutcome("error", "Server error")
    header_type = next((value for name, value in headers.items() if name.lower() == "content-type"), "")
    text = without_bom(body if isinstance(body, str) else _decode(body, header_type))
    kind, doc = _parse(text, rules.response_content_type_override or header_type)
    outcome: Outcome = "success"
    if rules.outcome_search_term or rules.outcome_on_match:
        on_match = rules.outcome_on_match or "success"
        path = rules.outcome_search_path
        scope = _scope(kind, doc, path) if path else [text]
        search = rules.search
        found = search is not None and any(search.search(part.strip()) for part in scope if part.strip())
        outcome = on_match if found else _INVERSE[on_match]
    reasons = sorted(reason.strip() for reason in _select(kind, doc, rules.reason_path) if reason.strip())
    prices = _select(kind, doc, rules.price_path)
    price = parse_price(prices[0]) if prices else None
    references = [ref.strip() for ref in _select(kind, doc, rules.reference_path) if ref.strip()]
    shared = _select(kind, doc, rules.shared_price_path) if rules.shared_price_path else []
    return ResponseOutcome(
        outcome=outcome,
        reason=", ".join(reasons) or rules.default_reason,
        price=price if price is not None else rules.fallback_price or 0.0,
        reference=references[0] if references else None,
        shared_price=parse_price(shared[0]) if shared else None,
        redirect_url=_redirect(
            _select(kind, doc, rules.redirect_url_path) if rules.redirect_url_path else []
        ),
    )


def _redirect(found: Sequence[str]) -> str | None:
    """The first http(s) URL found, with a host and without a space or a control character (anything else
    is not a place to send a consumer, and a line break in it would split the header a source puts it in);
    the scheme in any letter case (RFC 3986)."""
    for value in found:
        url = value.strip()
        if len(url) > 2000 or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
            continue
        try:
            parts = urlsplit(url)
        except ValueError:  # a malformed IPv6 host
            continue
        if parts.scheme.lower() in ("http", "https") and parts.hostname:
            return url
    return None


def js_regex(expression: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """A LeadConduit expression, ``/body/flags`` or bare (``/x/q``: no such flag, so bare, as regex-parser);
    JS flags i, m, s apply, g, u, y, d do nothing; ``(?<name>`` becomes Python's. Raises re.error."""
    flags = re.IGNORECASE if ignore_case else 0
    literal = _JS_LITERAL.fullmatch(expression)
    if literal and len(set(literal[2])) == len(literal[2]) and set(literal[2]) <= set(_JS_FLAGS):
        expression = literal[1]
        for letter in literal[2]:
            flags |= _JS_FLAGS[letter]
    return re.compile(re.sub(r"(?<!\\)\(\?<(?=[A-Za-z_])", "(?P<", expression), flags)


_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def parse_price(value: object) -> float | None:
    """A number as written ("12.5", "1.25e2"); else LeadConduit's number type: everything but digits, '.'
    and '-' is dropped ("$1,000.50" → 1000.5). No number: None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    text = str(value).strip()
    if _PLAIN_NUMBER.fullmatch(text):  # an exponent is the number's, not digits to run together
        return float(text)  # past a float's range: infinite, refused by what checks an amount's range
    digits = re.sub(r"[^0-9.\-]", "", text)
    try:
        return float(digits) if digits else None
    except ValueError:
        return None


def _decode(body: bytes, content_type: str) -> str:
    charset = re.search(r"charset=\"?([\w.:-]+)", content_type, re.I)
    return decode_answer(body, charset[1] if charset else "utf-8")


def _parse(text: str, content_type: str) -> tuple[DocKind, Any]:
    """The body as LeadConduit's mime-content reads it; anything that does not parse stays text."""
    mime = content_type.split(";", 1)[0].strip().lower()
    start = text.lstrip("\ufeff \t\r\n")
    try:
        if mime == "application/json":
            data = json.loads(text)
            if isinstance(data, dict | list):
                return "json", data if isinstance(data, dict) else {"array": data}
            if isinstance(data, str):
                return "text", data
        elif mime in ("application/xml", "text/xml"):
            parser = etree.XMLParser(resolve_entities=False, no_network=True, encoding="utf-8")
            return "xml", etree.fromstring(start.encode(), parser)
        elif mime == "text/html" and start.startswith(
            "<"
        ):  # cheerio's test: a body opening with text is text
            return "html", html.document_fromstring(start.encode(), html.HTMLParser(encoding="utf-8"))
        elif mime == "application/x-www-form-urlencoded":
            fields = parse_qs(text, keep_blank_values=True)
            return "json", {name: found[0] if len(found) == 1 else found for name, found in fields.items()}
    except (ValueError, RecursionError, etree.LxmlError):
        pass
    return "text", text


def _scope(kind: DocKind, doc: Any, path: str) -> list[str]:
    """Where outcome_search_term is looked for: markup for XML nodes and HTML (inner), values for JSON."""
    if kind == "xml":
        return [_xml_text(found, markup=True) for found in _xpath(doc, path)]
    if kind == "html":
        return [_inner_html(element) for element in _css(doc, path)]
    if kind == "json":
        return [text for found in _dot_path(doc, path) if (text := _json_text(found)) is not None]
    return [doc]


def _select(kind: DocKind, doc: Any, selector: str | None) -> list[str]:
    """What reason/price/reference_path finds: XPath, CSS (``@attr`` reads an attribute), dot path, or a
    regex's first group for text."""
    if not selector:
        return []
    if kind == "xml":
        return [_xml_text(found, markup=False) for found in _xpath(doc, selector)]
    if kind == "html":
        attribute = _HTML_ATTRIBUTE.search(selector)
        elements = _css(doc, _HTML_ATTRIBUTE.sub("", selector, count=1))
        if attribute:
            return [value for element in elements if (value := element.get(attribute[1].lower())) is not None]
        return [element.text_content() for element in elements]
    if kind == "json":
        return [text for found in _dot_path(doc, selector) if (text := _json_text(found)) is not None]
    try:
        match = js_regex(selector).search(doc)
    except re.error:
        return []
    return [match[1].strip()] if match and match.re.groups and match[1] is not None else []


def _dot_path(doc: Any, path: str) -> list[Any]:
    """dot-wild's get: ``a.0.b``, ``a[0]``, ``*`` for every child; an array found gives its items."""
    found: list[Any] = [doc]
    for token in _tokens(path):
        step: list[Any] = []
        for item in found:
            if isinstance(item, dict):
                step.extend(item.values() if token == "*" else [item[token]] if token in item else [])
            elif isinstance(item, list):
                if token == "*":
                    step.extend(item)
                elif _INDEX.fullmatch(token) and int(token) < len(item):
                    step.append(item[int(token)])
        if not step:
            return []
        found = step
    return [value for item in found for value in (item if isinstance(item, list) else [item])]


def _tokens(path: str) -> list[str]:
    parts = [part.replace("\\.", ".") for part in re.split(r"(?<!\\)\.", path)]
    pieces = [re.findall(r"\[\s*['\"]?([^\]'\"]*)['\"]?\s*\]|([^\[\]]+)", part) for part in parts]
    return [bracket or plain for found in pieces for bracket, plain in found]


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text_of(value)


def _xpath(root: Any, expression: str) -> list[Any]:
    """A relative expression starts at the document node, as in LeadConduit (lxml would start at the root
    element): it runs under a wrapper holding the root, then, when that finds nothing, on the tree itself."""
    try:
        if expression.startswith("/"):
            found = root.getroottree().xpath(expression)
        else:
            wrapper = etree.Element("leadrelay-document")
            wrapper.append(copy.deepcopy(root))
            found = wrapper.xpath(expression)
            if found in ([], "", 0.0, False):
                found = root.getroottree().xpath(expression)
    except etree.XPathError:
        return []
    return found if isinstance(found, list) else [found]


def _xml_text(found: Any, *, markup: bool) -> str:
    if isinstance(found, etree._Element):
        if markup:
            return etree.tostring(found, encoding="unicode", with_tail=False)
        return str(found.xpath("string()"))
    return text_of(found) if isinstance(found, bool | float) else str(found)


def _css(root: Any, selector: str) -> list[Any]:
    try:
        return list(CSSSelector(selector.strip(), translator="html")(root))
    except (SelectorError, etree.XPathError):
        return []


def _inner_html(element: Any) -> str:
    children = (etree.tostring(child, encoding="unicode", method="html") for child in element)
    return (element.text or "") + "".join(children)
