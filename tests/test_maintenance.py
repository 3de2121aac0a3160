"""Maintenance windows: validation, round trips, and when each is in force."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cronsim import CronSim

from alerting import maintenance
from alerting.maintenance import (
    MAX_CHAIN,
    MaintenanceWindow,
    active_windows,
    maintenance_from_dict,
)
from engine.errors import ValidationError


def utc(text: str) -> float:
    """Unix seconds of a UTC time written as ``2026-03-08T06:00``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def span(start: str, end: str) -> tuple[float, float]:
    return utc(start), utc(end)


ONE_OFF: dict[str, Any] = {
    "id": "db-upgrade",
    "monitors": ["db-1", "db-2"],
    "start": "2026-12-05T02:00:00+03:00",
    "end": "2026-12-05T04:00:00+03:00",
}

WEEKLY: dict[str, Any] = {
    "id": "sunday-night",
    "tags": ["db"],
    "cron": "0 2 * * sun",
    "duration": "2h",
    "timezone": "Europe/Istanbul",
}


def window(base: dict[str, Any], **changes: Any) -> MaintenanceWindow:
    return maintenance_from_dict({**base, **changes})


def problems(data: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        maintenance_from_dict(data)
    return [(error.field, error.problem) for error in caught.value.errors]


def without(base: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in base.items() if key not in keys}


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        (without(ONE_OFF, "id"), "id", "is required"),
        ({**ONE_OFF, "id": "-db"}, "id", "must be 1-64 letters"),
        ({**ONE_OFF, "id": "x" * 65}, "id", "must be 1-64 letters"),
        ({**ONE_OFF, "id": 7}, "id", "must be 1-64 letters"),
        ({**ONE_OFF, "name": ""}, "name", "must not be empty"),
        ({**ONE_OFF, "name": "   "}, "name", "must not be empty"),
        ({**ONE_OFF, "name": "x" * 201}, "name", "at most 200 characters"),
        ({**ONE_OFF, "name": 3}, "name", "must be text"),
        ({**ONE_OFF, "description": ["x"]}, "description", "must be text"),
        ({**ONE_OFF, "monitors": "db-1"}, "monitors", "must be a list"),
        ({**ONE_OFF, "monitors": ["db-1", "db 2"]}, "monitors[1]", "a monitor id"),
        ({**ONE_OFF, "tags": "db"}, "tags", "must be a list"),
        ({**ONE_OFF, "tags": [""]}, "tags[0]", "text of 1-64 characters"),
        ({**ONE_OFF, "tags": ["x" * 65]}, "tags[0]", "text of 1-64 characters"),
        (
            {**ONE_OFF, "monitors": [], "tags": []},
            "monitors",
            "name at least one monitor or tag",
        ),
        (without(ONE_OFF, "monitors"), "monitors", "name at least one monitor"),
        ({**ONE_OFF, "enabled": "yes"}, "enabled", "must be true or false"),
        ({**ONE_OFF, "colour": "red"}, "colour", "unknown field"),
        (without(ONE_OFF, "end"), "end", "is required with start"),
        (without(ONE_OFF, "start"), "start", "is required with end"),
        ({**ONE_OFF, "start": "next tuesday"}, "start", "ISO 8601"),
        ({**ONE_OFF, "start": True}, "start", "unix seconds"),
        ({**ONE_OFF, "start": float("nan")}, "start", "from 1970 to 9999"),
        ({**ONE_OFF, "start": -5}, "start", "from 1970 to 9999"),
        ({**ONE_OFF, "end": 10**30}, "end", "from 1970 to 9999"),
        ({**ONE_OFF, "end": [1]}, "end", "unix seconds"),
        ({**ONE_OFF, "end": ONE_OFF["start"]}, "end", "must be after start"),
        ({**ONE_OFF, "end": "2026-12-05T01:00:00+03:00"}, "end", "after start"),
        ({**ONE_OFF, "cron": "0 2 * * sun"}, "cron", "not both"),
        (without(ONE_OFF, "start", "end"), "start", "give start and end"),
        (without(WEEKLY, "duration"), "duration", "is required with cron"),
        (without(WEEKLY, "cron"), "cron", "is required with duration"),
        ({**WEEKLY, "cron": "61 * * * *"}, "cron", "not a valid cron"),
        ({**WEEKLY, "cron": "0 0 31 2 *"}, "cron", "not a valid cron"),
        ({**WEEKLY, "cron": "0 0 * * * *"}, "cron", "must have 5 fields"),
        ({**WEEKLY, "cron": "@daily"}, "cron", "must have 5 fields"),
        ({**WEEKLY, "cron": 5}, "cron", "as text"),
        ({**WEEKLY, "duration": "30s"}, "duration", "between 1m and 7d"),
        ({**WEEKLY, "duration": "8d"}, "duration", "between 1m and 7d"),
        ({**WEEKLY, "duration": "soon"}, "duration", "must be a duration"),
        ({**WEEKLY, "duration": "inf"}, "duration", "between 1m and 7d"),
        ({**WEEKLY, "timezone": "Mars/Olympus"}, "timezone", "time zone name"),
        ({**WEEKLY, "timezone": ""}, "timezone", "time zone name"),
        ({**WEEKLY, "timezone": "../etc/passwd"}, "timezone", "time zone name"),
        ({**WEEKLY, "timezone": 3}, "timezone", "time zone name"),
        (["not", "a", "mapping"], "", "must be a mapping"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_field(
    data: Any, field: str, problem: str
) -> None:
    found = problems(data)

    assert [name for name, _ in found] == [field]
    assert problem in found[0][1]


def test_every_problem_in_a_definition_is_reported_together() -> None:
    data = {
        "id": "-db",
        "tags": [""],
        "monitors": ["ok"],
        "enabled": 1,
        "colour": "red",
        "cron": "0 2 * *",
        "duration": "8d",
        "timezone": "Mars/Olympus",
    }

    fields = [name for name, _ in problems(data)]

    assert sorted(fields) == sorted(
        ["colour", "id", "tags[0]", "enabled", "timezone", "cron", "duration"]
    )


def test_a_minimal_definition_takes_the_defaults() -> None:
    found = window(ONE_OFF)

    assert found.name == "db-upgrade"
    assert found.description == ""
    assert found.enabled is True
    assert found.timezone == "UTC"
    assert found.tags == ()
    assert found.monitors == ("db-1", "db-2")
    assert not found.recurring


def test_null_fields_count_as_not_given() -> None:
    found = window(ONE_OFF, cron=None, duration=None, name=None, tags=None)

    assert found == window(ONE_OFF)


def test_repeated_monitors_and_tags_are_kept_once_in_order() -> None:
    found = window(ONE_OFF, monitors=["b", "a", "b"], tags=["x", "x", "y"])

    assert found.monitors == ("b", "a")
    assert found.tags == ("x", "y")


@pytest.mark.parametrize(
    ("start", "timezone", "expected"),
    [
        (1796436000, "UTC", 1796436000.0),
        (1796436000.5, "UTC", 1796436000.5),
        ("2026-12-05T02:00:00+03:00", "UTC", utc("2026-12-04T23:00")),
        ("2026-12-04T23:00:00Z", "Europe/Istanbul", utc("2026-12-04T23:00")),
        ("2026-12-05T02:00:00", "Europe/Istanbul", utc("2026-12-04T23:00")),
        ("2026-12-05T02:00:00", "UTC", utc("2026-12-05T02:00")),
        ("2026-07-01T02:00", "America/New_York", utc("2026-07-01T06:00")),
        ("2026-01-01T02:00", "America/New_York", utc("2026-01-01T07:00")),
    ],
)
def test_a_start_is_read_from_unix_seconds_or_iso_text_in_the_time_zone(
    start: Any, timezone: str, expected: float
) -> None:
    found = maintenance_from_dict(
        {"id": "w", "tags": ["t"], "start": start, "end": 4e9, "timezone": timezone}
    )

    assert found.start == expected


@pytest.mark.parametrize(
    "data",
    [
        ONE_OFF,
        {**ONE_OFF, "start": "2026-12-05T02:00", "timezone": "Europe/Istanbul"},
        {**ONE_OFF, "name": "Database upgrade", "description": "v16", "tags": ["db"]},
        WEEKLY,
        {**WEEKLY, "cron": " 0  2 * *   sun ", "duration": 5400, "enabled": False},
        {**WEEKLY, "duration": "1h30m", "monitors": ["db-1"], "tags": []},
    ],
)
def test_a_window_survives_a_round_trip_through_json(data: dict[str, Any]) -> None:
    found = maintenance_from_dict(data)

    again = maintenance_from_dict(json.loads(json.dumps(found.to_dict())))

    assert again == found
    assert again.to_dict() == found.to_dict()


def test_to_dict_gives_unix_seconds_and_duration_seconds() -> None:
    assert window(ONE_OFF).to_dict() == {
        "id": "db-upgrade",
        "name": "db-upgrade",
        "description": "",
        "monitors": ["db-1", "db-2"],
        "tags": [],
        "enabled": True,
        "start": utc("2026-12-04T23:00"),
        "end": utc("2026-12-05T01:00"),
        "timezone": "UTC",
    }
    assert window(WEEKLY).to_dict()["duration"] == 7200.0


def test_a_window_built_directly_must_have_exactly_one_schedule() -> None:
    with pytest.raises(ValueError, match="start and end, or cron and duration"):
        MaintenanceWindow("w", "w", ("m",), start=1.0, end=2.0, cron="* * * * *")
    with pytest.raises(ValueError, match="start and end, or cron and duration"):
        MaintenanceWindow("w", "w", ("m",), start=1.0)
    with pytest.raises(ValueError, match="start and end, or cron and duration"):
        MaintenanceWindow("w", "w", ("m",))


@pytest.mark.parametrize(
    ("now", "in_force"),
    [
        ("2026-12-04T22:59:59", False),
        ("2026-12-04T23:00", True),
        ("2026-12-05T00:59:59", True),
        ("2026-12-05T01:00", False),
        ("2026-12-06T00:00", False),
    ],
)
def test_a_one_off_window_holds_from_its_start_up_to_but_not_at_its_end(
    now: str, in_force: bool
) -> None:
    expected = span("2026-12-04T23:00", "2026-12-05T01:00") if in_force else None

    assert window(ONE_OFF).span_at(utc(now)) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-12-01T00:00", utc("2026-12-04T23:00")),
        ("2026-12-04T23:00", utc("2026-12-05T01:00")),
        ("2026-12-05T00:30", utc("2026-12-05T01:00")),
        ("2026-12-05T01:00", None),
        ("2027-01-01T00:00", None),
    ],
)
def test_a_one_off_window_changes_at_its_start_then_its_end_then_never(
    now: str, expected: float | None
) -> None:
    assert window(ONE_OFF).next_change(utc(now)) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Istanbul keeps UTC+3 all year: Sunday 02:00 there is Saturday 23:00 UTC.
        ("2026-12-05T22:59", None),
        ("2026-12-05T23:00", ("2026-12-05T23:00", "2026-12-06T01:00")),
        ("2026-12-06T00:30", ("2026-12-05T23:00", "2026-12-06T01:00")),
        ("2026-12-06T01:00", None),
        ("2026-12-09T12:00", None),
        ("2026-06-14T00:00", ("2026-06-13T23:00", "2026-06-14T01:00")),
    ],
)
def test_a_weekly_window_in_istanbul_holds_at_the_real_utc_instants(
    now: str, expected: tuple[str, str] | None
) -> None:
    found = window(WEEKLY).span_at(utc(now))

    assert found == (None if expected is None else span(*expected))


