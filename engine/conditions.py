r"""The assertion language that monitors use to judge a check's result.

A condition is parsed once into a tree of small nodes and then evaluated
against each result by walking that tree; nothing is ever handed to Python's
``eval``, and the only data it can reach is what the environment mapping holds.

Grammar, loosest binding first::

    condition  := or_expr
    or_expr    := and_expr (("or" | "||") and_expr)*
    and_expr   := not_expr (("and" | "&&") not_expr)*
    not_expr   := ("not" | "!") not_expr | comparison
    comparison := sum [compare_op sum]
    compare_op := "==" | "!=" | "<" | "<=" | ">" | ">=" | "=~" | "!~"
                | "in" | "not" "in" | "contains"
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | postfix
    postfix    := primary ("." NAME | "[" condition "]")*
    primary    := NUMBER | STRING | "true" | "false" | "null" | NAME
                | NAME "(" [condition ("," condition)*] ")"
                | "(" condition ")" | "[" [condition ("," condition)* [","]] "]"

Values and rules:

* Numbers are written ``200``, ``0.5`` or ``1e3``; strings in double or single
  quotes with the escapes ``\\ \" \' \n \r \t`` and ``\uHHHH``. Any other
  backslash is kept as written, so ``"\d+"`` is the regular expression ``\d+``.
* A name reads the environment (``status``, ``body``, ``headers``...). A name
  the environment lacks, or a path step into a missing key, a list index out
  of range or a value of the wrong kind, gives *missing* instead of failing.
  Every comparison with missing is false (``!=`` too), ``exists(x)`` tells it
  apart from ``null``, and ``not`` of missing is true.
* ``a.b`` and ``a["b"]`` look up a key; ``a[0]`` and ``a[-1]`` index a list.
  When a string key is absent but its lowercase spelling is present, the
  lowercase key is used, so callers store header names lowercased and
  ``headers["Content-Type"]`` still finds ``content-type``.
* ``==`` and ``!=`` compare by value; ``true`` is not ``1``. Ordering compares
  two numbers or two strings; any other pair is simply false.
* ``x =~ "re"`` is true when the regular expression finds a match anywhere in
  ``x`` (numbers are matched as their decimal text); ``!~`` is its negation.
  A pattern written as a literal is compiled when the condition is parsed.
* ``x in y`` (and ``y contains x``) tests membership in a list, a substring of
  a string or a key of a mapping.
* ``+ - * /`` work on numbers, ``+`` also joins strings; anything else, and
  division by zero, gives missing.
* Functions: ``len(x)``, ``exists(x)``, ``lower(s)``, ``upper(s)``,
  ``number(s)``, ``any(list)`` and ``all(list)`` for truthiness of elements,
  and ``any(list, predicate)`` / ``all(list, predicate)`` where the predicate
  names the element ``it``, e.g. ``all(body.checks, it.status == "UP")``.
  Both are false for anything but a list; ``all`` of an empty list is true.
* ``&&``, ``||`` and ``!`` may be written for ``and``, ``or`` and ``not``.
  A condition holds when its value is truthy: true, a non-zero number or a
  non-empty string, list or mapping.

Conditions come from monitor definitions, so the parser caps their length,
their nesting and the length of regular expressions. Patterns run on Python's
backtracking ``re`` engine, and the length cap does not bound their running
time: a pathological pattern slows down every check of the monitor that
carries it, though no other monitor's.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar, final

logger = logging.getLogger(__name__)

# Limits on what a monitor definition may ask of the parser and evaluator: the
# depth cap also keeps evaluation, which recurses once per level, far from
# Python's recursion limit.
MAX_SOURCE_LENGTH: Final = 4096
MAX_DEPTH: Final = 32
MAX_PATTERN_LENGTH: Final = 512

# How much of a value an explanation shows before cutting it short.
_DESCRIBE_LIMIT: Final = 80


# -- errors -----------------------------------------------------------------


class ConditionSyntaxError(ValueError):
    """A condition that cannot be parsed, with the 1-based column at fault.

    ``str()`` reads ``expected ')' at column 17``, optionally followed by a
    detail; ``caret()`` draws the source with a marker under that column, for
    showing the problem to whoever wrote the condition.
    """

    def __init__(
        self, message: str, column: int, source: str, detail: str = ""
    ) -> None:
        self.message = message
        self.column = column
        self.source = source
        self.detail = detail
        text = f"{message} at column {column}"
        super().__init__(f"{text}: {detail}" if detail else text)

    def __reduce__(
        self,
    ) -> tuple[type[ConditionSyntaxError], tuple[str, int, str, str]]:
        return type(self), (self.message, self.column, self.source, self.detail)

    def caret(self, width: int = 72) -> str:
        """The source on one line and a ``^`` under the column at fault.

        Long sources are cut to a window of ``width`` characters around the
        column, so the marker stays readable in a log line or a form.
        """
        line = self.source.replace("\n", " ").replace("\r", " ").replace("\t", " ")
        offset = self.column - 1
        if len(line) > width:
            begin = max(0, min(offset - width // 2, len(line) - width))
            prefix = "..." if begin > 0 else ""
            suffix = "..." if begin + width < len(line) else ""
            line = prefix + line[begin : begin + width] + suffix
            offset = offset - begin + len(prefix)
        return f"{line}\n{' ' * offset}^"


# -- values -----------------------------------------------------------------


@final
class _Missing:
    """The value of a name or path step that the environment does not hold."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""What ``Condition.evaluate`` returns for a value the environment lacks."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    """Equality by value, with booleans kept apart from numbers."""
    kind = type(left)
    if kind is type(right) and kind in _SCALARS:
        return bool(left == right)
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(map(_equal, left, right))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        if left.keys() != right.keys():
            return False
        return all(_equal(value, right[key]) for key, value in left.items())
    if left is None or right is None:
        return left is right
    if isinstance(left, str | list | tuple | Mapping | int | float):
        return False
    return bool(left == right)


