"""Alerting through the running platform: real monitors, a real webhook receiver.

Each test makes its own channel, route and monitors with unique ids, and
routes only its own monitors, so tests that share the session's platform
never see each other's alerts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import socketio
from aiohttp import web

from notify.channels.webhook import verify_signature
from sdk import AsyncClient
from sdk.errors import NotFound
from tests.gateway_monitors import WAIT, new_id
from tests.tcp_target import TcpTarget
from tests.waiting import eventually
from tests.webhook_inbox import Inbox, running_inbox

SECRET = "signing-key-for-tests-0123456789"


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    async with running_inbox() as box:
        yield box


@dataclass
class Made:
    """What a test created, removed again afterwards (monitors first)."""

    http: httpx.AsyncClient
    paths: list[str] = field(default_factory=list)

    async def post(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self.http.post(f"/api/v1/{collection}", json=body)
        assert answer.status_code == 201, answer.text
        self.paths.append(f"/api/v1/{collection}/{body['id']}")
        made: dict[str, Any] = answer.json()
        return made

    async def remove_all(self) -> None:
        order = sorted(self.paths, key=lambda path: "/monitors/" not in path)
        for path in order:
            await self.http.delete(path)


@pytest.fixture
async def made(http: httpx.AsyncClient) -> AsyncIterator[Made]:
    created = Made(http)
    try:
        yield created
    finally:
        await created.remove_all()


@pytest.fixture
def target() -> Iterator[TcpTarget]:
    with TcpTarget() as running:
        yield running


async def webhook(made: Made, inbox: Inbox, name: str, **fields: Any) -> str:
    channel_id = new_id(name)
    body = {"id": channel_id, "kind": "webhook", "url": f"{inbox.url}/{name}"}
    await made.post("channels", {**body, **fields})
    return channel_id


async def quick_route(made: Made, channel_id: str, *monitors: str) -> None:
    """A route telling ``channel_id`` about these monitors at once, changes
    within a second."""
    await made.post(
        "routes",
        {
            "id": new_id("route"),
            "monitors": list(monitors),
            "channels": [channel_id],
            "group_wait": 0,
            "group_interval": 1,
        },
    )


async def tcp_monitor(made: Made, target: TcpTarget, **fields: Any) -> str:
    monitor_id = new_id("tcp")
    await made.post(
        "monitors",
        {
            "id": monitor_id,
            "name": f"Service {monitor_id}",
            "kind": "tcp",
            "target": target.address,
            "interval": 1,
            "timeout": 1,
            **fields,
        },
    )
    return monitor_id


async def state_of(http: httpx.AsyncClient, monitor_id: str) -> dict[str, Any]:
    answer = await http.get(f"/api/v1/monitors/{monitor_id}")
    status: dict[str, Any] = answer.json()["status"]
    return status


async def wait_for_state(http: httpx.AsyncClient, monitor_id: str, state: str) -> None:
    async def reached() -> bool:
        shown: str = (await state_of(http, monitor_id))["state"]
        return shown == state

    await eventually(reached, within=WAIT)


async def open_incident(http: httpx.AsyncClient, monitor_id: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        answer = await http.get(
            "/api/v1/incidents",
            params={"monitor": monitor_id, "status": "open,acknowledged"},
        )
        incidents: list[dict[str, Any]] = answer.json()["incidents"]
        return incidents[0] if incidents else None

    incident: dict[str, Any] = await eventually(found, within=WAIT)
    return incident


class IncidentFeed:
    """A socket.io client keeping the ``incident`` messages it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: list[dict[str, Any]] = []

        async def on_incident(data: dict[str, Any]) -> None:
            self.received.append(data)

        self.sio.on("incident", on_incident)

    def types_for(self, monitor_id: str) -> list[str]:
        return [d["type"] for d in self.received if d.get("monitor_id") == monitor_id]


