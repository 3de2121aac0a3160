"""Live updates across gateways, by room, after reconnections, with presence.

Each test starts the gateways it needs on the session's platform, with real
socket.io clients; gateways that share live updates do so through the real
Redis at ``REDIS_URL``, on a channel of the test's own whose keys are
deleted when it ends. Updates a test needs at a known moment are published
by a gateway itself (``LiveHub.publish``); the platform's own come from
monitors the test makes through the session's gateway.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import httpx
import pytest
import socketio
from redis.asyncio import Redis

from actors.runtime import RayPlatform
from sdk.live import Subscription
from tests.gateway_monitors import WAIT, definition, new_id
from tests.tcp_proxy import TcpProxy
from tests.waiting import eventually
from web.app import create_app
from web.live import LiveHub, LiveSettings
from web.protection import ProtectionSettings
from web.server import RunningGateway, start_gateway

REDIS_URL = os.environ.get("UPCAST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "copper-lantern-meadow-73"
UNLIMITED = ProtectionSettings(limits={})


# -- what the tests stand on --------------------------------------------------


class Gateways:
    """Gateways a test started on the session's platform; all stop at its end."""

    def __init__(self, platform: RayPlatform, channel: str) -> None:
        self._platform = platform
        self.channel = channel
        self._running: list[RunningGateway] = []

    def shared(self, **settings: Any) -> LiveSettings:
        """Settings sharing live updates through Redis on the test's channel."""
        return LiveSettings(redis_url=REDIS_URL, channel=self.channel, **settings)

    async def start(self, live: LiveSettings | None = None) -> RunningGateway:
        app = create_app(
            self._platform,
            name=new_id("upcast-live"),
            protection=UNLIMITED,
            live=live or LiveSettings(),
        )
        running = await start_gateway(app)
        self._running.append(running)
        return running

    async def stop(self, running: RunningGateway) -> None:
        self._running.remove(running)
        await running.stop()

    async def stop_all(self) -> None:
        for running in reversed(self._running):
            await running.stop()
        self._running.clear()


@pytest.fixture
async def channel() -> AsyncIterator[str]:
    """A channel name of the test's own; its Redis keys go when it ends."""
    name = new_id("upcast-live-test")
    yield name
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{{{name}}}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def gateways(platform: RayPlatform, channel: str) -> AsyncIterator[Gateways]:
    started = Gateways(platform, channel)
    yield started
    await started.stop_all()


def hub_of(running: RunningGateway) -> LiveHub:
    hub: LiveHub = running.app.ctx.live
    return hub


class Watcher:
    """A real socket.io client keeping every message it receives, in order."""

    KINDS = ("result", "event", "incident", "recovery", "presence", "offset")

    def __init__(self, *, reconnection: bool = False) -> None:
        self.sio = socketio.AsyncClient(reconnection=reconnection)
        self.messages: list[tuple[str, Any]] = []
        for kind in self.KINDS:
            self.sio.on(kind, self._keeper(kind))

    def _keeper(self, kind: str) -> Callable[[Any], Any]:
        async def keep(data: Any) -> None:
            self.messages.append((kind, data))

        return keep

    async def connect(
        self,
        url: str,
        token: str,
        *,
        query: str = "",
        offset: int | None = None,
    ) -> Watcher:
        auth: dict[str, Any] = {"token": token}
        if offset is not None:
            auth["offset"] = offset
        await self.sio.connect(
            f"{url}?{query}" if query else url,
            transports=["websocket"],
            wait_timeout=WAIT,
            auth=auth,
        )
        return self

    def got(
        self, kind: str, where: Callable[[Any], bool] | None = None, **fields: Any
    ) -> list[Any]:
        """The messages of ``kind`` whose data holds every given field (and
        passes ``where``)."""
        return [
            data
            for got_kind, data in self.messages
            if got_kind == kind
            and all(data.get(key) == value for key, value in fields.items())
            and (where is None or where(data))
        ]

    async def wait_for(
        self,
        kind: str,
        count: int = 1,
        within: float = WAIT,
        where: Callable[[Any], bool] | None = None,
        **fields: Any,
    ) -> list[Any]:
        """At least ``count`` messages of ``kind`` with ``fields``, once they came."""

        async def enough() -> list[Any] | None:
            found = self.got(kind, where, **fields)
            return found if len(found) >= count else None

        found: list[Any] = await eventually(enough, within=within, every=0.05)
        return found


