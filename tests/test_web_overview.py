"""The overview answers every monitor at once; room ``events`` keeps it current.

Monitors check real local TCP services that the tests stop and start; live
updates are read by real socket.io clients, of the session's gateway or of
a gateway a test starts on its own loop to publish updates at known moments.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
import socketio

from actors.platform import Platform
from actors.runtime import RayPlatform
from tests.gateway_monitors import WAIT, new_id
from tests.http_servers import refused_port
from tests.tcp_target import TcpTarget
from tests.waiting import eventually
from web.app import create_app
from web.directory import OVERVIEW_FIELDS, RECENT_CHECKS, MonitorDirectory
from web.live import LiveHub
from web.overview_api import Snapshots
from web.protection import ProtectionSettings
from web.server import RunningGateway, start_gateway

FIELDS = list(OVERVIEW_FIELDS)


class Client:
    """A real socket.io client keeping every update it receives, in order."""

    KINDS = ("result", "event", "incident", "recovery", "offset")

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.messages: list[tuple[str, Any]] = []
        for kind in self.KINDS:
            self.sio.on(kind, self._keeper(kind))

    def _keeper(self, kind: str) -> Callable[[Any], Any]:
        async def keep(data: Any) -> None:
            self.messages.append((kind, data))

        return keep

    async def connect(
        self, url: str, token: str, query: str, offset: int | None = None
    ) -> Client:
        auth: dict[str, Any] = {"token": token}
        if offset is not None:
            auth["offset"] = offset
        await self.sio.connect(
            f"{url}?{query}", transports=["websocket"], wait_timeout=WAIT, auth=auth
        )
        return self

    def got(self, kind: str, **fields: Any) -> list[Any]:
        return [
            data
            for got_kind, data in self.messages
            if got_kind == kind
            and all(data.get(key) == value for key, value in fields.items())
        ]

    async def wait_for(self, kind: str, **fields: Any) -> list[Any]:
        async def arrived() -> list[Any]:
            return self.got(kind, **fields)

        found: list[Any] = await eventually(arrived, within=WAIT * 2, every=0.05)
        return found


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[], Client]]:
    """Makes socket.io clients; each is disconnected when the test ends."""
    made: list[Client] = []

    def make() -> Client:
        made.append(Client())
        return made[-1]

    yield make
    for client in made:
        await client.sio.disconnect()


@pytest.fixture
def target() -> Iterator[TcpTarget]:
    with TcpTarget() as running:
        yield running


@pytest.fixture
async def fleet(
    http: httpx.AsyncClient, made: list[str], target: TcpTarget
) -> dict[str, str]:
    """Three TCP monitors under a tag of their own: one checking the target,
    one paused, one checking a port where nothing listens."""
    tag = new_id("overview")
    monitors = {
        "up": ("Bravo", target.address, True),
        "paused": ("alpha", target.address, False),
        "down": ("Charlie", f"127.0.0.1:{refused_port()}", True),
    }
    ids: dict[str, str] = {"tag": tag}
    for role, (name, address, enabled) in monitors.items():
        monitor_id = new_id(f"overview-{role}")
        body = {
            "id": monitor_id,
            "name": f"{name} {tag}",
            "kind": "tcp",
            "target": address,
            "interval": 1,
            "timeout": 1,
            "retries": 0,
            "tags": [tag, f"{role}-{tag}"],
            "enabled": enabled,
        }
        answer = await http.post("/api/v1/monitors", json=body)
        assert answer.status_code == 201, answer.text
        made.append(monitor_id)
        ids[role] = monitor_id
    return ids


def rows_of(overview: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The overview's monitors by id, each as a dict of its fields."""
    return {
        row[0]: dict(zip(overview["fields"], row, strict=True))
        for row in overview["monitors"]
    }


async def overview_when(
    http: httpx.AsyncClient, ready: Callable[[dict[str, Any]], bool], **params: str
) -> dict[str, Any]:
    """The first overview (with ``params``) for which ``ready`` holds."""

    async def asked() -> dict[str, Any] | None:
        answer = await http.get("/api/v1/overview", params=params)
        assert answer.status_code == 200, answer.text
        overview: dict[str, Any] = answer.json()
        return overview if ready(overview) else None

    found: dict[str, Any] = await eventually(asked, within=WAIT * 2, every=0.2)
    return found


