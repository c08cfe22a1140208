"""Configuration documents: load YAML, validate every object, build the domain specs, dump back.

The path of a document: ``load_yaml_text`` (YAML → plain data), ``validate_document``
(``configuration.validation``: plain data → validated models → canonical documents, the stored form),
``build_specs`` (``configuration.specs``: canonical documents → the same models → domain specs, each
model's ``to_spec``) and ``dump_yaml`` (``configuration.export``: canonical documents → YAML that
validates back to them).
"""

from __future__ import annotations

from typing import Any

import yaml

from leadrelay.configuration.export import dump_yaml
from leadrelay.configuration.schema import KINDS, Objects
from leadrelay.configuration.specs import Specs, build_specs, smtp_settings
from leadrelay.configuration.validation import validate_document
from leadrelay.configuration.values import parse_duration
from leadrelay.configuration.yaml_scalars import CORE_SCALARS, KEPT_RESOLVERS
from leadrelay.domain.condition_syntax import parse_condition
from leadrelay.errors import ConfigError, ConfigProblem

__all__ = [
    "ALIAS_BUDGET",
    "KINDS",
    "MAX_POSTED_CHARS",
    "ConfigError",
    "ConfigProblem",
    "Objects",
    "Specs",
    "build_specs",
    "dump_yaml",
    "load_yaml_text",
    "parse_condition",
    "parse_duration",
    "smtp_settings",
    "validate_document",
]


# ---------------------------------------------------------------- YAML

# Aliases may add at most this many values to those a document writes out. An alias repeats its anchor's
# whole value, so nested anchors multiply ("billion laughs": a 500-byte document of nine aliases of nine
# aliases … expands to millions of values, and every later step, validation, JSON, routing, walks them
# all). Counting the values written plus this allowance keeps a large alias-free configuration loadable
# (its size is bounded by its text) and bounds every document's work by its length plus a constant.
ALIAS_BUDGET = 200_000
# The longest YAML text taken over HTTP (a simulator draft, an object's YAML in the console): the CLI
# reads files of any size, a request body does not.
MAX_POSTED_CHARS = 200_000


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # libyaml when built
    """Safe loading that refuses duplicate keys and reads plain scalars by YAML 1.2's core schema
    (``configuration.yaml_scalars``: ON, yes, 07, 8:30, dates stay text)."""


_Loader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] in KEPT_RESOLVERS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _pattern, _first in CORE_SCALARS:
    _Loader.add_implicit_resolver(_tag, _pattern, _first)


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first given on line {seen[key]})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml_text(text: str) -> Any:
    """Parse one YAML document; syntax errors become a ``ConfigError`` naming the line and column, and so
    does a document whose aliases expand it past ``ALIAS_BUDGET`` values, or refer to a value they are in
    (checked on the composed nodes, before any Python value is built)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if "*" in text:  # no alias without one: an alias-free document needs no count
            _check_expansion(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = exc.problem or str(exc)
        if what.startswith("but ") and exc.context:
            what = f"{exc.context}, {what}"
        raise ConfigError([ConfigProblem("", f"invalid YAML{where}: {what}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem("", f"invalid YAML: {exc}")]) from exc
    finally:
        loader.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def expansion(root: yaml.Node) -> tuple[int, int]:
    """(the values a composed document writes out, the values it expands to), each node one value and an
    alias counted as the whole value it repeats. Iterative, each node visited once: linear in the
    document's text whatever its aliases multiply to (the counts are Python integers). Raises
    ``ConfigError`` when an alias sits inside the value it refers to (a recursive structure)."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose values are being counted (the path from the root)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, counted = stack.pop()
        key = id(node)
        children = _children(node)
        if counted:
            open_.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
        elif key in open_:  # met again below itself: only an alias to an enclosing anchor does that
            mark = node.start_mark
            raise ConfigError(
                [
                    ConfigProblem(
                        "",
                        f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: an alias refers "
                        "to a value it is part of (a recursive structure)",
                    )
                ]
            )
        elif key not in sizes:
            open_.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children)
    return len(sizes), sizes[id(root)]


def _check_expansion(root: yaml.Node) -> None:
    written, expanded = expansion(root)
    limit = written + ALIAS_BUDGET
    if expanded > limit:
        raise ConfigError(
            [
                ConfigProblem(
                    "",
                    f"invalid YAML: the document expands to more than {limit:,} values through aliases "
                    f"(it writes {written:,}; aliases may add at most {ALIAS_BUDGET:,}): repeat anchors "
                    "less, or write the values out",
                )
            ]
        )
