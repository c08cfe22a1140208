"""Canonical configuration documents as YAML: what ``export`` writes, and a document that re-applies to
the same objects (``validate_document(load_yaml_text(dump_yaml(objects))) == objects``).

What validation fills in again (nulls, empty lists and mappings, false flags) is left out, but not an
empty ``fields`` or ``columns`` (none, where leaving it out means every field); small things
(a field, a condition leaf, caps, a target) go on one line, the rest in blocks.
"""

from __future__ import annotations

from typing import Any

import yaml

from leadrelay.configuration.schema import KINDS, SMTP_NAME, Objects
from leadrelay.configuration.yaml_scalars import CORE_SCALARS

__all__ = ["dump_value", "dump_yaml"]


class _FlowDict(dict[str, Any]):
    pass


class _FlowList(list[Any]):
    pass


class _Mapping(dict[str, Any]):
    """A webhook's mapping, written whole: a null or false value is what the buyer gets, not a default."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML writes NEL and the Unicode line separators raw in other styles, and reads them back as breaks.
    style = '"' if any(c in value for c in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)
for _tag, _pattern, _first in CORE_SCALARS:  # quote text the loader would read as a number (1e3) too
    _Dumper.add_implicit_resolver(_tag, _pattern, _first)
_Dumper.add_representer(
    _FlowDict, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True)
)
_Dumper.add_representer(
    _FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _flow(value: Any) -> Any:
    """Leave out what validation fills in again (nulls, empty lists and mappings, false flags); write
    small things on one line (a field, a condition leaf, caps, a target) and the rest as blocks."""
    if isinstance(value, _Mapping):
        return {key: _flow_value(item) for key, item in value.items()}
    if isinstance(value, list):
        elements = [_flow(item) for item in value]
        return _FlowList(elements) if all(_is_scalar(item) for item in value) else elements
    if isinstance(value, dict):
        entries = {key: _flow(item) for key, item in value.items() if not _implied(key, item)}
        small = all(
            _is_scalar(v)
            or isinstance(v, _FlowList)
            or (isinstance(v, _FlowDict) and all(_is_scalar(w) for w in v.values()))
            for v in entries.values()
        )
        return _FlowDict(entries) if small and len(repr(entries)) <= 100 else entries
    return value


def _flow_value(value: Any) -> Any:
    """One value of a mapping: a conditional as a block, a reference or a literal on one line."""
    if isinstance(value, dict) and "when" in value:
        entries = {"when": _flow(value["when"]), "value": _flow_value(value["value"])}
        if "else" in value:
            entries["else"] = _flow_value(value["else"])
        return entries
    return _FlowDict(value) if isinstance(value, dict) else value


def _marked(partner: dict[str, Any]) -> dict[str, Any]:
    """The partner with its webhooks' mappings (its channel's, any failover step's, its ping's) marked
    whole."""
    marked = dict(partner)
    if isinstance(partner.get("channel"), dict):
        marked["channel"] = _marked_channel(partner["channel"])
    if isinstance(partner.get("failover"), list):
        marked["failover"] = [_marked_channel(step) for step in partner["failover"]]
    if isinstance(partner.get("ping"), dict):
        marked["ping"] = _marked_hook(partner["ping"])
    return marked


def _marked_channel(channel: Any) -> Any:
    hook = channel.get("webhook") if isinstance(channel, dict) else None
    if not hook:
        return channel
    return {**channel, "webhook": _marked_hook(hook)}


def _marked_hook(hook: dict[str, Any]) -> dict[str, Any]:
    if hook.get("mapping") is None and hook.get("mappings") is None:
        return hook
    hook = dict(hook)
    if hook.get("mapping") is not None:
        hook["mapping"] = _Mapping(hook["mapping"])
    if hook.get("mappings") is not None:
        hook["mappings"] = [{**entry, "mapping": _Mapping(entry["mapping"])} for entry in hook["mappings"]]
    return hook


def _implied(key: str, value: Any) -> bool:
    if key == "partners":  # a target's partners, even none, must be written
        return False
    if key in _LISTS_OF_NONE and value == []:  # "only these: none"; left out, it would be "every field"
        return False
    return value is None or value == [] or value == {} or (key in _FALSE_BY_DEFAULT and value is False)


_LISTS_OF_NONE = frozenset({"fields", "columns"})
_FALSE_BY_DEFAULT = frozenset({"ascii", "case_sensitive", "require_consent", "required", "sensitive"})


def _rule(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert rule without an empty partner filter (every partner)."""
    return {key: value for key, value in alert.items() if key != "partners" or value}


def dump_yaml(objects: Objects) -> str:
    """A YAML document of ``objects`` (sections in a fixed order, names sorted) that re-applies to them."""
    document: dict[str, Any] = {}
    for kind in KINDS:
        if kind == "smtp":
            if objects.get("smtp", {}).get(SMTP_NAME) is not None:
                document["smtp"] = _flow(objects["smtp"][SMTP_NAME])
        elif kind == "alerts" and objects.get("alerts"):
            document["alerts"] = [
                {"name": name, **_flow(_rule(objects["alerts"][name]))} for name in sorted(objects["alerts"])
            ]
        elif kind in objects:
            mark = _marked if kind == "partners" else dict
            document[kind] = {name: _flow(mark(objects[kind][name])) for name in sorted(objects[kind])}
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def dump_value(value: Any) -> str:
    """One value as YAML (a field of the console's forms) that ``load_yaml_text`` reads back the same."""
    return str(yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)).strip()
