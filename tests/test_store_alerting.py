"""Alerting's records on every backend: settings, incidents, timelines, retention."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from store import Store, open_store
from store.alerting import SETTING_KINDS, TimelineEntry
from tests.store_backends import BACKENDS, ISOLATED_URLS

DAY = 86_400.0

NOW = 100 * DAY
"""The moment retention runs at in these tests."""


@pytest.fixture(params=BACKENDS)
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with ISOLATED_URLS[request.param](tmp_path) as made:
        yield made


@pytest.fixture
async def store(url: str) -> AsyncIterator[Store]:
    async with open_store(url) as opened:
        yield opened


def incident(
    incident_id: str,
    opened_at: float,
    *,
    monitor: str = "web",
    status: str = "open",
    resolved_at: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An incident as alerting would put it, with any other fields it keeps."""
    return {
        "id": incident_id,
        "monitor_id": monitor,
        "status": status,
        "opened_at": opened_at,
        "updated_at": resolved_at or opened_at,
        "resolved_at": resolved_at,
        **extra,
    }


def entry(
    incident_id: str, entry_id: str, at: float, kind: str = "notified"
) -> TimelineEntry:
    return TimelineEntry(incident_id, entry_id, at, kind, {"channel": "ops"})


def ids(incidents: list[dict[str, Any]]) -> list[str]:
    return [found["id"] for found in incidents]


@pytest.mark.parametrize("kind", SETTING_KINDS)
async def test_a_setting_is_put_read_listed_and_deleted(
    store: Store, kind: str
) -> None:
    body = {"id": "night", "name": "Night shift", "enabled": True}

    created = await store.put_setting(kind, "night", body, at=100.0)

    assert created
    assert await store.get_setting(kind, "night") == body
    assert await store.settings(kind) == [body]
    assert await store.delete_setting(kind, "night")
    assert not await store.delete_setting(kind, "night")
    assert await store.get_setting(kind, "night") is None
    assert await store.settings(kind) == []


async def test_putting_a_setting_again_replaces_it_and_says_it_was_not_new(
    store: Store,
) -> None:
    await store.put_setting("channel", "ops", {"id": "ops", "url": "a"}, at=1.0)

    again = await store.put_setting("channel", "ops", {"id": "ops", "url": "b"}, at=2.0)
    unchanged = await store.put_setting(
        "channel", "ops", {"id": "ops", "url": "b"}, at=2.0
    )

    assert (again, unchanged) == (False, False)
    assert await store.settings("channel") == [{"id": "ops", "url": "b"}]


async def test_settings_are_listed_by_id_in_code_point_order_and_kept_apart_by_kind(
    store: Store,
) -> None:
    names = ["b", "B", "a", "ä", "a b", "a-"]
    for name in names:
        await store.put_setting("route", name, {"id": name}, at=1.0)
    await store.put_setting("channel", "a", {"id": "a", "kind": "slack"}, at=1.0)

    await store.delete_setting("channel", "a")

    assert ids(await store.settings("route")) == sorted(names)
    assert await store.get_setting("route", "a") == {"id": "a"}
    assert await store.settings("channel") == []


@pytest.mark.parametrize(
    "call",
    [
        lambda store: store.put_setting("alarm", "x", {}, at=1.0),
        lambda store: store.get_setting("alarm", "x"),
        lambda store: store.settings("alarm"),
        lambda store: store.delete_setting("alarm", "x"),
        lambda store: store.settings(""),
    ],
    ids=["put", "get", "list", "delete", "empty"],
)
async def test_an_unknown_kind_of_setting_is_refused(
    store: Store, call: Callable[[Store], Awaitable[object]]
) -> None:
    with pytest.raises(ValueError, match=r"^kind: must be one of channel, route, "):
        await call(store)


NESTED = {
    "id": "ünïcode",
    "title": "Sunucu çöktü — 데이터베이스 🚨",
    "steps": [{"after": 300, "notify": ["ops", "şef"]}, {"after": 0.25}],
    "quiet": None,
    "flags": {"deep": {"deeper": [True, False, [], {}]}},
}