@pytest.fixture
async def watchers() -> AsyncIterator[Callable[..., Watcher]]:
    """Makes watchers; each is disconnected when the test ends."""
    made: list[Watcher] = []

    def make(*, reconnection: bool = False) -> Watcher:
        watcher = Watcher(reconnection=reconnection)
        made.append(watcher)
        return watcher

    yield make
    for watcher in made:
        await watcher.sio.disconnect()


async def create(
    http: httpx.AsyncClient, made: list[str], gateway_url: str, **fields: Any
) -> str:
    monitor_id = new_id("live")
    response = await http.post(
        "/api/v1/monitors", json=definition(gateway_url, monitor_id, **fields)
    )
    assert response.status_code == 201, response.text
    made.append(monitor_id)
    return monitor_id


async def viewer_token(http: httpx.AsyncClient, teams: list[str]) -> str:
    """An access token of a new viewer belonging to ``teams``."""
    name = new_id("viewer")
    body = {"name": name, "password": PASSWORD, "role": "viewer", "teams": teams}
    created = await http.post("/api/v1/users", json=body)
    assert created.status_code == 201, created.text
    signed_in = await http.post(
        "/api/v1/auth/login", json={"name": name, "password": PASSWORD}, headers={}
    )
    assert signed_in.status_code == 200, signed_in.text
    token: str = signed_in.json()["access_token"]
    return token


async def note(hub: LiveHub, monitor_id: str, n: int) -> None:
    """Publish an event of the gateway's own about ``monitor_id``."""
    await hub.publish("event", {"type": "note", "monitor_id": monitor_id, "n": n})


def numbers(watcher: Watcher, monitor_id: str) -> list[int]:
    return [
        data["n"] for data in watcher.got("event", type="note", monitor_id=monitor_id)
    ]


# -- several gateways ---------------------------------------------------------


async def test_an_update_published_by_one_gateway_reaches_a_client_of_another(
    gateways: Gateways, watchers: Callable[..., Watcher], api_key: str
) -> None:
    first = await gateways.start(gateways.shared())
    second = await gateways.start(gateways.shared())
    monitor_id = new_id("note")
    near = await watchers().connect(first.url, api_key, query=f"monitors={monitor_id}")
    far = await watchers().connect(second.url, api_key, query=f"monitors={monitor_id}")

    await note(hub_of(first), monitor_id, 1)
    [arrived] = await far.wait_for("event", type="note", monitor_id=monitor_id)
    await near.wait_for("event", type="note", monitor_id=monitor_id)
    await asyncio.sleep(0.3)

    assert arrived["n"] == 1
    assert numbers(far, monitor_id) == [1]
    assert numbers(near, monitor_id) == [1]
    assert far.got("event")[0]["offset"] == near.got("event")[0]["offset"]


async def test_each_platform_update_reaches_a_client_once_with_two_gateways(
    gateways: Gateways,
    watchers: Callable[..., Watcher],
    api_key: str,
    http: httpx.AsyncClient,
    made: list[str],
    gateway_url: str,
) -> None:
    first = await gateways.start(gateways.shared())
    second = await gateways.start(gateways.shared())
    monitor_id = new_id("live")
    query = f"monitors={monitor_id}"
    clients = [
        await watchers().connect(first.url, api_key, query=query),
        await watchers().connect(second.url, api_key, query=query),
    ]

    response = await http.post(
        "/api/v1/monitors", json=definition(gateway_url, monitor_id)
    )
    made.append(monitor_id)
    for client in clients:
        await client.wait_for("result", count=2, monitor_id=monitor_id)
    await asyncio.sleep(0.5)

    assert response.status_code == 201
    for client in clients:
        created = client.got("event", type="monitor_created", monitor_id=monitor_id)
        started = [r["started_at"] for r in client.got("result")]
        offsets = [
            data["offset"]
            for kind, data in client.messages
            if kind in ("result", "event")
        ]
        assert len(created) == 1
        assert len(started) == len(set(started))
        assert offsets == sorted(set(offsets))
    assert clients[0].got("result")[0] == clients[1].got("result")[0]