_SCALARS: Final = frozenset({int, float, str, bool})


def _lookup(container: Any, key: Any) -> Any:
    """One path step: a key of a mapping or an index of a list, else missing."""
    if isinstance(container, Mapping):
        if not isinstance(key, str):
            return MISSING
        value = container.get(key, MISSING)
        if value is MISSING:
            lowered = key.lower()
            if lowered != key:
                value = container.get(lowered, MISSING)
        return value
    if isinstance(container, list | tuple) and _is_number(key):
        if not isinstance(key, int):
            return MISSING
        if -len(container) <= key < len(container):
            return container[key]
    return MISSING


def _member(item: Any, container: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list | tuple):
        return any(_equal(item, element) for element in container)
    if isinstance(container, Mapping):
        return _lookup(container, item) is not MISSING
    return False


def _op_eq(left: Any, right: Any) -> bool:
    if type(left) is type(right) and type(left) in _SCALARS:
        return bool(left == right)
    if left is MISSING or right is MISSING:
        return False
    return _equal(left, right)


def _op_ne(left: Any, right: Any) -> bool:
    if left is MISSING or right is MISSING:
        return False
    return not _equal(left, right)


def _ordered(left: Any, right: Any) -> bool:
    """Whether ``left`` and ``right`` are two numbers or two strings."""
    if type(left) is str:
        return type(right) is str
    return _is_number(left) and _is_number(right)


def _op_lt(left: Any, right: Any) -> bool:
    return _ordered(left, right) and bool(left < right)


def _op_le(left: Any, right: Any) -> bool:
    return _ordered(left, right) and bool(left <= right)


def _op_gt(left: Any, right: Any) -> bool:
    return _ordered(left, right) and bool(left > right)


def _op_ge(left: Any, right: Any) -> bool:
    return _ordered(left, right) and bool(left >= right)


def _op_in(left: Any, right: Any) -> bool:
    if left is MISSING or right is MISSING:
        return False
    return _member(left, right)


def _op_not_in(left: Any, right: Any) -> bool:
    if left is MISSING or right is MISSING:
        return False
    return not _member(left, right)


def _op_contains(left: Any, right: Any) -> bool:
    return _op_in(right, left)


def _numeric(operation: Callable[[Any, Any], Any], left: Any, right: Any) -> Any:
    """Apply ``operation`` to two numbers; other operands and overflow give missing."""
    if not (_is_number(left) and _is_number(right)):
        return MISSING
    try:
        return operation(left, right)
    except (OverflowError, ZeroDivisionError):
        return MISSING


def _op_add(left: Any, right: Any) -> Any:
    if type(left) is str and type(right) is str:
        return left + right
    return _numeric(operator.add, left, right)


def _op_sub(left: Any, right: Any) -> Any:
    return _numeric(operator.sub, left, right)


def _op_mul(left: Any, right: Any) -> Any:
    return _numeric(operator.mul, left, right)


def _op_div(left: Any, right: Any) -> Any:
    return _numeric(operator.truediv, left, right)


_COMPARISONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "==": _op_eq,
    "!=": _op_ne,
    "<": _op_lt,
    "<=": _op_le,
    ">": _op_gt,
    ">=": _op_ge,
    "in": _op_in,
    "not in": _op_not_in,
    "contains": _op_contains,
}

_ARITHMETIC: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "+": _op_add,
    "-": _op_sub,
    "*": _op_mul,
    "/": _op_div,
}


def _fn_len(value: Any) -> Any:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    return MISSING


def _fn_exists(value: Any) -> bool:
    return value is not MISSING


def _fn_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else MISSING


def _fn_upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else MISSING


