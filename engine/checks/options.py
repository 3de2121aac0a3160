"""Readers for the option values that several check kinds share."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from engine.conditions import Condition, parse_condition
from engine.errors import FieldError

_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def condition_option(
    value: Any, provides: Sequence[str], errors: list[FieldError]
) -> Condition | None:
    """The parsed ``condition`` option, which may read only the names in ``provides``.

    A name the kind does not provide would always be missing, so the
    condition could never hold; it is refused when the monitor is defined
    rather than failing every check.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        errors.append(
            FieldError("options.condition", f"must be non-empty text, got {value!r}")
        )
        return None
    try:
        condition = parse_condition(value)
    except ValueError as exc:
        errors.append(FieldError("options.condition", str(exc)))
        return None
    unknown = sorted(condition.names - set(provides))
    if unknown:
        errors.append(
            FieldError(
                "options.condition",
                f"reads {', '.join(unknown)}, which this check does not provide; "
                f"it provides {', '.join(provides)}",
            )
        )
        return None
    return condition


def is_hostname(host: str) -> bool:
    """Whether ``host`` is a syntactically valid DNS name (a trailing dot is fine)."""
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 253:
        return False
    return all(_LABEL.fullmatch(label) for label in name.split("."))
