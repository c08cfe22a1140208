"""Partner mappings: the body a buyer wants, described in configuration rather than code.

A mapping sends destination paths (``contact.email``, ``contact.phones.0``) to values: a Jinja2 template
(``"{{ lead.phone | e164 }}"``), a field reference (``{field: age}``, keeps the value's type), a constant
(text without ``{{ }}``, a number, true/false, null, or ``{value: ...}`` taken literally), or a value
chosen by a condition (``{when: <condition>, value: ..., else: ...}``; without ``else`` the path is left
out). ``mappings`` chooses a whole mapping: the first entry whose ``when`` matches, the last may have none.

``compile_mapping`` checks everything when the configuration is applied and reports each problem with its
path; ``mapping_for`` compiles a canonical document once (per configuration version), never per lead.
A template that is exactly one expression (``{{ lead.age }}``) is evaluated as an expression and keeps the
native type; any other template renders to text. A field the lead lacks is None in an expression or a
field reference and empty text inside a longer template (see ``sandbox``).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from jinja2 import TemplateError
from jinja2.exceptions import SecurityError

from leadrelay.domain.condition_syntax import canonical_condition, check_condition
from leadrelay.domain.condition_tree import Condition
from leadrelay.domain.conditions import compile_condition
from leadrelay.domain.suggestions import suggest, unknown
from leadrelay.errors import ConfigProblem
from leadrelay.templating.sandbox import Fields, compile_template, is_template, lead_fields

__all__ = ["CompiledMapping", "MappingError", "compile_mapping", "key_path", "mapping_for"]

Values = Mapping[str, Any]
Node = Callable[[Values, dict[str, Any]], Any]  # (lead values, template variables) -> value or _OMIT
Reads = frozenset[str] | None  # the lead fields a value is made from; None: any of them
MAX_DEPTH = 8  # conditional values inside conditional values
_CACHE_SIZE = 512
_OMIT = object()
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_VALUE_SHAPE = (
    "a value is text (a template or a constant), a number, true/false, null, {field: name}, "
    "{value: constant} or {when: condition, value: ..., else: ...}"
)


class MappingError(Exception):
    """A lead the mapping cannot render (a failing filter, an unsafe access): final for the delivery."""


@dataclass(frozen=True, slots=True, eq=False)
class CompiledMapping:
    document: Any  # the canonical document: a mapping, or a list of {when, mapping}
    choose: Callable[[Values], int]  # the branch for a lead's values; -1 when none applies
    branches: tuple[tuple[tuple[str, Node], ...], ...]
    reads: tuple[tuple[Reads, ...], ...] = ()  # per branch and path: the fields its value is made from

    def render(self, values: Values, *, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The destination paths and values for one lead (``build_body``'s input); ``MappingError``.

        ``meta`` gives the other template variables (``lead_id``, ``entity``, ``partner``, ``test``,
        ``ping``).
        """
        index = self.choose(values)
        if index < 0:
            raise MappingError("no mapping applies to this lead (give a last entry without 'when')")
        scope: dict[str, Any] = {**(meta or {}), "lead": Fields(values)}
        rendered: dict[str, Any] = {}
        for path, node in self.branches[index]:
            try:
                value = node(values, scope)
            except Exception as exc:  # an operator's template failing on this lead: never the worker
                raise MappingError(f"{path}: {_describe(exc)}") from None
            if value is not _OMIT:
                rendered[path] = value
        return rendered

    def paths_from(self, values: Values, fields: Collection[str]) -> list[str]:
        """The destination paths whose value, for this lead, is made from any of ``fields`` (a lead's
        sensitive fields: what the request record masks and the answers are searched for)."""
        index = self.choose(values) if fields else -1
        if index < 0:
            return []
        paths = [path for path, _ in self.branches[index]]
        reads = self.reads[index] if index < len(self.reads) else (None,) * len(paths)
        return [p for p, r in zip(paths, reads, strict=True) if r is None or not r.isdisjoint(fields)]


def _describe(exc: Exception) -> str:
    if isinstance(exc, SecurityError):
        return f"not allowed: {exc}"
    if isinstance(exc, TemplateError):
        return exc.message or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def compile_mapping(
    doc: Any, path: str, entity_fields: Collection[str] | None
) -> tuple[CompiledMapping | None, list[ConfigProblem]]:
    """Check and compile a ``mapping`` (a dict) or ``mappings`` (a list of ``{when, mapping}``).

    With ``entity_fields``, every field a template, reference or condition names must be one of them.
    Returns the compiled mapping (None when there are problems) and the problems, each with its path.
    """
    compiler = _Compiler(entity_fields)
    compiled = compiler.document(doc, path)
    if compiler.problems:
        return None, compiler.problems
    return compiled, []


