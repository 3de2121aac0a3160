"""Notification text: the default wording and the templates users write instead.

Each channel turns an ``AlertEvent`` into a ``Notification`` with a title and
a text, rendered from Jinja2 templates: the channel's own (fields ``title``
and ``text`` of its configuration) or the defaults of its ``language``
(``en`` or ``tr``, English unless the channel says otherwise). Defaults exist
for a firing, a resolved and a test notification, each for one monitor and
for a group of several.

Variables a template can read:

``monitor``
    The monitor the notification is about: ``id``, ``name``, ``kind``,
    ``target`` and ``tags`` (a list). For a group, the group itself.
``state``, ``previous_state``
    The state now and before the change (``up``, ``down``, ``pending``...).
``reason``, ``message``
    Why a check failed (``connect``, ``timeout``, ``status``...) and what it
    said; empty when nothing failed.
``status``
    ``firing``, ``resolved`` or ``test``.
``started_at``, ``duration``
    When the problem began and how long it has lasted (or lasted, once
    resolved), written for people: ``2024-05-01 12:00:00 UTC`` and ``3m 20s``
    (``3 dakika 20 saniye`` in Turkish).
``at``
    When the notification was made, in the same form as ``started_at``.
``link``
    An address of the monitor on the platform, when its public URL is
    configured; empty otherwise.
``members``
    The monitors the notification is about, each with the fields of
    ``monitor`` and its own ``state``, ``reason`` and ``message``: one entry
    for a single monitor, the group's members for a group (at most
    ``MAX_MEMBERS`` of them).
``count``
    How many monitors the notification is about, the ones left out of
    ``members`` included.

Templates come from users, so they run in Jinja2's immutable sandbox, which
refuses internals (``__class__`` and every other name starting with ``_``)
and changes to lists and mappings, and under limits. What the limits
guarantee, for any template that passed ``template_errors``:

1. A render stops with ``RenderError`` after ``MAX_STEPS`` steps (each loop
   round, call and filter is one) or ``RENDER_SECONDS`` of work, whichever
   comes first. Between two steps there are at most as many operations as
   the template has expressions, each on values within the size limit, so
   the clock is overshot by milliseconds.
2. No template writes more than ``MAX_OUTPUT_CHARS`` characters, counting
   what it writes into ``{% set %}`` and ``{% filter %}`` blocks.
3. No value a template builds (a string, list or mapping, by an operator, a
   literal, a method or a filter) is kept if it weighs more than
   ``MAX_VALUE_CHARS`` characters. Operations that multiply sizes (``*``,
   ``**``, ``%`` and ``format`` widths, ``replace``, ``join``, ``center``,
   ``indent``...) are checked before they run, so that memory is never
   taken; the others at most add their operands' sizes.
4. Macros, includes, imports, blocks, recursive loops, ``{% autoescape %}``
   and calls other than a short list of string and mapping methods are
   refused; so are the ``safe``, ``pprint``, ``random``, ``urlize`` and
   ``xmlattr`` filters. An HTML body therefore escapes every value.
"""

# Turkish wording has the dotless i, which the confusable-letter rule flags.
# ruff: noqa: RUF001

from __future__ import annotations

import functools
import hashlib
import logging
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final
from urllib.parse import quote

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2 import Template as JinjaTemplate
from jinja2.exceptions import SecurityError
from jinja2.ext import Extension
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from engine.errors import FieldError, ValidationError
from notify.message import FIRING, RESOLVED, STATUSES, TEST, Notification

logger = logging.getLogger(__name__)

LANGUAGES: Final = ("en", "tr")
DEFAULT_LANGUAGE: Final = "en"

MONITOR_FIELDS: Final = ("id", "name", "kind", "target", "tags")
MEMBER_FIELDS: Final = (*MONITOR_FIELDS, "state", "reason", "message")
VARIABLES: Final = (
    "monitor",
    "state",
    "previous_state",
    "reason",
    "message",
    "status",
    "started_at",
    "duration",
    "at",
    "link",
    "members",
    "count",
)

MAX_TEMPLATE_CHARS: Final = 10_000
"""The longest template a channel may hold."""

MAX_OUTPUT_CHARS: Final = 20_000
"""The most characters one render may write, buffered blocks included."""

MAX_VALUE_CHARS: Final = 1_000_000
"""The most characters one value built by a template may weigh.

Well above what the variables weigh (``MAX_MEMBERS`` members with their
messages cut to ``MAX_MESSAGE_CHARS``), so sorting or copying them is fine.
"""

MAX_STEPS: Final = 100_000
"""Loop rounds, calls and filters one render may take."""

RENDER_SECONDS: Final = 0.5
"""How long one render may run."""

MAX_RANGE: Final = 10_000
"""The most numbers ``range()`` may give a template."""

MAX_INT_BITS: Final = 4096
"""The largest integer ``*`` and ``**`` may make: big numbers are slow to make."""

MAX_MEMBERS: Final = 100
"""Group members a template sees; ``count`` still tells how many there were."""

MAX_MESSAGE_CHARS: Final = 2000
"""How much of a check's message a template sees."""

MAX_TITLE_CHARS: Final = 250
"""A title is one line of at most this many characters."""

TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S UTC"


class RenderError(ValueError):
    """A template could not be rendered: what went wrong, and on which line."""

    def __init__(self, problem: str, line: int | None = None) -> None:
        self.problem = problem
        self.line = line
        super().__init__(f"line {line}: {problem}" if line else problem)


@dataclass(frozen=True, slots=True)
class MonitorFacts:
    """A monitor as a notification tells of it."""

    id: str
    name: str
    kind: str = ""
    target: str = ""
    tags: tuple[str, ...] = ()
    state: str = ""
    reason: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """What a notification is about: one monitor's change, a group's, or a test.

    ``key`` and ``incident`` pass unchanged to the ``Notification`` (see
    there). ``members`` lists a group's monitors, two or more, and then
    ``monitor`` describes the group; it is empty when the notification is
    about ``monitor`` alone. ``started_at`` is when the problem began (the
    time of the notification when not given), ``at`` when this was made.
    """

    key: str
    incident: str
    status: str
    monitor: MonitorFacts
    at: float
    state: str = ""
    previous_state: str = ""
    reason: str = ""
    message: str = ""
    started_at: float | None = None
    members: tuple[MonitorFacts, ...] = ()
    severity: str = "critical"

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(
                f"status: must be one of {', '.join(STATUSES)}, got {self.status!r}"
            )


@dataclass(frozen=True, slots=True)
class ChannelTemplates:
    """How one channel words its notifications: a language and optional templates.

    A template left out (None) falls back to the language's default.
    """

    language: str = DEFAULT_LANGUAGE
    title: str | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        problem = language_problem(self.language)
        if problem is not None:
            raise ValidationError([FieldError("language", problem)])


def language_problem(value: Any) -> str | None:
    """What is wrong with ``value`` as a channel's language, or None."""
    if value in LANGUAGES:
        return None
    return f"must be one of {', '.join(LANGUAGES)}, got {value!r}"


def read_templates(
    config: Mapping[str, Any],
    errors: list[FieldError],
    *,
    title_field: str = "title",
    text_field: str = "text",
) -> ChannelTemplates:
    """A channel's ``language`` and templates, with each problem added to ``errors``.

    Channels name the title differently (an email has a subject), so the
    field names are the caller's. A bad field is reported and left out, so
    the caller can go on reading the rest of its configuration.
    """
    language = config.get("language")
    if language is None:
        language = DEFAULT_LANGUAGE
    problem = language_problem(language)
    if problem is not None:
        errors.append(FieldError("language", problem))
        language = DEFAULT_LANGUAGE

    sources: dict[str, str | None] = {}
    for name in (title_field, text_field):
        source = config.get(name)
        found = [] if source is None else template_errors(source, name)
        errors.extend(found)
        sources[name] = None if source is None or found else source
    return ChannelTemplates(language, sources[title_field], sources[text_field])


def template_errors(source: Any, field: str, *, html: bool = False) -> list[FieldError]:
    """Every problem with a user's template, each naming ``field`` and the line.

    Checked once, when the channel is configured: syntax, variables and
    filters that do not exist, and the constructs the sandbox refuses. A
    template that passes can still fail at render time (a limit, a value
    of the wrong type), and then ``render_notification`` uses the default.
    """
    if not isinstance(source, str) or not source.strip():
        return [FieldError(field, f"must be a non-empty template, got {source!r}")]
    if len(source) > MAX_TEMPLATE_CHARS:
        return [
            FieldError(
                field,
                f"must be at most {MAX_TEMPLATE_CHARS} characters, got {len(source)}",
            )
        ]
    try:
        _compiled(source, html, frozenset(VARIABLES))
    except _Refused as exc:
        return [FieldError(field, str(error)) for error in exc.errors]
    return []


def render(
    source: str,
    variables: Mapping[str, Any],
    *,
    html: bool = False,
    max_chars: int = MAX_OUTPUT_CHARS,
) -> str:
    """``source`` rendered with ``variables``, within the limits; or ``RenderError``.

    ``html`` picks the environment that escapes every value, for HTML
    bodies; the other leaves text as it is, for plain text and chat
    services that do their own escaping.
    """
    try:
        template = _compiled(source, html, frozenset(variables))
    except _Refused as exc:
        first = exc.errors[0]
        raise RenderError(first.problem, first.line) from None

    token = _BUDGET.set(_Budget(max_chars))
    try:
        return template.render(variables)
    except RenderError as exc:
        raise RenderError(exc.problem, exc.line or _template_line(exc)) from None
    except Exception as exc:
        # Anything a template does can raise (a type error, a division by
        # zero, an undefined value, a refused attribute): it is the
        # template's fault, told with its line.
        raise RenderError(_describe(exc), _template_line(exc)) from exc
    finally:
        _BUDGET.reset(token)


