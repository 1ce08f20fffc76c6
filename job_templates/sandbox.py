"""A Django template engine for templates that staff type into job parameters.

Such templates are rendered by workers and by the wizard's preview inside a web
request, so a typo or a hostile line must not be able to build gigabytes of
text, loop for minutes or reach other templates. The engine therefore knows
only an allowlist of tags and filters, refuses unknown ones when the template
is compiled, and renders under a `RenderBudget` that caps the output size, the
size of any value a filter makes, the number of loop iterations and the time.

Each cap is enforced where the work happens (filter calls, loop iterations,
node outputs), before the work can grow further, so going over a cap costs
about as much as reaching it.
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

from django.template import (
    Context,
    Engine,
    Library,
    TemplateSyntaxError,
    defaultfilters,
    defaulttags,
)
from django.template.base import (
    FilterExpression,
    Lexer,
    Node,
    NodeList,
    Parser,
    Template,
    Token,
)
from django.template.defaulttags import (
    AutoEscapeControlNode,
    FilterNode,
    ForNode,
    IfChangedNode,
    IfNode,
    SpacelessNode,
    WithNode,
)

from job_templates.base import TemplateError


@dataclass(frozen=True)
class Limits:
    """The caps of one render budget.

    `output_chars` bounds each rendered part and every value a filter makes:
    a value larger than the whole output may be could never be shown anyway.
    """

    output_chars: int = 200_000
    loop_iterations: int = 10_000
    seconds: float = 2.0
    width: int = 1_000


LIMITS = Limits()

# Tags whose only output is their children's output, which is charged already.
CONTAINER_NODES: tuple[type[Node], ...] = (
    AutoEscapeControlNode,
    FilterNode,
    ForNode,
    IfChangedNode,
    IfNode,
    SpacelessNode,
    WithNode,
)
# Left out: load, include, extends, block, debug (other templates, libraries,
# the whole context), lorem, widthratio (output sized by an argument), url,
# csrf_token, querystring (need a request or URLconf), and verbatim and
# templatetag (verbatim renders at compile time, outside any budget).
ALLOWED_TAGS = (
    "autoescape",
    "comment",
    "cycle",
    "filter",
    "firstof",
    "for",
    "if",
    "ifchanged",
    "now",
    "regroup",
    "resetcycle",
    "spaceless",
    "with",
)
# Left out: filters with known regex or recursion costs (urlize, urlizetrunc,
# striptags, truncatechars_html, truncatewords_html, unordered_list), filters
# that show internals or are pointless in an email (pprint, json_script,
# random, escapejs, addslashes, phone2numeric, get_digit, linenumbers, safeseq,
# escapeseq, iriencode).
ALLOWED_FILTERS = (
    "add",
    "capfirst",
    "center",
    "cut",
    "date",
    "default",
    "default_if_none",
    "dictsort",
    "dictsortreversed",
    "divisibleby",
    "escape",
    "filesizeformat",
    "first",
    "floatformat",
    "force_escape",
    "join",
    "last",
    "length",
    "linebreaks",
    "linebreaksbr",
    "ljust",
    "lower",
    "make_list",
    "pluralize",
    "rjust",
    "safe",
    "slice",
    "slugify",
    "stringformat",
    "time",
    "timesince",
    "timeuntil",
    "title",
    "truncatechars",
    "truncatewords",
    "upper",
    "urlencode",
    "wordcount",
    "wordwrap",
    "yesno",
)
# Filters whose output grows with a numeric argument rather than with the value.
WIDTH_FILTERS = ("center", "floatformat", "ljust", "rjust", "stringformat", "wordwrap")
# Block tags that close or split another tag; an unknown one is a syntax error.
STRUCTURE_TAGS = ("else", "elif", "empty")


class TemplateRefused(TemplateSyntaxError):
    """A construct outside the allowlist; the message is meant for the user as is."""


class LimitExceeded(TemplateError):
    """A sandboxed render went over a cap; the message names the cap."""


_active: contextvars.ContextVar[RenderBudget | None] = contextvars.ContextVar(
    "sandbox_render_budget", default=None
)


class RenderBudget:
    """The caps shared by the parts of one rendering job (subject, body, HTML).

    The clock and the loop counter run across all parts, so one email cannot
    spend the time cap once per part; the output cap applies to each part.
    """

    def __init__(self, limits: Limits = LIMITS) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds
        self.iterations = 0
        self.output_chars = 0

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(
                f"Stopped at the time cap: rendering took more than "
                f"{self.limits.seconds:g} s."
            )

    def loop_iteration(self) -> None:
        self.iterations += 1
        if self.iterations > self.limits.loop_iterations:
            raise LimitExceeded(
                f"Stopped at the loop cap: more than {self.limits.loop_iterations} "
                "{% for %} iterations in all."
            )
        self.check_time()

    def charge_output(self, chars: int) -> None:
        self.output_chars += chars
        if self.output_chars > self.limits.output_chars:
            raise LimitExceeded(
                f"Stopped at the output cap: more than {self.limits.output_chars} "
                "characters."
            )
        self.check_time()

    def check_value(self, filter_name: str, value: Any) -> None:
        if isinstance(value, str | list | tuple):
            size = len(value)
        else:
            return
        if size > self.limits.output_chars:
            raise LimitExceeded(
                f"Stopped at the output cap: the filter '{filter_name}' made a "
                f"value of {size} characters or items; the cap is "
                f"{self.limits.output_chars}."
            )

    @contextmanager
    def active(self) -> Iterator[RenderBudget]:
        token = _active.set(self)
        try:
            yield self
        finally:
            _active.reset(token)

    def render(self, template: SandboxTemplate, context: dict[str, Any]) -> str:
        """Render one part; its output counts from zero, the clock does not.

        The Context takes the engine's autoescape, so a plain-text engine does
        not HTML-escape values (a bare Context would).
        """
        self.output_chars = 0
        with self.active():
            try:
                return template.render(
                    Context(context, autoescape=template.engine.autoescape)
                )
            except RecursionError:
                raise LimitExceeded("The template is nested too deeply.") from None


def current_budget() -> RenderBudget:
    budget = _active.get()
    if budget is None:  # fail closed: never render sandboxed nodes uncapped
        raise LimitExceeded("A sandboxed template was rendered without a budget.")
    return budget


class MeteredNode(Node):
    """One parsed node, rendered against the active budget.

    Every render checks the clock; leaf output (text, variables, cycle, now…)
    is charged to the output cap, while containers are not, as their output is
    their children's.
    """

    child_nodelists = ("nodelist",)

    def __init__(self, node: Node) -> None:
        self.nodelist = NodeList([node])
        self.charge = not isinstance(node, CONTAINER_NODES)

    def render(self, context: Context) -> str:
        budget = current_budget()
        budget.check_time()
        output = self.nodelist[0].render_annotated(context)
        if self.charge:
            budget.charge_output(len(output))
        return output


class LoopTick(Node):
    """Put first in every loop body, so each iteration is counted, even if empty."""

    child_nodelists = ()

    def render(self, context: Context) -> str:
        current_budget().loop_iteration()
        return ""


def width_problem(filter_name: str, arg: Any, limit: int) -> str | None:
    """Why `arg` is refused as the width or precision of `filter_name`, if it is."""
    text = str(arg)
    if filter_name == "stringformat":
        numbers = re.findall(r"\d+", text)
    elif filter_name == "floatformat":
        numbers = re.findall(r"\d+", text)[:1]
    else:
        numbers = re.findall(r"^\s*[-+]?(\d+)\s*$", text)
    for number in numbers:
        if len(number) > 9 or int(number) > limit:
            shown = number if len(number) <= 20 else f"{number[:20]}…"
            return (
                f"The filter '{filter_name}' was given a width of {shown}; "
                f"the width cap is {limit}."
            )
    return None


def join_size(value: Any, separator: Any) -> int:
    """The length `join` would produce, worked out without building it."""
    try:
        items = list(value)
    except TypeError:
        return 0
    gaps = max(len(items) - 1, 0)
    return sum(len(str(item)) for item in items) + gaps * len(str(separator))


def sandboxed_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` checked against the active budget before and after it runs.

    functools.wraps copies Django's flags (is_safe, needs_autoescape,
    expects_localtime) and lets the parser check arguments on the original.
    """

    @functools.wraps(func)
    def wrapper(value: Any, *args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        budget.check_time()
        if args and name in WIDTH_FILTERS:
            problem = width_problem(name, args[0], budget.limits.width)
            if problem:
                raise LimitExceeded(problem)
        if args and name == "join":
            size = join_size(value, args[0])
            if size > budget.limits.output_chars:
                raise LimitExceeded(
                    f"Stopped at the output cap: the filter 'join' would make a "
                    f"value of {size} characters; the cap is "
                    f"{budget.limits.output_chars}."
                )
        result = func(value, *args, **kwargs)
        budget.check_value(name, result)
        return result

    return wrapper


def sandboxed_for(parser: Parser, token: Token) -> Node:
    node = defaulttags.do_for(parser, token)
    node.nodelist_loop.insert(0, LoopTick())
    return node


def build_library() -> Library:
    library = Library()
    for name in ALLOWED_TAGS:
        library.tags[name] = defaulttags.register.tags[name]
    library.tags["for"] = sandboxed_for
    for name in ALLOWED_FILTERS:
        library.filters[name] = sandboxed_filter(
            name, defaultfilters.register.filters[name]
        )
    return library


LIBRARY = build_library()


class SandboxParser(Parser):
    """Refuses what is not allowlisted with a message fit for the user."""

    def __init__(self, tokens: list[Token], *, engine: SandboxEngine, origin) -> None:
        super().__init__(tokens, {}, engine.template_builtins, origin)
        self.label = engine.label
        self.width = engine.limits.width

    def invalid_block_tag(
        self, token: Token, command: str, parse_until: list[str] | None = None
    ) -> NoReturn:
        if command.startswith("end") or command in STRUCTURE_TAGS:
            super().invalid_block_tag(token, command, parse_until)
        raise self.error(
            token,
            TemplateRefused(f"The tag '{command}' is not allowed in {self.label}."),
        )

    def find_filter(self, filter_name: str) -> Callable[..., Any]:
        if filter_name not in self.filters:
            raise TemplateRefused(
                f"The filter '{filter_name}' is not allowed in {self.label}."
            )
        return self.filters[filter_name]

    def compile_filter(self, token: str) -> FilterExpression:
        """Refuses a literal width over the cap now, whatever branch it sits in."""
        expression = super().compile_filter(token)
        for func, args in expression.filters:
            name = getattr(func, "_filter_name", "")
            if name in WIDTH_FILTERS and args and not args[0][0]:
                problem = width_problem(name, args[0][1], self.width)
                if problem:
                    raise TemplateRefused(problem)
        return expression

    def extend_nodelist(self, nodelist: NodeList, node: Node, token: Token) -> None:
        super().extend_nodelist(nodelist, node, token)
        metered = MeteredNode(node)
        metered.token, metered.origin = token, self.origin
        nodelist[-1] = metered


class SandboxTemplate(Template):
    engine: SandboxEngine

    def compile_nodelist(self) -> NodeList:
        parser = SandboxParser(
            Lexer(self.source).tokenize(), engine=self.engine, origin=self.origin
        )
        nodelist = parser.parse()
        self.extra_data = parser.extra_data
        return nodelist

    def render(self, context: Context) -> str:
        if _active.get() is None:
            with RenderBudget(self.engine.limits).active():
                return super().render(context)
        return super().render(context)


class SandboxEngine(Engine):
    """No loaders, no libraries, and only the allowlisted tags and filters.

    `label` names the templates in refusals ("…is not allowed in email
    templates").
    """

    def __init__(
        self, *, label: str, autoescape: bool, limits: Limits = LIMITS
    ) -> None:
        super().__init__(loaders=[], libraries={}, autoescape=autoescape)
        self.template_builtins = [LIBRARY]
        self.label = label
        self.limits = limits

    def from_string(self, template_code: str) -> SandboxTemplate:
        """Compile `template_code`; TemplateRefused for what is not allowed."""
        try:
            return SandboxTemplate(template_code, engine=self)
        except RecursionError:
            raise TemplateRefused("The template is nested too deeply.") from None