_BY_TEXT: OrderedDict[bytes, CompiledMapping] = OrderedDict()
_BY_ID: dict[int, tuple[Any, CompiledMapping]] = {}


def mapping_for(document: Any) -> CompiledMapping:
    """The compiled form of a canonical document, cached; ``MappingError`` if it does not compile."""
    hit = _BY_ID.get(id(document))
    if hit is not None and hit[0] is document:  # the same spec object: the common case, no hashing
        return hit[1]
    key = orjson.dumps(document)
    compiled = _BY_TEXT.get(key)
    if compiled is None:
        compiled, problems = compile_mapping(document, "mapping", None)
        if compiled is None:
            raise MappingError("; ".join(f"{p.path}: {p.message}" for p in problems))
        _BY_TEXT[key] = compiled
        if len(_BY_TEXT) > _CACHE_SIZE:
            _BY_TEXT.popitem(last=False)
    if len(_BY_ID) >= _CACHE_SIZE:
        _BY_ID.clear()
    _BY_ID[id(document)] = (document, compiled)  # holding the document keeps its id from being reused
    return compiled


def key_path(path: str, key: str) -> str:
    """``mapping."contact.email"``: a destination path with dots is quoted to stay one step."""
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}"
    return f'{path}."{key}"'


def _reads(spec: Any) -> Reads:
    """The lead fields a (valid) mapping value is made from: a template's ``lead.x``, a reference's field,
    both branches of a choice (the condition only picks one)."""
    if isinstance(spec, str):
        return lead_fields(spec) if is_template(spec) else frozenset()
    if isinstance(spec, dict) and "when" in spec:
        parts = [_reads(spec[key]) for key in ("value", "else") if key in spec]
        if any(part is None for part in parts):
            return None
        return frozenset().union(*(part for part in parts if part is not None))
    if isinstance(spec, dict) and "field" in spec:
        return frozenset({spec["field"]})
    return frozenset()


def _constant(value: Any) -> Node:
    return lambda values, scope: value


def _always(values: Values) -> int:
    return 0


