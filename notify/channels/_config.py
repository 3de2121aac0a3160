"""Reading a channel's stored configuration, one field at a time.

Every HTTP channel checks its fields the same way, so the rules live here:
unknown fields are refused, a missing required field is named, and every
problem is kept until the end so the user sees all of them at once. A field
listed as secret never has its value quoted in a problem, since problems
end up in logs and API answers.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from engine.durations import format_duration, parse_duration
from engine.errors import FieldError, ValidationError
from notify.templates import ChannelTemplates, read_templates

DEFAULT_TIMEOUT: Final = 10.0
"""Seconds one delivery attempt may take, unless the channel says otherwise."""

MAX_TIMEOUT: Final = 60.0
"""The longest attempt allowed: a sender stuck longer holds up other deliveries."""

HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


TEMPLATE_FIELDS: Final = ("language", "title", "text")
"""The fields of every channel that say how its notifications are worded."""


class ConfigReader:
    """The checked fields of one channel's configuration, and what was wrong.

    Each reading method returns a usable value (the default when the field
    is bad) and records the problem, so a channel reads every field before
    ``done`` raises one ``ValidationError`` naming them all.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        kind: str,
        fields: Collection[str],
        secrets: Collection[str] = (),
    ) -> None:
        if not isinstance(config, Mapping):
            raise ValidationError(
                [FieldError("", f"must be a mapping of fields, got {config!r}")]
            )
        self._config = config
        self._secrets = frozenset(secrets)
        self.errors: list[FieldError] = []

        known = {"kind", *fields}
        for name in config:
            if name not in known:
                self.errors.append(FieldError(str(name), "unknown field"))
        given_kind = config.get("kind", kind)
        if given_kind != kind:
            self.errors.append(
                FieldError("kind", f"must be {kind!r}, got {given_kind!r}")
            )

    def templates(self) -> ChannelTemplates:
        """The channel's ``language``, ``title`` and ``text`` (``TEMPLATE_FIELDS``)."""
        return read_templates(self._config, self.errors)

    def done(self) -> None:
        """Raise every problem found so far, if there was any."""
        if self.errors:
            raise ValidationError(self.errors)

    def problem(self, name: str, problem: str) -> None:
        self.errors.append(FieldError(name, problem))

    def got(self, name: str, value: Any) -> str:
        """How a problem quotes the value it refuses; secrets show only their type."""
        if name in self._secrets:
            return f"got a value of type {type(value).__name__}"
        return f"got {value!r}"

    def raw(self, name: str) -> Any:
        """The field as given; None when it is absent or null."""
        return self._config.get(name)

    def text(
        self,
        name: str,
        *,
        required: bool = False,
        default: str = "",
        pattern: re.Pattern[str] | None = None,
        shape: str = "non-empty text",
    ) -> str:
        """A text field; ``pattern``, when given, must match it whole."""
        value = self._config.get(name)
        if value is None:
            if required:
                self.problem(name, "is required")
            return default
        if not isinstance(value, str) or not value.strip():
            self.problem(name, f"must be {shape}, {self.got(name, value)}")
            return default
        if pattern is not None and not pattern.fullmatch(value):
            self.problem(name, f"must be {shape}, {self.got(name, value)}")
            return default
        return value

    def url(self, name: str, *, default: str | None = None, base: bool = False) -> str:
        """An http(s) URL; required when there is no ``default``.

        A ``base`` URL is one that paths are added to (an API's address): it
        may not carry a query or a fragment, and loses any trailing slash.
        """
        value = self._config.get(name)
        if value is None:
            if default is None:
                self.problem(name, "is required")
            return default or ""
        problem = url_problem(value, base=base)
        if problem is not None:
            self.problem(name, f"{problem}, {self.got(name, value)}")
            return default or ""
        text: str = value.strip()
        return text.rstrip("/") if base else text

    def timeout(self, name: str = "timeout") -> float:
        """Seconds an attempt may take: a number or a duration such as ``5s``."""
        value = self._config.get(name)
        if value is None:
            return DEFAULT_TIMEOUT
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.problem(name, str(exc))
            return DEFAULT_TIMEOUT
        if seconds <= 0:
            self.problem(name, f"must be above 0s, got {value!r}")
            return DEFAULT_TIMEOUT
        if seconds > MAX_TIMEOUT:
            self.problem(
                name,
                f"must be at most {format_duration(MAX_TIMEOUT)}, "
                f"got {format_duration(seconds)}",
            )
            return DEFAULT_TIMEOUT
        return seconds


def url_problem(value: Any, *, base: bool = False) -> str | None:
    """What keeps ``value`` from being an http(s) URL to post to, or None."""
    shape = "must be an http or https URL"
    if not isinstance(value, str):
        return shape
    text = value.strip()
    if any(char.isspace() for char in text) or not text.isascii():
        return f"{shape} without spaces or non-ASCII characters"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return shape
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return shape
    if port == 0:
        return shape
    if base and (parts.query or parts.fragment or text.endswith(("?", "#"))):
        return f"{shape} without a query or fragment"
    return None