async def test_when_the_leading_gateway_stops_another_reads_the_feed(
    gateways: Gateways,
    watchers: Callable[..., Watcher],
    api_key: str,
    http: httpx.AsyncClient,
    made: list[str],
    gateway_url: str,
) -> None:
    quick = gateways.shared(leader_lease=0.6)
    first = await gateways.start(quick)
    await asyncio.sleep(0.1)
    second = await gateways.start(quick)
    monitor_id = await create(http, made, gateway_url)
    client = await watchers().connect(
        second.url, api_key, query=f"monitors={monitor_id}"
    )
    await client.wait_for("result", monitor_id=monitor_id)

    await gateways.stop(first)
    before = len(client.got("result"))
    await client.wait_for("result", count=before + 2, monitor_id=monitor_id)


# -- rooms ----------------------------------------------------------------------


async def test_clients_follow_monitors_by_tag_and_by_team(
    gateways: Gateways,
    watchers: Callable[..., Watcher],
    api_key: str,
    http: httpx.AsyncClient,
    made: list[str],
    gateway_url: str,
) -> None:
    gateway = await gateways.start()
    tag, team = new_id("db"), new_id("team")
    by_tag = await watchers().connect(gateway.url, api_key, query=f"tags={tag}")
    by_team = await watchers().connect(gateway.url, api_key, query=f"teams={team}")
    tagged = await create(http, made, gateway_url, tags=[tag, f"team:{team}"])
    other = await create(http, made, gateway_url, tags=["elsewhere"])

    for client in (by_tag, by_team):
        await client.wait_for("result", count=2, monitor_id=tagged)
        await client.wait_for("event", type="monitor_created", monitor_id=tagged)

    for client in (by_tag, by_team):
        assert {d["monitor_id"] for _, d in client.messages if "monitor_id" in d} == {
            tagged
        }
    assert other not in str(by_tag.messages)


async def test_a_monitor_whose_tags_change_moves_to_its_new_tag_room(
    gateways: Gateways,
    watchers: Callable[..., Watcher],
    api_key: str,
    http: httpx.AsyncClient,
    made: list[str],
    gateway_url: str,
) -> None:
    gateway = await gateways.start()
    old, new = new_id("old"), new_id("new")
    client = await watchers().connect(gateway.url, api_key, query=f"tags={new}")
    monitor_id = await create(http, made, gateway_url, tags=[old])
    joined = await client.sio.call("subscribe", {"tag": old}, timeout=WAIT)
    await client.wait_for("result", monitor_id=monitor_id)
    left = await client.sio.call("unsubscribe", {"tag": old}, timeout=WAIT)

    changed = await http.patch(f"/api/v1/monitors/{monitor_id}", json={"tags": [new]})
    seen = len(client.got("result"))
    await client.wait_for("result", count=seen + 2, monitor_id=monitor_id)

    assert changed.status_code == 200, changed.text
    assert joined == {"room": f"tag:{old}"}
    assert left == {"room": f"tag:{old}"}
    assert client.got("event", type="monitor_updated", monitor_id=monitor_id)


@pytest.mark.parametrize(
    ("ask", "answer"),
    [
        ({"tag": "db"}, {"room": "tag:db"}),
        ({"team": "payments"}, {"room": "team:payments"}),
        ({"tag": "team:payments"}, {"room": "tag:team:payments"}),
        ({"team": "search"}, {"error": "team: not a member of team 'search'"}),
        ({"tag": "team:search"}, {"error": "team: not a member of team 'search'"}),
        ({"tag": ""}, {"error": "tag: must be text of 1-64 characters"}),
        (
            {"room": "all"},
            {
                "error": 'send {"monitor": id}, {"tag": tag}, {"team": name} '
                'or {"events": true}'
            },
        ),
        ({"events": True}, {"room": "events"}),
        ({"events": 1}, {"error": "events: must be true"}),
    ],
)
async def test_a_viewer_subscribes_to_tags_and_only_to_its_own_teams(
    gateway_url: str,
    http: httpx.AsyncClient,
    watchers: Callable[..., Watcher],
    ask: dict[str, Any],
    answer: dict[str, str],
) -> None:
    token = await viewer_token(http, ["payments"])
    client = await watchers().connect(gateway_url, token, query="monitors=nothing")

    assert await client.sio.call("subscribe", ask, timeout=WAIT) == answer