class _Compiler:
    def __init__(self, fields: Collection[str] | None) -> None:
        self.fields = fields
        self.problems: list[ConfigProblem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def document(self, doc: Any, path: str) -> CompiledMapping | None:
        if isinstance(doc, dict):
            canonical, entries = self.mapping(doc, path)
            return CompiledMapping(canonical, _always, (entries,), (self.reads_of(doc, entries),))
        if not isinstance(doc, list) or not doc:
            self.fail(path, "must be a mapping of destination paths to values, or a list of {when, mapping}")
            return None
        documents: list[dict[str, Any]] = []
        tests: list[Callable[[Values], bool] | None] = []
        branches: list[tuple[tuple[str, Node], ...]] = []
        reads: list[tuple[Reads, ...]] = []
        for i, item in enumerate(doc):
            where = f"{path}[{i}]"
            if not isinstance(item, dict):
                self.fail(where, "must be a mapping: {when: <condition>, mapping: {...}}")
                continue
            for key in item:
                if key not in ("when", "mapping"):
                    self.fail(f"{where}.{key}", f"unknown key{suggest(key, ('when', 'mapping'))}")
            entry: dict[str, Any] = {}
            test: Callable[[Values], bool] | None = None
            if item.get("when") is not None:
                condition = self.condition(item["when"], f"{where}.when")
                if condition is not None:
                    entry["when"] = canonical_condition(condition)
                    test = compile_condition(condition)
            elif i < len(doc) - 1:
                self.fail(f"{where}.when", "required: only the last entry may leave out 'when' (the default)")
            body = item.get("mapping")
            if not isinstance(body, dict):
                self.fail(f"{where}.mapping", "required: a mapping of destination paths to values")
                continue
            entry["mapping"], entries = self.mapping(body, f"{where}.mapping")
            documents.append(entry)
            tests.append(test)
            branches.append(entries)
            reads.append(self.reads_of(body, entries))

        def choose(values: Values) -> int:
            for index, test in enumerate(tests):
                if test is None or test(values):
                    return index
            return -1

        return CompiledMapping(documents, choose, tuple(branches), tuple(reads))

    def reads_of(self, doc: dict[Any, Any], entries: tuple[tuple[str, Node], ...]) -> tuple[Reads, ...]:
        return tuple(_reads(doc[key]) for key, _ in entries)

    def mapping(self, doc: dict[Any, Any], path: str) -> tuple[dict[str, Any], tuple[tuple[str, Node], ...]]:
        if not doc:
            self.fail(path, "must not be empty")
        canonical: dict[str, Any] = {}
        entries: list[tuple[str, Node]] = []
        for key, spec in doc.items():
            if not isinstance(key, str):
                self.fail(f"{path}.{key}", "a destination path must be text, e.g. contact.email")
                continue
            where = key_path(path, key)
            segments = key.split(".")
            if any(not part or part != part.strip() for part in segments):
                self.fail(where, f"invalid destination path '{key}': no empty parts or spaces around dots")
                continue
            for end in range(1, len(segments)):
                parent = ".".join(segments[:end])
                if parent in doc:
                    self.fail(where, f"'{parent}' has a value of its own, so it cannot also hold '{key}'")
            compiled = self.value(spec, where, 0)
            if compiled is not None:
                canonical[key] = compiled[0]
                entries.append((key, compiled[1]))
        return canonical, tuple(entries)

    def value(self, spec: Any, where: str, depth: int) -> tuple[Any, Node] | None:
        if isinstance(spec, str):
            if is_template(spec):
                render, problems = compile_template(spec, self.fields)
                for message in problems:
                    self.fail(where, message)
                return (spec, lambda values, scope: render(scope)) if render is not None else None
            return spec, _constant(spec)
        if isinstance(spec, float) and not math.isfinite(spec):
            self.fail(where, "must be a finite number")
            return None
        if spec is None or isinstance(spec, bool | int | float):
            return spec, _constant(spec)
        if isinstance(spec, dict) and "when" in spec:
            return self.choice(spec, where, depth)
        if isinstance(spec, dict) and "field" in spec:
            return self.reference(spec, where)
        if isinstance(spec, dict) and list(spec) == ["value"]:
            constant = spec["value"]
            if constant is not None and not isinstance(constant, str | bool | int | float):
                self.fail(f"{where}.value", "a constant is text, a number, true/false or null")
                return None
            return {"value": constant}, _constant(constant)
        self.fail(where, _VALUE_SHAPE)
        return None

    def keys(self, spec: dict[Any, Any], where: str, allowed: tuple[str, ...]) -> bool:
        extra = [key for key in spec if key not in allowed]
        for key in extra:
            self.fail(f"{where}.{key}", f"unknown key{suggest(key, allowed)}")
        return not extra

    def reference(self, spec: dict[Any, Any], where: str) -> tuple[Any, Node] | None:
        ok = self.keys(spec, where, ("field", "default"))
        name, default = spec["field"], spec.get("default")
        if not isinstance(name, str) or not name:
            self.fail(f"{where}.field", "must be a field name")
            return None
        if self.fields is not None and name not in self.fields:
            self.fail(f"{where}.field", unknown("field", name, self.fields))
            ok = False
        if default is not None and not isinstance(default, str | bool | int | float):
            self.fail(f"{where}.default", "a default is text, a number, true/false or null")
            ok = False
        if not ok:
            return None
        canonical = {"field": name, **({"default": default} if "default" in spec else {})}

        def read(values: Values, scope: dict[str, Any]) -> Any:
            found = values.get(name)
            return default if found is None else found

        return canonical, read

    def choice(self, spec: dict[Any, Any], where: str, depth: int) -> tuple[Any, Node] | None:
        if depth >= MAX_DEPTH:
            self.fail(where, f"conditional values nest too deeply (more than {MAX_DEPTH} levels)")
            return None
        ok = self.keys(spec, where, ("when", "value", "else"))
        condition = self.condition(spec["when"], f"{where}.when")
        if "value" not in spec:
            self.fail(f"{where}.value", "required: the value when the condition holds")
            return None
        then = self.value(spec["value"], f"{where}.value", depth + 1)
        otherwise = self.value(spec["else"], f"{where}.else", depth + 1) if "else" in spec else None
        if not ok or condition is None or then is None or ("else" in spec and otherwise is None):
            return None
        canonical = {"when": canonical_condition(condition), "value": then[0]}
        test, yes = compile_condition(condition), then[1]
        no: Node = otherwise[1] if otherwise is not None else _constant(_OMIT)
        if otherwise is not None:
            canonical["else"] = otherwise[0]
        return canonical, lambda values, scope: yes(values, scope) if test(values) else no(values, scope)

    def condition(self, data: Any, where: str) -> Condition | None:
        condition, problems = check_condition(data, where)
        self.problems.extend(problems)
        if condition is not None and self.fields is not None:
            before = len(self.problems)
            self.condition_fields(data, where, self.fields)
            if len(self.problems) > before:
                return None
        return condition

    def condition_fields(self, data: Any, where: str, fields: Collection[str]) -> None:
        """Every leaf's field is a field of some entity (the parser alone cannot know which entity)."""
        if not isinstance(data, dict):
            return
        for key in ("all", "any"):
            for i, item in enumerate(data.get(key) or ()):
                self.condition_fields(item, f"{where}.{key}[{i}]", fields)
        if "not" in data:
            self.condition_fields(data["not"], f"{where}.not", fields)
        name = data.get("field")
        if isinstance(name, str) and name not in fields:
            self.fail(f"{where}.field", unknown("field", name, fields))
