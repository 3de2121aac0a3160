"""Maintenance windows: when monitors are under planned work, and so kept quiet.

A window names monitors by id or by tag. While one of its occurrences is in
force, their alerts are suppressed and their state shows MAINTENANCE. A window
is one-off (a start and an end) or recurring (a cron expression read in a
time zone, each occurrence lasting a fixed duration).

Recurring starts follow cron's rules for clock changes, as ``cronsim`` applies
them: a start that falls in the hour skipped in spring happens when the clock
jumps, and a start in the hour repeated in autumn happens once, on the first
pass. Every occurrence then lasts its duration in real seconds, so a two-hour
window that starts just before a change still ends two hours later.

The dictionary form (``to_dict``/``maintenance_from_dict``) is the shape the
REST API receives and returns.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from engine.durations import parse_duration
from engine.errors import FieldError, ValidationError
from engine.ids import ID_PATTERN as _ID

MIN_DURATION = 60.0
MAX_DURATION = 7 * 86400.0
MAX_NAME = 200
MAX_DESCRIPTION = 4000
MAX_TAG = 64
MAX_CRON = 200
DEFAULT_TIMEZONE = "UTC"

# Unix seconds from 1970 up to the end of year 9999, the range datetime can
# show; a time outside it is a typo, not a plan.
LAST_MOMENT = 253402300800.0

MAX_CHAIN = 64
"""How many overlapping occurrences ``next_change`` follows to find an end.

Occurrences may overlap (every hour for ninety minutes), and then maintenance
goes on until a gap. Past this many the walk stops; the caller is woken while
maintenance still holds, asks again and walks on from there.
"""

FIELDS = (
    "id",
    "name",
    "description",
    "monitors",
    "tags",
    "enabled",
    "start",
    "end",
    "cron",
    "duration",
    "timezone",
)

# Any moment serves to check an expression; a fixed one keeps validation
# from depending on the day it runs.
_CHECK_FROM = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A stretch of planned work on some monitors, once or on a schedule.

    Built from a definition by ``maintenance_from_dict``, which checks every
    field; a window built directly is trusted, save that it must be exactly
    one of one-off (``start`` and ``end``) or recurring (``cron`` and
    ``duration``). Times are unix seconds and durations are seconds.
    """

    id: str
    name: str
    monitors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    description: str = ""
    enabled: bool = True
    start: float | None = None
    end: float | None = None
    cron: str | None = None
    duration: float | None = None
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        # One pair is given whole and the other not at all.
        once = (self.start is not None) + (self.end is not None)
        repeats = (self.cron is not None) + (self.duration is not None)
        if {once, repeats} != {0, 2}:
            raise ValueError(
                "a maintenance window needs start and end, or cron and duration"
            )

    @property
    def recurring(self) -> bool:
        """Whether the window comes round on a cron schedule, not just once."""
        return self.cron is not None

    def to_dict(self) -> dict[str, Any]:
        """The definition, in the shape ``maintenance_from_dict`` reads back."""
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "monitors": list(self.monitors),
            "tags": list(self.tags),
            "enabled": self.enabled,
        }
        if self.cron is not None:
            data["cron"] = self.cron
            data["duration"] = self.duration
        else:
            data["start"] = self.start
            data["end"] = self.end
        data["timezone"] = self.timezone
        return data

    def covers(self, monitor_id: str, tags: Iterable[str]) -> bool:
        """Whether the window is for this monitor, named by id or by any tag."""
        if monitor_id in self.monitors:
            return True
        return bool(self.tags) and any(tag in self.tags for tag in tags)

    def span_at(self, now: float) -> tuple[float, float] | None:
        """The (start, end) of the occurrence in force at ``now``, if any.

        An occurrence is in force from its start, inclusive, to its end,
        exclusive. When occurrences overlap, the one that began first is given.
        A disabled window is never in force.
        """
        first = next(self._occurrences(now), None)
        if first is None or first[0] > now:
            return None
        return first

    def next_change(self, now: float) -> float | None:
        """The next moment after ``now`` when the window goes in or out of force.

        This is when the scheduler should look again; None when the window
        will never change again (a one-off window in the past, a disabled one).

        1. Take the first occurrence that ends after ``now``.
        2. If it has not begun, its start is the change.
        3. Otherwise follow the occurrences that begin before the one in hand
           ends, since maintenance goes on through them, and give the end of
           the last (at most ``MAX_CHAIN`` of them).
        """
        occurrences = self._occurrences(now)
        first = next(occurrences, None)
        if first is None:
            return None
        if first[0] > now:
            return first[0]

        end = first[1]
        for start, following_end in itertools.islice(occurrences, MAX_CHAIN):
            if start > end:
                break
            end = following_end
        return end

    def upcoming(self, now: float, count: int) -> list[tuple[float, float]]:
        """The next ``count`` occurrences that end after ``now``, in order.

        The one in force at ``now`` comes first, when there is one; a disabled
        window has none.
        """
        if count <= 0:
            return []
        return list(itertools.islice(self._occurrences(now), count))

    def _occurrences(self, after: float) -> Iterator[tuple[float, float]]:
        """The (start, end) of each occurrence that ends after ``after``.

        A recurring window is walked from ``after`` less one duration, the
        earliest start whose occurrence could still be in force, so the first
        answer takes a step or two of the cron expression, however often it
        fires.

        ``cronsim`` walks the wall clock for an expression at fixed times, so
        from a moment in the repeated hour of an autumn change it may first
        give a start up to an hour before that moment; such starts are passed
        over, as is any start not later than the one before it.
        """
        if not self.enabled:
            return
        if self.cron is None or self.duration is None:
            if self.start is not None and self.end is not None and self.end > after:
                yield self.start, self.end
            return

        duration = self.duration
        zone = ZoneInfo(self.timezone)
        since = datetime.fromtimestamp(max(after - duration, 0.0), zone)
        previous = -math.inf
        for occurrence in CronSim(self.cron, since):
            start: float = occurrence.timestamp()
            if start > previous and start + duration > after:
                previous = start
                yield start, start + duration


