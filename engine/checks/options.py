"""Readers for the option values that several check kinds share."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from engine.conditions import Condition, parse_condition
from engine.errors import FieldError

_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")

# One int object per port number in use; ports past 256 are otherwise a
# separate object in each check. There are only 65535 of them.
_PORTS: dict[int, int] = {}


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


def is_ipv4(text: str) -> bool:
    """Whether ``text`` is an IPv4 address in the form ``ipaddress`` accepts.

    Four decimal octets up to 255 without leading zeros, like
    ``ipaddress.IPv4Address``; a pattern match is many times cheaper than
    letting ``ipaddress`` raise for every host name, and only text holding a
    colon can be an IPv6 address instead.
    """
    return _IPV4.fullmatch(text) is not None


def shared_port(port: int) -> int:
    """``port`` as the one int object that every check on that port holds."""
    return _PORTS.setdefault(port, port)
