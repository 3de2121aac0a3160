"""Lists through the SDK: every page followed, limits kept, bulk changes.

Against the real gateway, clients ask for two items a page, so a handful of
monitors, events or settings already spans several pages. How a
``Listing`` walks pages is also checked on its own, on answers written
here, since a gateway cannot be made to answer pages that end early.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from sdk import AsyncClient, Client, Conflict, InvalidMonitor, NotFound
from sdk.calls import Call, Listing, Sender
from sdk.monitors import MAX_BULK, BulkReport, bulk_calls, bulk_read
from tests.gateway_monitors import WAIT, definition, new_id
from tests.waiting import eventually

SMALL_PAGE = 2


@pytest.fixture
def client(gateway_url: str, api_key: str) -> Iterator[Client]:
    with Client(
        gateway_url, api_key=api_key, timeout=WAIT, page_size=SMALL_PAGE
    ) as opened:
        yield opened


@pytest.fixture
async def async_client(gateway_url: str, api_key: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        gateway_url, api_key=api_key, timeout=WAIT, page_size=SMALL_PAGE
    ) as opened:
        yield opened


@pytest.fixture
def tagged(client: Client, gateway_url: str) -> Iterator[list[dict[str, Any]]]:
    """Five monitors with a tag of their own, checked hourly; deleted after."""
    tag = new_id("page")
    names = ["delta", "Alpha", "echo", "bravo", "Charlie"]
    definitions = [
        definition(
            gateway_url,
            new_id("paged"),
            name=f"{name} {tag}",
            tags=[tag],
            interval=3600,
        )
        for name in names
    ]
    report = client.bulk_create(definitions)
    assert report.failed == 0
    yield definitions
    client.bulk_delete([d["id"] for d in definitions])


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


# -- walking pages, on answers written here ---------------------------------


class Canned(Sender):
    """A sender answering each call with the next document it was given."""

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self._answers = iter(answers)
        self.calls: list[Call] = []

    def _send(self, call: Call) -> Any:
        self.calls.append(call)
        return next(self._answers)

    def every(self, listing: Listing) -> list[dict[str, Any]]:
        return self._every(listing)


def page(items: list[int], cursor: str | None) -> dict[str, Any]:
    return {"things": [{"n": n} for n in items], "next_cursor": cursor}


@pytest.mark.parametrize(
    ("limit", "answers", "taken", "asked"),
    [
        pytest.param(
            None,
            [page([1, 2], "a"), page([3, 4], "b"), page([5], None)],
            [1, 2, 3, 4, 5],
            [(2, None), (2, "a"), (2, "b")],
            id="every page until one has no cursor",
        ),
        pytest.param(
            3,
            [page([1, 2], "a"), page([3], "b")],
            [1, 2, 3],
            [(2, None), (1, "a")],
            id="no more than the limit is asked for",
        ),
        pytest.param(
            1,
            [page([1, 2], "a")],
            [1],
            [(1, None)],
            id="extra items of a page are left out",
        ),
        pytest.param(0, [], [], [], id="a limit of nothing asks nothing"),
        pytest.param(
            None,
            [page([1], "a"), page([], "b")],
            [1],
            [(2, None), (2, "a")],
            id="an empty page ends the list even with a cursor",
        ),
    ],
)
def test_a_listing_walks_pages_until_the_end_or_the_limit(
    limit: int | None,
    answers: list[dict[str, Any]],
    taken: list[int],
    asked: list[tuple[int, str | None]],
) -> None:
    sender = Canned(answers)
    listing = Listing("/api/v1/things", "things", {"q": "x"}, limit, page_size=2)

    found = sender.every(listing)

    assert [item["n"] for item in found] == taken
    assert [
        (call.params["limit"], call.params.get("cursor"))
        for call in sender.calls
        if call.params is not None
    ] == asked
    assert all(call.params and call.params["q"] == "x" for call in sender.calls)


@pytest.mark.parametrize("page_size", [0, 1001])
def test_a_page_size_the_gateway_cannot_answer_is_refused(page_size: int) -> None:
    with pytest.raises(ValueError, match="page_size"):
        Client("http://127.0.0.1:9", page_size=page_size)


# -- monitors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "key", "reverse"),
    [
        (None, lambda d: d["id"], False),
        ("name", lambda d: d["name"].casefold(), False),
        ("-name", lambda d: d["name"].casefold(), True),
    ],
)
def test_listing_monitors_follows_every_page_in_the_order_asked(
    client: Client,
    tagged: list[dict[str, Any]],
    sort: str | None,
    key: Any,
    reverse: bool,
) -> None:
    tag = tagged[0]["tags"][0]

    listed = client.list_monitors(tag=tag, sort=sort)
    iterated = list(client.iter_monitors(tag=tag, sort=sort, page_size=1))
    first_three = client.list_monitors(tag=tag, sort=sort, limit=3)

    expected = ids(sorted(tagged, key=key, reverse=reverse))
    assert ids(listed) == ids(iterated) == expected
    assert ids(first_three) == expected[:3]


async def test_the_async_client_lists_statuses_across_pages(
    async_client: AsyncClient, tagged: list[dict[str, Any]]
) -> None:
    tag = tagged[0]["tags"][0]

    statuses = await async_client.status(tag=tag)
    iterated = [entry async for entry in async_client.iter_status(tag=tag)]

    assert ids(statuses) == ids(iterated) == sorted(ids(tagged))
    assert all("state" in entry for entry in statuses)


def test_an_iterator_reads_no_further_than_it_is_read(
    client: Client, tagged: list[dict[str, Any]]
) -> None:
    tag = tagged[0]["tags"][0]
    monitors = client.iter_monitors(tag=tag, page_size=2)

    first = next(monitors)
    client.bulk_delete(sorted(ids(tagged))[2:])
    rest = list(monitors)

    # The first page was read before the deletion, the rest after it.
    assert ids([first, *rest]) == sorted(ids(tagged))[:2]


# -- results and events --------------------------------------------------------


async def test_results_and_events_come_up_to_their_limit_across_pages(
    async_client: AsyncClient, gateway_url: str
) -> None:
    monitor_id = new_id("paged")
    await async_client.create_monitor(definition(gateway_url, monitor_id))
    try:
        await async_client.update_monitor(monitor_id, {"description": "paged"})
        await async_client.pause(monitor_id)
        await async_client.resume(monitor_id)

        async def stored() -> list[dict[str, Any]]:
            found = await async_client.results(monitor_id, limit=None)
            return found if len(found) >= 5 else []

        every_result = await eventually(stored)
        # Results older than the newest one seen no longer change.
        until = every_result[0]["started_at"]
        three_results = await async_client.results(monitor_id, until=until, limit=3)
        older = [
            result
            async for result in async_client.iter_results(
                monitor_id, until=until, page_size=2
            )
        ]
        every_event = [
            event
            async for event in async_client.iter_events(monitor=monitor_id, page_size=1)
        ]
        three_events = await async_client.events(monitor=monitor_id, limit=3)
        after_first = await async_client.events(
            after=every_event[0]["id"], monitor=monitor_id, limit=2
        )
    finally:
        await async_client.delete_monitor(monitor_id)

    started = [result["started_at"] for result in every_result]
    assert started == sorted(started, reverse=True)
    assert len(set(started)) == len(started)
    assert three_results == every_result[1:4]
    assert older == every_result[1:]
    assert len(every_event) >= 4
    assert three_events == every_event[:3]
    assert after_first == every_event[1:3]


# -- settings, reports, incidents, the outbox ----------------------------------


def test_settings_are_listed_whole_and_read_one_by_one(client: Client) -> None:
    prefix = new_id("route")
    made: list[dict[str, Any]] = [
        {"id": f"{prefix}-{n}", "tags": [prefix], "channels": []} for n in range(3)
    ]
    try:
        created = client.create_setting("routes", made[0])
        for route in made[1:]:
            client.put_setting("routes", route)
        with pytest.raises(Conflict):
            client.create_setting("routes", made[0])
        listed = [r["id"] for r in client.settings("routes")]
        iterated = [r["id"] for r in client.iter_settings("routes", page_size=1)]
        read = client.get_setting("routes", made[2]["id"])
    finally:
        for route in made:
            with contextlib.suppress(NotFound):
                client.delete_setting("routes", route["id"])

    assert created["id"] == made[0]["id"]
    assert listed == iterated
    assert len(set(listed)) == len(listed)
    assert {route["id"] for route in made} <= set(listed)
    assert read["tags"] == [prefix]


def test_a_summary_report_spans_pages(client: Client) -> None:
    summary = [entry["monitor_id"] for entry in client.summary()]
    # Monitors checked since may join the summary; none leaves it.
    iterated = [entry["monitor_id"] for entry in client.iter_summary(page_size=1)]

    assert summary == sorted(set(summary))
    assert iterated == sorted(set(iterated))
    assert set(summary) <= set(iterated)


@pytest.mark.parametrize("page_size", [1, 3])
def test_histories_read_by_iterator_match_their_lists(
    client: Client, page_size: int
) -> None:
    # Newer entries may come at any time; those before the newest seen stay.
    newest_incident = client.incidents(limit=1)
    before_incident = newest_incident[0]["id"] if newest_incident else None
    newest_activity = client.activity(limit=1)
    before_activity = newest_activity[0]["id"] if newest_activity else None

    incidents = client.incidents(before=before_incident, limit=5)
    activity = client.activity(before=before_activity, limit=5)
    outbox = client.outbox(limit=5)

    def first_ids(items: Iterator[dict[str, Any]]) -> list[Any]:
        return [item["id"] for _, item in zip(range(5), items, strict=False)]

    assert first_ids(
        client.iter_incidents(before=before_incident, page_size=page_size)
    ) == ids(incidents)
    assert first_ids(
        client.iter_activity(before=before_activity, page_size=page_size)
    ) == [entry["id"] for entry in activity]
    assert first_ids(client.iter_outbox(page_size=page_size)) == [
        entry["id"] for entry in outbox
    ]


# -- bulk changes ----------------------------------------------------------------


def test_a_bulk_change_reports_each_item_on_its_own(
    client: Client, gateway_url: str
) -> None:
    good, bad, missing = new_id("bulk"), new_id("bulk"), new_id("bulk")
    try:
        created = client.bulk_create(
            [
                definition(gateway_url, good, interval=3600),
                definition(gateway_url, bad, interval=0),
            ]
        )
        updated = client.bulk_update(
            {good: {"description": "bulk"}, missing: {"description": "x"}}
        )
        paused = client.bulk_pause([good])
        resumed = client.bulk_resume([good])
    finally:
        deleted = client.bulk_delete([good, missing])

    assert (created.succeeded, created.failed) == (1, 1)
    [refused] = created.failures
    assert (refused.index, refused.id, refused.status) == (1, bad, 422)
    assert isinstance(refused.error, InvalidMonitor)
    assert "interval" in dict(refused.error.fields)
    assert created.items[0].monitor is not None
    assert created.items[0].monitor["id"] == good
    assert [(o.id, o.ok) for o in updated.items] == [(good, True), (missing, False)]
    assert isinstance(updated.items[1].error, NotFound)
    assert updated.items[0].monitor is not None
    assert updated.items[0].monitor["description"] == "bulk"
    assert paused.items[0].monitor is not None
    assert paused.items[0].monitor["enabled"] is False
    assert resumed.succeeded == 1
    assert [(o.status, o.monitor) for o in deleted.items] == [(204, None), (404, None)]


def test_a_bulk_change_of_nothing_sends_nothing() -> None:
    with Client("http://127.0.0.1:9", retries=0) as unreachable:
        report = unreachable.bulk("delete", [])

    assert (report.items, report.succeeded, report.failed) == ([], 0, 0)


def test_a_large_bulk_change_goes_in_parts_counted_in_the_whole_list() -> None:
    items = [str(uuid.uuid4()) for _ in range(2 * MAX_BULK + 5)]

    calls = bulk_calls("pause", items)
    report = BulkReport("pause")
    bulk_read(report, calls[2][0], {"items": [{"index": 4, "id": "x", "status": 200}]})

    assert [start for start, _ in calls] == [0, MAX_BULK, 2 * MAX_BULK]
    assert [len(call.body["items"]) for _, call in calls if call.body] == [
        MAX_BULK,
        MAX_BULK,
        5,
    ]
    assert report.items[0].index == 2 * MAX_BULK + 4


def test_an_unknown_bulk_operation_is_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="operation"):
        bulk_calls("explode", ["a"])