def active_windows(
    windows: Iterable[MaintenanceWindow], now: float
) -> list[MaintenanceWindow]:
    """The windows with an occurrence in force at ``now``, in the order given."""
    return [window for window in windows if window.span_at(now) is not None]


def maintenance_from_dict(data: Mapping[str, Any]) -> MaintenanceWindow:
    """A window from its definition, with every problem reported together.

    Raises ``ValidationError`` whose entries name their field, e.g.
    ``duration: must be between 1m and 7d, got '8d'``. A field given as null
    counts as not given, so a form may send every field it has.

    1. Refuse fields that are not known.
    2. Check who the window is and whom it is for.
    3. Read the time zone first, since a one-off time without an offset is
       read in it.
    4. Check that exactly one schedule is given, then read it.
    """
    if not isinstance(data, Mapping):
        raise ValidationError([FieldError("", f"must be a mapping, got {data!r}")])
    errors = [
        FieldError(str(key), f"unknown field; known: {', '.join(FIELDS)}")
        for key in data
        if key not in FIELDS
    ]
    given = {key: value for key, value in data.items() if value is not None}

    window_id = _window_id(given.get("id"), errors)
    name = _text(given, "name", window_id or "", MAX_NAME, errors, required=True)
    description = _text(given, "description", "", MAX_DESCRIPTION, errors)
    monitors = _names(given.get("monitors", []), "monitors", errors, tags=False)
    tags = _names(given.get("tags", []), "tags", errors, tags=True)
    if monitors == () and tags == ():
        errors.append(FieldError("monitors", "name at least one monitor or tag"))
    enabled = given.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.append(FieldError("enabled", f"must be true or false, got {enabled!r}"))
    timezone = given.get("timezone", DEFAULT_TIMEZONE)
    zone = _zone(timezone, errors)

    once = [key for key in ("start", "end") if key in given]
    repeats = [key for key in ("cron", "duration") if key in given]
    start: float | None = None
    end: float | None = None
    cron: str | None = None
    duration: float | None = None
    if once and repeats:
        errors.append(
            FieldError(
                "cron",
                "start and end make a one-off window, cron and duration a "
                f"recurring one; give one pair, not both (got {', '.join(once)} "
                f"and {', '.join(repeats)})",
            )
        )
    elif not once and not repeats:
        errors.append(
            FieldError(
                "start",
                "give start and end for a one-off window, or cron and duration "
                "for a recurring one",
            )
        )
    elif once:
        start, end = _one_off(given, zone, errors)
    else:
        cron, duration = _recurrence(given, errors)

    # A part left as None always has its problem among the errors.
    if (
        errors
        or window_id is None
        or name is None
        or description is None
        or monitors is None
        or tags is None
    ):
        raise ValidationError(errors)
    return MaintenanceWindow(
        id=window_id,
        name=name,
        monitors=monitors,
        tags=tags,
        description=description,
        enabled=enabled,
        start=start,
        end=end,
        cron=cron,
        duration=duration,
        timezone=timezone,
    )


def _window_id(value: Any, errors: list[FieldError]) -> str | None:
    if value is None:
        errors.append(FieldError("id", "is required"))
        return None
    if not isinstance(value, str) or not _ID.fullmatch(value):
        errors.append(
            FieldError(
                "id",
                "must be 1-64 letters, digits, '.', '_' or '-', starting with a "
                f"letter or digit, got {value!r}",
            )
        )
        return None
    return value


def _text(
    given: Mapping[str, Any],
    key: str,
    default: str,
    limit: int,
    errors: list[FieldError],
    *,
    required: bool = False,
) -> str | None:
    value = given.get(key, default)
    if not isinstance(value, str):
        errors.append(FieldError(key, f"must be text, got {value!r}"))
        return None
    if len(value) > limit:
        errors.append(
            FieldError(key, f"must be at most {limit} characters, got {len(value)}")
        )
        return None
    if required and key in given and (not value or value.isspace()):
        errors.append(FieldError(key, "must not be empty"))
        return None
    return value


