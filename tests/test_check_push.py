"""The push check judging heartbeats on a fixed interval or a cron schedule."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine import heartbeats
from engine.checks import CheckSpec, get_kind
from engine.checks.push import PushCheck
from engine.errors import ValidationError
from engine.heartbeats import Heartbeats
from engine.result import CheckFailure, Reason

START = datetime(2024, 6, 1, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp()


class Clock:
    """A clock that only moves when a test moves it."""

    def __init__(self, at: float = START) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def book(clock: Clock) -> Heartbeats:
    return Heartbeats(now=clock)


def spec(
    target: str = "nightly-backup", interval: float = 300.0, **options: Any
) -> CheckSpec:
    return CheckSpec("backup", target, options, interval=interval, timeout=5.0)


def push_check(book: Heartbeats, **options: Any) -> PushCheck:
    return PushCheck.prepare(spec(**options), book=book)


def test_push_is_a_registered_kind() -> None:
    assert get_kind("push") is PushCheck


async def test_a_recent_ping_passes_and_reports_the_jobs_duration(
    book: Heartbeats, clock: Clock
) -> None:
    check = push_check(book, grace="1m")
    book.record("nightly-backup", duration_ms=1234.0, message="3 files")
    clock.advance(200)

    observation = await check.run()

    assert observation.latency_ms == 1234.0
    assert observation.message == "3 files"
    assert observation.details["last_ping"] == START


async def test_a_ping_missing_past_interval_and_grace_is_missed(
    book: Heartbeats, clock: Clock
) -> None:
    check = push_check(book, grace="1m")
    book.record("nightly-backup")
    clock.advance(360.5)

    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert caught.value.reason is Reason.MISSED
    assert not caught.value.retryable
    assert caught.value.message == (
        "no ping since 2024-06-01 12:00:00 UTC (6m ago), "
        "expected every 5m plus 1m grace"
    )


async def test_the_grace_period_still_counts_as_on_time(
    book: Heartbeats, clock: Clock
) -> None:
    check = push_check(book, grace="1m")
    book.record("nightly-backup")
    clock.advance(359)

    await check.run()


async def test_a_monitor_never_pinged_waits_one_window_from_its_first_look(
    book: Heartbeats, clock: Clock
) -> None:
    check = push_check(book, grace="30s")

    first = await check.run()
    clock.advance(331)
    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert first.message == "waiting for a first ping"
    assert caught.value.reason is Reason.MISSED
    assert "since watching began at 2024-06-01 12:00:00 UTC" in caught.value.message


async def test_a_ping_reporting_failure_fails_with_its_message(
    book: Heartbeats,
) -> None:
    check = push_check(book)
    book.record("nightly-backup", ok=False, message="disk full")

    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert caught.value.reason is Reason.ASSERTION
    assert caught.value.message.endswith(": disk full")
    assert not caught.value.retryable


async def test_a_good_ping_after_a_failure_brings_the_check_back(
    book: Heartbeats, clock: Clock
) -> None:
    check = push_check(book)
    book.record("nightly-backup", ok=False)
    clock.advance(10)
    book.record("nightly-backup")

    await check.run()


def test_an_empty_target_uses_the_monitor_id_as_token(book: Heartbeats) -> None:
    check = PushCheck.prepare(spec(target=""), book=book)

    assert check.token == "backup"


def test_next_due_is_right_after_the_deadline(book: Heartbeats, clock: Clock) -> None:
    check = push_check(book, grace="20s")
    book.record("nightly-backup")
    clock.advance(100)

    due = check.next_due(clock())

    assert due == pytest.approx(START + 320, abs=0.01)
    assert due is not None
    assert due > START + 320


def test_next_due_never_waits_longer_than_one_interval(
    book: Heartbeats, clock: Clock
) -> None:
    check = push_check(book, grace="1h")
    book.record("nightly-backup")

    assert check.next_due(clock()) == START + 300


def test_next_due_leaves_a_missed_monitor_to_its_interval(
    book: Heartbeats, clock: Clock
) -> None:
    check = push_check(book, grace="20s")
    book.record("nightly-backup")
    clock.advance(1000)

    assert check.next_due(clock()) is None


@pytest.mark.parametrize(
    ("cron", "zone", "pinged", "expected"),
    [
        (
            "0 9 * * *",
            "Europe/Istanbul",
            "2024-06-01T10:00:00+03:00",
            "2024-06-02T06:00:00+00:00",
        ),
        (
            "*/15 * * * *",
            "Europe/Istanbul",
            "2024-06-01T10:07:00+03:00",
            "2024-06-01T07:15:00+00:00",
        ),
        (
            "0 9 * * *",
            "America/New_York",
            "2024-03-09T09:00:00-05:00",
            "2024-03-10T13:00:00+00:00",
        ),
        (
            "30 8 * * 1-5",
            "UTC",
            "2024-06-07T08:30:00+00:00",
            "2024-06-10T08:30:00+00:00",
        ),
    ],
    ids=["daily-istanbul", "quarter-hourly", "across-dst", "weekdays"],
)
async def test_a_cron_schedule_expects_the_next_ping_in_its_time_zone(
    cron: str, zone: str, pinged: str, expected: str
) -> None:
    moment = datetime.fromisoformat(pinged).timestamp()
    clock = Clock(moment)
    book = Heartbeats(now=clock)
    check = push_check(book, cron=cron, timezone=zone, grace="5m")
    book.record("nightly-backup")
    due = datetime.fromisoformat(expected).timestamp()

    assert check.expected_after(moment) == due
    assert check.deadline() == due + 300
    clock.advance(due + 299 - moment)
    await check.run()
    clock.advance(2)
    with pytest.raises(CheckFailure) as caught:
        await check.run()
    assert caught.value.reason is Reason.MISSED
    assert f"expected on '{cron}' ({zone}) plus 5m grace" in caught.value.message


def test_the_default_book_is_the_module_one() -> None:
    check = PushCheck.prepare(spec())

    assert check.book is heartbeats.default


@pytest.mark.parametrize(
    ("target", "options", "field", "problem"),
    [
        ("no spaces", {}, "target", "a push token must be 1-128 letters"),
        ("x" * 129, {}, "target", "a push token must be"),
        ("ok", {"grace": "soon"}, "options.grace", "must be a duration"),
        ("ok", {"grace": "8d"}, "options.grace", "between 0s and 7d"),
        ("ok", {"cron": "61 * * * *"}, "options.cron", "not a valid cron"),
        ("ok", {"cron": "* * *"}, "options.cron", "not a valid cron"),
        (
            "ok",
            {"cron": "* * * * *", "timezone": "Mars/Olympus"},
            "options.timezone",
            "time zone name such as Europe/Istanbul, got 'Mars/Olympus'",
        ),
        ("ok", {"timezone": "UTC"}, "options.timezone", "only applies with"),
        ("ok", {"period": "5m"}, "options.period", "unknown option"),
    ],
)
def test_a_bad_definition_is_named_with_its_problem(
    target: str, options: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        PushCheck.prepare(spec(target, **options))

    [error] = caught.value.errors
    assert error.field == field
    assert problem in error.problem


def test_every_problem_is_reported_together() -> None:
    options: dict[str, Any] = {"grace": -5, "cron": 5, "timezone": "Nowhere/Town"}

    with pytest.raises(ValidationError) as caught:
        PushCheck.prepare(spec("bad token", **options))

    assert sorted(error.field for error in caught.value.errors) == [
        "options.cron",
        "options.grace",
        "options.timezone",
        "target",
    ]
