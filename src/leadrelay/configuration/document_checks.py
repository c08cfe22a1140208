"""The checks every kind of a configuration document shares, and the state of one validation.

``DocumentChecks`` holds the document being validated, the objects already stored and the problems found
so far; its checks validate a value against a model (each pydantic error reported at its path), resolve
references and entity fields, conditions, dedup keys and field names. ``configuration.partner_checks``
and ``configuration.validation`` build on it, one method per kind of object.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, ValidationError

from leadrelay.configuration.schema import Objects
from leadrelay.configuration.values import suggest, unknown, unwrap
from leadrelay.domain.condition_syntax import canonical_condition, check_condition
from leadrelay.errors import ConfigProblem

__all__ = ["DocumentChecks", "lookup"]

_M = TypeVar("_M", bound=BaseModel)
_MESSAGES = {
    "missing": "required",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
}


class DocumentChecks:
    def __init__(self, data: dict[Any, Any], existing: Objects) -> None:
        self.data = data
        self.existing = existing
        self.problems: list[ConfigProblem] = []
        self.raw: dict[str, dict[str, Any]] = {}
        self._known: dict[str, set[str]] = {}
        self._all_fields: tuple[Collection[str] | None] | None = None
        self._personal: dict[str, str | None] | None = None

    def fail(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def known(self, kind: str) -> set[str]:
        if kind not in self._known:
            self._known[kind] = set(self.existing.get(kind, {})) | set(self.raw.get(kind, {}))
        return self._known[kind]

    def reference(self, kind: str, what: str, name: Any, path: str) -> None:
        if isinstance(name, str) and name not in self.known(kind):
            self.fail(path, unknown(what, name, self.known(kind)))

    def entity_fields(self, entity: Any) -> Collection[str] | None:
        if not isinstance(entity, str):
            return None
        if entity in self.raw.get("entities", {}):
            fields = lookup(self.raw["entities"][entity], "fields")
            return set(fields) if isinstance(fields, dict) else None
        stored = self.existing.get("entities", {}).get(entity)
        return set(stored.get("fields", {})) if stored is not None else None

    def boolean_fields(self, entity: str) -> set[str]:
        """The fields of type boolean of an entity of the document or stored (none when it is unknown)."""
        doc = self.raw.get("entities", {}).get(entity) or self.existing.get("entities", {}).get(entity)
        fields = lookup(doc, "fields")
        return {
            name
            for name, field in (fields.items() if isinstance(fields, dict) else ())
            if lookup(field, "type") == "boolean"
        }

    def entity_consent(self, entity: str) -> Any:
        """The ``consent`` of an entity of the document or stored (None: it has none or is unknown)."""
        doc = self.raw.get("entities", {}).get(entity) or self.existing.get("entities", {}).get(entity)
        return lookup(doc, "consent")

    def all_fields(self) -> Collection[str] | None:
        """Every field of every entity (None when one is unknown): a partner takes leads of any entity."""
        if self._all_fields is None:
            union: set[str] | None = set()
            for entity in self.known("entities"):
                fields = self.entity_fields(entity)
                union = union | set(fields) if union is not None and fields is not None else None
            self._all_fields = (union or None,)
        return self._all_fields[0]

    def model(self, cls: type[_M], data: Any, path: str) -> _M | None:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                loc = [part for part in error["loc"] if part != "[key]"]
                message = _MESSAGES.get(error["type"], error["msg"])
                if error["type"] == "extra_forbidden":
                    message = f"unknown key{suggest(loc[-1], _keys_at(cls, loc[:-1]))}"
                elif error["type"] == "too_short":
                    message = "must not be empty"
                elif error["type"] == "string_type" and isinstance(error.get("input"), bool | int | float):
                    written = (
                        str(error["input"]).lower() if isinstance(error["input"], bool) else error["input"]
                    )
                    message = f"must be a string: quote it ('{written}')"
                self.fail(_join(path, loc), message)
            return None

    def condition(self, data: Any, path: str, fields: Collection[str] | None, entity: str) -> Any:
        condition, problems = check_condition(data, path, fields, entity, self.boolean_fields(entity))
        self.problems.extend(problems)
        return canonical_condition(condition) if condition is not None else None

    def dedup_fields(self, document: dict[str, Any], path: str, fields: Collection[str] | None) -> None:
        """Every dedup key names fields the entity has (when it is known)."""
        dedup = document.get("dedup")
        if dedup is None:
            return
        if dedup["scope"] != "entity" and not path.startswith("entities."):
            self.fail(f"{path}.dedup.scope", "'scope' applies only to an entity's dedup")
        for i, key in enumerate(dedup["keys"]):
            for j, name in enumerate(key):
                if fields is not None and name not in fields:
                    self.fail(f"{path}.dedup.keys[{i}][{j}]", unknown("field", name, fields))

    def field_names(self, names: Sequence[str], path: str, builtins: Sequence[str]) -> None:
        known = self.all_fields()
        if known is None:
            return
        choices = [*builtins, *sorted(known, key=str)]  # a name YAML read as a number is its own error
        for i, name in enumerate(names):
            if name not in known and name not in builtins:
                self.fail(f"{path}[{i}]", unknown("field", name, choices))


def lookup(raw: Any, key: str) -> Any:
    return raw.get(key) if isinstance(raw, dict) else None


def _join(path: str, loc: Sequence[int | str]) -> str:
    for part in loc:
        path = f"{path}[{part}]" if isinstance(part, int) else f"{path}.{part}"
    return path


def _keys_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The keys allowed where an unknown key was found: walk the model's annotations along ``loc``."""
    current: Any = model
    for part in [*loc, None]:
        current = unwrap(current)
        if part is None:
            break
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return []
            current = info.annotation
        elif get_origin(current) in (dict, list):
            current = get_args(current)[-1]
        else:
            return []
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []
