"""The structured forms of the configuration pages: how a document fills the inputs of an entity's, a
source's, a partner's or a profile's form (``config_inputs.FORMS``), and how a submitted form becomes the
object's document again (``from_form``). What a form does not show stays as it is stored; the page's "advanced
(YAML)" textarea holds the whole document.

Form fields are named ``f.<path>``, the dotted path of the value in the object's document; a problem
``apply`` reports (``partners.acme.caps.day``) goes next to the field of the longest path it starts with.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from leadrelay.configuration import secrets
from leadrelay.configuration.export import dump_value
from leadrelay.configuration.load import load_yaml_text
from leadrelay.entrypoints.web.config_inputs import BLANK_ROWS, Input, inputs
from leadrelay.errors import ConfigError

# ---------------------------------------------------------------- reading a document


def value_at(doc: Mapping[str, Any] | None, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def shown(item: Input, doc: Mapping[str, Any] | None) -> Any:
    """What the form's input holds for ``doc`` (never a secret)."""
    value = value_at(doc, item.path)
    if item.widget == "secret":
        return ""
    if item.widget == "bool":
        return value is True or (value is None and item.default is True)
    if item.widget == "list":
        return ", ".join(str(v) for v in value) if isinstance(value, list) else (value or "")
    if item.widget in ("yaml", "condition"):
        return dump_small(value)
    return "" if value is None else str(value)


def dump_small(value: Any) -> str:
    if value is None:
        return ""
    return dump_value(value)


def condition_json(value: Any) -> str:
    return json.dumps(value) if value is not None else ""


# ---------------------------------------------------------------- a submitted form


# a secret typed into a form that comes back for another field's error: never sent back to the page
RETYPE_SECRET = "not kept while another field is wrong (a secret never goes back to the page): type it again"


@dataclass
class Parsed:
    doc: dict[str, Any]
    problems: dict[str, list[str]] = field(default_factory=dict)  # input path -> messages
    raw: dict[str, str] = field(default_factory=dict)  # input path -> text that did not parse
    origins: list[str] = field(default_factory=list)  # each row's stored field name or rule index

    def fail(self, path: str, message: str) -> None:
        self.problems.setdefault(path, []).append(message)


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    here = doc
    for part in parts[:-1]:
        if not isinstance(here.get(part), dict):
            here[part] = {}
        here = here[part]
    here[parts[-1]] = value


def _delete(doc: dict[str, Any], path: str) -> None:
    """Remove the value at ``path`` and the mappings it leaves empty."""
    parts = path.split(".")
    chain = [doc]
    for part in parts[:-1]:
        nxt = chain[-1].get(part)
        if not isinstance(nxt, dict):
            return
        chain.append(nxt)
    chain[-1].pop(parts[-1], None)
    for depth in range(len(chain) - 1, 0, -1):
        if not chain[depth]:
            chain[depth - 1].pop(parts[depth - 1], None)


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text  # apply names it ("must be a number") at its path


def _yaml(text: str, path: str, parsed: Parsed) -> Any:
    try:
        return load_yaml_text(text)
    except ConfigError as exc:
        parsed.fail(path, exc.problems[0].message)
        parsed.raw[path] = text
        return None


def from_form(kind: str, form: Mapping[str, str], stored: dict[str, Any] | None) -> Parsed:
    """The object's document from its form: ``stored`` (masked as export shows it; None for a new
    object) with the form's inputs over it. A blank secret keeps the stored one (``***``)."""
    parsed = Parsed(copy.deepcopy(stored) if stored else {})
    doc = parsed.doc
    for item in inputs(kind):
        text = str(form.get(item.name, "")).strip()
        if item.widget == "bool":
            if form.get(item.name) is not None:
                _set(doc, item.path, True)
            elif value_at(doc, item.path) is not None or item.default is True:
                _set(doc, item.path, False)
            continue
        if item.widget == "secret":
            if text:
                _set(doc, item.path, text)
            continue  # blank: the stored value (***) stays, or there is none
        if not text:
            _delete(doc, item.path)
            continue
        if item.widget == "number":
            _set(doc, item.path, _number(text))
        elif item.widget == "list":
            _set(doc, item.path, [part.strip() for part in text.split(",") if part.strip()])
        elif item.widget in ("yaml", "condition"):
            value = _yaml(text, item.path, parsed)
            if value is not None:
                _set(doc, item.path, value)
        else:
            _set(doc, item.path, text)
    if kind == "entities":
        _entity_fields(form, stored, parsed)
    if kind == "profiles":
        _rules(form, stored, parsed)
    return parsed


def field_rows(doc: Mapping[str, Any] | None, origins: list[str] | None = None) -> list[dict[str, Any]]:
    """An entity's fields as the form's rows (with empty rows for new fields); ``origins``: each row's
    stored name (after a refused submission), else its own."""
    fields = value_at(doc, "fields") or {}
    rows = [
        {
            "name": name,
            "original": origins[i] if origins is not None and i < len(origins) else name,
            "type": spec.get("type", "string"),
            "required": spec.get("required") is True,
            "sensitive": spec.get("sensitive") is True,
        }
        for i, (name, spec) in enumerate(fields.items())
        if isinstance(spec, dict)
    ]
    blank = {"name": "", "original": "", "type": "string", "required": False, "sensitive": False}
    return rows + [blank] * BLANK_ROWS


