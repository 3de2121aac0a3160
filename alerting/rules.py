"""Alert routes and escalation policies: what users configure, checked field by field.

A route picks monitors (by id, tag or kind), says how their incidents are
grouped into notifications and which channels get them, and may name an
escalation policy. A policy is a ladder of levels, each with channels and a
delay, climbed by an incident nobody acknowledges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from engine.durations import format_duration, parse_duration
from engine.errors import FieldError, ValidationError
from engine.ids import ID_PATTERN

SETTING_ID: Final = ID_PATTERN
"""The shape of the id of a route, policy, channel or maintenance window."""

DEFAULT_GROUP_WAIT: Final = 30.0
DEFAULT_GROUP_INTERVAL: Final = 300.0
DEFAULT_REPEAT_INTERVAL: Final = 4 * 3600.0
MAX_LISTED: Final = 1000
"""The most ids, tags or channels one list in a setting may hold."""

GROUP_FIELDS: Final = ("monitor", "kind", "priority", "target", "tags")
"""Fields a route can group by, besides ``tag:<key>`` and ``options.<name>``."""


class FieldReader:
    """The checked fields of one setting, and every problem found in them.

    Each method returns a usable value (its default when the field is bad)
    and records the problem, so that ``done`` reports them all at once.
    """

    def __init__(self, data: Any, fields: Iterable[str]) -> None:
        self.errors: list[FieldError] = []
        if not isinstance(data, Mapping):
            raise ValidationError([FieldError("", f"must be an object, got {data!r}")])
        self.data = data
        known = set(fields)
        self.errors.extend(
            FieldError(str(name), "unknown field") for name in data if name not in known
        )

    def done(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)

    def problem(self, name: str, problem: str) -> None:
        self.errors.append(FieldError(name, problem))

    def ident(self, name: str = "id") -> str:
        value = self.data.get(name)
        if not isinstance(value, str) or SETTING_ID.fullmatch(value) is None:
            self.problem(
                name,
                "must be 1-64 letters, digits, '.', '_' or '-', starting with a "
                f"letter or digit, got {value!r}",
            )
            return ""
        return value

    def text(self, name: str, default: str, limit: int = 200) -> str:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, str) or len(value) > limit:
            self.problem(name, f"must be text of at most {limit} characters")
            return default
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            self.problem(name, f"must be true or false, got {value!r}")
            return default
        return value

    def names(self, name: str, *, ids: bool = True) -> tuple[str, ...]:
        """A list of ids (or, with ``ids`` off, of non-empty texts), each once."""
        value = self.data.get(name)
        if value is None:
            return ()
        if not isinstance(value, list | tuple) or len(value) > MAX_LISTED:
            self.problem(name, f"must be a list of at most {MAX_LISTED} names")
            return ()
        kept: list[str] = []
        for index, item in enumerate(value):
            good = isinstance(item, str) and (
                SETTING_ID.fullmatch(item) is not None
                if ids
                else 0 < len(item.strip()) <= 200
            )
            if not good:
                self.problem(f"{name}[{index}]", f"must be a name, got {item!r}")
            elif item not in kept:
                kept.append(item)
        return tuple(kept)

    def seconds(
        self, name: str, default: float | None, low: float, high: float
    ) -> float | None:
        value = self.data.get(name)
        if value is None:
            return default
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.problem(name, str(exc))
            return default
        if not low <= seconds <= high:
            self.problem(
                name,
                f"must be between {format_duration(low)} and "
                f"{format_duration(high)}, got {format_duration(seconds)}",
            )
            return default
        return seconds

    def whole(self, name: str, default: int, low: int, high: int) -> int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(name, f"must be a whole number, got {value!r}")
            return default
        if not low <= value <= high:
            self.problem(name, f"must be between {low} and {high}, got {value}")
            return default
        return value


@dataclass(frozen=True, slots=True)
class Route:
    """Which monitors' incidents go where, and how they are grouped.

    A route with no ``monitors``, ``tags`` or ``kinds`` takes every monitor.
    Routes are tried by ``order`` (then id) and the first that matches takes
    the monitor. Incidents whose monitors share the values of ``group_by``
    go out together: the first notification waits ``group_wait`` for others
    to join, changes follow at most every ``group_interval``, and a group
    still firing is told again every ``repeat_interval``.
    """

    id: str
    name: str = ""
    monitors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ("monitor",)
    group_wait: float = DEFAULT_GROUP_WAIT
    group_interval: float = DEFAULT_GROUP_INTERVAL
    repeat_interval: float = DEFAULT_REPEAT_INTERVAL
    channels: tuple[str, ...] = ()
    escalation: str | None = None
    order: int = 100

    def matches(self, definition: Mapping[str, Any]) -> bool:
        if not (self.monitors or self.tags or self.kinds):
            return True
        if definition.get("id") in self.monitors:
            return True
        if definition.get("kind") in self.kinds:
            return True
        return any(tag in self.tags for tag in definition.get("tags") or ())

    def labels(self, definition: Mapping[str, Any]) -> tuple[str, ...]:
        """The values of ``group_by`` for a monitor: its group within the route."""
        return tuple(group_value(name, definition) for name in self.group_by)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "monitors": list(self.monitors),
            "tags": list(self.tags),
            "kinds": list(self.kinds),
            "group_by": list(self.group_by),
            "group_wait": self.group_wait,
            "group_interval": self.group_interval,
            "repeat_interval": self.repeat_interval,
            "channels": list(self.channels),
            "escalation": self.escalation,
            "order": self.order,
        }


def group_value(name: str, definition: Mapping[str, Any]) -> str:
    """One grouping label of a monitor, as text ("" when it has none)."""
    if name == "monitor":
        return str(definition.get("id", ""))
    if name == "tags":
        return ",".join(sorted(definition.get("tags") or ()))
    if name.startswith("tag:"):
        # Tags written as key:value or key=value group by their value.
        key = name[4:]
        for tag in definition.get("tags") or ():
            for separator in (":", "="):
                if tag.startswith(key + separator):
                    return str(tag[len(key) + 1 :])
        return ""
    if name.startswith("options."):
        value = (definition.get("options") or {}).get(name[8:])
        return "" if value is None else str(value)
    value = definition.get(name)
    return "" if value is None else str(value)


def route_from_dict(data: Any) -> Route:
    """Check a route's definition; ``ValidationError`` names every bad field."""
    fields = Route.__dataclass_fields__
    reader = FieldReader(data, fields)
    route_id = reader.ident()
    group_by = reader.names("group_by", ids=False) if "group_by" in reader.data else ()
    for index, name in enumerate(group_by):
        if not (
            name in GROUP_FIELDS
            or (name.startswith("tag:") and len(name) > 4)
            or (name.startswith("options.") and len(name) > 8)
        ):
            reader.problem(
                f"group_by[{index}]",
                f"must be one of {', '.join(GROUP_FIELDS)}, tag:<key> or "
                f"options.<name>, got {name!r}",
            )
    escalation = reader.data.get("escalation")
    if escalation is not None and (
        not isinstance(escalation, str) or SETTING_ID.fullmatch(escalation) is None
    ):
        reader.problem("escalation", f"must be a policy id, got {escalation!r}")
        escalation = None
    group_wait = reader.seconds("group_wait", DEFAULT_GROUP_WAIT, 0.0, 3600.0)
    group_interval = reader.seconds(
        "group_interval", DEFAULT_GROUP_INTERVAL, 1.0, 86400.0
    )
    repeat_interval = reader.seconds(
        "repeat_interval", DEFAULT_REPEAT_INTERVAL, 60.0, 30 * 86400.0
    )
    route = Route(
        id=route_id,
        name=reader.text("name", route_id),
        monitors=reader.names("monitors"),
        tags=reader.names("tags", ids=False),
        kinds=reader.names("kinds"),
        group_by=group_by if "group_by" in reader.data else ("monitor",),
        group_wait=group_wait or 0.0,
        group_interval=group_interval or DEFAULT_GROUP_INTERVAL,
        repeat_interval=repeat_interval or DEFAULT_REPEAT_INTERVAL,
        channels=reader.names("channels"),
        escalation=escalation,
        order=reader.whole("order", 100, -1_000_000, 1_000_000),
    )
    reader.done()
    return route