@pytest.mark.parametrize(
    ("cron", "now", "expected"),
    [
        # Before the March change New York is UTC-5.
        ("0 1 * * sun", "2026-03-01T06:30", ("2026-03-01T06:00", "2026-03-01T08:00")),
        # On the change day 01:00 EST starts it; two real hours end at 04:00 EDT.
        ("0 1 * * sun", "2026-03-08T07:30", ("2026-03-08T06:00", "2026-03-08T08:00")),
        ("0 1 * * sun", "2026-03-08T08:00", None),
        # After the change New York is UTC-4.
        ("0 1 * * sun", "2026-03-15T05:00", ("2026-03-15T05:00", "2026-03-15T07:00")),
        ("0 1 * * sun", "2026-03-15T07:00", None),
        # 02:30 does not exist on March 8: it starts when the clock jumps to 03:00.
        ("30 2 * * sun", "2026-03-08T07:00", ("2026-03-08T07:00", "2026-03-08T09:00")),
        ("30 2 * * sun", "2026-03-08T06:59", None),
        ("30 2 * * sun", "2026-03-01T07:30", ("2026-03-01T07:30", "2026-03-01T09:30")),
        # 01:00 comes twice on November 1: it starts once, at 01:00 EDT.
        ("0 1 * * sun", "2026-11-01T05:00", ("2026-11-01T05:00", "2026-11-01T07:00")),
        ("0 1 * * sun", "2026-11-01T06:30", ("2026-11-01T05:00", "2026-11-01T07:00")),
        ("0 1 * * sun", "2026-11-01T07:00", None),
        ("0 1 * * sun", "2026-11-01T07:30", None),
        ("0 1 * * sun", "2026-11-08T06:00", ("2026-11-08T06:00", "2026-11-08T08:00")),
        ("0 1 * * sun", "2026-11-08T05:30", None),
    ],
)
def test_a_weekly_window_in_new_york_follows_the_clock_changes(
    cron: str, now: str, expected: tuple[str, str] | None
) -> None:
    weekly = window(WEEKLY, cron=cron, timezone="America/New_York")

    found = weekly.span_at(utc(now))

    assert found == (None if expected is None else span(*expected))


