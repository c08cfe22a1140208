"""The sandboxed Jinja2 environment of partner mappings, and how one mapping template is checked and compiled.

Mapping templates come from operators' configuration and run for every lead, so they get an
``ImmutableSandboxedEnvironment`` with no globals, no loader, only the filters of ``transforms`` and a size
limit on ``*`` and ``**``. Its undefined value is empty for a field this lead lacks but raises at once when
the sandbox refuses an attribute: Jinja's default would print an unsafe ``''.__class__`` as "", hiding it.
What can be refused before any lead arrives (unknown filters, names and fields, private attributes) is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, meta, nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError, TemplateRuntimeError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from leadrelay.domain.suggestions import suggest, unknown
from leadrelay.templating.transforms import FILTERS, check_pattern, text

__all__ = ["ENV", "NAMES", "Fields", "Render", "compile_template", "is_template", "lead_fields"]

Render = Callable[[Mapping[str, Any]], Any]
"""A compiled template: the variables (``lead`` and ``NAMES``) -> its value."""
# the variables a template may use; ``ping`` is the bid a post follows ({reference, price}, empty if none);
# ``postback`` the delivery's signed postback URL ({url}: services.postback_links)
NAMES = frozenset({"lead", "lead_id", "entity", "partner", "test", "ping", "postback"})
MAX_SIZE = 10_000  # the longest text or list ``*`` may build
MAX_EXPONENT = 100


class Fields:
    """``lead`` in a template: its fields by attribute or key, and nothing else (a dict's methods would
    shadow fields called ``items`` or ``values``)."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values


class _Undefined(Undefined):
    """Empty for an absent field; an immediate ``SecurityError`` for an attribute the sandbox refuses."""

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[TemplateRuntimeError] = UndefinedError,
    ) -> None:
        if exc is not UndefinedError:
            raise exc(hint or f"access to {name!r} is not allowed")
        if isinstance(obj, Fields) and hint is None:
            hint = f"the lead has no field {name!r}"
        super().__init__(hint, obj, name, exc)


class _MappingEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent over {MAX_EXPONENT}")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(count, int)
                    and len(seq) * count > MAX_SIZE
                ):
                    raise SecurityError(f"'*' would build more than {MAX_SIZE} items")
        return super().call_binop(context, operator, left, right)


ENV = _MappingEnvironment(autoescape=False, undefined=_Undefined, finalize=text)
ENV.globals.clear()  # no range, cycler, joiner, namespace, lipsum or dict: a mapping needs none of them
ENV.filters = dict(FILTERS)


def is_template(value: str) -> bool:
    return "{{" in value or "{%" in value or "{#" in value


def native(result: Any) -> Any:
    """The value of a one-expression template: scalars keep their type, lists stay lists, else text."""
    if isinstance(result, Undefined):
        return None
    if result is None or isinstance(result, bool | int | float):
        return result
    if isinstance(result, list | tuple):
        return [native(item) for item in result]
    return text(result)


def compile_template(
    source: str, fields: Collection[str] | None, *, direct: bool = True
) -> tuple[Render | None, list[str]]:
    """The compiled template, or None and what is wrong with it (with ``fields``, ``lead.x`` must be one).

    A template that is exactly one expression (``{{ lead.age }}``) is evaluated as that expression and
    keeps its native type; any other renders to text. ``direct``: a variable's field through filters with
    literal arguments, the commonest mapping value, is read without Jinja's machinery when the variable
    holds it (:func:`_direct`: the same value, a fraction of the cost).
    """
    try:
        tree = ENV.parse(source)
    except TemplateSyntaxError as exc:
        return None, [f"invalid template: {_syntax(exc)}"]
    problems = _inspect(tree, fields)
    if problems:
        return None, problems
    try:
        body = tree.body
        if len(body) == 1 and isinstance(body[0], nodes.Output) and len(body[0].nodes) == 1:
            expression = body[0].nodes[0]
            if not isinstance(expression, nodes.TemplateData):
                # read as parsed: compiling (the analysis above too) lets Jinja's optimizer fold constants
                plan = _direct_plan(_expression(ENV.parse(source))) if direct else None
                assign = nodes.Assign(nodes.Name("result", "store"), expression, lineno=1)
                run = TemplateExpression(ENV.from_string(nodes.Template([assign], lineno=1)), False)

                def evaluate(scope: Mapping[str, Any]) -> Any:
                    return native(run(**scope))

                return (_direct(plan, evaluate) if plan is not None else evaluate), []
        template = ENV.from_string(source)
    except TemplateSyntaxError as exc:  # what only the compiler finds
        return None, [f"invalid template: {_syntax(exc)}"]
    return template.render, []


_Plan = tuple[str, str, tuple[tuple[Callable[..., Any], tuple[Any, ...]], ...]]
# (the variable, its key, the filters in the order they apply, each with its constant arguments)