def _fn_number(value: Any) -> Any:
    """A number from a number or its decimal text; anything else is missing."""
    if _is_number(value):
        return value
    if not isinstance(value, str):
        return MISSING
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        result = float(text)
    except ValueError:
        return MISSING
    return result if math.isfinite(result) else MISSING


# Each function's implementation, or None for the two that take a predicate,
# with the fewest and most arguments it accepts.
_FUNCTIONS: Final[dict[str, tuple[Callable[[Any], Any] | None, int, int]]] = {
    "len": (_fn_len, 1, 1),
    "exists": (_fn_exists, 1, 1),
    "lower": (_fn_lower, 1, 1),
    "upper": (_fn_upper, 1, 1),
    "number": (_fn_number, 1, 1),
    "any": (None, 1, 2),
    "all": (None, 1, 2),
}


def _searchable(value: Any) -> str | None:
    """The text a regular expression is matched against, if ``value`` has one."""
    if isinstance(value, str):
        return value
    if _is_number(value):
        return str(value)
    return None


@functools.lru_cache(maxsize=256)
def _compile_dynamic(pattern: str) -> re.Pattern[str] | None:
    """Compile a pattern that only became known during evaluation.

    Such a pattern comes from the environment rather than from the condition,
    so a bad one makes the match false instead of raising.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        return None
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _describe(value: Any) -> str:
    """A short rendering of ``value`` for an explanation, JSON-like and cut short."""
    pieces: list[str] = []
    _render(value, pieces, _DESCRIBE_LIMIT + 1)
    text = "".join(pieces)
    if len(text) > _DESCRIBE_LIMIT:
        return text[: _DESCRIBE_LIMIT - 3] + "..."
    return text


def _render(value: Any, pieces: list[str], budget: int) -> int:
    """Append ``value`` to ``pieces`` until ``budget`` characters are used up.

    Returns the budget left, so that a huge response body costs no more to
    describe than a small one.
    """
    if budget <= 0:
        return budget
    if value is MISSING:
        piece = "missing"
    elif isinstance(value, str):
        piece = json.dumps(value[:budget], ensure_ascii=False)
    elif value is None or isinstance(value, bool | int | float):
        piece = json.dumps(value)
    elif isinstance(value, list | tuple):
        return _render_items(value, None, pieces, budget)
    elif isinstance(value, Mapping):
        return _render_items(list(value.values()), list(value.keys()), pieces, budget)
    else:
        piece = repr(value)[:budget]
    pieces.append(piece)
    return budget - len(piece)


def _render_items(
    values: list[Any] | tuple[Any, ...],
    keys: list[Any] | None,
    pieces: list[str],
    budget: int,
) -> int:
    opening, closing = ("[", "]") if keys is None else ("{", "}")
    pieces.append(opening)
    budget -= 1
    for position, value in enumerate(values):
        if budget <= 0:
            return budget
        if position:
            pieces.append(", ")
            budget -= 2
        if keys is not None:
            budget = _render(str(keys[position]), pieces, budget)
            pieces.append(": ")
            budget -= 2
        budget = _render(value, pieces, budget)
    pieces.append(closing)
    return budget - 1


# -- tree -------------------------------------------------------------------

Env = Mapping[str, Any]
Fact = tuple[str, Any]


class _Node:
    """One piece of a parsed condition, spanning ``source[start:end]``.

    ``evaluate`` receives the environment and the element that ``it`` stands
    for inside an ``any``/``all`` predicate (missing elsewhere).
    """

    __slots__ = ("depth", "end", "start")

    start: int
    end: int
    depth: int

    def __init__(self, start: int, end: int, *children: _Node) -> None:
        self.start = start
        self.end = end
        self.depth = 1 + max((child.depth for child in children), default=0)

    def evaluate(self, env: Env, it: Any) -> Any:
        raise NotImplementedError

    def own_fact(self, source: str, env: Env) -> Fact:
        """This node's text and its value, as an explanation states it."""
        return source[self.start : self.end], self.evaluate(env, MISSING)

    def facts(self, source: str, env: Env) -> Iterator[Fact]:
        """The values that explain why this node, used as a clause, was false."""
        yield self.own_fact(source, env)


class _Literal(_Node):
    __slots__ = ("value",)

    def __init__(self, start: int, end: int, value: Any) -> None:
        super().__init__(start, end)
        self.value = value

    def evaluate(self, env: Env, it: Any) -> Any:
        return self.value

    def facts(self, source: str, env: Env) -> Iterator[Fact]:
        return iter(())


def _operand_facts(source: str, env: Env, *operands: _Node) -> Iterator[Fact]:
    for operand in operands:
        if not isinstance(operand, _Literal):
            yield operand.own_fact(source, env)