# -- the snapshot ---------------------------------------------------------------


async def test_the_overview_holds_each_monitor_as_a_row_of_its_fields(
    http: httpx.AsyncClient, fleet: dict[str, str]
) -> None:
    tag = fleet["tag"]

    def checked(overview: dict[str, Any]) -> bool:
        rows = rows_of(overview)
        return (
            len(rows) == 3
            and len(rows[fleet["up"]]["recent"]) >= 3
            and rows[fleet["down"]]["state"] == "down"
        )

    overview = await overview_when(http, checked, tags=tag)
    rows = rows_of(overview)
    up, paused, down = rows[fleet["up"]], rows[fleet["paused"]], rows[fleet["down"]]

    assert list(overview) == ["at", "offset", "counts", "fields", "monitors"]
    assert overview["fields"] == FIELDS
    assert abs(overview["at"] - time.time()) < 60
    assert isinstance(overview["offset"], int)
    assert overview["counts"] == {"up": 1, "paused": 1, "down": 1}
    assert [row[0] for row in overview["monitors"]] == [
        fleet["paused"],
        fleet["up"],
        fleet["down"],
    ]
    assert up["name"] == f"Bravo {tag}"
    assert up["type"] == "tcp"
    assert up["state"] == "up"
    assert up["tags"] == [tag, f"up-{tag}"]
    assert set(up["recent"]) == {"u"}
    assert isinstance(up["latency_ms"], float)
    assert abs(up["checked_at"] - time.time()) < 30
    assert up["reason"] is None
    assert paused["state"] == "paused"
    assert paused["recent"] == ""
    assert "d" in down["recent"]
    assert down["reason"] is not None


async def test_recent_letters_follow_a_target_that_goes_away(
    http: httpx.AsyncClient, fleet: dict[str, str], target: TcpTarget
) -> None:
    tag, monitor_id = fleet["tag"], fleet["up"]
    await overview_when(
        http, lambda o: "uu" in rows_of(o)[monitor_id]["recent"], tags=tag
    )

    target.stop()
    gone = await overview_when(
        http, lambda o: rows_of(o)[monitor_id]["recent"].endswith("dd"), tags=tag
    )
    target.start()
    back = await overview_when(
        http, lambda o: rows_of(o)[monitor_id]["recent"].endswith("u"), tags=tag
    )

    recent = rows_of(back)[monitor_id]["recent"]
    assert rows_of(gone)[monitor_id]["state"] == "down"
    assert recent.index("d") > recent.index("u")
    assert rows_of(back)[monitor_id]["state"] == "up"


@pytest.mark.parametrize(
    ("params", "roles", "counts"),
    [
        ({"tags": "{tag}", "state": "down"}, ["down"], {"down": 1}),
        ({"tags": "{tag}", "q": "CHARLIE"}, ["down"], {"down": 1}),
        ({"tags": "{tag}", "q": "bravo", "state": "down"}, [], {}),
        ({"tags": "up-{tag}, paused-{tag}"}, ["paused", "up"], {"up": 1, "paused": 1}),
    ],
)
async def test_the_overview_is_filtered_by_tags_state_and_name(
    http: httpx.AsyncClient,
    fleet: dict[str, str],
    params: dict[str, str],
    roles: list[str],
    counts: dict[str, int],
) -> None:
    tag = fleet["tag"]
    await overview_when(
        http,
        lambda o: o["counts"] == {"up": 1, "paused": 1, "down": 1},
        tags=tag,
    )

    answer = await http.get(
        "/api/v1/overview",
        params={name: value.format(tag=tag) for name, value in params.items()},
    )

    assert answer.status_code == 200
    found = answer.json()
    assert [row[0] for row in found["monitors"]] == [fleet[role] for role in roles]
    assert found["counts"] == counts