@dataclass(frozen=True, slots=True)
class EscalationLevel:
    """One rung of a policy: who is told, and how long after the rung before."""

    channels: tuple[str, ...]
    delay: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"channels": list(self.channels), "delay": self.delay}


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """Who is told about an incident nobody acknowledges, and when.

    Level ``i`` is told ``levels[i].delay`` seconds after level ``i - 1``
    (the first level after the incident opens). After the last level the
    ladder is climbed again ``repeat`` more times. An acknowledgement stops
    the climb; with ``ack_timeout`` it lasts only that long, and an incident
    still open then starts again from the first level.
    """

    id: str
    name: str = ""
    levels: tuple[EscalationLevel, ...] = field(default=())
    repeat: int = 0
    ack_timeout: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "levels": [level.to_dict() for level in self.levels],
            "repeat": self.repeat,
            "ack_timeout": self.ack_timeout,
        }


MAX_LEVELS: Final = 20


def policy_from_dict(data: Any) -> EscalationPolicy:
    """Check a policy's definition; ``ValidationError`` names every bad field."""
    reader = FieldReader(data, EscalationPolicy.__dataclass_fields__)
    policy_id = reader.ident()
    levels: list[EscalationLevel] = []
    given = reader.data.get("levels")
    if not isinstance(given, list) or not 1 <= len(given) <= MAX_LEVELS:
        reader.problem("levels", f"must be a list of 1 to {MAX_LEVELS} levels")
        given = []
    for index, level in enumerate(given):
        try:
            levels.append(_level_from_dict(level))
        except ValidationError as exc:
            reader.errors.extend(
                error.within(f"levels[{index}]") for error in exc.errors
            )
    policy = EscalationPolicy(
        id=policy_id,
        name=reader.text("name", policy_id),
        levels=tuple(levels),
        repeat=reader.whole("repeat", 0, 0, 100),
        ack_timeout=reader.seconds("ack_timeout", None, 60.0, 7 * 86400.0),
    )
    reader.done()
    return policy


def _level_from_dict(data: Any) -> EscalationLevel:
    reader = FieldReader(data, ("channels", "delay"))
    channels = reader.names("channels")
    if not channels:
        reader.problem("channels", "must name at least one channel")
    delay = reader.seconds("delay", 0.0, 0.0, 7 * 86400.0)
    reader.done()
    return EscalationLevel(channels, delay or 0.0)