class _Name(_Node):
    __slots__ = ("name",)

    def __init__(self, start: int, end: int, name: str) -> None:
        super().__init__(start, end)
        self.name = name

    def evaluate(self, env: Env, it: Any) -> Any:
        return env.get(self.name, MISSING)


class _It(_Node):
    __slots__ = ()

    def evaluate(self, env: Env, it: Any) -> Any:
        return it


class _Step(_Node):
    """A path step whose key is fixed in the source: ``a.b``, ``a["b"]``, ``a[0]``."""

    __slots__ = ("key", "target")

    def __init__(self, start: int, end: int, target: _Node, key: str | int) -> None:
        super().__init__(start, end, target)
        self.target = target
        self.key = key

    def evaluate(self, env: Env, it: Any) -> Any:
        container = self.target.evaluate(env, it)
        if type(container) is dict:
            # The common case of a decoded JSON object, without the generic path.
            value = container.get(self.key, MISSING)
            if value is not MISSING:
                return value
        return _lookup(container, self.key)


class _Index(_Node):
    """A path step whose key is computed: ``a[b.c]``."""

    __slots__ = ("index", "target")

    def __init__(self, start: int, end: int, target: _Node, index: _Node) -> None:
        super().__init__(start, end, target, index)
        self.target = target
        self.index = index

    def evaluate(self, env: Env, it: Any) -> Any:
        return _lookup(self.target.evaluate(env, it), self.index.evaluate(env, it))


class _List(_Node):
    __slots__ = ("items",)

    def __init__(self, start: int, end: int, items: list[_Node]) -> None:
        super().__init__(start, end, *items)
        self.items = items

    def evaluate(self, env: Env, it: Any) -> Any:
        return [item.evaluate(env, it) for item in self.items]


class _Negate(_Node):
    __slots__ = ("operand",)

    def __init__(self, start: int, end: int, operand: _Node) -> None:
        super().__init__(start, end, operand)
        self.operand = operand

    def evaluate(self, env: Env, it: Any) -> Any:
        return _numeric(operator.sub, 0, self.operand.evaluate(env, it))


class _Not(_Node):
    __slots__ = ("operand",)

    def __init__(self, start: int, end: int, operand: _Node) -> None:
        super().__init__(start, end, operand)
        self.operand = operand

    def evaluate(self, env: Env, it: Any) -> Any:
        return not self.operand.evaluate(env, it)

    def facts(self, source: str, env: Env) -> Iterator[Fact]:
        return self.operand.facts(source, env)


class _And(_Node):
    __slots__ = ("parts",)

    def __init__(self, start: int, end: int, parts: list[_Node]) -> None:
        super().__init__(start, end, *parts)
        self.parts = parts

    def evaluate(self, env: Env, it: Any) -> Any:
        # A plain loop: all() over a generator costs a frame per clause.
        for part in self.parts:  # noqa: SIM110
            if not part.evaluate(env, it):
                return False
        return True

    def facts(self, source: str, env: Env) -> Iterator[Fact]:
        for part in self.parts:
            yield from part.facts(source, env)


class _Or(_And):
    __slots__ = ()

    def evaluate(self, env: Env, it: Any) -> Any:
        for part in self.parts:  # noqa: SIM110
            if part.evaluate(env, it):
                return True
        return False


class _Binary(_Node):
    """An operator applied to two operands, e.g. ``status == 200`` or ``a + b``."""

    __slots__ = ("left", "operation", "right")

    def __init__(
        self,
        left: _Node,
        operation: Callable[[Any, Any], Any],
        right: _Node,
    ) -> None:
        super().__init__(left.start, right.end, left, right)
        self.left = left
        self.operation = operation
        self.right = right

    def evaluate(self, env: Env, it: Any) -> Any:
        return self.operation(self.left.evaluate(env, it), self.right.evaluate(env, it))


class _Comparison(_Binary):
    __slots__ = ()

    def facts(self, source: str, env: Env) -> Iterator[Fact]:
        return _operand_facts(source, env, self.left, self.right)


class _ConstantComparison(_Comparison):
    """A comparison against a literal, the usual shape: ``status == 200``.

    Holding the literal's value saves a call per evaluation.
    """

    __slots__ = ("constant",)

    def __init__(
        self,
        left: _Node,
        operation: Callable[[Any, Any], Any],
        right: _Literal,
    ) -> None:
        super().__init__(left, operation, right)
        self.constant = right.value

    def evaluate(self, env: Env, it: Any) -> Any:
        return self.operation(self.left.evaluate(env, it), self.constant)