async def test_a_bad_filter_is_refused_by_name(http: httpx.AsyncClient) -> None:
    bad_state = await http.get("/api/v1/overview", params={"state": "sleepy"})
    unknown = await http.get("/api/v1/overview", params={"sort": "name"})

    assert bad_state.status_code == 400
    assert bad_state.json()["error"]["fields"][0]["field"] == "state"
    assert unknown.status_code == 400


async def test_the_overview_is_answered_304_while_nothing_changed(
    http: httpx.AsyncClient, gateway_url: str
) -> None:
    async def unchanged() -> httpx.Response | None:
        first = await http.get("/api/v1/overview")
        again = await http.get(
            "/api/v1/overview", headers={"If-None-Match": first.headers["etag"]}
        )
        return again if again.status_code == 304 else None

    again: httpx.Response = await eventually(unchanged, within=WAIT)
    other = await http.get("/api/v1/overview", headers={"If-None-Match": '"nope"'})
    async with httpx.AsyncClient(base_url=gateway_url, timeout=WAIT) as anonymous:
        refused = await anonymous.get("/api/v1/overview")

    assert again.content == b""
    assert again.headers["etag"]
    assert again.headers["cache-control"] == "private, no-cache"
    assert other.status_code == 200
    assert refused.status_code == 401


def synthetic_monitor(number: int) -> dict[str, Any]:
    return {
        "id": f"fleet-{number:05d}",
        "name": f"Service {number * 7919 % 10_000:05d}",
        "kind": "http",
        "target": "https://service.internal/health",
        "interval": 60,
        "timeout": 10,
        "retries": 1,
        "retry_interval": 20,
        "tags": ["prod", f"zone-{number % 4}"],
        "priority": "normal",
        "enabled": number % 100 != 0,
        "description": "",
        "options": {},
        "status": {
            "state": "up",
            "last_check_at": 1_800_000_000.25,
            "last_ok": True,
            "last_latency_ms": 12.3456,
            "last_reason": None,
            "last_message": "",
        },
    }


def test_an_overview_of_ten_thousand_monitors_is_kept_until_something_changes(
    platform_handle: Platform,
) -> None:
    directory = MonitorDirectory(platform_handle)
    directory.put_many(synthetic_monitor(number) for number in range(10_000))
    directory.loaded.set()
    for offset in range(1, RECENT_CHECKS + 6):
        for number in range(0, 10_000, 10):
            state = "down" if offset % 5 == 0 else "up"
            result = {
                "monitor_id": f"fleet-{number:05d}",
                "state": state,
                "started_at": 1_800_000_000.0 + offset,
                "ok": state == "up",
                "latency_ms": 10.0,
                "reason": None,
                "offset": offset,
            }
            directory.observe({"type": "result", "data": result})
    snapshots = Snapshots(directory)

    body, etag = snapshots.get((), None, None)
    assert snapshots.get((), None, None) == (body, etag)
    rows = rows_of(orjson.loads(body))
    expected = "".join("d" if n % 5 == 0 else "u" for n in range(6, RECENT_CHECKS + 6))
    assert len(rows) == 10_000
    assert rows["fleet-00010"]["recent"] == expected
    assert rows["fleet-00100"]["state"] == "paused"
    assert rows["fleet-00100"]["recent"] == ""
    assert rows["fleet-00001"]["recent"] == ""


# -- room events ----------------------------------------------------------------


async def test_room_events_gets_state_changes_but_results_only_of_monitors_asked_for(
    http: httpx.AsyncClient,
    made: list[str],
    target: TcpTarget,
    clients: Callable[[], Client],
    gateway_url: str,
    api_key: str,
) -> None:
    monitor_id = new_id("overview-live")
    body = {
        "id": monitor_id,
        "name": f"Service {monitor_id}",
        "kind": "tcp",
        "target": target.address,
        "interval": 1,
        "timeout": 1,
        "retries": 0,
    }
    answer = await http.post("/api/v1/monitors", json=body)
    assert answer.status_code == 201, answer.text
    made.append(monitor_id)
    await overview_when(
        http,
        lambda o: rows_of(o).get(monitor_id, {}).get("state") == "up",
        q=monitor_id,
    )
    events_only = await clients().connect(gateway_url, api_key, "events=1")
    both = await clients().connect(
        gateway_url, api_key, f"events=1&monitors={monitor_id}"
    )

    target.stop()
    for client in (events_only, both):
        await client.wait_for("event", type="state_changed", monitor_id=monitor_id)
    await both.wait_for("result", monitor_id=monitor_id, state="down")

    [change] = events_only.got("event", type="state_changed", monitor_id=monitor_id)
    assert change["data"]["after"] == "down"
    assert events_only.got("result") == []
    assert {r["monitor_id"] for r in both.got("result")} == {monitor_id}


