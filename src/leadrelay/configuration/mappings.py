"""A webhook's ``mapping`` / ``mappings`` as configuration: checked when applied, stored canonical.

The templates, references and conditions are checked by ``leadrelay.templating.mapping``; here the
shape of the two keys, and a dry build of each branch's body, so that paths which cannot make a body of
the webhook's format (two XML roots, a path under a value) are refused now rather than at every delivery.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from leadrelay.domain.delivery import build_body
from leadrelay.errors import ConfigProblem
from leadrelay.templating.mapping import CompiledMapping, compile_mapping

__all__ = ["check_mappings"]

_SHAPES: tuple[tuple[str, type, str], ...] = (
    ("mapping", dict, "a mapping of destination paths to values"),
    ("mappings", list, "a list of {when, mapping}, the last one without 'when' as the default"),
)


def check_mappings(
    hook: Any, path: str, fields: Collection[str] | None
) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """The canonical ``mapping`` and ``mappings`` given in a raw webhook document, and the problems.

    ``fields`` are the fields a template or condition may name (every entity's), None when not known.
    """
    canonical: dict[str, Any] = {}
    problems: list[ConfigProblem] = []
    for key, kind, shape in _SHAPES:
        doc = hook.get(key) if isinstance(hook, dict) else None
        if doc is None:
            continue
        if not isinstance(doc, kind):
            problems.append(ConfigProblem(f"{path}.{key}", f"must be {shape}"))
            continue
        compiled, found = compile_mapping(doc, f"{path}.{key}", fields)
        problems.extend(found)
        if compiled is not None:
            problems.extend(_body_shape(compiled, hook.get("format"), f"{path}.{key}"))
            canonical[key] = compiled.document
    return canonical, problems


def _body_shape(compiled: CompiledMapping, fmt: Any, path: str) -> list[ConfigProblem]:
    fmt = fmt if fmt in ("json", "form", "xml") else "json"
    branches = compiled.document if isinstance(compiled.document, list) else [{"mapping": compiled.document}]
    problems: list[ConfigProblem] = []
    for i, entry in enumerate(branches):
        where = f"{path}[{i}].mapping" if isinstance(compiled.document, list) else path
        try:
            build_body(fmt, dict.fromkeys(entry["mapping"], "x"))
        except (TypeError, ValueError) as exc:
            problems.append(ConfigProblem(where, f"cannot make the {fmt} body: {exc}"))
    return problems
