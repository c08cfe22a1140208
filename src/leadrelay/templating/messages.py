"""Email subject and body templates: their sandbox, the check made when a configuration is applied, and
the cache of compiled templates the email channel renders with.

Templates come from operators' configuration, so they run in an ``ImmutableSandboxedEnvironment`` (no
Python internals, no mutation of the lead).
"""

from __future__ import annotations

from jinja2 import Template, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["ENVIRONMENTS", "TemplateCache", "check_template"]

_CACHE_SIZE = 256

ENVIRONMENTS = {
    False: ImmutableSandboxedEnvironment(autoescape=False),
    True: ImmutableSandboxedEnvironment(autoescape=True),
}  # by autoescape: HTML bodies escape the lead's values


def check_template(source: str) -> str | None:
    """The error in a template ("line 3: unexpected '}'", an unknown filter…) or None when it compiles."""
    try:
        ENVIRONMENTS[False].compile(source)
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}" if exc.lineno else str(exc.message)
    return None


class TemplateCache:
    """Compiled templates by source and autoescape, the oldest dropped beyond a bound."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[bool, str], Template] = {}

    def get(self, source: str, autoescape: bool) -> Template:
        key = (autoescape, source)
        template = self._compiled.get(key)
        if template is None:
            template = ENVIRONMENTS[autoescape].from_string(source)
            if len(self._compiled) >= _CACHE_SIZE:
                self._compiled.pop(next(iter(self._compiled)))
            self._compiled[key] = template
        return template