@pytest.mark.parametrize(
    ("cron", "duration", "timezone", "now", "expected"),
    [
        ("0 22 * * *", "4h", "UTC", "05-02T01:00", ("05-01T22:00", "05-02T02:00")),
        ("0 22 * * *", "4h", "UTC", "05-01T23:00", ("05-01T22:00", "05-02T02:00")),
        ("0 22 * * *", "4h", "UTC", "05-02T02:00", None),
        # 23:30 to 02:30 in Istanbul is 20:30 to 23:30 UTC.
        (
            "30 23 * * *",
            "3h",
            "Europe/Istanbul",
            "05-01T22:00",
            ("05-01T20:30", "05-01T23:30"),
        ),
        # A window that starts Friday night holds into Saturday morning.
        (
            "0 22 * * fri",
            "10h",
            "UTC",
            "05-02T07:59",
            ("05-01T22:00", "05-02T08:00"),
        ),
        ("0 22 * * fri", "10h", "UTC", "05-02T08:00", None),
    ],
)
def test_a_window_that_spans_midnight_holds_into_the_next_day(
    cron: str,
    duration: str,
    timezone: str,
    now: str,
    expected: tuple[str, str] | None,
) -> None:
    daily = window(WEEKLY, cron=cron, duration=duration, timezone=timezone)

    found = daily.span_at(utc(f"2026-{now}"))

    if expected is None:
        assert found is None
    else:
        assert found == span(f"2026-{expected[0]}", f"2026-{expected[1]}")