def _direct_plan(expression: nodes.Expr) -> _Plan | None:
    """What :func:`_direct` reads, for an expression as parsed (not yet optimized): a variable's attribute or
    key (``{{ lead.x }}``, ``{{ lead['x'] }}``, ``{{ ping.reference }}``) through filters whose arguments
    are literal text, whole numbers, finite floats, booleans or none (``{{ lead.phone | e164 }}``,
    ``{{ lead.dob | date('%m/%d/%Y') }}``), each filter taking the value alone (none that Jinja hands a
    context or the environment). None for any other expression."""
    chain: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
    node: nodes.Node | None = expression
    while isinstance(node, nodes.Filter):
        consts = [a for a in node.args if isinstance(a, nodes.Const) and _plain(a.value)]
        if node.kwargs or node.dyn_args or node.dyn_kwargs or len(consts) != len(node.args):
            return None
        apply = ENV.filters[node.name]
        if getattr(apply, "jinja_pass_arg", None) is not None:  # Jinja would pass it a context first
            return None
        chain.append((apply, tuple(c.value for c in consts)))
        node = node.node
    if isinstance(node, nodes.Getattr):
        key = node.attr
    elif (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        key = node.arg.value
    else:
        return None
    if not isinstance(node.node, nodes.Name):
        return None
    variable = node.node.name
    if variable != "lead" and hasattr(dict, key):  # ping.items is the dict's method to Jinja
        return None
    return variable, key, tuple(reversed(chain))


def _expression(tree: nodes.Template) -> nodes.Expr:
    """The one expression of a template that is one expression."""
    (output,) = tree.body
    assert isinstance(output, nodes.Output)
    (expression,) = output.nodes
    return expression


def _plain(value: Any) -> bool:
    """A literal Jinja writes into its code as itself (an infinite float it writes as ``inf``, a name
    that fails when the template runs)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, str | int)


def _direct(plan: _Plan, evaluate: Render) -> Render:
    """The plan's value as a plain function: when the variable holds the key as plain data (``lead`` is
    :class:`Fields`, the other variables dicts), what Jinja's sandbox would read there, through the same
    filter functions, made native; anything else (a missing field, another type) goes through Jinja
    (``evaluate``), which decides what it gives. The sandbox has nothing to guard on that path: the
    value is data and the filters are ours."""
    variable, key, chain = plan
    holder_type = Fields if variable == "lead" else dict

    def read(scope: Mapping[str, Any]) -> Any:
        holder = scope.get(variable)
        if type(holder) is not holder_type or key not in holder:
            return evaluate(scope)
        value = holder[key]
        for apply, args in chain:
            value = apply(value, *args)
        return native(value)

    return read


def lead_fields(source: str) -> frozenset[str] | None:
    """The lead fields a (valid) template reads; None when it may read any (``lead[name]`` with a name
    computed at run time, or ``lead`` itself handed on)."""
    tree = ENV.parse(source)
    names: set[str] = set()
    direct = 0
    accesses: list[nodes.Getattr | nodes.Getitem] = [*tree.find_all(nodes.Getattr)]
    accesses += tree.find_all(nodes.Getitem)
    for item in accesses:
        if not (isinstance(item.node, nodes.Name) and item.node.name == "lead"):
            continue
        direct += 1
        if isinstance(item, nodes.Getattr):
            names.add(item.attr)
        elif isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str):
            names.add(item.arg.value)
        else:
            return None
    uses = sum(1 for name in tree.find_all(nodes.Name) if name.name == "lead")
    return frozenset(names) if uses == direct else None


def _inspect(tree: nodes.Template, fields: Collection[str] | None) -> list[str]:
    """What would fail (or be unsafe) for every lead: unknown filters, tests, names and fields, private
    attributes, other templates, a ``format`` pattern with more than ``{}``."""
    problems: list[str] = []
    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        problems.append(f"invalid template: line {node.lineno}: a mapping value cannot use other templates")
    for flt in tree.find_all(nodes.Filter):
        if flt.name not in ENV.filters:
            problems.append(unknown("filter", flt.name, ENV.filters))
        elif flt.name == "format" and flt.args and isinstance(flt.args[0], nodes.Const):
            try:
                check_pattern(flt.args[0].value)
            except ValueError as exc:
                problems.append(str(exc))
    for test in tree.find_all(nodes.Test):
        if test.name not in ENV.tests:
            problems.append(unknown("test", test.name, ENV.tests))
    accesses: list[nodes.Getattr | nodes.Getitem] = [*tree.find_all(nodes.Getattr)]
    accesses += tree.find_all(nodes.Getitem)
    for item in accesses:
        if isinstance(item, nodes.Getattr):
            attr: str | None = item.attr
        else:
            attr = (
                item.arg.value
                if isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str)
                else None
            )
        if attr is None:
            continue
        on_lead = isinstance(item.node, nodes.Name) and item.node.name == "lead"
        if attr.startswith("_") and not (on_lead and isinstance(item, nodes.Getitem)):
            problems.append(f"access to '{attr}' is not allowed")
        elif on_lead and fields is not None and attr not in fields:
            problems.append(unknown("field", attr, fields))
    try:  # 'self' is Jinja's own (the template), not a variable: the analysis does not see it
        names = meta.find_undeclared_variables(tree) - NAMES
        names |= {name.name for name in tree.find_all(nodes.Name) if name.name == "self"}
    except TemplateSyntaxError:  # the analysis compiles the tree: an unknown filter, already reported
        names = set()
    for name in sorted(names):
        problems.append(f"unknown name '{name}'{suggest(name, NAMES)}; a field is lead.<field>")
    return problems


def _syntax(exc: TemplateSyntaxError) -> str:
    return f"line {exc.lineno}: {exc.message}" if exc.lineno else str(exc.message)