async def test_bodies_round_trip_with_nested_json_and_non_ascii_text(
    store: Store,
) -> None:
    await store.put_setting("escalation", "ünïcode", NESTED, at=1.0)
    await store.put_incidents([incident("ünïcode", 10.0, details=NESTED)])

    assert await store.get_setting("escalation", "ünïcode") == NESTED
    assert await store.settings("escalation") == [NESTED]
    assert await store.get_incident("ünïcode") == incident(
        "ünïcode", 10.0, details=NESTED
    )


async def test_an_incident_is_replaced_by_its_id_as_its_status_changes(
    store: Store,
) -> None:
    await store.put_incidents([incident("i1", 10.0), incident("i2", 20.0)])

    acknowledged = incident("i1", 10.0, status="acknowledged", by="ayşe")
    await store.put_incidents([acknowledged])
    resolved = incident("i1", 10.0, status="resolved", resolved_at=30.0)
    await store.put_incidents([resolved])

    assert await store.get_incident("i1") == resolved
    assert await store.get_incident("missing") is None
    assert ids(await store.incidents()) == ["i2", "i1"]
    assert ids(await store.unresolved_incidents()) == ["i2"]


async def test_of_two_incidents_with_one_id_in_a_batch_the_later_wins(
    store: Store,
) -> None:
    first = incident("i1", 10.0, note="first")
    later = incident("i1", 10.0, status="acknowledged", note="later")

    await store.put_incidents([first, incident("i2", 20.0), later])

    assert await store.get_incident("i1") == later
    assert ids(await store.incidents()) == ["i2", "i1"]


FILTERED: list[tuple[dict[str, Any], list[str]]] = [
    ({}, ["d", "c", "b", "a"]),
    ({"status": ["open"]}, ["d", "a"]),
    ({"status": ("open", "open")}, ["d", "a"]),
    ({"status": ["open", "acknowledged"]}, ["d", "b", "a"]),
    ({"status": []}, []),
    ({"monitor_id": "web"}, ["b", "a"]),
    ({"monitor_id": "db", "status": ["resolved"]}, ["c"]),
    ({"monitor_id": "nothing"}, []),
    ({"limit": 2}, ["d", "c"]),
    ({"before": "c"}, ["b", "a"]),
    ({"before": "d", "monitor_id": "db"}, ["c"]),
    ({"before": "a"}, []),
]


@pytest.mark.parametrize(("filters", "expected"), FILTERED)
async def test_incidents_are_listed_newest_first_and_filtered(
    store: Store, filters: dict[str, Any], expected: list[str]
) -> None:
    await store.put_incidents(
        [
            incident("a", 100.0, monitor="web"),
            incident("b", 200.0, monitor="web", status="acknowledged"),
            incident("c", 300.0, monitor="db", status="resolved", resolved_at=350.0),
            incident("d", 400.0, monitor="db"),
        ]
    )

    assert ids(await store.incidents(**filters)) == expected


async def test_paging_by_cursor_gives_every_incident_once_across_three_pages(
    store: Store,
) -> None:
    # Ties on opened_at are broken by id, so a page may end inside a tie.
    opened = [100.0, 100.0, 100.0, 200.0, 200.0, 300.0, 400.0]
    await store.put_incidents([incident(f"i{n}", at) for n, at in enumerate(opened)])

    pages: list[list[str]] = []
    before: str | None = None
    while page := ids(await store.incidents(before=before, limit=3)):
        pages.append(page)
        before = page[-1]

    assert pages == [["i6", "i5", "i4"], ["i3", "i2", "i1"], ["i0"]]


async def test_paging_from_an_incident_that_is_not_there_is_refused(
    store: Store,
) -> None:
    await store.put_incidents([incident("i1", 10.0)])

    with pytest.raises(ValueError, match=r"^before: no incident has the id 'gone'"):
        await store.incidents(before="gone")