def test_next_change_walks_from_start_to_end_through_several_occurrences() -> None:
    weekly = window(WEEKLY, cron="0 1 * * sun", timezone="America/New_York")
    moment = utc("2026-02-27T00:00")
    changes = []

    for _ in range(8):
        following = weekly.next_change(moment)
        assert following is not None
        assert following > moment
        changes.append(following)
        moment = following

    assert changes == [
        utc("2026-03-01T06:00"),
        utc("2026-03-01T08:00"),
        utc("2026-03-08T06:00"),
        utc("2026-03-08T08:00"),
        utc("2026-03-15T05:00"),
        utc("2026-03-15T07:00"),
        utc("2026-03-22T05:00"),
        utc("2026-03-22T07:00"),
    ]
    assert [weekly.span_at(change) is not None for change in changes] == [
        True,
        False,
    ] * 4


def test_next_change_runs_on_through_occurrences_that_overlap() -> None:
    # 02:00 for an hour and 02:30 for an hour make one stretch, 02:00 to 03:30.
    twice = window(WEEKLY, cron="0,30 2 * * *", duration="1h", timezone="UTC")

    assert twice.span_at(utc("2026-05-01T02:45")) == span(
        "2026-05-01T02:00", "2026-05-01T03:00"
    )
    assert twice.next_change(utc("2026-05-01T02:45")) == utc("2026-05-01T03:30")
    assert twice.next_change(utc("2026-05-01T01:00")) == utc("2026-05-01T02:00")
    assert twice.span_at(utc("2026-05-01T03:15")) is not None
    assert twice.span_at(utc("2026-05-01T03:30")) is None


def test_next_change_of_endless_overlaps_stops_inside_the_maintenance() -> None:
    always = window(WEEKLY, cron="* * * * *", duration="1m", timezone="UTC")
    now = utc("2026-05-01T12:00")

    found = always.next_change(now)

    assert found == now + 60.0 * (MAX_CHAIN + 1)
    assert always.span_at(found) is not None