def _names(
    value: Any, key: str, errors: list[FieldError], *, tags: bool
) -> tuple[str, ...] | None:
    """The monitor ids or tags in ``value``, in order and without repeats."""
    rule = "text of 1-64 characters" if tags else "a monitor id"
    if not isinstance(value, list | tuple):
        errors.append(FieldError(key, f"must be a list of {rule}s, got {value!r}"))
        return None
    names: dict[str, None] = {}
    valid = True
    for index, item in enumerate(value):
        if tags:
            fits = isinstance(item, str) and 0 < len(item) <= MAX_TAG
            fits = fits and not item.isspace()
        else:
            fits = isinstance(item, str) and _ID.fullmatch(item) is not None
        if not fits:
            errors.append(
                FieldError(f"{key}[{index}]", f"must be {rule}, got {item!r}")
            )
            valid = False
        elif valid:
            names[item] = None
    return tuple(names) if valid else None


def _zone(value: Any, errors: list[FieldError]) -> ZoneInfo | None:
    problem = f"must be a time zone name such as Europe/Istanbul, got {value!r}"
    if not isinstance(value, str) or not value:
        errors.append(FieldError("timezone", problem))
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        errors.append(FieldError("timezone", problem))
        return None


def _one_off(
    given: Mapping[str, Any], zone: ZoneInfo | None, errors: list[FieldError]
) -> tuple[float | None, float | None]:
    if "start" not in given:
        errors.append(FieldError("start", "is required with end"))
    if "end" not in given:
        errors.append(FieldError("end", "is required with start"))
    start = _moment(given, "start", zone, errors)
    end = _moment(given, "end", zone, errors)
    if start is not None and end is not None and end <= start:
        problem = f"must be after start ({_show(start)}), got {_show(end)}"
        errors.append(FieldError("end", problem))
    return start, end


def _moment(
    given: Mapping[str, Any],
    key: str,
    zone: ZoneInfo | None,
    errors: list[FieldError],
) -> float | None:
    """Unix seconds from unix seconds or ISO 8601 text, read in ``zone`` if naive.

    None when the value is missing or wrong (then the problem is recorded), or
    when it is naive text and the time zone is wrong (already recorded).
    """
    if key not in given:
        return None
    value = given[key]
    problem = (
        "must be unix seconds or an ISO 8601 time such as "
        f"2026-12-05T02:00:00+03:00, got {value!r}"
    )
    moment: float
    if isinstance(value, bool):
        errors.append(FieldError(key, problem))
        return None
    if isinstance(value, int | float):
        if not 0 <= value < LAST_MOMENT:
            errors.append(
                FieldError(key, f"must be a time from 1970 to 9999, got {value!r}")
            )
            return None
        moment = float(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            errors.append(FieldError(key, problem))
            return None
        if parsed.tzinfo is None:
            if zone is None:
                return None
            parsed = parsed.replace(tzinfo=zone)
        moment = parsed.timestamp()
        if not 0 <= moment < LAST_MOMENT:
            errors.append(
                FieldError(key, f"must be a time from 1970 to 9999, got {value!r}")
            )
            return None
    else:
        errors.append(FieldError(key, problem))
        return None
    return moment


def _recurrence(
    given: Mapping[str, Any], errors: list[FieldError]
) -> tuple[str | None, float | None]:
    cron = None
    duration = None
    if "cron" not in given:
        errors.append(FieldError("cron", "is required with duration"))
    else:
        cron = _cron(given["cron"], errors)
    if "duration" not in given:
        errors.append(FieldError("duration", "is required with cron"))
    else:
        duration = _duration(given["duration"], errors)
    return cron, duration


def _cron(value: Any, errors: list[FieldError]) -> str | None:
    """The expression with single spaces, once ``cronsim`` accepts it."""
    if not isinstance(value, str) or len(value) > MAX_CRON:
        errors.append(
            FieldError("cron", f"must be a cron expression as text, got {value!r}")
        )
        return None
    fields = value.split()
    if len(fields) != 5:
        errors.append(
            FieldError(
                "cron",
                "must have 5 fields (minute hour day month weekday) such as "
                f"'0 2 * * sun', got {value!r}",
            )
        )
        return None
    expression = " ".join(fields)
    try:
        next(CronSim(expression, _CHECK_FROM))
    except CronSimError as exc:
        problem = f"is not a valid cron expression ({exc}), got {value!r}"
        errors.append(FieldError("cron", problem))
        return None
    except StopIteration:
        errors.append(FieldError("cron", f"never comes round, got {value!r}"))
        return None
    return expression


def _duration(value: Any, errors: list[FieldError]) -> float | None:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        errors.append(FieldError("duration", str(exc)))
        return None
    if not MIN_DURATION <= seconds <= MAX_DURATION:
        errors.append(
            FieldError("duration", f"must be between 1m and 7d, got {value!r}")
        )
        return None
    return seconds


def _show(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")