def _entity_fields(form: Mapping[str, str], stored: dict[str, Any] | None, parsed: Parsed) -> None:
    before = (stored or {}).get("fields") or {}
    fields: dict[str, Any] = {}
    i = 0
    while f"fields-{i}-name" in form:
        name = str(form.get(f"fields-{i}-name", "")).strip()
        original = str(form.get(f"fields-{i}-original", ""))
        if name and not form.get(f"fields-{i}-remove"):
            spec = copy.deepcopy(before.get(original, {})) if original else {}
            spec["type"] = str(form.get(f"fields-{i}-type") or "string")
            for flag in ("required", "sensitive"):
                if form.get(f"fields-{i}-{flag}") is not None:
                    spec[flag] = True
                else:
                    spec.pop(flag, None)
            if name in fields:  # the first stays as it is (the row given again is the mistake)
                parsed.fail(f"fields.{name}", f"the field {name!r} is given twice")
            else:
                parsed.origins.append(original)
                fields[name] = spec
        i += 1
    parsed.doc["fields"] = fields


def rule_rows(
    doc: Mapping[str, Any] | None, origins: list[str] | None = None, raw: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """A profile's rules as the form's rows, and one empty row for a new rule; after a refused
    submission, ``origins`` (each row's stored index) and ``raw`` (conditions that did not parse)."""
    rows = []
    for i, rule in enumerate(value_at(doc, "rules") or []):
        target = rule.get("send_to") if isinstance(rule.get("send_to"), dict) else {}
        when = (raw or {}).get(f"rules[{i}].when")
        rows.append(
            {
                "name": rule.get("name", ""),
                "original": origins[i] if origins is not None and i < len(origins) else str(i),
                "when": when if when is not None else dump_small(rule.get("when")),
                "when_json": condition_json(rule.get("when")),
                "partners": ", ".join(target.get("partners") or []),
                "strategy": target.get("strategy", ""),
            }
        )
    blank = {"name": "", "original": "", "when": "", "when_json": "", "partners": "", "strategy": "priority"}
    return [*rows, blank]


def _rules(form: Mapping[str, str], stored: dict[str, Any] | None, parsed: Parsed) -> None:
    before = (stored or {}).get("rules") or []
    rules: list[dict[str, Any]] = []
    i = 0
    while f"rules-{i}-name" in form:
        name = str(form.get(f"rules-{i}-name", "")).strip()
        when_text = str(form.get(f"rules-{i}-when", "")).strip()
        original = str(form.get(f"rules-{i}-original", ""))
        if (name or when_text) and not form.get(f"rules-{i}-remove"):
            rule = (
                copy.deepcopy(before[int(original)])
                if re.fullmatch(r"[0-9]{1,9}", original) and int(original) < len(before)
                else {}
            )
            rule["name"] = name
            path = f"rules[{len(rules)}].when"
            when = _yaml(when_text, path, parsed) if when_text else None
            rule["when"] = when
            parsed.origins.append(original)
            sent = rule.get("send_to")
            target: dict[str, Any] = dict(sent) if isinstance(sent, dict) else {}
            target.pop("partner", None)
            partners = [p.strip() for p in str(form.get(f"rules-{i}-partners", "")).split(",") if p.strip()]
            if partners or "partners" in target or "tiers" not in target:  # a waterfall may name tiers only
                target["partners"] = partners
            strategy = str(form.get(f"rules-{i}-strategy", "")).strip()
            if strategy:
                target["strategy"] = strategy
            rule["send_to"] = target
            rules.append(rule)
        i += 1
    parsed.doc["rules"] = rules


# ---------------------------------------------------------------- problems next to their inputs


def place_problems(
    kind: str, name: str, problems: Iterable[tuple[str, str]]
) -> tuple[dict[str, list[str]], list[str]]:
    """Each problem ``(path, message)`` of ``apply`` next to the input whose path it starts with; the
    rest (another object's, the document's) for the top of the page, with their paths."""
    prefix = f"{kind}.{name}."
    paths = sorted({item.path for item in inputs(kind)}, key=len, reverse=True)
    placed: dict[str, list[str]] = {}
    top: list[str] = []
    for path, message in problems:
        where = path[len(prefix) :] if path.startswith(prefix) else None
        target = None
        if where is not None:
            target = next((p for p in paths if where == p or where.startswith((p + ".", p + "["))), None)
            if target is None:
                rows = re.match(r"(fields\.[^.\[]+|rules\[\d+\])", where)
                target = rows.group(1) if rows else None
        if target is None:
            top.append(f"{path}: {message}" if path else message)
        else:
            rest = where[len(target) :].lstrip(".") if where is not None else ""
            placed.setdefault(target, []).append(f"{rest}: {message}" if rest else message)
    return placed, top


_SECRET_LINE = re.compile(
    r"^(\s*-?\s*[\w\"'-]*(?:pass(?:word)?|secret|token|auth|api[-_]?key|cookie|signature|private)[\w\"'-]*\s*:\s*)\S.*$",
    re.IGNORECASE | re.MULTILINE,
)


def masked_text(kind: str, text: str) -> str:
    """A submitted YAML text fit to show back: its secrets as ``***`` (through the document when it
    parses, else line by line)."""
    try:
        doc = load_yaml_text(text)
    except ConfigError:
        doc = None
    if isinstance(doc, dict):
        return dump_small(secrets.mask(kind, doc))
    return _SECRET_LINE.sub(lambda m: m.group(1) + "'***'", text)