@pytest.mark.parametrize(
    ("now", "count", "expected"),
    [
        (
            "2026-12-02T00:00",
            3,
            [
                ("2026-12-05T23:00", "2026-12-06T01:00"),
                ("2026-12-12T23:00", "2026-12-13T01:00"),
                ("2026-12-19T23:00", "2026-12-20T01:00"),
            ],
        ),
        (
            "2026-12-06T00:00",
            2,
            [
                ("2026-12-05T23:00", "2026-12-06T01:00"),
                ("2026-12-12T23:00", "2026-12-13T01:00"),
            ],
        ),
        ("2026-12-06T01:00", 1, [("2026-12-12T23:00", "2026-12-13T01:00")]),
        ("2026-12-06T00:00", 0, []),
    ],
)
def test_upcoming_lists_the_occurrences_that_end_after_now(
    now: str, count: int, expected: list[tuple[str, str]]
) -> None:
    found = window(WEEKLY).upcoming(utc(now), count)

    assert found == [span(*pair) for pair in expected]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-12-01T00:00", [("2026-12-04T23:00", "2026-12-05T01:00")]),
        ("2026-12-05T00:00", [("2026-12-04T23:00", "2026-12-05T01:00")]),
        ("2026-12-05T01:00", []),
    ],
)
def test_upcoming_of_a_one_off_window_is_it_until_it_ends(
    now: str, expected: list[tuple[str, str]]
) -> None:
    assert window(ONE_OFF).upcoming(utc(now), 5) == [span(*p) for p in expected]


@pytest.mark.parametrize(
    ("monitor_id", "tags", "expected"),
    [
        ("db-1", [], True),
        ("db-2", ["web"], True),
        ("web-1", ["web", "db"], True),
        ("web-1", ("db",), True),
        ("web-1", ["web"], False),
        ("web-1", [], False),
        ("DB-1", ["DB"], False),
    ],
)
def test_a_window_covers_monitors_by_id_or_by_tag(
    monitor_id: str, tags: list[str], expected: bool
) -> None:
    covering = window(ONE_OFF, tags=["db"])

    assert covering.covers(monitor_id, tags) is expected


def test_a_window_without_tags_covers_only_its_monitors() -> None:
    assert not window(ONE_OFF).covers("web-1", ["db", "web"])


@pytest.mark.parametrize(
    ("base", "now"), [(ONE_OFF, "2026-12-05T00:00"), (WEEKLY, "2026-12-06T00:00")]
)
def test_a_disabled_window_is_never_in_force(base: dict[str, Any], now: str) -> None:
    disabled = window(base, enabled=False)
    inside = utc(now)

    assert window(base).span_at(inside) is not None
    assert disabled.span_at(inside) is None
    assert disabled.next_change(utc("2026-12-01T00:00")) is None
    assert disabled.upcoming(utc("2026-12-01T00:00"), 3) == []
    assert active_windows([disabled], inside) == []


def test_active_windows_keeps_those_in_force_in_the_order_given() -> None:
    nightly = window(WEEKLY, cron="0 23 * * *", duration="3h", timezone="UTC")
    one_off = window(ONE_OFF)
    later = window(ONE_OFF, id="later", start="2027-01-01T00:00Z", end=1.9e9)
    windows = [later, nightly, one_off]

    assert active_windows(windows, utc("2026-12-05T00:00")) == [nightly, one_off]
    assert active_windows(windows, utc("2026-12-06T01:00")) == [nightly]
    assert active_windows(windows, utc("2026-12-10T12:00")) == []


REAL_CRONSIM = CronSim


class CountingCronSim:
    """The real cronsim iterator, counting the steps taken through it."""

    steps = 0

    def __init__(self, expression: str, start: datetime) -> None:
        self._inner = REAL_CRONSIM(expression, start)

    def __iter__(self) -> CountingCronSim:
        return self

    def __next__(self) -> datetime:
        CountingCronSim.steps += 1
        found: datetime = next(self._inner)
        return found


@pytest.mark.parametrize(
    ("cron", "duration"),
    [
        ("0 2 * * sun", "2h"),
        ("0 2 * * sun", "7d"),
        ("*/5 * * * *", "7d"),
        ("* * * * *", "1m"),
    ],
)
def test_span_at_takes_only_a_step_or_two_of_the_schedule(
    monkeypatch: pytest.MonkeyPatch, cron: str, duration: str
) -> None:
    recurring = window(WEEKLY, cron=cron, duration=duration)
    monkeypatch.setattr(maintenance, "CronSim", CountingCronSim)
    monkeypatch.setattr(CountingCronSim, "steps", 0)

    recurring.span_at(utc("2026-12-06T00:00"))

    assert CountingCronSim.steps <= 2