async def test_a_service_that_goes_down_is_told_once_acknowledged_and_resolved(
    http: httpx.AsyncClient,
    made: Made,
    inbox: Inbox,
    target: TcpTarget,
    gateway_url: str,
    api_key: str,
) -> None:
    channel_id = await webhook(made, inbox, "ops", secret=SECRET)
    monitor_id = new_id("tcp")
    await quick_route(made, channel_id, monitor_id)
    await made.post(
        "monitors",
        {
            "id": monitor_id,
            "name": "Payments",
            "kind": "tcp",
            "target": target.address,
            "interval": 1,
            "timeout": 1,
        },
    )
    await wait_for_state(http, monitor_id, "up")
    feed = IncidentFeed()
    await feed.sio.connect(
        gateway_url, transports=["websocket"], auth={"token": api_key}
    )
    try:
        target.stop()

        async def fired() -> list[dict[str, Any]]:
            return inbox.about("/ops", monitor_id, "firing")

        [firing] = await eventually(fired, within=WAIT)
        incident = await open_incident(http, monitor_id)
        acknowledged = await http.post(
            f"/api/v1/incidents/{incident['id']}/acknowledge",
            json={"note": "looking"},
        )
        noted = await http.post(
            f"/api/v1/incidents/{incident['id']}/notes",
            json={"text": "restarted the service"},
        )
        target.start()

        async def recovered() -> list[dict[str, Any]]:
            return inbox.about("/ops", monitor_id, "resolved")

        [resolved] = await eventually(recovered, within=WAIT)

        async def closed() -> dict[str, Any] | None:
            answer = await http.get(f"/api/v1/incidents/{incident['id']}")
            shown: dict[str, Any] = answer.json()
            return shown if shown["status"] == "resolved" else None

        final = await eventually(closed, within=WAIT)
        await eventually(
            lambda: _true_soon("incident_resolved" in feed.types_for(monitor_id))
        )
    finally:
        await feed.sio.disconnect()

    assert firing["fields"]["monitor"]["name"] == "Payments"
    assert firing["incident"] == resolved["incident"]
    assert acknowledged.status_code == 200
    assert acknowledged.json()["status"] == "acknowledged"
    assert noted.status_code == 201
    kinds = [entry["kind"] for entry in final["timeline"]]
    for kind in ("opened", "notified", "acknowledged", "note", "resolved"):
        assert kind in kinds
    # The caller is who acted: the owner the tests' key belongs to.
    [note] = [entry for entry in final["timeline"] if entry["kind"] == "note"]
    assert note["data"]["by"] == "test-owner"
    assert final["resolved_by"] == "recovery"
    keys = inbox.keys()
    assert len(keys) == len(set(keys)) == 2
    for _, _, headers, raw in inbox.posts:
        assert verify_signature(
            SECRET, headers["X-Upcast-Timestamp"], raw, headers["X-Upcast-Signature"]
        )
    assert feed.types_for(monitor_id)[0] == "incident_opened"
    log = await http.get(f"/api/v1/channels/{channel_id}/deliveries")
    assert [attempt["ok"] for attempt in log.json()["deliveries"]] == [True, True]


async def _true_soon(value: bool) -> bool:
    return value


async def test_a_channel_never_shows_its_secret_and_keeps_it_when_sent_back(
    http: httpx.AsyncClient, made: Made, inbox: Inbox
) -> None:
    channel_id = await webhook(
        made, inbox, "secretive", secret=SECRET, headers={"Authorization": "Bearer x"}
    )

    shown = (await http.get(f"/api/v1/channels/{channel_id}")).json()
    listed = (await http.get("/api/v1/channels")).json()["channels"]
    replaced = await http.put(
        f"/api/v1/channels/{channel_id}", json={**shown, "name": "Renamed"}
    )
    tested = await http.post(f"/api/v1/channels/{channel_id}/test")

    assert shown["secret"] == "********"
    assert shown["headers"] == "********"
    assert SECRET not in json.dumps(listed)
    assert replaced.status_code == 200
    assert replaced.json()["name"] == "Renamed"
    assert tested.json()["ok"] is True
    [(_, body, headers, raw)] = inbox.posts
    assert body["status"] == "test"
    assert headers["Authorization"] == "Bearer x"
    assert verify_signature(
        SECRET, headers["X-Upcast-Timestamp"], raw, headers["X-Upcast-Signature"]
    )


async def test_a_test_notification_to_a_receiver_that_is_down_says_why(
    http: httpx.AsyncClient, made: Made
) -> None:
    channel_id = new_id("nowhere")
    await made.post(
        "channels",
        {"id": channel_id, "kind": "webhook", "url": "http://127.0.0.1:1/hook"},
    )

    tested = (await http.post(f"/api/v1/channels/{channel_id}/test")).json()

    assert tested["ok"] is False
    assert tested["retryable"] is True
    assert "connect" in tested["detail"]


@pytest.mark.parametrize(
    ("collection", "body", "field"),
    [
        ("channels", {"kind": "webhook", "url": "ftp://x"}, "url"),
        ("channels", {"kind": "carrier-pigeon"}, "kind"),
        ("routes", {"channels": ["no-such-channel"]}, "channels[0]"),
        ("routes", {"group_by": ["colour"]}, "group_by[0]"),
        ("escalation-policies", {"levels": []}, "levels"),
        ("maintenance", {"start": 10, "end": 20}, "monitors"),
        (
            "maintenance",
            {"monitors": ["a"], "cron": "0 2 * *", "duration": "1h"},
            "cron",
        ),
    ],
)
async def test_a_bad_setting_is_refused_naming_its_field(
    http: httpx.AsyncClient, collection: str, body: dict[str, Any], field: str
) -> None:
    setting_id = new_id("bad")

    answer = await http.post(f"/api/v1/{collection}", json={"id": setting_id, **body})
    after = await http.get(f"/api/v1/{collection}/{setting_id}")

    assert answer.status_code == 422, answer.text
    assert field in [f["field"] for f in answer.json()["error"]["fields"]]
    assert after.status_code == 404


async def test_maintenance_shows_its_state_and_holds_alerts_until_it_ends(
    http: httpx.AsyncClient, made: Made, inbox: Inbox, target: TcpTarget
) -> None:
    channel_id = await webhook(made, inbox, "quiet")
    monitor_id = new_id("tcp")
    await quick_route(made, channel_id, monitor_id)
    window_id = new_id("window")
    now = time.time()
    window = await made.post(
        "maintenance",
        {"id": window_id, "monitors": [monitor_id], "start": now, "end": now + 600},
    )
    await tcp_monitor(made, target, id=monitor_id)
    await wait_for_state(http, monitor_id, "maintenance")

    # Lists learn what alerting adds to states every two seconds.
    async def listed_in_maintenance() -> dict[str, Any] | None:
        found = await http.get(
            "/api/v1/status", params={"state": "maintenance", "limit": 1000}
        )
        shown = [s for s in found.json()["status"] if s["id"] == monitor_id]
        return shown[0] if shown else None

    shown = await eventually(listed_in_maintenance, within=WAIT)

    target.stop()

    async def checked_down() -> bool:
        checked: str | None = (await state_of(http, monitor_id)).get("checked_state")
        return checked == "down"

    await eventually(checked_down, within=WAIT)
    incident = await open_incident(http, monitor_id)
    await asyncio.sleep(2)
    told_during = list(inbox.posts)
    await http.delete(f"/api/v1/maintenance/{window_id}")

    async def told() -> list[dict[str, Any]]:
        return inbox.about("/quiet", monitor_id, "firing")

    await eventually(told, within=WAIT)

    assert window["active"] is True
    assert shown["state"] == "maintenance"
    assert shown["maintenance"] == window_id
    assert incident["held"] == "maintenance"
    assert told_during == []


async def test_a_dependent_is_held_while_its_parent_is_down(
    http: httpx.AsyncClient, made: Made, inbox: Inbox
) -> None:
    with TcpTarget() as router, TcpTarget() as service:
        channel_id = await webhook(made, inbox, "deps")
        parent = new_id("router")
        child = new_id("service")
        await made.post(
            "routes",
            {
                "id": new_id("route"),
                "monitors": [parent, child],
                "channels": [channel_id],
                "group_wait": 0,
            },
        )
        await tcp_monitor(made, router, id=parent)
        # Retries make the child fail after its parent, as behind a router.
        await tcp_monitor(
            made, service, id=child, depends_on=[parent], retries=3, retry_interval=1
        )
        await wait_for_state(http, parent, "up")
        await wait_for_state(http, child, "up")

        router.stop()
        service.stop()
        await wait_for_state(http, child, "down")
        incident = await open_incident(http, child)

    async def parent_told() -> list[dict[str, Any]]:
        return inbox.about("/deps", parent, "firing")

    await eventually(parent_told, within=WAIT)
    assert incident["held"] == "dependency"
    assert incident["cause"] == parent
    shown = await state_of(http, child)
    assert shown["caused_by"] == parent
    assert shown["incident"] == incident["id"]
    assert inbox.about("/deps", child, "firing") == []