class _Match(_Node):
    """``subject =~ pattern`` or, with ``negate``, ``subject !~ pattern``."""

    __slots__ = ("compiled", "negate", "pattern", "subject")

    def __init__(
        self,
        subject: _Node,
        pattern: _Node,
        compiled: re.Pattern[str] | None,
        negate: bool,
    ) -> None:
        super().__init__(subject.start, pattern.end, subject, pattern)
        self.subject = subject
        self.pattern = pattern
        self.compiled = compiled
        self.negate = negate

    def evaluate(self, env: Env, it: Any) -> Any:
        text = _searchable(self.subject.evaluate(env, it))
        compiled = self.compiled
        if compiled is None:
            pattern = self.pattern.evaluate(env, it)
            if isinstance(pattern, str):
                compiled = _compile_dynamic(pattern)
        if text is None or compiled is None:
            return False
        return (compiled.search(text) is None) is self.negate

    def facts(self, source: str, env: Env) -> Iterator[Fact]:
        return _operand_facts(source, env, self.subject, self.pattern)


class _Call(_Node):
    """A one-argument function such as ``len(body.items)``."""

    __slots__ = ("argument", "function")

    def __init__(
        self,
        start: int,
        end: int,
        function: Callable[[Any], Any],
        argument: _Node,
    ) -> None:
        super().__init__(start, end, argument)
        self.function = function
        self.argument = argument

    def evaluate(self, env: Env, it: Any) -> Any:
        return self.function(self.argument.evaluate(env, it))

    def facts(self, source: str, env: Env) -> Iterator[Fact]:
        if self.function is _fn_exists:
            return _operand_facts(source, env, self.argument)
        return super().facts(source, env)


class _Quantifier(_Node):
    """``any(list[, predicate])`` or ``all(list[, predicate])``.

    Without a predicate the elements themselves are tested for truthiness.
    Anything but a list makes both false; ``all`` of an empty list is true.
    """

    __slots__ = ("every", "predicate", "sequence")

    def __init__(
        self,
        start: int,
        end: int,
        every: bool,
        sequence: _Node,
        predicate: _Node | None,
    ) -> None:
        children = (sequence,) if predicate is None else (sequence, predicate)
        super().__init__(start, end, *children)
        self.every = every
        self.sequence = sequence
        self.predicate = predicate

    def evaluate(self, env: Env, it: Any) -> Any:
        elements = self.sequence.evaluate(env, it)
        if not isinstance(elements, list | tuple):
            return False
        if self.every:
            return self._first_false(env, elements) is None
        predicate = self.predicate
        if predicate is None:
            return any(elements)
        return any(predicate.evaluate(env, element) for element in elements)

    def _first_false(
        self, env: Env, elements: list[Any] | tuple[Any, ...]
    ) -> int | None:
        """The position of the first element that fails, if any does."""
        predicate = self.predicate
        for position, element in enumerate(elements):
            held = element if predicate is None else predicate.evaluate(env, element)
            if not held:
                return position
        return None

    def facts(self, source: str, env: Env) -> Iterator[Fact]:
        text, elements = self.sequence.own_fact(source, env)
        if self.every and isinstance(elements, list | tuple):
            position = self._first_false(env, elements)
            if position is not None:
                yield f"{text}[{position}]", elements[position]
                return
        yield text, elements


# -- tokens -----------------------------------------------------------------

_NUMBER: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PAIRS: Final = frozenset({"==", "!=", "<=", ">=", "=~", "!~", "&&", "||"})
_SINGLES: Final = frozenset("<>()[],.+-*/!")
_ESCAPES: Final = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "r": "\r", "t": "\t"}
_HINTS: Final = {"=": "use '==' to compare", "&": "use 'and' or '&&'", "|": "use 'or'"}
_KEYWORDS: Final = frozenset({"and", "or", "not", "in", "contains"})
_CONSTANTS: Final = {"true": True, "false": False, "null": None}
_COMPARISON_OPERATORS: Final = frozenset({"==", "!=", "<", "<=", ">", ">=", "=~", "!~"})


@dataclass(frozen=True, slots=True)
class _Token:
    """One token: ``kind`` is number, string, name, op or end."""

    kind: str
    text: str
    start: int
    end: int
    value: Any = None

    def shown(self) -> str:
        return "end of condition" if self.kind == "end" else repr(self.text)


def _tokenize(source: str) -> list[_Token]:
    """Split ``source`` into tokens, ending with one of kind ``end``."""
    tokens: list[_Token] = []
    position = 0
    length = len(source)
    while position < length:
        char = source[position]
        if char in " \t\r\n":
            position += 1
            continue
        if "0" <= char <= "9":
            match = _NUMBER.match(source, position)
            assert match is not None
            text = match.group()
            value: Any = (
                float(text) if "." in text or "e" in text.lower() else int(text)
            )
            tokens.append(_Token("number", text, position, match.end(), value))
            position = match.end()
        elif char.isalpha() or char == "_":
            match = _IDENTIFIER.match(source, position)
            if match is None:
                raise ConditionSyntaxError(
                    f"unexpected character {char!r}", position + 1, source
                )
            tokens.append(_Token("name", match.group(), position, match.end()))
            position = match.end()
        elif char in "\"'":
            value, end = _read_string(source, position)
            tokens.append(_Token("string", source[position:end], position, end, value))
            position = end
        elif source[position : position + 2] in _PAIRS:
            pair = source[position : position + 2]
            tokens.append(_Token("op", pair, position, position + 2))
            position += 2
        elif char in _SINGLES:
            tokens.append(_Token("op", char, position, position + 1))
            position += 1
        else:
            raise ConditionSyntaxError(
                f"unexpected character {char!r}",
                position + 1,
                source,
                _HINTS.get(char, ""),
            )
    tokens.append(_Token("end", "", length, length))
    return tokens