@pytest.mark.parametrize(
    ("teams", "query", "refusal"),
    [
        (["payments"], "teams=search", "teams: not a member of team 'search'"),
        (["payments"], "tags=team:search", "tags: not a member of team 'search'"),
        ([], f"tags=a,{'x' * 65}", f"tags: {'x' * 65!r} is not a tag"),
    ],
)
async def test_connecting_for_a_room_one_may_not_join_is_refused(
    gateway_url: str,
    http: httpx.AsyncClient,
    teams: list[str],
    query: str,
    refusal: str,
) -> None:
    token = await viewer_token(http, teams)
    client = Watcher()
    refusals: list[Any] = []

    async def refused(data: Any) -> None:
        refusals.append(data)

    client.sio.on("connect_error", refused)

    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(gateway_url, token, query=query)

    assert refusals == [{"message": refusal}]


async def test_an_owner_may_follow_any_team(
    gateway_url: str, api_key: str, watchers: Callable[..., Watcher]
) -> None:
    client = await watchers().connect(gateway_url, api_key, query="teams=anyone")

    answer = await client.sio.call("subscribe", {"team": "search"}, timeout=WAIT)

    assert answer == {"room": "team:search"}


# -- recovery -------------------------------------------------------------------


@pytest.mark.parametrize("shared", [False, True], ids=["alone", "through-redis"])
async def test_a_client_that_reconnects_gets_what_its_rooms_missed(
    gateways: Gateways,
    watchers: Callable[..., Watcher],
    api_key: str,
    shared: bool,
) -> None:
    gateway = await gateways.start(gateways.shared() if shared else None)
    hub = hub_of(gateway)
    mine, other = new_id("mine"), new_id("other")
    witness = await watchers().connect(gateway.url, api_key)
    client = await watchers().connect(gateway.url, api_key, query=f"monitors={mine}")
    await note(hub, mine, 0)
    [seen] = await client.wait_for("event", type="note")
    await client.sio.disconnect()

    for n in (1, 2, 3):
        await note(hub, mine, n)
        await note(hub, other, n)
    await witness.wait_for("event", count=7, type="note")
    back = await watchers().connect(
        gateway.url, api_key, query=f"monitors={mine}", offset=seen["offset"]
    )
    [recovery] = await back.wait_for("recovery")
    await note(hub, mine, 4)
    await back.wait_for("event", type="note", n=4)

    assert numbers(back, mine) == [1, 2, 3, 4]
    assert back.messages[3] == ("recovery", recovery)
    assert recovery["status"] == "recovered"
    assert recovery["replayed"] == 3
    assert recovery["offset"] >= back.got("event")[2]["offset"]


async def test_a_client_gets_what_it_missed_from_another_gateway_behind_a_balancer(
    gateways: Gateways, watchers: Callable[..., Watcher], api_key: str
) -> None:
    first = await gateways.start(gateways.shared())
    second = await gateways.start(gateways.shared())
    monitor_id = new_id("note")
    query = f"monitors={monitor_id}"
    client = await watchers().connect(first.url, api_key, query=query)
    witness = await watchers().connect(second.url, api_key, query=query)
    await note(hub_of(first), monitor_id, 0)
    [seen] = await client.wait_for("event", type="note")
    await client.sio.disconnect()

    await note(hub_of(first), monitor_id, 1)
    await note(hub_of(second), monitor_id, 2)
    await witness.wait_for("event", count=3, type="note")
    back = await watchers().connect(
        second.url, api_key, query=query, offset=seen["offset"]
    )
    [recovery] = await back.wait_for("recovery")

    assert numbers(back, monitor_id) == [1, 2]
    assert recovery["status"] == "recovered"


