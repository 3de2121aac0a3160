"""Lists page by cursor, filter and sort; bulk changes answer item by item.

Most tests talk to the session's gateway; a tag of their own keeps their
monitors apart from every other test's.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sanic import HTTPResponse, Request, Sanic
from sanic.response import json

from tests.gateway_monitors import WAIT, definition, new_id
from tests.waiting import eventually
from web.directory import MonitorDirectory, MonitorQuery
from web.openapi import Operation, documented
from web.paging import decode_cursor, encode_cursor
from web.reference import install_versioning
from web.server import start_gateway


@pytest.fixture
async def fleet(
    http: httpx.AsyncClient, gateway_url: str
) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """Seven paused monitors under a tag of their own, named out of id order."""
    tag = f"fleet-{secrets.token_hex(4)}"
    names = ["Gamma", "alpha", "Delta", "beta", "Eta", "epsilon", "Zeta"]
    made = []
    for number, name in enumerate(names):
        body = definition(
            gateway_url,
            f"{tag}-{number}",
            name=f"{name} {tag}",
            tags=[tag],
            enabled=False,
        )
        answer = await http.post("/api/v1/monitors", json=body)
        assert answer.status_code == 201, answer.text
        made.append(answer.json())
    yield tag, made
    for monitor in made:
        await http.delete(f"/api/v1/monitors/{monitor['id']}")


async def every_page(
    http: httpx.AsyncClient, path: str, key: str, **params: Any
) -> tuple[list[dict[str, Any]], int]:
    """Every item of a list, following cursors; and how many pages it took."""
    items: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    while True:
        asked = {**params, **({"cursor": cursor} if cursor else {})}
        answer = await http.get(path, params=asked)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items += page[key]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return items, pages


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("id", [0, 1, 2, 3, 4, 5, 6]),
        ("-id", [6, 5, 4, 3, 2, 1, 0]),
        ("name", [1, 3, 2, 5, 4, 0, 6]),
        ("-name", [6, 0, 4, 5, 2, 3, 1]),
    ],
)
async def test_monitors_are_paged_by_cursor_in_the_order_asked(
    http: httpx.AsyncClient,
    fleet: tuple[str, list[dict[str, Any]]],
    sort: str,
    order: list[int],
) -> None:
    tag, made = fleet

    items, pages = await every_page(
        http, "/api/v1/monitors", "monitors", tag=tag, sort=sort, limit=3
    )

    assert [item["id"] for item in items] == [made[i]["id"] for i in order]
    assert pages == 3
    assert all(item["status"]["state"] for item in items)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "ETA"}, [3, 4, 6]),
        ({"q": "alpha"}, [1]),
        ({"kind": "udp"}, []),
        ({"enabled": "false"}, [0, 1, 2, 3, 4, 5, 6]),
        ({"enabled": "true"}, []),
    ],
)
async def test_monitors_are_filtered_and_status_follows_the_same_filters(
    http: httpx.AsyncClient,
    fleet: tuple[str, list[dict[str, Any]]],
    params: dict[str, str],
    expected: list[int],
) -> None:
    tag, made = fleet

    monitors, _ = await every_page(
        http, "/api/v1/monitors", "monitors", tag=tag, **params
    )
    status, _ = await every_page(http, "/api/v1/status", "status", tag=tag, **params)

    wanted = [made[i]["id"] for i in expected]
    assert [m["id"] for m in monitors] == wanted
    assert [s["id"] for s in status] == wanted
    assert all({"name", "state"} <= entry.keys() for entry in status)


@pytest.mark.parametrize(
    ("params", "field", "problem"),
    [
        ({"sort": "colour"}, "sort", "must be one of"),
        ({"cursor": "not-a-cursor"}, "cursor", "is not a cursor"),
        ({"limit": "0"}, "limit", "between 1 and 1000"),
        ({"state": "sleepy"}, "state", "must be one of"),
    ],
)
async def test_a_bad_list_parameter_is_refused_by_name(
    http: httpx.AsyncClient, params: dict[str, str], field: str, problem: str
) -> None:
    answer = await http.get("/api/v1/monitors", params=params)

    assert answer.status_code == 400
    [error] = answer.json()["error"]["fields"]
    assert error["field"] == field
    assert problem in error["problem"]


async def test_a_cursor_of_one_order_is_refused_in_another(
    http: httpx.AsyncClient, fleet: tuple[str, list[dict[str, Any]]]
) -> None:
    tag, _ = fleet
    first = (await http.get("/api/v1/monitors", params={"tag": tag, "limit": 2})).json()

    answer = await http.get(
        "/api/v1/monitors",
        params={"tag": tag, "sort": "last_latency_ms", "cursor": first["next_cursor"]},
    )

    assert answer.status_code == 400


async def test_bulk_changes_say_what_each_item_came_to(
    http: httpx.AsyncClient, gateway_url: str
) -> None:
    tag = f"bulk-{secrets.token_hex(4)}"
    good = definition(gateway_url, new_id(tag), tags=[tag])
    bad = definition(gateway_url, new_id(tag), interval="0s")

    created = await http.post(
        "/api/v1/monitors/bulk",
        json={"operation": "create", "items": [good, bad]},
    )
    paused = await http.post(
        "/api/v1/monitors/bulk",
        json={"operation": "pause", "items": [good["id"], "no-such-monitor"]},
    )
    listed = await http.get("/api/v1/monitors", params={"tag": tag})
    updated = await http.post(
        "/api/v1/monitors/bulk",
        json={
            "operation": "update",
            "items": [{"id": good["id"], "changes": {"description": "bulk"}}],
        },
    )
    deleted = await http.post(
        "/api/v1/monitors/bulk", json={"operation": "delete", "items": [good["id"]]}
    )

    first = created.json()
    assert (first["succeeded"], first["failed"]) == (1, 1)
    assert [item["status"] for item in first["items"]] == [201, 422]
    assert first["items"][1]["error"]["fields"][0]["field"] == "interval"
    assert [item["status"] for item in paused.json()["items"]] == [200, 404]
    assert [m["enabled"] for m in listed.json()["monitors"]] == [False]
    assert updated.json()["items"][0]["monitor"]["description"] == "bulk"
    assert deleted.json()["items"][0]["status"] == 204
    gone = await http.get(f"/api/v1/monitors/{good['id']}")
    assert gone.status_code == 404


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"operation": "explode", "items": ["a"]}, ["operation"]),
        ({"operation": "pause", "items": []}, ["items"]),
        ({"operation": "pause", "items": ["a"], "dry_run": True}, ["dry_run"]),
    ],
)
async def test_a_bad_bulk_request_changes_nothing_and_names_its_fields(
    http: httpx.AsyncClient, body: dict[str, Any], fields: list[str]
) -> None:
    answer = await http.post("/api/v1/monitors/bulk", json=body)

    assert answer.status_code == 422
    assert sorted(f["field"] for f in answer.json()["error"]["fields"]) == fields


async def test_settings_incidents_and_events_are_paged_too(
    http: httpx.AsyncClient,
) -> None:
    prefix = f"paged-{secrets.token_hex(4)}"
    made = [f"{prefix}-{n}" for n in range(5)]
    for channel in made:
        await http.put(
            f"/api/v1/channels/{channel}",
            json={"id": channel, "kind": "webhook", "url": "http://127.0.0.1:9/x"},
        )
    try:
        channels, pages = await every_page(
            http, "/api/v1/channels", "channels", limit=2
        )
        events = await http.get("/api/v1/events", params={"limit": 2})
        following = await http.get(
            "/api/v1/events",
            params={"limit": 2, "cursor": events.json()["next_cursor"]},
        )
    finally:
        for channel in made:
            await http.delete(f"/api/v1/channels/{channel}")

    listed = [c["id"] for c in channels if c["id"].startswith(prefix)]
    assert listed == made
    assert pages >= 3
    first, second = events.json()["events"], following.json()["events"]
    assert len(first) == 2
    assert first[-1]["id"] < second[0]["id"]


async def test_a_monitor_made_through_another_gateway_shows_in_lists_soon(
    http: httpx.AsyncClient, gateway_url: str, platform_handle: Any
) -> None:
    monitor_id = new_id("elsewhere")
    await platform_handle.create_monitor(
        definition(gateway_url, monitor_id, enabled=False)
    )

    async def listed() -> bool:
        answer = await http.get("/api/v1/monitors", params={"q": monitor_id})
        return [m["id"] for m in answer.json()["monitors"]] == [monitor_id]

    try:
        await eventually(listed, within=WAIT)
    finally:
        await http.delete(f"/api/v1/monitors/{monitor_id}")


def test_a_cursor_round_trips_and_a_made_up_one_is_refused() -> None:
    key = ("beta", "m-7")

    assert decode_cursor(encode_cursor(key)) == key
    with pytest.raises(Exception, match="cursor"):
        decode_cursor("e30")


class StaticPlatform:
    """The few platform calls a directory makes, answered from a list."""

    def __init__(self, monitors: list[dict[str, Any]]) -> None:
        self.monitors = monitors


def directory_with(monitors: list[dict[str, Any]]) -> MonitorDirectory:
    directory = MonitorDirectory(StaticPlatform(monitors))  # type: ignore[arg-type]
    for monitor in monitors:
        directory.put(monitor)
    return directory


def monitor(monitor_id: str, name: str, state: str, latency: float | None) -> Any:
    return {
        "id": monitor_id,
        "name": name,
        "kind": "tcp",
        "tags": [],
        "enabled": True,
        "options": {"password": "hunter2"},
        "status": {"state": state, "last_latency_ms": latency},
    }


def test_the_directory_keeps_lists_current_from_results_and_events() -> None:
    directory = directory_with(
        [
            monitor("a", "Alpha", "up", 20.0),
            monitor("b", "Beta", "down", None),
            monitor("c", "Gamma", "up", 5.0),
        ]
    )

    directory.observe(
        {
            "type": "result",
            "data": {"monitor_id": "b", "state": "up", "latency_ms": 9.0, "ok": True},
        }
    )
    directory.observe(
        {"type": "event", "data": {"type": "monitor_deleted", "monitor_id": "c"}}
    )
    by_latency, _ = directory.page(MonitorQuery(sort="last_latency_ms"))
    up, _ = directory.page(MonitorQuery(state="up"))

    assert by_latency == ["b", "a"]
    assert up == ["a", "b"]
    assert directory.monitor("a")["options"]["password"] == "********"


async def test_a_deprecated_route_says_so_and_when_it_goes() -> None:
    app: Sanic[Any, Any] = Sanic(f"upcast-versioning-{secrets.token_hex(4)}")

    @app.get("/api/v1/old")
    @documented(
        Operation(
            "An old route",
            "tests",
            {200: {"type": "object"}},
            deprecated_on="2027-01-01",
            sunset_on="2027-07-01",
        )
    )
    async def old(request: Request) -> HTTPResponse:
        return json({})

    @app.get("/api/v1/new")
    @documented(Operation("A new route", "tests", {200: {"type": "object"}}))
    async def new(request: Request) -> HTTPResponse:
        return json({})

    install_versioning(app)
    running = await start_gateway(app)
    try:
        async with httpx.AsyncClient(base_url=running.url) as client:
            deprecated = await client.get("/api/v1/old")
            current = await client.get("/api/v1/new")
    finally:
        await running.stop()

    assert deprecated.headers["deprecation"] == "@1798761600"
    assert deprecated.headers["sunset"] == "Thu, 01 Jul 2027 00:00:00 GMT"
    assert 'rel="deprecation"' in deprecated.headers["link"]
    assert "deprecation" not in current.headers