async def test_unresolved_incidents_are_the_open_and_acknowledged_ones_oldest_first(
    store: Store,
) -> None:
    await store.put_incidents(
        [
            incident("late", 300.0),
            incident("done", 50.0, status="resolved", resolved_at=60.0),
            incident("seen", 100.0, status="acknowledged"),
            incident("tie-b", 200.0),
            incident("tie-a", 200.0),
        ]
    )

    unresolved = await store.unresolved_incidents()

    assert ids(unresolved) == ["seen", "tie-a", "tie-b", "late"]
    assert unresolved[0] == incident("seen", 100.0, status="acknowledged")


DROPPED = object()
"""Marks a field taken out of the incident, rather than given a value."""


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        (
            "status",
            "x",
            r"incidents\[1\]\.status: must be one of open, acknowledged, resolved, "
            r"got 'x'$",
        ),
        ("status", None, r"incidents\[1\]\.status: must be one of "),
        ("id", "", r"incidents\[1\]\.id: must be non-empty text"),
        ("id", 7, r"incidents\[1\]\.id: must be non-empty text"),
        ("id", "x" * 201, r"incidents\[1\]\.id: must be at most 200 characters"),
        ("id", DROPPED, r"incidents\[1\]\.id: must be non-empty text, got None"),
        ("monitor_id", None, r"incidents\[1\]\.monitor_id: "),
        ("opened_at", "soon", r"incidents\[1\]\.opened_at: must be a number"),
        (
            "updated_at",
            float("nan"),
            r"incidents\[1\]\.updated_at: must be a finite number",
        ),
        ("updated_at", True, r"incidents\[1\]\.updated_at: must be a number"),
        ("resolved_at", "later", r"incidents\[1\]\.resolved_at: must be a number"),
        ("resolved_at", DROPPED, r"incidents\[1\]\.resolved_at: must be given"),
        ("notes", {1, 2}, r"incidents\[1\]: cannot be stored as JSON"),
        ("score", float("inf"), r"incidents\[1\]: cannot be stored as JSON"),
    ],
)
async def test_an_invalid_incident_is_refused_by_its_place_and_nothing_is_written(
    store: Store, field: str, value: object, problem: str
) -> None:
    bad: dict[str, Any] = incident("bad", 20.0)
    if value is DROPPED:
        del bad[field]
    else:
        bad[field] = value

    with pytest.raises(ValueError, match=f"^{problem}"):
        await store.put_incidents([incident("good", 10.0), bad])

    assert await store.get_incident("good") is None
    assert await store.incidents() == []


async def test_a_resolved_incident_must_say_when_it_was_resolved(store: Store) -> None:
    with pytest.raises(ValueError, match=r"^incidents\[0\]\.resolved_at: must be a"):
        await store.put_incidents([incident("i1", 10.0, status="resolved")])


async def test_a_timeline_written_again_adds_nothing_and_reads_oldest_first(
    store: Store,
) -> None:
    first = [
        entry("i1", "003", 20.0, "acknowledged"),
        entry("i1", "001", 10.0, "opened"),
        entry("i1", "002", 20.0),
        entry("i2", "001", 5.0),
    ]
    changed = TimelineEntry("i1", "002", 99.0, "changed", {"channel": "dev"})

    added = await store.add_timeline(first)
    again = await store.add_timeline([*first, changed, entry("i1", "004", 30.0)])

    timeline = await store.timeline("i1")
    assert (added, again) == (4, 1)
    assert [(e.entry_id, e.at, e.kind) for e in timeline] == [
        ("001", 10.0, "opened"),
        ("002", 20.0, "notified"),
        ("003", 20.0, "acknowledged"),
        ("004", 30.0, "notified"),
    ]
    assert timeline[1] == entry("i1", "002", 20.0)
    assert [e.entry_id for e in await store.timeline("i1", limit=2)] == ["001", "002"]
    assert await store.timeline("nobody") == []


async def test_a_timeline_entry_keeps_nested_data_and_gives_itself_as_a_dict(
    store: Store,
) -> None:
    data = {"by": "Çağla", "to": ["ops", "dev"], "try": {"n": 2, "ok": False}}
    written = TimelineEntry("i1", "e1", 10.5, "escalated", data)

    await store.add_timeline([written, TimelineEntry("i1", "e2", 11.0, "note")])

    [read, plain] = await store.timeline("i1")
    assert read == written
    assert plain.data == {}
    assert read.to_dict() == {
        "incident_id": "i1",
        "entry_id": "e1",
        "at": 10.5,
        "kind": "escalated",
        "data": data,
    }