def render_notification(
    event: AlertEvent,
    templates: ChannelTemplates | None = None,
    *,
    public_url: str | None = None,
) -> Notification:
    """The ``Notification`` one channel sends about ``event``.

    A user's template that fails at render time is replaced by the
    language's default and the failure logged: an alert worded plainly is
    better than an alert never sent.
    """
    templates = templates or ChannelTemplates()
    variables = template_variables(event, templates.language, public_url=public_url)
    default_title, default_text = default_templates(
        templates.language, event.status, grouped=len(event.members) > 1
    )
    title = _render_part(event, "title", templates.title, default_title, variables)
    text = _render_part(event, "text", templates.text, default_text, variables)
    return Notification(
        key=event.key,
        incident=event.incident,
        status=event.status,
        title=_one_line(title),
        text=text.strip(),
        at=event.at,
        severity=event.severity,
        url=variables["link"] or None,
        fields=variables,
    )


def template_variables(
    event: AlertEvent, language: str = DEFAULT_LANGUAGE, *, public_url: str | None
) -> dict[str, Any]:
    """What templates may read about ``event``, as plain data (see the module)."""
    started = event.at if event.started_at is None else event.started_at
    members = event.members or (
        MonitorFacts(
            event.monitor.id,
            event.monitor.name,
            event.monitor.kind,
            event.monitor.target,
            event.monitor.tags,
            event.state,
            event.reason,
            event.message,
        ),
    )
    return {
        "monitor": _monitor_fields(event.monitor),
        "state": event.state,
        "previous_state": event.previous_state,
        "reason": event.reason,
        "message": _clip(event.message, MAX_MESSAGE_CHARS),
        "status": event.status,
        "started_at": human_time(started),
        "duration": human_duration(event.at - started, language),
        "at": human_time(event.at),
        "link": monitor_link(public_url, event.monitor.id) if public_url else "",
        "members": [_member_fields(member) for member in members[:MAX_MEMBERS]],
        "count": len(members),
    }


def default_templates(language: str, status: str, *, grouped: bool) -> tuple[str, str]:
    """The default title and text templates for one kind of notification."""
    wording = _DEFAULTS[language]
    if status == TEST:
        return wording[TEST]
    return wording[f"group-{status}" if grouped else status]


def human_time(at: float) -> str:
    """Unix seconds as people read them in a message: ``2024-05-01 12:00:00 UTC``."""
    return datetime.fromtimestamp(at, UTC).strftime(TIME_FORMAT)