@pytest.mark.parametrize(
    ("settings", "pause", "ahead", "reason"),
    [
        ({"max_replay": 2}, 0.0, 0, "more than 2 updates were missed"),
        ({"history_size": 2}, 0.0, 0, "some of the missed updates are no longer kept"),
        ({"recovery_window": 0.2}, 0.4, 0, "updates were missed for more than 0.2s"),
        ({}, 0.0, 10**6, "the offset is not one of the kept updates"),
    ],
    ids=["too-many", "no-longer-kept", "too-old", "unknown-offset"],
)
async def test_a_client_that_missed_too_much_is_told_to_reload(
    gateways: Gateways,
    watchers: Callable[..., Watcher],
    api_key: str,
    settings: dict[str, Any],
    pause: float,
    ahead: int,
    reason: str,
) -> None:
    gateway = await gateways.start(LiveSettings(**settings))
    hub = hub_of(gateway)
    monitor_id = new_id("note")
    witness = await watchers().connect(gateway.url, api_key)
    await note(hub, monitor_id, 0)
    [seen] = await witness.wait_for("event", type="note")

    for n in (1, 2, 3):
        await note(hub, monitor_id, n)
    await witness.wait_for("event", count=4, type="note")
    await asyncio.sleep(pause)
    back = await watchers().connect(gateway.url, api_key, offset=seen["offset"] + ahead)
    [recovery] = await back.wait_for("recovery")
    await note(hub, monitor_id, 4)
    await back.wait_for("event", type="note", n=4)

    assert recovery["status"] == "reload"
    assert recovery["reason"] == reason
    assert numbers(back, monitor_id) == [4]


async def test_the_sdk_replays_missed_updates_after_its_connection_drops(
    gateways: Gateways, api_key: str
) -> None:
    gateway = await gateways.start()
    hub = hub_of(gateway)
    monitor_id = new_id("note")
    port = int(gateway.url.rsplit(":", 1)[1])

    with TcpProxy(("127.0.0.1", port)) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        async with Subscription(url, [monitor_id], token=api_key) as updates:
            await note(hub, monitor_id, 0)
            first = await asyncio.wait_for(anext(updates), WAIT)
            proxy.cut()
            for n in (1, 2):
                await note(hub, monitor_id, n)
            proxy.restore()
            rest = [await asyncio.wait_for(anext(updates), WAIT) for _ in (1, 2)]
            await note(hub, monitor_id, 3)
            last = await asyncio.wait_for(anext(updates), WAIT)

    got = [update["data"]["n"] for update in (first, *rest, last)]
    offsets = [update["offset"] for update in (first, *rest, last)]
    assert got == [0, 1, 2, 3]
    assert offsets == sorted(set(offsets))
    assert "offset" not in first["data"]
    assert updates.gaps == 0


# -- presence and heartbeats ----------------------------------------------------


def connections(count: int) -> Callable[[Any], bool]:
    """Whether a presence message shows one person with ``count`` connections."""

    def holds(told: Any) -> bool:
        return [w["connections"] for w in told["watching"]] == [count]

    return holds


class SilentClient:
    """A socket.io client written out by hand that signs in, then never answers
    engine.io's pings, as a client whose network vanished would."""

    def __init__(self) -> None:
        self._session = aiohttp.ClientSession()
        self._socket: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self, url: str, token: str) -> None:
        address = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        self._socket = await self._session.ws_connect(address)
        opened = await self._socket.receive_str(timeout=WAIT)
        await self._socket.send_str("40" + json.dumps({"token": token}))
        accepted = await self._socket.receive_str(timeout=WAIT)
        assert opened.startswith("0{"), opened
        assert accepted.startswith("40{"), accepted

    async def close(self) -> None:
        if self._socket is not None:
            await self._socket.close()
        await self._session.close()


