"""What a partner's ping may carry: no personal field (PRODUCT.md "Ping / post": a PII-free view).

A ping's ``fields``, ``mapping`` or ``mappings`` may not name a personal field (``domain.model.
personal_field``: an email, phone, dob or ip field, a sensitive one, one marked ``personal: true``, or one
with a usual personal name unless marked ``personal: false``), whether by a ``{field: x}`` reference, a
template (``"{{ lead.email | lower }}"`` inside any text), or a condition's ``field``. A template that reads
fields by a computed name (``lead[key]``) or hands ``lead`` on could read any field, and is refused too.
Each refusal names the path of the value. A partner with ``ping_pii: allowed`` is not checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from leadrelay.domain.model import PERSONAL_TYPES, personal_field
from leadrelay.errors import ConfigProblem
from leadrelay.templating.mapping import key_path
from leadrelay.templating.sandbox import is_template, lead_fields

__all__ = ["personal_fields", "ping_problems"]

_ALLOW = "a ping carries no personal data (or set 'ping_pii: allowed' on the partner)"


def personal_fields(entities: Iterable[Mapping[str, Any]]) -> dict[str, str | None]:
    """Field name → why it is personal (None: it is not), over the fields (raw or canonical documents) of
    ``entities``: a name personal in any entity is personal (a partner takes leads of any entity)."""
    found: dict[str, str | None] = {}
    for fields in entities:
        for name, doc in fields.items():
            if not isinstance(name, str) or not isinstance(doc, dict) or found.get(name) is not None:
                continue
            kind, sensitive, personal = doc.get("type", "string"), doc.get("sensitive"), doc.get("personal")
            marked = personal if isinstance(personal, bool) else None
            if not personal_field(name, kind, sensitive is True, marked):
                found[name] = None
            elif kind in PERSONAL_TYPES:
                found[name] = f"'{name}' is a field of type {kind}"
            elif sensitive is True:
                found[name] = f"'{name}' is a sensitive field"
            elif personal is True:
                found[name] = f"'{name}' is marked personal"
            else:
                found[name] = f"'{name}' is a personal field by its name (mark it 'personal: false' if not)"
    return found


def ping_problems(
    hook: Mapping[str, Any], path: str, personal: Mapping[str, str | None]
) -> list[ConfigProblem]:
    """The personal fields a (canonical) ping names, each with the path of the value naming it.

    ``personal``: field name → why it is personal, None if not (:func:`personal_fields`); a name no
    entity defines is personal by its name alone."""

    def why(name: str) -> str | None:
        if name in personal:
            return personal[name]
        if personal_field(name, "string", False, None):
            return f"'{name}' is a personal field by its name"
        return None

    problems: list[ConfigProblem] = []
    for where, name in _named(hook, path):
        reason = why(name) if name is not None else None
        if name is None:
            problems.append(
                ConfigProblem(
                    where,
                    "this template may read any field of the lead (a computed name, or 'lead' itself): "
                    "a ping must name the fields it carries",
                )
            )
        elif reason is not None:
            problems.append(ConfigProblem(where, f"{reason}; {_ALLOW}"))
    return problems


def _named(hook: Mapping[str, Any], path: str) -> Iterator[tuple[str, str | None]]:
    """(path, field name) for each field the ping names; name None: a template that may read any."""
    fields = hook.get("fields")
    for i, name in enumerate(fields if isinstance(fields, list) else []):
        yield f"{path}.fields[{i}]", name
    mapping = hook.get("mapping")
    if isinstance(mapping, dict):
        yield from _mapping(mapping, f"{path}.mapping")
    mappings = hook.get("mappings")
    for i, entry in enumerate(mappings if isinstance(mappings, list) else []):
        if not isinstance(entry, dict):
            continue
        if entry.get("when") is not None:
            yield from _condition(entry["when"], f"{path}.mappings[{i}].when")
        if isinstance(entry.get("mapping"), dict):
            yield from _mapping(entry["mapping"], f"{path}.mappings[{i}].mapping")


def _mapping(doc: Mapping[str, Any], path: str) -> Iterator[tuple[str, str | None]]:
    for key, value in doc.items():
        yield from _value(value, key_path(path, str(key)))


def _value(spec: Any, where: str) -> Iterator[tuple[str, str | None]]:
    if isinstance(spec, str) and is_template(spec):
        names = lead_fields(spec)
        if names is None:
            yield where, None
        else:
            for name in sorted(names):
                yield where, name
    elif isinstance(spec, dict) and "when" in spec:
        yield from _condition(spec["when"], f"{where}.when")
        for key in ("value", "else"):
            if key in spec:
                yield from _value(spec[key], f"{where}.{key}")
    elif isinstance(spec, dict) and isinstance(spec.get("field"), str):
        yield f"{where}.field", spec["field"]


def _condition(data: Any, where: str) -> Iterator[tuple[str, str | None]]:
    """The fields a (canonical) condition's leaves test: a test on a personal field says something of it."""
    if not isinstance(data, dict):
        return
    for key in ("all", "any"):
        for i, item in enumerate(data.get(key) or ()):
            yield from _condition(item, f"{where}.{key}[{i}]")
    if "not" in data:
        yield from _condition(data["not"], f"{where}.not")
    if isinstance(data.get("field"), str):
        yield f"{where}.field", data["field"]
