"""The assertion language that monitors use to judge a check's result.

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
  quotes with the escapes ``\\\\ \\" \\' \\n \\r \\t \\uXXXX``. Any other
  backslash is kept as written, so ``"\\d+"`` is the regular expression ``\\d+``.
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
* ``&&``, ``||`` and ``!`` may be written for ``and``, ``or`` and ``not``.
  A condition holds when its value is truthy: true, a non-zero number or a
  non-empty string, list or mapping.

Conditions come from monitor definitions, so the parser caps their length,
their nesting and the length of regular expressions.
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
from typing import Any, Final, final

logger = logging.getLogger(__name__)

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

    def __init__(self, message: str, column: int, source: str, detail: str = "") -> None:
        self.message = message
        self.column = column
        self.source = source
        self.detail = detail
        text = f"{message} at column {column}"
        super().__init__(f"{text}: {detail}" if detail else text)

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