async def test_a_composite_goes_down_when_a_member_it_needs_fails(
    http: httpx.AsyncClient, made: Made
) -> None:
    with TcpTarget() as first, TcpTarget() as second:
        one = await tcp_monitor(made, first)
        two = await tcp_monitor(made, second)
        composite = new_id("both")
        await made.post(
            "monitors",
            {
                "id": composite,
                "name": "Both services",
                "kind": "composite",
                "target": f"{one},{two}",
                "interval": 1,
                "timeout": 1,
                "options": {"mode": "all"},
            },
        )
        await wait_for_state(http, composite, "up")

        first.stop()
        await wait_for_state(http, composite, "down")
        status = await state_of(http, composite)

    assert one in status["last_message"]
    assert status["last_reason"] == "assertion"


async def test_acknowledging_stops_an_escalation_before_its_next_level(
    http: httpx.AsyncClient, made: Made, inbox: Inbox, target: TcpTarget
) -> None:
    first = await webhook(made, inbox, "first")
    second = await webhook(made, inbox, "second")
    policy_id = new_id("policy")
    await made.post(
        "escalation-policies",
        {
            "id": policy_id,
            "levels": [
                {"channels": [first], "delay": 0},
                {"channels": [second], "delay": 3},
            ],
        },
    )
    monitor_id = new_id("tcp")
    await made.post(
        "routes",
        {"id": new_id("route"), "monitors": [monitor_id], "escalation": policy_id},
    )
    await tcp_monitor(made, target, id=monitor_id)
    await wait_for_state(http, monitor_id, "up")

    target.stop()

    async def first_told() -> list[dict[str, Any]]:
        return inbox.at("/first")

    await eventually(first_told, within=WAIT)
    incident = await open_incident(http, monitor_id)
    await http.post(f"/api/v1/incidents/{incident['id']}/acknowledge")
    await asyncio.sleep(4)

    assert inbox.at("/second") == []
    assert len(inbox.at("/first")) == 1


async def test_unknown_incidents_and_settings_are_not_found(
    http: httpx.AsyncClient,
) -> None:
    answers = [
        await http.get("/api/v1/incidents/inc-nothing"),
        await http.post("/api/v1/incidents/inc-nothing/acknowledge"),
        await http.get("/api/v1/routes/no-such-route"),
        await http.delete("/api/v1/channels/no-such-channel"),
        await http.post("/api/v1/channels/no-such-channel/test"),
    ]

    assert [answer.status_code for answer in answers] == [404] * 5


async def test_dead_letters_are_listed(http: httpx.AsyncClient) -> None:
    answer = await http.get("/api/v1/outbox", params={"state": "dead"})
    refused = await http.get("/api/v1/outbox", params={"state": "lost"})

    assert answer.status_code == 200
    assert all(entry["state"] == "dead" for entry in answer.json()["entries"])
    assert refused.status_code == 400


async def test_monitors_failing_together_are_told_in_one_notification(
    http: httpx.AsyncClient, made: Made, inbox: Inbox, target: TcpTarget
) -> None:
    channel_id = await webhook(made, inbox, "grouped")
    tag = new_id("site")
    await made.post(
        "routes",
        {
            "id": new_id("route"),
            "tags": [tag],
            "group_by": ["tags"],
            "channels": [channel_id],
            "group_wait": 3,
        },
    )
    ids = [await tcp_monitor(made, target, tags=[tag]) for _ in range(5)]
    for monitor_id in ids:
        await wait_for_state(http, monitor_id, "up")

    target.stop()
    for monitor_id in ids:
        await wait_for_state(http, monitor_id, "down")

    async def told() -> list[dict[str, Any]]:
        return inbox.at("/grouped")

    [notification] = await eventually(told, within=WAIT)
    await asyncio.sleep(1.5)

    assert len(inbox.at("/grouped")) == 1
    assert sorted(m["id"] for m in notification["fields"]["members"]) == sorted(ids)
    assert notification["fields"]["count"] == 5


async def test_a_dependency_that_would_make_a_cycle_is_refused(
    http: httpx.AsyncClient, made: Made, target: TcpTarget
) -> None:
    first = await tcp_monitor(made, target)
    second = await tcp_monitor(made, target, depends_on=[first])

    answer = await http.patch(
        f"/api/v1/monitors/{first}", json={"depends_on": [second]}
    )

    assert answer.status_code == 422
    [problem] = answer.json()["error"]["fields"]
    assert problem["field"] == "depends_on"
    assert f"{first} -> {second} -> {first}" in problem["problem"]