async def test_subscribing_to_events_joins_the_room_and_unsubscribing_leaves_it(
    gateway_url: str, api_key: str, clients: Callable[[], Client]
) -> None:
    client = await clients().connect(gateway_url, api_key, "monitors=nothing")

    joined = await client.sio.call("subscribe", {"events": True}, timeout=WAIT)
    left = await client.sio.call("unsubscribe", {"events": True}, timeout=WAIT)
    refused = await client.sio.call("subscribe", {"events": "yes"}, timeout=WAIT)

    assert joined == {"room": "events"}
    assert left == {"room": "events"}
    assert refused == {"error": "events: must be true"}


async def test_connecting_with_a_bad_events_flag_is_refused(
    gateway_url: str, api_key: str
) -> None:
    client = Client()
    refusals: list[Any] = []

    async def refused(data: Any) -> None:
        refusals.append(data)

    client.sio.on("connect_error", refused)

    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(gateway_url, api_key, "events=maybe")

    assert refusals == [{"message": "events: must be 1 or 0"}]


@pytest.fixture
async def own_gateway(platform: RayPlatform) -> AsyncIterator[RunningGateway]:
    """A gateway of the test's own on its loop, so it can publish updates."""
    app = create_app(
        platform,
        name=new_id("upcast-overview"),
        protection=ProtectionSettings(limits={}),
    )
    running = await start_gateway(app)
    yield running
    await running.stop()


async def test_a_client_following_on_from_a_snapshot_gets_what_came_after_it(
    own_gateway: RunningGateway, api_key: str, clients: Callable[[], Client]
) -> None:
    hub: LiveHub = own_gateway.app.ctx.live
    monitor_id = new_id("noted")
    witness = await clients().connect(own_gateway.url, api_key, "events=1")
    await hub.publish("event", {"type": "note", "monitor_id": monitor_id, "n": 0})
    [first] = await witness.wait_for("event", monitor_id=monitor_id)
    async with httpx.AsyncClient(
        base_url=own_gateway.url,
        timeout=WAIT,
        headers={"Authorization": f"Bearer {api_key}"},
    ) as http:
        snapshot = await overview_when(
            http, lambda o: (o["offset"] or 0) >= first["offset"]
        )
    await hub.publish("event", {"type": "note", "monitor_id": monitor_id, "n": 1})
    await hub.publish("result", {"monitor_id": monitor_id, "state": "up", "n": 1})
    await asyncio.sleep(0.2)

    follower = await clients().connect(
        own_gateway.url, api_key, "events=1", offset=snapshot["offset"]
    )
    [recovery] = await follower.wait_for("recovery")
    await follower.sio.disconnect()
    await hub.publish("event", {"type": "note", "monitor_id": monitor_id, "n": 2})
    await asyncio.sleep(0.2)
    last_seen = max(
        [recovery["offset"], *(data["offset"] for data in follower.got("event"))]
    )
    back = await clients().connect(
        own_gateway.url, api_key, "events=1", offset=last_seen
    )
    await back.wait_for("recovery")

    assert recovery["status"] == "recovered"
    assert [e["n"] for e in follower.got("event", monitor_id=monitor_id)] == [1]
    assert follower.got("result") == []
    assert [e["n"] for e in back.got("event", monitor_id=monitor_id)] == [2]
    assert back.got("recovery")[0]["status"] == "recovered"