def _read_string(source: str, start: int) -> tuple[str, int]:
    """The value of the string literal opening at ``start``, and where it ends."""
    quote = source[start]
    pieces: list[str] = []
    position = start + 1
    while position < len(source):
        char = source[position]
        if char == quote:
            return "".join(pieces), position + 1
        if char != "\\" or position + 1 == len(source):
            pieces.append(char)
            position += 1
            continue
        escaped = source[position + 1]
        if escaped in _ESCAPES:
            pieces.append(_ESCAPES[escaped])
            position += 2
        elif escaped == "u":
            digits = source[position + 2 : position + 6]
            if len(digits) != 4 or not all(
                c in "0123456789abcdefABCDEF" for c in digits
            ):
                raise ConditionSyntaxError(
                    "invalid escape", position + 1, source, "\\u needs four hex digits"
                )
            pieces.append(chr(int(digits, 16)))
            position += 6
        else:
            # Kept as written, so regular expressions read naturally: "\d+".
            pieces.append(char + escaped)
            position += 2
    raise ConditionSyntaxError("unterminated string", start + 1, source)


# -- parser -----------------------------------------------------------------

_N = TypeVar("_N", bound=_Node)


class _Parser:
    """Recursive descent over the tokens, one method per grammar rule."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.names: set[str] = set()
        self._tokens = _tokenize(source)
        self._position = 0
        self._nesting = 0
        self._predicates = 0

    def parse(self) -> _Node:
        if self._peek().kind == "end":
            raise ConditionSyntaxError("condition is empty", 1, self.source)
        root = self._expression()
        token = self._peek()
        if token.kind == "end":
            return root
        if token.text == ")":
            raise self._error("unmatched ')'", token)
        raise self._error(
            f"unexpected {token.shown()}",
            token,
            "expected an operator or the end of the condition",
        )

    # Helpers.

    def _peek(self, ahead: int = 0) -> _Token:
        index = min(self._position + ahead, len(self._tokens) - 1)
        return self._tokens[index]

    def _advance(self) -> _Token:
        token = self._tokens[self._position]
        self._position += 1
        return token

    def _is(self, token: _Token, *texts: str) -> bool:
        """Whether ``token`` is one of the operators or keywords ``texts``."""
        return token.kind in ("op", "name") and token.text in texts

    def _expect(self, text: str) -> _Token:
        token = self._peek()
        if token.kind != "op" or token.text != text:
            raise self._error(f"expected {text!r}", token, f"found {token.shown()}")
        return self._advance()

    def _error(
        self, message: str, token: _Token, detail: str = ""
    ) -> ConditionSyntaxError:
        return ConditionSyntaxError(message, token.start + 1, self.source, detail)

    def _too_deep(self, column: int) -> ConditionSyntaxError:
        return ConditionSyntaxError(
            f"condition nests deeper than {MAX_DEPTH} levels", column, self.source
        )

    def _enter(self, token: _Token) -> None:
        """Count one more level of nesting, refusing conditions built to recurse."""
        self._nesting += 1
        if self._nesting > MAX_DEPTH:
            raise self._too_deep(token.start + 1)

    def _leave(self) -> None:
        self._nesting -= 1

    def _built(self, node: _N, at: _Token | None = None) -> _N:
        """Refuse ``node`` if it makes the tree too deep, blaming ``at`` if given."""
        if node.depth > MAX_DEPTH:
            raise self._too_deep(node.start + 1 if at is None else at.start + 1)
        return node

    # Rules, loosest binding first.

    def _expression(self) -> _Node:
        self._enter(self._peek())
        node = self._or()
        self._leave()
        return node

    def _or(self) -> _Node:
        parts = [self._and()]
        while self._is(self._peek(), "or", "||"):
            self._advance()
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        return self._built(_Or(parts[0].start, parts[-1].end, parts))

    def _and(self) -> _Node:
        parts = [self._not()]
        while self._is(self._peek(), "and", "&&"):
            self._advance()
            parts.append(self._not())
        if len(parts) == 1:
            return parts[0]
        return self._built(_And(parts[0].start, parts[-1].end, parts))

    def _not(self) -> _Node:
        token = self._peek()
        if not self._is(token, "not", "!"):
            return self._comparison()
        self._advance()
        self._enter(token)
        operand = self._not()
        self._leave()
        return self._built(_Not(token.start, operand.end, operand))

    def _comparison_operator(self) -> str | None:
        """The comparison operator at the current token, without consuming it."""
        token = self._peek()
        if token.kind == "op" and token.text in _COMPARISON_OPERATORS:
            return token.text
        if self._is(token, "in", "contains"):
            return token.text
        if self._is(token, "not") and self._is(self._peek(1), "in"):
            return "not in"
        return None

    def _comparison(self) -> _Node:
        left = self._sum()
        operator_text = self._comparison_operator()
        if operator_text is None:
            return left
        self._advance()
        if operator_text == "not in":
            self._advance()
        right = self._sum()
        if operator_text in ("=~", "!~"):
            node: _Node = _Match(
                left, right, self._pattern(right), negate=operator_text == "!~"
            )
        elif isinstance(right, _Literal):
            node = _ConstantComparison(left, _COMPARISONS[operator_text], right)
        else:
            node = _Comparison(left, _COMPARISONS[operator_text], right)
        if self._comparison_operator() is not None:
            raise self._error(
                "comparisons cannot be chained", self._peek(), "join them with 'and'"
            )
        return self._built(node)

    def _pattern(self, node: _Node) -> re.Pattern[str] | None:
        """Compile a literal pattern now, so a bad one fails the parse."""
        if not isinstance(node, _Literal):
            return None
        column = node.start + 1
        if not isinstance(node.value, str):
            raise ConditionSyntaxError(
                "regular expression must be a string", column, self.source
            )
        if len(node.value) > MAX_PATTERN_LENGTH:
            raise ConditionSyntaxError(
                f"regular expression longer than {MAX_PATTERN_LENGTH} characters",
                column,
                self.source,
            )
        try:
            return re.compile(node.value)
        except re.error as exc:
            raise ConditionSyntaxError(
                "invalid regular expression", column, self.source, str(exc)
            ) from exc

    def _sum(self) -> _Node:
        node = self._product()
        while self._is(self._peek(), "+", "-"):
            token = self._advance()
            operand = self._product()
            node = self._built(_Binary(node, _ARITHMETIC[token.text], operand), token)
        return node

    def _product(self) -> _Node:
        node = self._unary()
        while self._is(self._peek(), "*", "/"):
            token = self._advance()
            operand = self._unary()
            node = self._built(_Binary(node, _ARITHMETIC[token.text], operand), token)
        return node

    def _unary(self) -> _Node:
        token = self._peek()
        if not (token.kind == "op" and token.text == "-"):
            return self._postfix()
        self._advance()
        self._enter(token)
        operand = self._unary()
        self._leave()
        if isinstance(operand, _Literal) and _is_number(operand.value):
            return _Literal(token.start, operand.end, -operand.value)
        return self._built(_Negate(token.start, operand.end, operand))

    def _postfix(self) -> _Node:
        node = self._primary()
        while True:
            token = self._peek()
            if self._is(token, "."):
                self._advance()
                key = self._peek()
                if key.kind != "name":
                    raise self._error("expected a name after '.'", key)
                self._advance()
                node = self._built(_Step(node.start, key.end, node, key.text))
            elif self._is(token, "["):
                self._advance()
                index = self._expression()
                close = self._expect("]")
                node = self._built(self._subscript(node, index, close.end))
            else:
                return node

    def _subscript(self, target: _Node, index: _Node, end: int) -> _Node:
        if isinstance(index, _Literal) and isinstance(index.value, str | int):
            # A boolean is an int to Python but never a list position here.
            if isinstance(index.value, bool):
                return _Index(target.start, end, target, index)
            return _Step(target.start, end, target, index.value)
        return _Index(target.start, end, target, index)

    def _primary(self) -> _Node:
        token = self._peek()
        if token.kind in ("number", "string"):
            self._advance()
            return _Literal(token.start, token.end, token.value)
        if token.kind == "name":
            return self._name(token)
        if self._is(token, "("):
            self._advance()
            node = self._expression()
            close = self._expect(")")
            # The span takes in the parentheses so that clause text reads whole.
            node.start, node.end = token.start, close.end
            return node
        if self._is(token, "["):
            return self._list(token)
        if token.kind == "end":
            raise self._error("unexpected end of condition", token, "expected a value")
        raise self._error(f"unexpected {token.shown()}", token, "expected a value")

    def _name(self, token: _Token) -> _Node:
        if token.text in _CONSTANTS:
            self._advance()
            return _Literal(token.start, token.end, _CONSTANTS[token.text])
        if token.text in _KEYWORDS:
            raise self._error(f"unexpected {token.shown()}", token, "expected a value")
        if self._is(self._peek(1), "("):
            return self._call(token)
        self._advance()
        if token.text == "it" and self._predicates:
            return _It(token.start, token.end)
        self.names.add(token.text)
        return _Name(token.start, token.end, token.text)

    def _predicate(self) -> _Node:
        """An expression in which ``it`` names the element under test."""
        self._predicates += 1
        node = self._expression()
        self._predicates -= 1
        return node

    def _list(self, opening: _Token) -> _Node:
        self._advance()
        items: list[_Node] = []
        while not self._is(self._peek(), "]"):
            items.append(self._expression())
            if not self._is(self._peek(), ","):
                break
            self._advance()
        close = self._expect("]")
        if all(isinstance(item, _Literal) for item in items):
            values = [item.value for item in items if isinstance(item, _Literal)]
            return _Literal(opening.start, close.end, values)
        return self._built(_List(opening.start, close.end, items))

    def _call(self, name: _Token) -> _Node:
        known = _FUNCTIONS.get(name.text)
        if known is None:
            raise self._error(
                f"unknown function {name.text!r}",
                name,
                "known functions are " + ", ".join(sorted(_FUNCTIONS)),
            )
        function, fewest, most = known
        self._advance()
        self._advance()
        arguments: list[_Node] = []
        while not self._is(self._peek(), ")"):
            # The second argument of any() and all() is the predicate over `it`.
            if function is None and len(arguments) == 1:
                arguments.append(self._predicate())
            else:
                arguments.append(self._expression())
            if not self._is(self._peek(), ","):
                break
            self._advance()
        close = self._expect(")")
        if not fewest <= len(arguments) <= most:
            expected = str(fewest) if fewest == most else f"{fewest} or {most}"
            raise self._error(
                f"wrong number of arguments for {name.text}()",
                name,
                f"expected {expected}, got {len(arguments)}",
            )
        if function is not None:
            return self._built(_Call(name.start, close.end, function, arguments[0]))
        predicate = arguments[1] if len(arguments) == 2 else None
        every = name.text == "all"
        quantifier = _Quantifier(name.start, close.end, every, arguments[0], predicate)
        return self._built(quantifier)


# -- public -----------------------------------------------------------------


@final
class Condition:
    """A parsed condition, ready to be evaluated against many results.

    ``names`` holds the top-level names it reads (``body`` for ``body.status``),
    so a check can tell which parts of its result it needs to provide.
    """

    __slots__ = ("_clauses", "_root", "names", "source")

    def __init__(self, source: str, root: _Node, names: frozenset[str]) -> None:
        self.source = source
        self.names = names
        self._root = root
        self._clauses = tuple(_clauses(root))

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Condition):
            return NotImplemented
        return self.source == other.source

    def __hash__(self) -> int:
        return hash(self.source)

    def __reduce__(self) -> tuple[Callable[[str], Condition], tuple[str]]:
        return parse_condition, (self.source,)

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        """The raw value of the condition; ``MISSING`` when it reads nothing there."""
        return self._root.evaluate(env, MISSING)

    def check(self, env: Mapping[str, Any]) -> str | None:
        """None when the condition holds, else why the first failing clause failed.

        Clauses are the parts joined by a top-level ``and``; the explanation
        quotes the clause and the values it compared, for example
        ``status == 200 failed: status is 503``.
        """
        for clause in self._clauses:
            try:
                if clause.evaluate(env, MISSING):
                    continue
                return self._explain(clause, env)
            except Exception as exc:
                # A value of an unexpected type must not take the check down.
                logger.debug("condition %r raised", self.source, exc_info=True)
                text = self.source[clause.start : clause.end]
                return f"{text} could not be evaluated: {exc!r}"
        return None

    def _explain(self, clause: _Node, env: Env) -> str:
        text = self.source[clause.start : clause.end]
        stated: dict[str, str] = {}
        for subject, value in clause.facts(self.source, env):
            stated.setdefault(subject, f"{subject} is {_describe(value)}")
        if not stated:
            return f"{text} failed"
        return f"{text} failed: " + ", ".join(stated.values())


def _clauses(node: _Node) -> Iterator[_Node]:
    """The parts of a top-level ``and``, with nested ``and`` flattened."""
    if type(node) is _And:
        for part in node.parts:
            yield from _clauses(part)
    else:
        yield node


def parse_condition(source: str) -> Condition:
    """Parse ``source`` once, or raise ``ConditionSyntaxError`` naming the column."""
    if len(source) > MAX_SOURCE_LENGTH:
        raise ConditionSyntaxError(
            f"condition is longer than {MAX_SOURCE_LENGTH} characters",
            MAX_SOURCE_LENGTH + 1,
            source,
        )
    parser = _Parser(source)
    root = parser.parse()
    return Condition(source, root, frozenset(parser.names))