async def test_the_sdk_manages_settings_and_reads_incidents(
    gateway_url: str, api_key: str, inbox: Inbox
) -> None:
    channel_id = new_id("sdk")
    async with AsyncClient(gateway_url, api_key=api_key) as upcast:
        kept = await upcast.put_setting(
            "channels",
            {
                "id": channel_id,
                "kind": "webhook",
                "url": f"{inbox.url}/sdk",
                "secret": SECRET,
            },
        )
        listed = await upcast.settings("channels")
        tested = await upcast.send_test(channel_id)
        incidents = await upcast.incidents(status=["open"], limit=5)
        await upcast.delete_setting("channels", channel_id)
        with pytest.raises(NotFound):
            await upcast.send_test(channel_id)

    assert kept["secret"] == "********"
    assert channel_id in [channel["id"] for channel in listed]
    assert tested["ok"] is True
    assert all(incident["status"] == "open" for incident in incidents)


async def test_a_flapping_service_is_told_once_it_flaps_not_on_every_change(
    http: httpx.AsyncClient, made: Made, inbox: Inbox, target: TcpTarget
) -> None:
    channel_id = await webhook(made, inbox, "flaps")
    monitor_id = new_id("tcp")
    await quick_route(made, channel_id, monitor_id)
    await tcp_monitor(made, target, id=monitor_id)
    await wait_for_state(http, monitor_id, "up")

    # Each state lasts longer than the one-second interval, so every
    # change is seen: ten changes, five of them to DOWN.
    for _ in range(5):
        target.stop()
        await wait_for_state(http, monitor_id, "down")
        target.start()
        await wait_for_state(http, monitor_id, "up")
    incident = await open_incident(http, monitor_id)
    await asyncio.sleep(2)

    shown = (await http.get(f"/api/v1/incidents/{incident['id']}")).json()
    firing = inbox.about("/flaps", monitor_id, "firing")
    assert shown["flapping"] is True
    assert "flapping" in [entry["kind"] for entry in shown["timeline"]]
    # Told for the changes before the flapping showed (at the sixth), then
    # no more while it flaps.
    assert len(firing) <= 3


async def test_a_service_that_turns_slow_is_degraded_and_told_as_a_warning(
    http: httpx.AsyncClient, made: Made, inbox: Inbox
) -> None:
    delay = {"seconds": 0.0}
    app = web.Application()

    async def answer(request: web.Request) -> web.Response:
        await asyncio.sleep(delay["seconds"])
        return web.Response(text="ok")

    app.router.add_get("/health", answer)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        channel_id = await webhook(made, inbox, "slow")
        monitor_id = new_id("http")
        await quick_route(made, channel_id, monitor_id)
        await made.post(
            "monitors",
            {
                "id": monitor_id,
                "name": "Checkout",
                "kind": "http",
                "target": f"http://127.0.0.1:{runner.addresses[0][1]}/health",
                "interval": 1,
                "timeout": 1,
            },
        )

        async def learnt() -> bool:
            answer = await http.get(
                f"/api/v1/monitors/{monitor_id}/results", params={"limit": 20}
            )
            return len(answer.json()["results"]) >= 12

        await eventually(learnt, within=3 * WAIT)
        delay["seconds"] = 0.3
        await wait_for_state(http, monitor_id, "degraded")
        status = await state_of(http, monitor_id)
        incident = await open_incident(http, monitor_id)

        async def warned() -> list[dict[str, Any]]:
            return inbox.about("/slow", monitor_id, "firing")

        [warning] = await eventually(warned, within=WAIT)
        delay["seconds"] = 0.0
        await wait_for_state(http, monitor_id, "up")

        async def cleared() -> list[dict[str, Any]]:
            return inbox.about("/slow", monitor_id, "resolved")

        await eventually(cleared, within=WAIT)
    finally:
        await runner.cleanup()

    assert "slow: latency" in status["last_message"]
    assert incident["severity"] == "warning"
    assert incident["state"] == "degraded"
    assert warning["severity"] == "warning"
    assert "usually" in warning["fields"]["members"][0]["message"]