def human_duration(seconds: float, language: str = DEFAULT_LANGUAGE) -> str:
    """A length of time in its two largest units: ``3m 20s``, ``1 gün 2 saat``.

    Two units say enough for an outage (nobody needs the seconds of a
    two-day one), and a unit is left out when it is zero: ``2h``, not
    ``2h 0m``.
    """
    units = _DURATION_UNITS[language]
    remaining = max(0, int(seconds))
    for index, (size, word) in enumerate(units):
        if remaining < size and size > 1:
            continue
        count, rest = divmod(remaining, size)
        parts = [word.format(count)]
        if index + 1 < len(units):
            smaller_size, smaller_word = units[index + 1]
            if rest // smaller_size:
                parts.append(smaller_word.format(rest // smaller_size))
        return " ".join(parts)
    raise AssertionError("the last unit is one second, so the loop returns")


def monitor_link(public_url: str, monitor_id: str) -> str:
    """Where the platform serves ``monitor_id``, under its public URL."""
    return f"{public_url.rstrip('/')}/api/v1/monitors/{quote(monitor_id, safe='')}"


def render_html_body(notification: Notification, language: str) -> str:
    """An HTML body for ``notification``: its title and text, escaped.

    The body holds the title twice and the text once, each already within
    the output limit, so it may be that much longer.
    """
    variables = {
        "language": language,
        "title": notification.title,
        "text": notification.text,
        "link": notification.url or "",
        "colour": _STATUS_COLOURS.get(notification.status, "#344054"),
        "open_label": _OPEN_LABELS[language],
    }
    return render(_HTML_BODY, variables, html=True, max_chars=4 * MAX_OUTPUT_CHARS)


def message_id(key: str, domain: str) -> str:
    """A stable Message-ID for a notification's ``key``: the same key, the same id.

    The key is hashed, since it may hold characters a Message-ID may not.
    """
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def _render_part(
    event: AlertEvent,
    part: str,
    source: str | None,
    default: str,
    variables: Mapping[str, Any],
) -> str:
    if source is not None:
        try:
            return render(source, variables)
        except RenderError as exc:
            logger.warning(
                "template failed, default used monitor=%s status=%s part=%s error=%s",
                event.monitor.id,
                event.status,
                part,
                exc,
            )
    return render(default, variables)


def _monitor_fields(monitor: MonitorFacts) -> dict[str, Any]:
    return {
        "id": monitor.id,
        "name": monitor.name,
        "kind": monitor.kind,
        "target": monitor.target,
        "tags": list(monitor.tags),
    }


def _member_fields(member: MonitorFacts) -> dict[str, Any]:
    fields = _monitor_fields(member)
    fields["state"] = member.state
    fields["reason"] = member.reason
    fields["message"] = _clip(member.message, MAX_MESSAGE_CHARS)
    return fields


def _one_line(text: str) -> str:
    return _clip(" ".join(text.split()), MAX_TITLE_CHARS)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "\u2026"


# ---------------------------------------------------------------------------
# The budget of one render, and the calls compiled templates make to spend it.


@dataclass(slots=True)
class _Budget:
    """What one render has left: steps, time and characters to write."""

    limit: int
    room: int = 0
    steps: int = MAX_STEPS
    deadline: float = field(default_factory=lambda: time.monotonic() + RENDER_SECONDS)

    def __post_init__(self) -> None:
        self.room = self.limit

    def step(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise RenderError(
                f"the template takes more than {MAX_STEPS} steps "
                "(loop rounds, calls and filters)"
            )
        if time.monotonic() > self.deadline:
            raise RenderError(
                f"the template takes longer than {RENDER_SECONDS:g}s to render"
            )

    def write(self, size: int) -> None:
        self.room -= size
        if self.room < 0:
            raise RenderError(f"the template writes more than {self.limit} characters")

    def metered(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.step()
            yield item


_BUDGET: ContextVar[_Budget | None] = ContextVar("upcast_template_budget", default=None)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:
        # Compiled templates only run inside ``render``; this also keeps
        # Jinja from running filters ahead of time while it compiles.
        raise RenderError("templates render only through notify.templates.render")
    return budget


class _Limits(Extension):
    """The calls a compiled template makes to stay within its render's budget.

    ``_Instrument`` adds them to every template: ``steps`` around what a
    loop walks, ``wrote`` around what is written, ``built`` around
    literals and ``~``. They are reached through the environment, where a
    template's own names cannot shadow them.
    """

    def steps(self, iterable: Any) -> Any:
        if isinstance(iterable, Undefined):
            return iterable
        return _budget().metered(iterable)

    def wrote(self, value: Any) -> Any:
        if isinstance(value, Undefined):
            return value
        budget = _budget()
        size = len(value) if isinstance(value, str) else _weight(value, budget.room)
        budget.write(size)
        return value

    def literal(self, size: int) -> str:
        _budget().write(size)
        return ""

    def built(self, value: Any) -> Any:
        _check_built(value)
        return value


class _Instrument(NodeTransformer):
    """Adds the ``_Limits`` calls to a parsed template."""

    def __init__(self, environment: _Sandbox) -> None:
        self._environment = environment

    def _call(self, name: str, argument: nodes.Node) -> nodes.Call:
        call = nodes.Call(
            nodes.ExtensionAttribute(_Limits.identifier, name),
            [argument],
            [],
            None,
            None,
        )
        call.set_lineno(argument.lineno)
        call.set_environment(self._environment)
        return call

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._call("steps", node.iter)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        children: list[nodes.Expr] = []
        literal = 0
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                literal += len(child.data)
                children.append(child)
            else:
                children.append(self._call("wrote", child))
        if literal:
            size = nodes.Const(literal, lineno=node.lineno)
            children.insert(0, self._call("literal", size))
        node.nodes = children
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._call("built", node)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        self.generic_visit(node)
        return self._call("built", node)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        return self._call("built", node)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        self.generic_visit(node)
        if node.ctx != "load":
            return node
        return self._call("built", node)


def _weight(value: Any, limit: int) -> int:
    """About how many characters ``value`` takes written out, counted up to ``limit``.

    A list holding the same big string many times weighs it each time, as
    writing it out would; counting stops past ``limit``, so even such a
    value is weighed quickly.
    """
    total = 0
    pending = [value]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            pending.extend(item)
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        else:
            total += 24
    return total


def _check_built(value: Any) -> None:
    if isinstance(value, str):
        size = len(value)
    elif isinstance(value, Mapping | list | tuple | set | frozenset):
        size = _weight(value, MAX_VALUE_CHARS)
    else:
        return
    if size > MAX_VALUE_CHARS:
        raise RenderError(
            f"the template builds a value of more than {MAX_VALUE_CHARS} characters"
        )


def _check_size(estimate: int, what: str) -> None:
    if estimate > MAX_VALUE_CHARS:
        raise RenderError(f"{what} would make more than {MAX_VALUE_CHARS} characters")


def _materialized(value: Any) -> Any:
    """An iterator as a list, weighed as it is read; anything else as it is.

    A filter such as ``join`` or ``list`` would read a lazy sequence whole
    before anything could weigh it.
    """
    if not isinstance(value, Iterator):
        return value
    budget = _budget()
    items: list[Any] = []
    total = 0
    for item in value:
        budget.step()
        total += _weight(item, MAX_VALUE_CHARS)
        _check_size(total, "reading the sequence")
        items.append(item)
    return items


def _heaviest(values: Iterable[Any]) -> int:
    return max((_weight(value, MAX_VALUE_CHARS) for value in values), default=0)


def _number(text: str) -> int:
    # Seven digits already pass every limit; longer runs are not converted.
    return int(text) if len(text) <= 7 else MAX_VALUE_CHARS + 1


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)")
_DIGITS = re.compile(r"\d+")
_FORMATTER = string.Formatter()


def _check_percent(pattern: str, values: Any) -> None:
    """Refuse ``pattern % values`` when its widths or fields would be too long."""
    fields, widths, starred = 0, 0, False
    for match in _PERCENT_SPEC.finditer(pattern):
        if match.group(3) == "%":
            continue
        fields += 1
        for part in (match.group(1), match.group(2)):
            if part == "*":
                starred = True
            elif part:
                widths += _number(part)
    if isinstance(values, tuple):
        arguments: list[Any] = list(values)
    elif isinstance(values, Mapping):
        arguments = list(values.values())
    else:
        arguments = [values]
    _check_fields(len(pattern), fields, widths, starred, arguments, "formatting")


def _check_format(pattern: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """Refuse ``pattern.format(...)`` when its widths or fields would be too long."""
    fields, widths, nested = 0, 0, False
    try:
        for _text, name, spec, _conversion in _FORMATTER.parse(pattern):
            if name is None:
                continue
            fields += 1
            if spec:
                nested = nested or "{" in spec
                widths += sum(_number(run) for run in _DIGITS.findall(spec))
    except ValueError:
        return  # the call itself raises the same error, with its own words
    arguments = [*args, *kwargs.values()]
    _check_fields(len(pattern), fields, widths, nested, arguments, "format()")


def _check_fields(
    length: int,
    fields: int,
    widths: int,
    sized_by_arguments: bool,
    arguments: list[Any],
    what: str,
) -> None:
    # Each field may print the heaviest argument (``{0}{0}{0}`` does).
    estimate = length + widths + fields * _heaviest(arguments)
    if sized_by_arguments:
        numbers = sum(abs(a) for a in arguments if isinstance(a, int))
        estimate += fields * numbers
    _check_size(estimate, what)


def _check_repeat(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise RenderError(f"'*' would make a number above {MAX_INT_BITS} bits")
        return
    if isinstance(right, int):
        sequence, count = left, right
    elif isinstance(left, int):
        sequence, count = right, left
    else:
        return
    if isinstance(sequence, str) and count > 0:
        _check_size(len(sequence) * count, "'*'")
    elif isinstance(sequence, list | tuple) and count > 0:
        _check_size(_weight(sequence, MAX_VALUE_CHARS) * count, "'*'")


def _check_power(base: Any, exponent: Any) -> None:
    numbers = isinstance(base, int) and isinstance(exponent, int)
    if (
        numbers
        and abs(base) > 1
        and base.bit_length() * max(0, exponent) > MAX_INT_BITS
    ):
        raise RenderError(f"'**' would make a number above {MAX_INT_BITS} bits")


def _check_replace(text: Any, old: Any, new: Any, count: Any = None) -> None:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    _check_size(len(text) + found * max(0, len(new) - len(old)), "replace()")


def _check_join(items: Any, separator: Any) -> None:
    if isinstance(items, list | tuple | str | Mapping):
        joints = len(items) * len(str(separator))
        _check_size(_weight(items, MAX_VALUE_CHARS) + joints, "join()")


def _check_width(width: Any, what: str) -> None:
    if isinstance(width, int):
        _check_size(width, what)


def _arg(
    args: Sequence[Any], kwargs: Mapping[str, Any], index: int, name: str, default: Any
) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


FilterCheck = Callable[[Any, Sequence[Any], Mapping[str, Any]], None]


def _center(value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    _check_width(_arg(args, kwargs, 0, "width", 80), "center")


def _indent(value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    width = _arg(args, kwargs, 0, "width", 4)
    each = width if isinstance(width, int) else len(str(width))
    _check_width(each, "indent")
    lines = str(value).count("\n") + 1
    _check_size(len(str(value)) + lines * max(0, each), "indent")


def _wordwrap(value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    wrap = _arg(args, kwargs, 2, "wrapstring", None)
    text = str(value)
    _check_size(len(text) + (len(text) + 1) * len(str(wrap or "\n")), "wordwrap")


def _format(value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    _check_percent(str(value), dict(kwargs) if kwargs else tuple(args))


def _replace(value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    old = _arg(args, kwargs, 0, "old", "")
    new = _arg(args, kwargs, 1, "new", "")
    _check_replace(str(value), str(old), str(new), _arg(args, kwargs, 2, "count", None))


def _join(value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    _check_join(value, _arg(args, kwargs, 0, "d", ""))


def _chunks(value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    # ``batch`` and ``slice``: how many pieces, and what fills the last one.
    pieces = _arg(args, kwargs, 0, "linecount", _arg(args, kwargs, 0, "slices", 1))
    if isinstance(pieces, int) and pieces > MAX_RANGE:
        raise RenderError(f"batch and slice take at most {MAX_RANGE} pieces")
    fill = _arg(args, kwargs, 1, "fill_with", None)
    if isinstance(pieces, int):
        _check_size(_weight(fill, MAX_VALUE_CHARS) * pieces, "the filling")


def _tojson(value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    indent = _arg(args, kwargs, 0, "indent", None)
    if isinstance(indent, int) and indent > 8:
        raise RenderError("tojson takes an indent of at most 8")


def _no_check(value: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    return None


_FILTER_CHECKS: Final[Mapping[str, FilterCheck]] = {
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "format": _format,
    "replace": _replace,
    "join": _join,
    "batch": _chunks,
    "slice": _chunks,
    "tojson": _tojson,
    **{
        name: _no_check
        for name in (  # noqa: SIM905 - a list of words reads best as words
            "abs attr capitalize count d default dictsort e escape filesizeformat "
            "first float forceescape groupby int items last length list lower map "
            "max min reject rejectattr reverse round select selectattr sort string "
            "striptags sum title trim truncate unique upper urlencode wordcount"
        ).split()
    },
}
"""The filters templates may use, each with the check made before it runs."""

_STR_METHODS: Final = frozenset(
    (  # noqa: SIM905 - a list of words reads best as words
        "capitalize casefold center count endswith find index isalnum isalpha "
        "isdigit islower isnumeric isspace istitle isupper join ljust lower lstrip "
        "partition removeprefix removesuffix replace rfind rindex rjust rpartition "
        "rsplit rstrip split splitlines startswith strip swapcase title upper zfill"
    ).split()
)
_MAPPING_METHODS: Final = frozenset(("get", "items", "keys", "values"))
_SEQUENCE_METHODS: Final = frozenset(("count", "index"))
_LOOP_METHODS: Final = frozenset(("cycle", "changed"))


def _guarded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as a template's filter: one step, checked before, weighed after."""
    check = _FILTER_CHECKS[name]
    # Filters marked to take the context or environment get it first.
    skip = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _budget().step()
        given = list(args)
        given[skip] = _materialized(given[skip])
        check(given[skip], given[skip + 1 :], kwargs)
        result = function(*given, **kwargs)
        _check_built(result)
        return result

    return guarded


def _range(*args: int) -> range:
    """``range`` for templates, at most ``MAX_RANGE`` numbers long."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise RenderError(
            f"range() gives at most {MAX_RANGE} numbers, asked for {len(numbers)}"
        )
    return numbers


class _CheckedFormat:
    """``str.format`` (or ``format_map``) as templates call it: sized first."""

    def __init__(self, pattern: str, call: Callable[..., str], mapping: bool) -> None:
        self._pattern = pattern
        self._call = call
        self._mapping = mapping

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        if self._mapping and len(args) == 1 and isinstance(args[0], Mapping):
            _check_format(self._pattern, (), args[0])
        else:
            _check_format(self._pattern, args, kwargs)
        return self._call(*args, **kwargs)


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with the limits of this module added."""

    intercepted_binops = frozenset(("*", "**", "%", "+"))

    def __init__(self, *, html: bool) -> None:
        super().__init__(
            autoescape=html,
            undefined=StrictUndefined,
            extensions=[_Limits],
            optimized=False,
            auto_reload=False,
            cache_size=0,
        )
        self.globals.clear()
        self.globals["range"] = _range
        self.filters = {
            name: _guarded_filter(name, self.filters[name]) for name in _FILTER_CHECKS
        }
        self._limits = self.extensions[_Limits.identifier]

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repeat(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_percent(left, right)
        result = super().call_binop(context, operator, left, right)
        _check_built(result)
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        call = super().wrap_str_format(value)
        if call is None:
            return None
        return _CheckedFormat(value.__self__, call, value.__name__ == "format_map")

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if getattr(obj, "__self__", None) is self._limits:
            return context.call(obj, *args, **kwargs)
        _budget().step()
        args = _checked_call(obj, args, kwargs)
        result = super().call(context, obj, *args, **kwargs)
        _check_built(result)
        return result


def _checked_call(
    obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[Any, ...]:
    """The arguments to call ``obj`` with, once it is known to be allowed and safe.

    Raises ``SecurityError`` for anything outside the short list templates
    may call.
    """
    if isinstance(obj, Undefined | _CheckedFormat) or obj is _range:
        # Calling an undefined value raises its own, clearer error.
        return args
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, str) and name in _STR_METHODS:
        if name in ("center", "ljust", "rjust", "zfill"):
            _check_width(_arg(args, kwargs, 0, "width", 0), f"{name}()")
        elif name == "replace":
            _check_replace(owner, *args[:3])
        elif name == "join" and args:
            items = _materialized(args[0])
            _check_join(items, owner)
            return (items, *args[1:])
        return args
    if isinstance(owner, Mapping) and name in _MAPPING_METHODS:
        return args
    if isinstance(owner, list | tuple) and name in _SEQUENCE_METHODS:
        return args
    if isinstance(owner, LoopContext) and name in _LOOP_METHODS:
        return args
    raise SecurityError(
        f"calling {name or type(obj).__name__!r} is not available in templates"
    )


# ---------------------------------------------------------------------------
# Compiling: the static checks, then the limits added to the parsed template.


@dataclass(frozen=True, slots=True)
class _Problem:
    problem: str
    line: int | None

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}" if self.line else self.problem


class _Refused(Exception):
    def __init__(self, errors: list[_Problem]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


_REFUSED_TAGS: Final[Mapping[type[nodes.Node], str]] = {
    nodes.Macro: "macro",
    nodes.CallBlock: "call",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from ... import",
    nodes.Extends: "extends",
    nodes.Block: "block",
    nodes.ScopedEvalContextModifier: "autoescape",
    nodes.EvalContextModifier: "autoescape",
}

_ENVIRONMENTS: Final = {False: _Sandbox(html=False), True: _Sandbox(html=True)}


@functools.lru_cache(maxsize=256)
def _compiled(source: str, html: bool, names: frozenset[str]) -> JinjaTemplate:
    """``source`` parsed, checked and compiled with the limits; or ``_Refused``.

    ``names`` are the variables it may read. Channels render the same few
    templates over and over, so each is compiled once.
    """
    environment = _ENVIRONMENTS[html]
    try:
        tree = environment.parse(source)
    except TemplateSyntaxError as exc:
        raise _Refused([_Problem(exc.message or "syntax error", exc.lineno)]) from None
    problems = _static_problems(tree, environment, names)
    if problems:
        raise _Refused(problems)
    tree = _Instrument(environment).visit(tree)
    try:
        return environment.from_string(tree)
    except TemplateSyntaxError as exc:
        raise _Refused([_Problem(exc.message or "syntax error", exc.lineno)]) from None


def _static_problems(
    tree: nodes.Template, environment: _Sandbox, names: frozenset[str]
) -> list[_Problem]:
    """What the template does that templates may not, each with its line."""
    problems: list[_Problem] = []
    bound = {name.name for name in tree.find_all(nodes.Name) if name.ctx != "load"}
    known = {*names, "loop", *environment.globals}
    member_names = _member_loop_names(tree)

    for node in tree.find_all(nodes.Node):
        line = node.lineno
        tag = _REFUSED_TAGS.get(type(node))
        if tag is not None:
            problems.append(_Problem(f"{{% {tag} %}} is not available", line))
        elif isinstance(node, nodes.For) and node.recursive:
            problems.append(_Problem("recursive loops are not available", line))
        elif isinstance(node, nodes.Name) and node.ctx == "load":
            if node.name not in known and node.name not in bound:
                problems.append(_Problem(_unknown_name(node.name, names), line))
        elif isinstance(node, nodes.Filter) and node.name not in environment.filters:
            problems.append(_Problem(f"there is no filter {node.name!r}", line))
        elif isinstance(node, nodes.Test) and node.name not in environment.tests:
            problems.append(_Problem(f"there is no test {node.name!r}", line))
        elif isinstance(node, nodes.Getattr | nodes.Getitem):
            problem = _field_problem(node, member_names)
            if problem is not None:
                problems.append(_Problem(problem, line))
    # A name used twice on one line is one problem.
    return list(dict.fromkeys(problems))


def _member_loop_names(tree: nodes.Template) -> set[str]:
    """Names bound only by ``{% for m in members %}``, so known to be members."""
    names: set[str] = set()
    others: set[str] = set()
    for loop in tree.find_all(nodes.For):
        target = loop.target
        over_members = isinstance(loop.iter, nodes.Name) and loop.iter.name == "members"
        if isinstance(target, nodes.Name):
            (names if over_members else others).add(target.name)
        else:
            others.update(name.name for name in target.find_all(nodes.Name))
    assigned = {
        name.name
        for assign in tree.find_all((nodes.Assign, nodes.AssignBlock, nodes.With))
        for name in assign.find_all(nodes.Name)
        if name.ctx == "store"
    }
    return names - others - assigned


def _field_problem(
    node: nodes.Getattr | nodes.Getitem, member_names: set[str]
) -> str | None:
    if isinstance(node, nodes.Getattr):
        attribute: Any = node.attr
    elif isinstance(node.arg, nodes.Const):
        attribute = node.arg.value
    else:
        return None
    if not isinstance(attribute, str):
        return None
    if attribute.startswith("_"):
        return f"names starting with '_' are not available, got {attribute!r}"
    if not isinstance(node.node, nodes.Name):
        return None
    owner = node.node.name
    if owner == "monitor" and attribute not in MONITOR_FIELDS:
        return f"monitor has no field {attribute!r}; it has {', '.join(MONITOR_FIELDS)}"
    if owner in member_names and attribute not in MEMBER_FIELDS:
        return f"a member has no field {attribute!r}; it has {', '.join(MEMBER_FIELDS)}"
    return None


def _unknown_name(name: str, names: frozenset[str]) -> str:
    listed: list[str] = [known for known in VARIABLES if known in names]
    return f"there is no variable {name!r}; there are {', '.join(listed or names)}"


def _template_line(exc: BaseException) -> int | None:
    """The template line the error was raised on, from its traceback."""
    line = None
    trace: TracebackType | None = exc.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def _describe(exc: Exception) -> str:
    """Jinja's own errors read well alone; Python's are named by their type."""
    text = str(exc) or type(exc).__name__
    if type(exc).__module__.startswith("jinja2"):
        return text
    return f"{type(exc).__name__}: {text}"


# ---------------------------------------------------------------------------
# The default wording, and how each language writes durations.

_DURATION_UNITS: Final[Mapping[str, tuple[tuple[int, str], ...]]] = {
    "en": ((86400, "{}d"), (3600, "{}h"), (60, "{}m"), (1, "{}s")),
    "tr": ((86400, "{} gün"), (3600, "{} saat"), (60, "{} dakika"), (1, "{} saniye")),
}

_LINK = "{% if link %}{{ link }}\n{% endif %}"
_MEMBER_LINES = (
    "{% for m in members %}- {{ m.name }} ({{ m.target }})"
    "{% if m.message %}: {{ m.message }}{% elif m.reason %}: {{ m.reason }}"
    "{% endif %}\n{% endfor %}"
)
_UP_MEMBER_LINES = "{% for m in members %}- {{ m.name }} ({{ m.target }})\n{% endfor %}"


def _more(words: str) -> str:
    # The members a group had beyond those listed.
    return (
        "{% if count > members|length %}- "
        + words.format(n="{{ count - members|length }}")
        + "\n{% endif %}"
    )


_EN_PROBLEM: Final = "{{ 'degraded' if state == 'degraded' else 'down' }}"
_TR_PROBLEM: Final = "{{ 'yavaşladı' if state == 'degraded' else 'çalışmıyor' }}"
"""What a single monitor's firing notification says it is: down, or degraded
(working, but slow or unusual)."""

_DEFAULTS: Final[Mapping[str, Mapping[str, tuple[str, str]]]] = {
    "en": {
        FIRING: (
            "{{ monitor.name }} is " + _EN_PROBLEM,
            "{{ monitor.name }} is "
            + _EN_PROBLEM
            + "{% if reason %} ({{ reason }}){% endif %}.\n"
            "{% if message %}{{ message }}\n{% endif %}"
            "\n"
            "Target: {{ monitor.target }}\n"
            "{{ 'Degraded' if state == 'degraded' else 'Down' }} since: "
            "{{ started_at }} ({{ duration }})\n" + _LINK,
        ),
        RESOLVED: (
            "{{ monitor.name }} is up again",
            "{{ monitor.name }} is up again after being down for {{ duration }}.\n"
            "\n"
            "Target: {{ monitor.target }}\n"
            "Down from {{ started_at }} to {{ at }}\n" + _LINK,
        ),
        TEST: (
            "Test notification from Upcast",
            "This is a test notification from Upcast, sent at {{ at }}.\n"
            "If you can read it, notifications reach this channel.\n",
        ),
        f"group-{FIRING}": (
            "{{ count }} monitors are down",
            "{{ count }} monitors are down:\n"
            + _MEMBER_LINES
            + _more("and {n} more")
            + "{% if message %}\n{{ message }}\n{% endif %}"
            + "\nDown since: {{ started_at }} ({{ duration }})\n"
            + _LINK,
        ),
        f"group-{RESOLVED}": (
            "{{ count }} monitors are up again",
            "{{ count }} monitors are up again after being down for {{ duration }}:\n"
            + _UP_MEMBER_LINES
            + _more("and {n} more")
            + "\nDown from {{ started_at }} to {{ at }}\n"
            + _LINK,
        ),
    },
    "tr": {
        FIRING: (
            "{{ monitor.name }} " + _TR_PROBLEM,
            "{{ monitor.name }} "
            + _TR_PROBLEM
            + "{% if reason %} ({{ reason }}){% endif %}.\n"
            "{% if message %}{{ message }}\n{% endif %}"
            "\n"
            "Hedef: {{ monitor.target }}\n"
            "Kesinti başlangıcı: {{ started_at }} ({{ duration }})\n" + _LINK,
        ),
        RESOLVED: (
            "{{ monitor.name }} yeniden çalışıyor",
            "{{ monitor.name }} yeniden çalışıyor. Kesinti süresi: {{ duration }}.\n"
            "\n"
            "Hedef: {{ monitor.target }}\n"
            "Kesinti: {{ started_at }} - {{ at }}\n" + _LINK,
        ),
        TEST: (
            "Upcast test bildirimi",
            "Bu, Upcast'in {{ at }} tarihinde gönderdiği bir test bildirimidir.\n"
            "Bunu okuyabiliyorsanız bildirimler bu kanala ulaşıyor.\n",
        ),
        f"group-{FIRING}": (
            "{{ count }} monitör çalışmıyor",
            "{{ count }} monitör çalışmıyor:\n"
            + _MEMBER_LINES
            + _more("{n} monitör daha")
            + "{% if message %}\n{{ message }}\n{% endif %}"
            + "\nKesinti başlangıcı: {{ started_at }} ({{ duration }})\n"
            + _LINK,
        ),
        f"group-{RESOLVED}": (
            "{{ count }} monitör yeniden çalışıyor",
            "{{ count }} monitör yeniden çalışıyor. Kesinti süresi: {{ duration }}.\n"
            + _UP_MEMBER_LINES
            + _more("{n} monitör daha")
            + "\nKesinti: {{ started_at }} - {{ at }}\n"
            + _LINK,
        ),
    },
}
"""Title and text templates by language and kind of notification."""

_STATUS_COLOURS: Final = {FIRING: "#b42318", RESOLVED: "#067647", TEST: "#175cd3"}
_OPEN_LABELS: Final = {"en": "Open in Upcast", "tr": "Upcast'te aç"}

_HTML_BODY: Final = """\
<!DOCTYPE html>
<html lang="{{ language }}">
<head><meta charset="utf-8"><title>{{ title }}</title></head>
<body style="font-family: sans-serif; color: #101828">
<h2 style="color: {{ colour }}">{{ title }}</h2>
<pre style="font-family: inherit; white-space: pre-wrap">{{ text }}</pre>
{% if link %}<p><a href="{{ link }}">{{ open_label }}</a></p>
{% endif %}</body>
</html>
"""
