"""Request bodies for a buyer, built from destination paths the way LeadConduit's custom integration
builds them (activeprospect/leadconduit-integration-custom, lib/json.js, form.js, xml.js), so a buyer
spec written for LeadConduit maps one to one.

A path is dotted (``lead.phone.0``). A node whose keys are all numeric becomes an array, compacted: missing
indexes and ``None`` items vanish and the rest keep index order, so a mapping may leave gaps when a lead
lacks a value. A path that is both a value and a parent of another path is refused, never guessed.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal, TypeAlias
from urllib.parse import quote
from xml.etree import ElementTree as ET

Scalar: TypeAlias = str | int | float | bool | None
BodyValue: TypeAlias = Scalar | Sequence[Scalar]
BodyFormat = Literal["json", "form", "xml"]
Node: TypeAlias = "Scalar | list[Node] | dict[str, Node]"

CONTENT_TYPES: dict[str, str] = {
    "json": "application/json",
    "form": "application/x-www-form-urlencoded",
    "xml": "application/xml",
}
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
_INDEX = re.compile(r"[0-9]+")
# what XML 1.0 cannot hold, even as a character reference: control characters but tab, newline and carriage
# return, surrogates, U+FFFE and U+FFFF (a lead's value carrying one would make the whole body unreadable)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_NAME = re.compile(r"[^\W\d][\w.\-:]*")
_FORM_SAFE = "!'()*"  # with quote()'s own, exactly what encodeURIComponent (and node's querystring) keeps


def build_body(
    fmt: BodyFormat | str, values: Mapping[str, BodyValue], *, ascii: bool = False
) -> tuple[str, str]:
    """``(content_type, body)`` for ``fmt`` ("json", "form" or "xml"), from destination path → rendered value.

    ``ascii=True`` (LeadConduit's ``send_ascii``) transliterates text: NFKD, combining marks dropped, and
    anything still not ASCII dropped too (``Mêl`` → ``Mel``, but ``ß`` or ``æ`` vanish; unidecode would
    spell them out). Raises ValueError for an unknown format or paths that contradict each other.
    """
    if fmt not in CONTENT_TYPES:
        raise ValueError(f"unknown body format {fmt!r}; one of: {', '.join(CONTENT_TYPES)}")
    if fmt == "xml":
        return CONTENT_TYPES[fmt], _xml(values, ascii)
    tree: dict[str, Node] = {}
    for path, value in values.items():
        _insert(tree, path, _segments(path), _prepare(path, value, ascii))
    if fmt == "json":
        whole = _arrays(tree) if tree and all(_INDEX.fullmatch(key) for key in tree) else _children(tree)
        return CONTENT_TYPES[fmt], json.dumps(
            whole, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
    pairs = _form_pairs(_children(tree), "")
    return CONTENT_TYPES[fmt], "&".join(f"{quote(k, _FORM_SAFE)}={quote(v, _FORM_SAFE)}" for k, v in pairs)


def text_of(value: Scalar) -> str:
    """A scalar as JavaScript prints it (LeadConduit's wire form): ``true``, ``18`` for 18.0, "" for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def to_ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _segments(path: str) -> list[str]:
    segments = path.split(".")
    if not all(segments):
        raise ValueError(f"path {path!r} has an empty segment")
    return segments


def _prepare(path: str, value: object, ascii: bool) -> Node:
    if isinstance(value, list | tuple):
        return [_scalar(path, item, ascii) for item in value if item is not None]
    return _scalar(path, value, ascii)


def _scalar(path: str, value: object, ascii: bool) -> Scalar:
    if isinstance(value, str):
        return to_ascii(value) if ascii else value
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"path {path!r}: {value} is not a number a buyer can read")
    if value is None or isinstance(value, bool | int | float):
        return value
    raise TypeError(
        f"path {path!r}: expected text, a number, a boolean, None or a list, not {type(value).__name__}"
    )


def _insert(tree: dict[str, Node], path: str, segments: list[str], value: Node) -> None:
    node = tree
    for depth, segment in enumerate(segments[:-1], start=1):
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            raise ValueError(f"path {path!r}: {'.'.join(segments[:depth])!r} already holds a value")
        node = child
    if segments[-1] in node:
        raise ValueError(f"path {path!r} collides with another path for {'.'.join(segments)!r}")
    node[segments[-1]] = value


def _arrays(node: Node) -> Node:
    """Numeric-keyed objects become compacted arrays, in index order."""
    if isinstance(node, dict):
        if node and all(_INDEX.fullmatch(key) for key in node):
            ordered = sorted(node.items(), key=lambda item: int(item[0]))
            return [_arrays(child) for _, child in ordered if child is not None]
        return _children(node)
    return node


def _children(tree: dict[str, Node]) -> dict[str, Node]:
    return {key: _arrays(child) for key, child in tree.items()}


def _form_pairs(node: Node, name: str) -> Iterator[tuple[str, str]]:
    """Nested objects as dotted names; array items repeat the name (an object item keeps its index)."""
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _form_pairs(child, f"{name}.{key}" if name else key)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _form_pairs(item, f"{name}.{index}" if isinstance(item, dict) else name)
    else:
        yield name, text_of(node)


def _xml(values: Mapping[str, BodyValue], ascii: bool) -> str:
    tree: dict[str, Node] = {}
    for path, value in values.items():
        segments = _xml_segments(path)
        leaf = segments[-1][0] in "@#"
        if isinstance(value, list | tuple):
            if leaf:
                raise ValueError(f"path {path!r}: an attribute or #text takes one value, not a list")
            items = [_scalar(path, item, ascii) for item in value if item is not None]
            for index, item in enumerate(items):
                _insert(tree, path, [*segments, str(index), "#text"], item)
        else:
            _insert(tree, path, segments if leaf else [*segments, "#text"], _prepare(path, value, ascii))
    if not tree:
        return XML_DECLARATION
    if len(tree) > 1:
        roots = ", ".join(repr(root) for root in tree)
        raise ValueError(f"an XML body has one root element, but the paths start with {roots}")
    [(root_name, root_node)] = tree.items()
    root = ET.Element(_xml_name(root_name, root_name))
    _fill(root, _arrays(root_node), root_name)
    ET.indent(root, space="  ")
    return f"{XML_DECLARATION}\n{ET.tostring(root, encoding='unicode')}"


def _xml_segments(path: str) -> list[str]:
    """``lead.bar@id`` → lead, bar, @id; ``@attr`` and ``#text`` may only end a path."""
    segments = _segments(path)
    head, at, attribute = segments[-1].partition("@")
    if at and head:
        segments[-1:] = [head, f"@{attribute}"]
    if any(segment[0] in "@#" or "@" in segment for segment in segments[:-1]):
        raise ValueError(f"path {path!r}: '@attribute' or '#text' must end the path")
    if segments[-1].startswith("#") and segments[-1] != "#text":
        raise ValueError(f"path {path!r}: the only '#' segment is '#text'")
    if segments[0][0] in "@#" or _INDEX.fullmatch(segments[0]):
        raise ValueError(f"path {path!r}: an XML body starts with its root element's name")
    return segments


def _fill(element: ET.Element, node: Node, path: str) -> None:
    if not isinstance(node, dict):
        raise ValueError(f"path {path!r}: cannot hold both a value and indexed items")
    for key, child in node.items():
        if key == "#text":
            element.text = _xml_text(_leaf(child, path))
        elif key.startswith("@"):
            element.set(_xml_name(key[1:], path), _xml_text(_leaf(child, path)))
        else:
            for item in child if isinstance(child, list) else [child]:
                _fill(ET.SubElement(element, _xml_name(key, f"{path}.{key}")), item, f"{path}.{key}")


def _xml_text(value: Scalar) -> str:
    """A value as XML text: the characters XML cannot carry are left out."""
    return _NOT_XML.sub("", text_of(value))


def _leaf(node: Node, path: str) -> Scalar:
    if isinstance(node, dict | list):
        raise ValueError(f"path {path!r}: an attribute or #text cannot have children")
    return node


def _xml_name(name: str, path: str) -> str:
    if not _XML_NAME.fullmatch(name):
        raise ValueError(f"path {path!r}: {name!r} is not an XML name (indexes mixed with names?)")
    return name