async def test_presence_says_who_watches_and_tells_room_all_of_arrivals(
    gateways: Gateways,
    watchers: Callable[..., Watcher],
    api_key: str,
    auth: dict[str, str],
) -> None:
    gateway = await gateways.start()
    first = await watchers().connect(gateway.url, api_key)
    [itself] = await first.wait_for("presence")
    alone = await first.sio.call("who", timeout=WAIT)

    await watchers().connect(gateway.url, api_key, query="monitors=elsewhere")
    [told] = await first.wait_for("presence", where=connections(2))
    async with httpx.AsyncClient(base_url=gateway.url, headers=auth) as http:
        listed = await http.get("/api/v1/presence")

    owner = {"user_id": alone[0]["user_id"], "name": "test-owner"}
    assert [(w["name"], w["connections"]) for w in alone] == [("test-owner", 1)]
    assert itself["joined"] == told["joined"] == [owner]
    assert told["left"] == []
    assert listed.status_code == 200
    assert listed.json()["watching"] == told["watching"]


async def test_presence_counts_the_clients_of_every_gateway_sharing_redis(
    gateways: Gateways, watchers: Callable[..., Watcher], api_key: str
) -> None:
    first = await gateways.start(gateways.shared())
    second = await gateways.start(gateways.shared())
    near = await watchers().connect(first.url, api_key)
    await near.wait_for("presence")

    await watchers().connect(second.url, api_key)
    [told] = await near.wait_for("presence", where=connections(2))
    counted = await near.sio.call("who", timeout=WAIT)

    assert told["joined"][0]["name"] == "test-owner"
    assert [w["connections"] for w in counted] == [2]


async def test_presence_left_by_a_gateway_that_crashed_expires(
    gateways: Gateways, watchers: Callable[..., Watcher], api_key: str
) -> None:
    gateway = await gateways.start(gateways.shared())
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    key = f"{{{gateways.channel}}}:presence"
    ghost = {"user_id": "u-ghost", "name": "ghost", "since": 1.0, "connections": 1}
    try:
        await client.hset(
            key, "crashed", json.dumps({"expires": 1.0, "clients": 1, "users": [ghost]})
        )
        watcher = await watchers().connect(gateway.url, api_key)
        counted = await watcher.sio.call("who", timeout=WAIT)
        kept = await client.hkeys(key)
    finally:
        await client.aclose()

    assert [w["name"] for w in counted] == ["test-owner"]
    assert "crashed" not in kept


async def test_a_client_that_stops_answering_pings_is_dropped_and_leaves_presence(
    gateways: Gateways, watchers: Callable[..., Watcher], api_key: str
) -> None:
    # Dropped once it has not answered for ping_interval + ping_timeout.
    gateway = await gateways.start(LiveSettings(ping_interval=1, ping_timeout=0.5))
    observer = await watchers().connect(gateway.url, api_key)
    silent = SilentClient()
    try:
        await silent.connect(gateway.url, api_key)
        await observer.wait_for("presence", where=connections(2))
        [departure] = await observer.wait_for("presence", within=5.0, joined=[])
        remaining = await observer.sio.call("who", timeout=WAIT)
    finally:
        await silent.close()

    assert departure["left"][0]["name"] == "test-owner"
    assert [w["connections"] for w in departure["watching"]] == [1]
    assert [w["connections"] for w in remaining] == [1]
    assert observer.sio.connected


# -- settings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"redis_url": "http://cache:6379"}, "redis_url: must be a redis://"),
        ({"channel": "a b"}, "channel: must be a name"),
        ({"ping_interval": 0}, "ping_interval: must be more than 0"),
        ({"ping_interval": 0.5}, "ping_interval: must be at least 1 second"),
        ({"ping_timeout": float("nan")}, "ping_timeout: must be a number"),
        ({"history_size": 0}, "history_size: must be a whole number"),
        ({"max_replay": 1.5}, "max_replay: must be a whole number"),
    ],
)
def test_live_settings_refuse_values_that_cannot_work(
    settings: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        LiveSettings(**settings)


def test_a_password_in_a_refused_redis_url_is_not_repeated() -> None:
    with pytest.raises(ValueError, match="redis_url") as refused:
        LiveSettings(redis_url="http://user:hunter2@cache:6379")

    assert "hunter2" not in str(refused.value)
