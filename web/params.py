"""Reading query parameters and request bodies, refusing bad ones by name.

Every refusal is a ``BadRequest`` whose message starts with the parameter at
fault, e.g. ``limit: must be a whole number between 1 and 1000, got 'x'``, so
a client can fix its request without reading server logs.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Collection, Mapping
from typing import Any

from sanic import Request

from web.errors import BadRequest

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})
"""How a yes-or-no parameter may be written."""


class Query:
    """A request's query parameters, each given at most once and all known."""

    def __init__(self, request: Request, known: Collection[str]) -> None:
        self._values: dict[str, str] = {}
        for name, values in request.args.items():
            if name not in known:
                choices = ", ".join(sorted(known)) or "none"
                raise BadRequest.parameter(
                    name, f"is not a known parameter; known: {choices}"
                )
            if len(values) > 1:
                raise BadRequest.parameter(name, "must be given at most once")
            self._values[name] = values[0]

    def text(self, name: str, *, limit: int = 200) -> str | None:
        """A text parameter, or None when it is absent or empty."""
        value = self._values.get(name)
        if not value:
            return None
        if len(value) > limit:
            raise BadRequest.parameter(name, f"must be at most {limit} characters")
        return value

    def choice(self, name: str, choices: Collection[str]) -> str | None:
        """A parameter that must be one of a few words."""
        value = self.text(name)
        if value is not None and value not in choices:
            raise BadRequest.parameter(
                name, f"must be one of {', '.join(choices)}, got {value!r}"
            )
        return value

    def boolean(self, name: str) -> bool | None:
        """A yes-or-no parameter: true/false, 1/0, yes/no or on/off."""
        value = self.text(name)
        if value is None:
            return None
        lowered = value.lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
        raise BadRequest.parameter(name, f"must be true or false, got {value!r}")

    def limit(self, name: str = "limit") -> int:
        """How many items to return: 1 to ``MAX_LIMIT``, ``DEFAULT_LIMIT`` if absent."""
        value = self.text(name)
        if value is None:
            return DEFAULT_LIMIT
        problem = f"must be a whole number between 1 and {MAX_LIMIT}, got {value!r}"
        try:
            number = int(value)
        except ValueError:
            raise BadRequest.parameter(name, problem) from None
        if not 1 <= number <= MAX_LIMIT:
            raise BadRequest.parameter(name, problem)
        return number

    def time(self, name: str) -> float | None:
        """A moment as unix seconds, given as seconds or as ISO 8601.

        An ISO 8601 time without an offset is taken as UTC, the zone every
        stored timestamp is in.
        """
        value = self.text(name)
        if value is None:
            return None
        problem = f"must be unix seconds or an ISO 8601 time, got {value!r}"
        try:
            seconds = float(value)
        except ValueError:
            try:
                moment = datetime.datetime.fromisoformat(value)
            except ValueError:
                raise BadRequest.parameter(name, problem) from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.UTC)
            return moment.timestamp()
        if not math.isfinite(seconds):
            raise BadRequest.parameter(name, problem)
        return seconds


def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object."""
    if not request.body:
        raise BadRequest.parameter("body", "must be a JSON object, got nothing")
    try:
        document = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest.parameter("body", f"is not valid JSON: {exc}") from None
    if not isinstance(document, Mapping):
        raise BadRequest.parameter(
            "body", f"must be a JSON object, got {_json_type(document)}"
        )
    return dict(document)


def _json_type(value: Any) -> str:
    """What a decoded JSON value is called in JSON's own terms."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"
