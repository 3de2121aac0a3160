"""The storage contract, on every backend: the same tests against each real one.

Each test gets an empty store of its own (see ``tests.store_backends``); the
tests of what only one backend does live in that backend's own test file.
"""

from __future__ import annotations

import asyncio
import datetime
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from engine.events import MONITOR_CREATED, STATE_CHANGED, Event, StateChange
from engine.model import monitor_from_dict
from engine.result import MonitorState, Reason
from store import Store, StoreClosedError, open_store
from store.base import MAX_LIMIT, LatestState, monitor_row
from store.rollups import UptimeRow
from tests.store_backends import BACKENDS, ISOLATED_URLS
from tests.store_samples import DAY, definition, event, failed, result

# More than one retention batch of every backend, so retention must loop.
RETAINED_ROWS = 6000


@pytest.fixture(params=BACKENDS)
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty store on one backend, removed after the test."""
    async with ISOLATED_URLS[request.param](tmp_path) as made:
        yield made


@pytest.fixture
async def store(url: str) -> AsyncIterator[Store]:
    async with open_store(url) as opened:
        yield opened


async def test_reopening_keeps_monitors_results_state_changes_and_events(
    url: str,
) -> None:
    change = StateChange("api", 1000.0, MonitorState.UP, MonitorState.DOWN)
    async with open_store(url) as first:
        await first.put_monitors([definition("api")])
        await first.write_results([result()])
        await first.write_state_changes([change])
        await first.write_events([event(1000.0, 1)])

    async with open_store(url) as second:
        assert await second.get_monitor("api") == definition("api")
        assert await second.results("api") == [result()]
        assert await second.state_changes() == [change]
        assert await second.events() == [event(1000.0, 1)]


async def test_monitors_round_trip_their_definitions_exactly(store: Store) -> None:
    definitions = [
        definition("web", tags=["prod", "eu"], interval="30s"),
        definition("api", options={"expect_status": [200, 204], "method": "HEAD"}),
        monitor_from_dict(
            {"name": "Database", "kind": "tcp", "target": "db.internal:5432"}
        ).to_dict(),
    ]

    await store.put_monitors(definitions)

    by_id = sorted(definitions, key=lambda item: str(item["id"]))
    assert await store.list_monitors() == by_id
    assert await store.get_monitor("web") == definitions[0]
    assert await store.get_monitor("missing") is None


async def test_putting_a_known_id_replaces_its_definition(store: Store) -> None:
    await store.put_monitors([definition("api"), definition("web")])

    await store.put_monitors([definition("api", enabled=False, tags=["paused"])])

    assert await store.get_monitor("api") == definition(
        "api", enabled=False, tags=["paused"]
    )
    assert len(await store.list_monitors()) == 2


async def test_the_later_of_two_definitions_with_one_id_wins(store: Store) -> None:
    await store.put_monitors([definition("api"), definition("api", retries=3)])

    assert await store.list_monitors() == [definition("api", retries=3)]


async def test_deleting_a_monitor_reports_whether_it_existed(store: Store) -> None:
    await store.put_monitors([definition("api"), definition("web")])

    assert await store.delete_monitor("api") is True
    assert await store.delete_monitor("api") is False
    assert [item["id"] for item in await store.list_monitors()] == ["web"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"kind": "tcp"}, ["db"]),
        ({"tag": "prod"}, ["api", "db"]),
        ({"tag": "pro"}, []),
        ({"enabled": False}, ["web"]),
        ({"tag": "prod", "enabled": True}, ["api", "db"]),
        ({"kind": "http", "tag": "prod"}, ["api"]),
    ],
)
async def test_listed_monitors_can_be_filtered_by_kind_tag_and_enabled(
    store: Store, filters: dict[str, Any], expected: list[str]
) -> None:
    await store.put_monitors(
        [
            definition("api", tags=["prod", "eu"]),
            definition("web", tags=["staging"], enabled=False),
            monitor_from_dict(
                {
                    "id": "db",
                    "name": "DB",
                    "kind": "tcp",
                    "target": "db:5432",
                    "tags": ["prod"],
                }
            ).to_dict(),
        ]
    )

    listed = await store.list_monitors(**filters)

    assert [item["id"] for item in listed] == expected


async def test_a_hundred_thousand_monitors_go_in_and_come_back(store: Store) -> None:
    template = definition("template", tags=["prod"])
    definitions = [
        {**template, "id": f"m{index:06d}", "name": f"Monitor {index}"}
        for index in range(100_000)
    ]

    await store.put_monitors(definitions)
    listed = await store.list_monitors()

    assert listed == definitions
    assert await store.get_monitor("m054321") == definitions[54_321]


async def test_writing_the_same_result_twice_keeps_one_row(store: Store) -> None:
    first, second, third = (
        result(started_at=1.0),
        result(started_at=2.0),
        result(started_at=3.0),
    )

    assert await store.write_results([first, second]) == 2
    assert await store.write_results([first, second]) == 0
    assert await store.write_results([second, third]) == 1

    assert await store.results("api") == [third, second, first]


async def test_results_keep_every_field(store: Store) -> None:
    failed = result(
        started_at=1712345678.123456,
        ok=False,
        latency_ms=5012.25,
        state=MonitorState.DOWN,
        reason=Reason.TIMEOUT,
        message="no answer within 5s",
        retryable=True,
        attempt=2,
        lateness_ms=3.5,
        phases={"dns": 1.5, "connect": 5000.0},
        details={"address": "192.0.2.7", "ports": [443, 8443]},
    )

    await store.write_results([failed])

    assert await store.results("api") == [failed]
    assert (await store.results("api"))[0].to_dict() == failed.to_dict()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, [109, 108, 107, 106, 105, 104, 103, 102, 101, 100]),
        ({"limit": 3}, [109, 108, 107]),
        ({"since": 105}, [109, 108, 107, 106, 105]),
        ({"until": 103}, [102, 101, 100]),
        ({"since": 102, "until": 106, "limit": 2}, [105, 104]),
        ({"since": 200}, []),
    ],
)
async def test_results_come_newest_first_within_the_range_and_limit(
    store: Store, query: dict[str, Any], expected: list[int]
) -> None:
    await store.write_results([result("api", float(at)) for at in range(100, 110)])
    await store.write_results([result("web", float(at)) for at in range(100, 110)])

    found = await store.results("api", **query)

    assert [item.started_at for item in found] == expected
    assert {item.monitor_id for item in found} <= {"api"}


async def test_latest_results_hold_the_newest_result_of_each_monitor(
    store: Store,
) -> None:
    await store.write_results([result("api", 20.0), result("web", 5.0)])
    await store.write_results([result("api", 10.0, ok=False, state=MonitorState.DOWN)])
    await store.write_results([result("web", 7.0), result("web", 6.0)])

    latest = await store.latest_results(["api", "web", "none"])

    assert latest == {"api": result("api", 20.0), "web": result("web", 7.0)}


async def test_state_changes_are_kept_once_and_read_newest_first(store: Store) -> None:
    first = StateChange("api", 10.0, MonitorState.UNKNOWN, MonitorState.UP)
    second = StateChange(
        "api", 20.0, MonitorState.UP, MonitorState.DOWN, Reason.CONNECT, "refused"
    )
    other = StateChange("db", 15.0, MonitorState.UNKNOWN, MonitorState.UP)

    await store.write_state_changes([first, second, other])
    await store.write_state_changes([second])

    assert await store.state_changes() == [second, other, first]
    assert await store.state_changes("api") == [second, first]
    assert await store.state_changes(since=15.0) == [second, other]
    assert await store.state_changes(limit=1) == [second]


async def test_events_after_a_cursor_come_oldest_first(store: Store) -> None:
    events = [
        event(100.0, 1),
        event(100.0, 2, monitor_id="web"),
        event(101.0, 3),
        event(102.0, 4, monitor_id=None),
        event(103.0, 5),
    ]
    await store.write_events(list(reversed(events)))

    assert await store.events() == events
    assert await store.events(after=events[1].id) == events[2:]
    assert await store.events(after=events[0].id, limit=2) == events[1:3]
    assert await store.events(monitor_id="api") == [events[0], events[2], events[4]]
    assert await store.events(after=events[4].id) == []


async def test_an_event_id_already_stored_keeps_its_first_record(store: Store) -> None:
    original = event(100.0, 1)
    await store.write_events([original])

    await store.write_events(
        [Event(original.id, 200.0, STATE_CHANGED, "web", {"changed": True})]
    )

    assert await store.events() == [original]


async def test_retention_deletes_only_rows_older_than_the_window(store: Store) -> None:
    now = 10 * DAY
    cutoff = now - DAY
    old_results = [result("old", cutoff - 1 - index) for index in range(RETAINED_ROWS)]
    for start in range(0, len(old_results), 1000):
        await store.write_results(old_results[start : start + 1000])
    await store.write_results([result("api", cutoff), result("api", cutoff + 1)])
    old_change = StateChange("api", cutoff - 1, MonitorState.UP, MonitorState.DOWN)
    new_change = StateChange("api", cutoff, MonitorState.DOWN, MonitorState.UP)
    await store.write_state_changes([old_change, new_change])
    old_event, new_event = event(cutoff - 1, 1), event(cutoff, 2)
    await store.write_events([old_event, new_event])

    deleted = await store.enforce_retention(1, now=now)

    assert deleted == len(old_results) + 2
    assert await store.results("old") == []
    assert await store.results("api") == [
        result("api", cutoff + 1),
        result("api", cutoff),
    ]
    assert await store.state_changes() == [new_change]
    assert await store.events() == [new_event]
    assert set(await store.latest_results(["old", "api"])) == {"api"}


async def test_retention_with_nothing_old_deletes_nothing(store: Store) -> None:
    await store.write_results([result("api", 5 * DAY)])

    assert await store.enforce_retention(0.5, now=5 * DAY + 60) == 0
    assert len(await store.results("api")) == 1


@pytest.mark.parametrize("days", [0, -1, math.nan, math.inf, "7", True])
async def test_retention_needs_a_finite_window_above_zero(
    store: Store, days: Any
) -> None:
    with pytest.raises(ValueError, match=r"^days: "):
        await store.enforce_retention(days)


Call = Callable[[Store], Awaitable[object]]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.results("api", limit=0), "limit: must be between 1 and"),
        (lambda s: s.results("api", limit=MAX_LIMIT + 1), "limit: must be between"),
        (lambda s: s.results("api", limit="10"), "limit: must be a whole number"),
        (lambda s: s.results(""), "monitor_id: must be non-empty text"),
        (lambda s: s.results("api", since=math.nan), "since: must be a finite"),
        (lambda s: s.results("api", until="later"), "until: must be a number"),
        (lambda s: s.state_changes(limit=-5), "limit: must be between"),
        (lambda s: s.events(after=5), "after: must be an event id"),
        (lambda s: s.list_monitors(enabled="yes"), "enabled: must be true, false"),
        (lambda s: s.get_monitor(""), "monitor_id: must be non-empty text"),
        (lambda s: s.delete_monitor(None), "monitor_id: must be non-empty text"),
        (lambda s: s.put_monitors(definition("api")), "definitions: must be a list"),
        (
            lambda s: s.put_monitors(
                [definition("api"), {"name": "x", "kind": "http"}]
            ),
            "definitions[1].id: must be non-empty text",
        ),
        (
            lambda s: s.put_monitors([{**definition("api"), "enabled": "yes"}]),
            "definitions[0].enabled: must be true or false",
        ),
        (
            lambda s: s.put_monitors([{**definition("api"), "tags": "prod"}]),
            "definitions[0].tags: must be a list of text",
        ),
        (
            lambda s: s.put_monitors(
                [{**definition("api"), "options": {"at": object()}}]
            ),
            "definitions[0]: cannot be stored as JSON",
        ),
        (
            lambda s: s.write_results([result(started_at=math.nan)]),
            "results[0].started_at: must be a finite number",
        ),
        (
            lambda s: s.write_results([result(), result().to_dict()]),
            "results[1]: must be a CheckResult, got dict",
        ),
        (
            lambda s: s.write_results([result(details={"raw": b"\x00"})]),
            "results[0].details: cannot be stored as JSON",
        ),
        (
            lambda s: s.write_state_changes(
                [StateChange("api", math.inf, MonitorState.UP, MonitorState.DOWN)]
            ),
            "changes[0].at: must be a finite number",
        ),
        (
            lambda s: s.write_events([Event("", 1.0, MONITOR_CREATED)]),
            "events[0].id: must be non-empty text",
        ),
    ],
)
async def test_bad_arguments_raise_value_errors_that_name_them(
    store: Store, call: Call, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        await call(store)


async def test_a_rejected_batch_writes_none_of_its_rows(store: Store) -> None:
    with pytest.raises(ValueError, match="definitions"):
        await store.put_monitors([definition("api"), {"id": "web"}])
    with pytest.raises(ValueError, match="results"):
        await store.write_results([result(), result(started_at=math.inf)])

    assert await store.list_monitors() == []
    assert await store.results("api") == []


async def test_a_failing_write_does_not_undo_the_writes_queued_with_it(
    store: Store,
) -> None:
    outcomes = await asyncio.gather(
        store.write_results([result("api", 1.0)]),
        store.write_results([result("api", math.nan)]),
        store.write_results([result("api", 2.0)]),
        return_exceptions=True,
    )

    assert outcomes[0] == 1
    assert isinstance(outcomes[1], ValueError)
    assert outcomes[2] == 1
    assert [item.started_at for item in await store.results("api")] == [2.0, 1.0]


async def test_concurrent_writes_from_many_tasks_all_land(store: Store) -> None:
    async def writer(task: int) -> int:
        written = 0
        for batch in range(20):
            written += await store.write_results(
                [result(f"m{task}", batch * 10.0 + index) for index in range(10)]
            )
        return written

    counts = await asyncio.gather(*(writer(task) for task in range(50)))

    assert counts == [200] * 50
    for task in range(50):
        assert len(await store.results(f"m{task}", limit=1000)) == 200
    assert len(await store.latest_results([f"m{task}" for task in range(50)])) == 50


async def test_close_finishes_the_writes_already_queued(url: str) -> None:
    store = open_store(url)
    await store.open()
    writes = [
        asyncio.create_task(store.write_results([result("api", float(at))]))
        for at in range(30)
    ]
    await asyncio.sleep(0)

    await store.close()

    assert await asyncio.gather(*writes) == [1] * 30
    async with open_store(url) as reopened:
        assert len(await reopened.results("api")) == 30


async def test_a_cancelled_write_still_lands(url: str) -> None:
    async with open_store(url) as opened:
        write = asyncio.create_task(opened.write_results([result()]))
        await asyncio.sleep(0)
        write.cancel()

        with pytest.raises(asyncio.CancelledError):
            await write

    async with open_store(url) as reopened:
        assert await reopened.results("api") == [result()]


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.write_results([result()]),
        lambda s: s.results("api"),
        lambda s: s.list_monitors(),
        lambda s: s.enforce_retention(7),
    ],
)
async def test_a_closed_store_refuses_calls(url: str, call: Call) -> None:
    store = open_store(url)
    await store.open()
    await store.close()
    await store.close()

    with pytest.raises(StoreClosedError):
        await call(store)
    with pytest.raises(StoreClosedError):
        store.schema_version()
    with pytest.raises(StoreClosedError):
        await store.open()


async def test_the_catalogue_comes_in_pages_of_stored_text(store: Store) -> None:
    definitions = [definition(f"m{index:03d}") for index in range(25)]
    await store.put_monitors(definitions)

    first = await store.catalogue(limit=10)
    rest = await store.catalogue(after=first[-1][0], limit=100)

    assert [monitor_id for monitor_id, _ in first + rest] == [
        d["id"] for d in definitions
    ]
    assert all(
        text == monitor_row("x", d).definition
        for (_, text), d in zip(first + rest, definitions, strict=True)
    )


async def test_prepared_rows_are_stored_as_given(store: Store) -> None:
    rows = [monitor_row("x", definition(name)) for name in ("api", "web")]

    await store.put_monitor_rows(rows)

    assert await store.get_monitor("web") == definition("web")
    assert await store.list_monitors(kind="http") == [
        definition("api"),
        definition("web"),
    ]


async def test_latest_states_say_where_each_monitor_stood(store: Store) -> None:
    await store.write_results(
        [
            result("api", 10.0),
            result(
                "api",
                20.0,
                ok=False,
                state=MonitorState.PENDING,
                reason=Reason.CONNECT,
                message="refused",
                attempt=1,
            ),
            result("web", 5.0),
        ]
    )

    latest = await store.latest_states(["api", "web", "none"])

    assert latest == {
        "api": LatestState("pending", 20.0, False, 12.5, "connect", "refused", 1),
        "web": LatestState("up", 5.0, True, 12.5, None, "", 0),
    }


# -- rollups ----------------------------------------------------------------


async def test_written_results_roll_up_by_minute_and_hour(store: Store) -> None:
    await store.write_results(
        [
            result("api", 10.0 + second, latency_ms=10.0 + second)
            for second in range(100)
        ]
    )
    await store.write_results([failed("api", 200.0)])

    minutes = await store.rollups("api", resolution="minute", since=0.0, until=3600.0)
    hours = await store.rollups("api", resolution="hour", since=0.0, until=3600.0)

    assert [(m.start, m.count) for m in minutes] == [(0.0, 50), (60.0, 50), (180.0, 1)]
    assert len(hours) == 1
    assert (hours[0].count, hours[0].ok) == (101, 100)
    assert hours[0].latency_min == 10.0
    assert hours[0].latency_max == 109.0
    assert hours[0].latency_sum == pytest.approx(sum(10.0 + s for s in range(100)))


async def test_a_batch_written_again_is_not_counted_twice(store: Store) -> None:
    batch = [result("api", float(second)) for second in range(10)]
    await store.write_results(batch)
    await store.write_results(batch)
    await store.write_results([*batch[5:], result("api", 30.0)])

    hours = await store.rollups("api", resolution="hour", since=0.0, until=3600.0)

    assert hours[0].count == 11


async def test_summaries_give_uptime_and_percentiles_of_every_monitor(
    store: Store,
) -> None:
    await store.write_results(
        [result("api", 3600.0 * hour + 5, latency_ms=100.0) for hour in range(24)]
        + [failed("api", 3600.0 * hour + 10) for hour in range(6)]
        + [result("web", 100.0, latency_ms=4.0)]
    )

    summaries = await store.rollup_summaries(since=0.0, until=DAY)
    only_web = await store.rollup_summaries(since=0.0, until=DAY, monitor_ids=["web"])

    api, web = summaries
    assert (api.monitor_id, api.count, api.ok) == ("api", 30, 24)
    assert api.uptime == pytest.approx(0.8)
    assert api.latency_mean == pytest.approx(100.0)
    assert api.p95 is not None
    assert 50.0 < api.p95 <= 100.0
    assert web.uptime == 1.0
    assert [s.monitor_id for s in only_web] == ["web"]


async def test_old_minute_rollups_go_with_retention_and_hours_stay_a_year(
    store: Store,
) -> None:
    await store.write_results([result("api", 1.0), result("api", 200 * DAY)])

    await store.enforce_retention(30, now=201 * DAY)

    minutes = await store.rollups(
        "api", resolution="minute", since=0.0, until=300 * DAY
    )
    hours = await store.rollups("api", resolution="hour", since=0.0, until=300 * DAY)
    assert [m.start for m in minutes] == [200 * DAY]
    assert [h.start for h in hours] == [0.0, 200 * DAY]


@pytest.mark.parametrize("resolution", ["day", "", 60])
async def test_a_resolution_other_than_minute_or_hour_is_refused(
    store: Store, resolution: object
) -> None:
    with pytest.raises(ValueError, match="resolution: must be one of minute, hour"):
        await store.rollups(
            "api",
            resolution=resolution,  # type: ignore[arg-type]
            since=0.0,
            until=1.0,
        )


# -- uptime reports -----------------------------------------------------------


def at(moment: str) -> float:
    """Unix seconds of an ISO date or date and time in UTC."""
    parsed = datetime.datetime.fromisoformat(moment)
    return parsed.replace(tzinfo=datetime.UTC).timestamp()


def uptime(period_start: str, key: str, checks: int, ok: int) -> UptimeRow:
    return UptimeRow(at(period_start), key, checks, ok, ok / checks)


async def put_report_fleet(store: Store) -> None:
    """Checks on both sides of the end of February 2026, a Saturday, and of
    Monday 2026-03-02, the first day of ISO week 10.

    ``api`` is tagged eu and prod, ``web`` EU and prod (tags are compared
    case by case), ``cron`` has no tags and ``gone`` is no longer in the
    catalogue. Midnights are written exactly, so each lands on a boundary.
    """
    await store.put_monitors(
        [
            definition("api", tags=["prod", "eu"]),
            definition("web", tags=["prod", "EU"]),
            definition("cron"),
            definition("gone", tags=["prod"]),
        ]
    )
    await store.delete_monitor("gone")
    await store.write_results(
        [
            result("api", at("2026-02-28T23:30")),
            failed("api", at("2026-02-28T23:31")),
            result("api", at("2026-03-01T00:30")),
            result("api", at("2026-03-02T00:30")),
            result("api", at("2026-03-02T01:30")),
            result("web", at("2026-02-28T23:59:59")),
            failed("web", at("2026-03-01T00:30")),
            result("web", at("2026-03-02T00:30")),
            result("cron", at("2026-03-01T00:00")),
            failed("gone", at("2026-03-02T00:00")),
        ]
    )


@pytest.mark.parametrize(
    ("period", "by", "expected"),
    [
        (
            "day",
            "monitor",
            [
                uptime("2026-02-28", "api", 2, 1),
                uptime("2026-02-28", "web", 1, 1),
                uptime("2026-03-01", "api", 1, 1),
                uptime("2026-03-01", "cron", 1, 1),
                uptime("2026-03-01", "web", 1, 0),
                uptime("2026-03-02", "api", 2, 2),
                uptime("2026-03-02", "gone", 1, 0),
                uptime("2026-03-02", "web", 1, 1),
            ],
        ),
        (
            "week",
            "monitor",
            [
                uptime("2026-02-23", "api", 3, 2),
                uptime("2026-02-23", "cron", 1, 1),
                uptime("2026-02-23", "web", 2, 1),
                uptime("2026-03-02", "api", 2, 2),
                uptime("2026-03-02", "gone", 1, 0),
                uptime("2026-03-02", "web", 1, 1),
            ],
        ),
        (
            "month",
            "monitor",
            [
                uptime("2026-02-01", "api", 2, 1),
                uptime("2026-02-01", "web", 1, 1),
                uptime("2026-03-01", "api", 3, 3),
                uptime("2026-03-01", "cron", 1, 1),
                uptime("2026-03-01", "gone", 1, 0),
                uptime("2026-03-01", "web", 2, 1),
            ],
        ),
        (
            "day",
            "tag",
            [
                uptime("2026-02-28", "EU", 1, 1),
                uptime("2026-02-28", "eu", 2, 1),
                uptime("2026-02-28", "prod", 3, 2),
                uptime("2026-03-01", "EU", 1, 0),
                uptime("2026-03-01", "eu", 1, 1),
                uptime("2026-03-01", "prod", 2, 1),
                uptime("2026-03-02", "EU", 1, 1),
                uptime("2026-03-02", "eu", 2, 2),
                uptime("2026-03-02", "prod", 3, 3),
            ],
        ),
        (
            "week",
            "tag",
            [
                uptime("2026-02-23", "EU", 2, 1),
                uptime("2026-02-23", "eu", 3, 2),
                uptime("2026-02-23", "prod", 5, 3),
                uptime("2026-03-02", "EU", 1, 1),
                uptime("2026-03-02", "eu", 2, 2),
                uptime("2026-03-02", "prod", 3, 3),
            ],
        ),
        (
            "month",
            "tag",
            [
                uptime("2026-02-01", "EU", 1, 1),
                uptime("2026-02-01", "eu", 2, 1),
                uptime("2026-02-01", "prod", 3, 2),
                uptime("2026-03-01", "EU", 2, 1),
                uptime("2026-03-01", "eu", 3, 3),
                uptime("2026-03-01", "prod", 5, 4),
            ],
        ),
    ],
)
async def test_uptime_reports_sum_hours_by_utc_day_iso_week_and_month(
    store: Store, period: str, by: str, expected: list[UptimeRow]
) -> None:
    await put_report_fleet(store)

    report = await store.uptime_report(
        period=period, since=at("2026-02-01"), until=at("2026-04-01"), by=by
    )

    assert report == expected


async def test_an_uptime_report_counts_only_the_hours_in_its_range(
    store: Store,
) -> None:
    await put_report_fleet(store)

    report = await store.uptime_report(
        period="week", since=at("2026-03-01"), until=at("2026-03-02T01:00")
    )

    assert report == [
        uptime("2026-02-23", "api", 1, 1),
        uptime("2026-02-23", "cron", 1, 1),
        uptime("2026-02-23", "web", 1, 0),
        uptime("2026-03-02", "api", 1, 1),
        uptime("2026-03-02", "gone", 1, 0),
        uptime("2026-03-02", "web", 1, 1),
    ]


@pytest.mark.parametrize(
    ("by", "filters", "expected"),
    [
        (
            "monitor",
            {"monitor_ids": ["web", "gone"]},
            [
                uptime("2026-02-01", "web", 1, 1),
                uptime("2026-03-01", "gone", 1, 0),
                uptime("2026-03-01", "web", 2, 1),
            ],
        ),
        (
            "tag",
            {"monitor_ids": ["web"]},
            [
                uptime("2026-02-01", "EU", 1, 1),
                uptime("2026-02-01", "prod", 1, 1),
                uptime("2026-03-01", "EU", 2, 1),
                uptime("2026-03-01", "prod", 2, 1),
            ],
        ),
        (
            "monitor",
            {"tags": ["eu"]},
            [uptime("2026-02-01", "api", 2, 1), uptime("2026-03-01", "api", 3, 3)],
        ),
        (
            "tag",
            {"tags": ["eu"]},
            [uptime("2026-02-01", "eu", 2, 1), uptime("2026-03-01", "eu", 3, 3)],
        ),
        (
            "tag",
            {"tags": ["EU", "missing"]},
            [uptime("2026-02-01", "EU", 1, 1), uptime("2026-03-01", "EU", 2, 1)],
        ),
        (
            "monitor",
            {"tags": ["prod"]},
            [
                uptime("2026-02-01", "api", 2, 1),
                uptime("2026-02-01", "web", 1, 1),
                uptime("2026-03-01", "api", 3, 3),
                uptime("2026-03-01", "web", 2, 1),
            ],
        ),
        (
            "tag",
            {"tags": ["prod"], "monitor_ids": ["gone", "api"]},
            [uptime("2026-02-01", "prod", 2, 1), uptime("2026-03-01", "prod", 3, 3)],
        ),
        ("monitor", {"tags": ["eu"], "monitor_ids": ["web"]}, []),
    ],
)
async def test_uptime_reports_narrow_to_the_monitors_and_tags_asked_for(
    store: Store, by: str, filters: dict[str, Any], expected: list[UptimeRow]
) -> None:
    await put_report_fleet(store)

    report = await store.uptime_report(
        period="month",
        since=at("2026-02-01"),
        until=at("2026-04-01"),
        by=by,
        **filters,
    )

    assert report == expected


@pytest.mark.parametrize(
    ("since", "until", "filters"),
    [
        ("2026-03-01", "2026-03-01", {}),
        ("2026-04-01", "2026-02-01", {}),
        ("2025-01-01", "2026-01-01", {}),
        ("2026-02-01", "2026-04-01", {"monitor_ids": []}),
        ("2026-02-01", "2026-04-01", {"tags": []}),
        ("2026-02-01", "2026-04-01", {"monitor_ids": ["cron"], "by": "tag"}),
    ],
)
async def test_an_uptime_report_with_nothing_to_count_is_empty(
    store: Store, since: str, until: str, filters: dict[str, Any]
) -> None:
    await put_report_fleet(store)

    report = await store.uptime_report(
        period="day", since=at(since), until=at(until), **filters
    )

    assert report == []


@pytest.mark.parametrize(
    ("moment", "period", "bucket"),
    [
        ("1969-12-31T23:30", "day", "1969-12-31"),
        ("1969-12-31T23:30", "week", "1969-12-29"),
        ("1969-12-31T23:30", "month", "1969-12-01"),
        ("1970-01-01T00:00", "week", "1969-12-29"),
        ("1900-02-28T23:00", "day", "1900-02-28"),
        ("1900-03-01T00:00", "month", "1900-03-01"),
        ("2024-02-29T12:00", "week", "2024-02-26"),
        ("2024-02-29T12:00", "month", "2024-02-01"),
        ("2021-01-03T23:00", "week", "2020-12-28"),
        ("0001-01-01T00:30", "week", "0001-01-01"),
        ("9999-12-31T23:30", "month", "9999-12-01"),
    ],
)
async def test_a_check_counts_in_the_utc_day_iso_week_and_month_that_hold_it(
    store: Store, moment: str, period: str, bucket: str
) -> None:
    await store.write_results([result("api", at(moment))])

    report = await store.uptime_report(period=period, since=-1e300, until=1e300)

    assert report == [uptime(bucket, "api", 1, 1)]


async def test_a_tag_repeated_in_a_monitor_row_counts_the_monitor_once(
    store: Store,
) -> None:
    row = monitor_row("rows[0]", definition("api"))
    await store.put_monitor_rows([row._replace(tags='["prod","prod"]')])
    await store.write_results([result("api", at("2026-03-01T12:00"))])

    report = await store.uptime_report(
        period="day", since=at("2026-03-01"), until=at("2026-03-02"), by="tag"
    )

    assert report == [uptime("2026-03-01", "prod", 1, 1)]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"period": "year"}, "period: must be one of day, week, month, got 'year'"),
        ({"period": None}, "period: must be one of day, week, month"),
        ({"by": "host"}, "by: must be monitor or tag, got 'host'"),
        ({"since": math.nan}, "since: must be a finite number"),
        ({"until": "later"}, "until: must be a number"),
        ({"monitor_ids": "api"}, "monitor_ids: must be a list, got str"),
        ({"monitor_ids": ["api", 3]}, "monitor_ids[1]: must be a str, got int"),
        ({"tags": "prod"}, "tags: must be a list, got str"),
        ({"tags": [None]}, "tags[0]: must be a str, got NoneType"),
    ],
)
async def test_bad_uptime_report_arguments_raise_value_errors_that_name_them(
    store: Store, arguments: dict[str, Any], message: str
) -> None:
    call: dict[str, Any] = {"period": "day", "since": 0.0, "until": DAY}
    call.update(arguments)

    with pytest.raises(ValueError, match=re.escape(message)):
        await store.uptime_report(**call)