async def test_retention_removes_old_resolved_incidents_with_their_timeline_only(
    store: Store,
) -> None:
    await store.put_incidents(
        [
            incident("old", 10.0, status="resolved", resolved_at=20.0),
            incident("recent", 10.0, status="resolved", resolved_at=NOW - 100),
            incident("stuck", 10.0),
            incident("seen", 10.0, status="acknowledged"),
        ]
    )
    await store.add_timeline(
        [entry(name, "e1", 10.0) for name in ("old", "recent", "stuck", "seen")]
    )

    deleted = await store.enforce_retention(1, now=NOW)

    assert deleted == 0
    assert await store.get_incident("old") is None
    assert await store.timeline("old") == []
    assert sorted(ids(await store.incidents())) == ["recent", "seen", "stuck"]
    for kept in ("recent", "stuck", "seen"):
        assert [e.entry_id for e in await store.timeline(kept)] == ["e1"]


async def test_retention_goes_through_more_than_one_batch_of_incidents(
    store: Store,
) -> None:
    old = [
        incident(f"i{n:05d}", 10.0, status="resolved", resolved_at=20.0)
        for n in range(6_000)
    ]
    await store.put_incidents([*old, incident("open", 10.0)])
    await store.add_timeline([entry("i00000", "e1", 10.0), entry("open", "e1", 10.0)])

    await store.enforce_retention(1, now=NOW)

    assert ids(await store.incidents(limit=10)) == ["open"]
    assert await store.timeline("i00000") == []
    assert len(await store.timeline("open")) == 1


async def test_settings_incidents_and_timelines_survive_closing_and_reopening(
    url: str,
) -> None:
    async with open_store(url) as first:
        await first.put_setting("maintenance", "sunday", {"id": "sunday"}, at=1.0)
        await first.put_incidents([incident("i1", 10.0, note="kept")])
        await first.add_timeline([entry("i1", "e1", 10.0)])

    async with open_store(url) as second:
        assert await second.settings("maintenance") == [{"id": "sunday"}]
        assert await second.get_incident("i1") == incident("i1", 10.0, note="kept")
        assert await second.unresolved_incidents() == [
            incident("i1", 10.0, note="kept")
        ]
        assert await second.timeline("i1") == [entry("i1", "e1", 10.0)]
        assert not await second.put_setting(
            "maintenance", "sunday", {"id": "sunday", "v": 2}, at=2.0
        )


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda store: store.incidents(limit=0), "limit"),
        (lambda store: store.incidents(status="open"), "status"),
        (lambda store: store.incidents(status=["lost"]), r"status\[0\]"),
        (lambda store: store.incidents(monitor_id=""), "monitor_id"),
        (lambda store: store.incidents(before=""), "before"),
        (lambda store: store.get_incident(""), "incident_id"),
        (lambda store: store.timeline("i1", limit=0), "limit"),
        (lambda store: store.timeline("x" * 201), "incident_id"),
        (lambda store: store.get_setting("channel", ""), "setting_id"),
        (lambda store: store.delete_setting("route", "x" * 201), "setting_id"),
        (lambda store: store.put_setting("route", "r", [], at=1.0), "body"),
        (lambda store: store.put_setting("route", "r", {}, at=None), "at"),
        (lambda store: store.put_incidents({}), "incidents"),
        (lambda store: store.put_incidents([5]), r"incidents\[0\]"),
        (lambda store: store.add_timeline(["e1"]), r"entries\[0\]"),
        (
            lambda store: store.add_timeline([TimelineEntry("", "e", 1.0, "k")]),
            r"entries\[0\]\.incident_id",
        ),
        (
            lambda store: store.add_timeline([TimelineEntry("i", "e", 1.0, "")]),
            r"entries\[0\]\.kind",
        ),
    ],
)
async def test_a_bad_argument_names_its_field(
    store: Store, call: Callable[[Store], Awaitable[object]], field: str
) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        await call(store)
