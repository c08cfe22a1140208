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
from leadrelay.domain.condition_syntax import parse_condition
from leadrelay.errors import ConfigError, ConfigProblem

__all__ = [
    "KINDS",
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


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # libyaml when built
    """Safe loading that refuses duplicate keys and keeps dates as text."""


_Loader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


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
    """Parse one YAML document; syntax errors become a ``ConfigError`` naming the line and column."""
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = exc.problem or str(exc)
        if what.startswith("but ") and exc.context:
            what = f"{exc.context}, {what}"
        raise ConfigError([ConfigProblem("", f"invalid YAML{where}: {what}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem("", f"invalid YAML: {exc}")]) from exc
