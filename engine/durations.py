"""Durations as people write them (``30s``, ``5m``, ``1h30m``) and as seconds."""

from __future__ import annotations

import functools
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


DURATION_CACHE_SIZE = 1024
"""How many distinct whole-second and text durations keep their parsed value."""


def parse_duration(value: object) -> float:
    """Seconds from a number of seconds or a string such as ``1h30m`` or ``250ms``.

    Raises ``ValueError`` with a message fit to follow a field name. A million
    monitors say ``300`` or ``5m`` over and over, so those values are parsed
    once and every monitor holds the same float object.
    """
    if type(value) is int or type(value) is str:
        return _parse_recurring(value)
    return _parse(value)


@functools.lru_cache(maxsize=DURATION_CACHE_SIZE)
def _parse_recurring(value: int | str) -> float:
    # An int and a str never compare equal, so neither is taken for the other;
    # a value that does not parse raises and is not kept.
    return _parse(value)


def _parse(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError(f"must be a duration such as 30s or 5m, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"must be a duration such as 30s or 5m, got {value!r}")
    text = value.strip().replace(" ", "")
    try:
        return float(text)
    except ValueError:
        pass
    total = 0.0
    position = 0
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(f"must be a duration such as 30s or 5m, got {value!r}")
    return total


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 0.25 -> 250ms, 90 -> 1m30s, 86400 -> 24h."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    whole = int(seconds)
    if whole != seconds:
        return f"{seconds:g}s"
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
