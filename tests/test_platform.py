"""The platform end to end through its actors: monitors run, results and events land."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.platform import MonitorExists, MonitorNotFound
from actors.runtime import RayPlatform
from engine.errors import ValidationError
from tests.tcp_target import TcpTarget
from tests.waiting import eventually


def tcp_monitor(monitor_id: str, address: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": monitor_id,
        "name": f"Service {monitor_id}",
        "kind": "tcp",
        "target": address,
        "interval": 1,
        "timeout": 1,
        **fields,
    }


async def state_of(platform: RayPlatform, monitor_id: str) -> str | None:
    status = (await platform.get_monitor(monitor_id))["status"]
    return None if status is None else str(status["state"])


async def test_a_monitor_goes_down_and_recovers_with_its_target(
    platform: RayPlatform,
) -> None:
    with TcpTarget() as target:
        await platform.create_monitor(tcp_monitor("flaky-svc", target.address))
        await eventually(lambda: _is(platform, "flaky-svc", "up"))
        target.stop()
        await eventually(lambda: _is(platform, "flaky-svc", "down"))
        target.start()
        await eventually(lambda: _is(platform, "flaky-svc", "up"))

    events = await eventually(
        lambda: _events_of(platform, "flaky-svc", "recovered"), within=5
    )
    types = [event["type"] for event in events]
    assert types[0] == "monitor_created"
    assert "recovered" in types
    down = next(e for e in events if e["data"].get("after") == "down")
    assert down["data"]["reason"] == "connect"

    results = await platform.results("flaky-svc", limit=100)
    assert any(r["ok"] for r in results)
    assert any(r["reason"] == "connect" for r in results)
    started = [r["started_at"] for r in results]
    assert started == sorted(started, reverse=True)
    await platform.delete_monitor("flaky-svc")


async def _is(platform: RayPlatform, monitor_id: str, state: str) -> bool:
    return await state_of(platform, monitor_id) == state


async def _events_of(
    platform: RayPlatform, monitor_id: str, wanted: str
) -> list[dict[str, Any]]:
    events = await platform.events(monitor_id=monitor_id, limit=1000)
    return events if any(e["type"] == wanted for e in events) else []


async def test_live_updates_carry_results_and_events(platform: RayPlatform) -> None:
    seen: list[dict[str, Any]] = []

    async def listen() -> None:
        async for update in platform.live():
            seen.append(update)

    listener = asyncio.create_task(listen())
    try:
        with TcpTarget() as target:
            await platform.create_monitor(tcp_monitor("live-svc", target.address))
            await eventually(lambda: _saw_both(seen, "live-svc"))
    finally:
        listener.cancel()
        await platform.delete_monitor("live-svc")


async def _saw_both(seen: list[dict[str, Any]], monitor_id: str) -> bool:
    kinds = {u["type"] for u in seen if u["data"]["monitor_id"] == monitor_id}
    return kinds == {"result", "event"}


async def test_bad_definitions_name_their_fields(platform: RayPlatform) -> None:
    with pytest.raises(ValidationError) as caught:
        await platform.create_monitor(
            {"name": "bad", "kind": "tcp", "target": "nowhere", "interval": 0}
        )

    assert [e.field for e in caught.value.errors] == ["interval", "target"]


async def test_ids_are_unique_and_unknown_ids_are_named(
    platform: RayPlatform,
) -> None:
    await platform.create_monitor(tcp_monitor("twice", "127.0.0.1:9"))
    try:
        with pytest.raises(MonitorExists, match="twice"):
            await platform.create_monitor(tcp_monitor("twice", "127.0.0.1:9"))
        with pytest.raises(MonitorNotFound, match="'ghost'"):
            await platform.get_monitor("ghost")
        with pytest.raises(MonitorNotFound):
            await platform.update_monitor("ghost", {"interval": 5})
    finally:
        await platform.delete_monitor("twice")


async def test_pausing_stops_checks_and_resuming_starts_them(
    platform: RayPlatform,
) -> None:
    with TcpTarget() as target:
        await platform.create_monitor(tcp_monitor("pausable", target.address))
        await eventually(lambda: _is(platform, "pausable", "up"))

        paused = await platform.pause_monitor("pausable")
        await asyncio.sleep(0.2)
        count = len(await platform.results("pausable", limit=1000))
        await asyncio.sleep(1.5)
        after_pause = len(await platform.results("pausable", limit=1000))
        await platform.resume_monitor("pausable")
        await eventually(lambda: _is(platform, "pausable", "up"))

    assert paused["enabled"] is False
    assert after_pause == count
    await platform.delete_monitor("pausable")


async def test_updates_merge_and_lists_filter(platform: RayPlatform) -> None:
    await platform.create_monitor(
        tcp_monitor("listed-a", "127.0.0.1:9", tags=["team-a"], enabled=False)
    )
    await platform.create_monitor(
        tcp_monitor("listed-b", "127.0.0.1:9", tags=["team-b"], enabled=False)
    )
    try:
        updated = await platform.update_monitor("listed-a", {"interval": "5m"})
        by_tag = await platform.list_monitors(tag="team-a")
        by_name = await platform.list_monitors(search="LISTED-B")
    finally:
        await platform.delete_monitor("listed-a")
        await platform.delete_monitor("listed-b")

    assert updated["interval"] == 300
    assert updated["tags"] == ["team-a"]
    assert [m["id"] for m in by_tag] == ["listed-a"]
    assert [m["id"] for m in by_name] == ["listed-b"]
    with pytest.raises(MonitorNotFound):
        await platform.get_monitor("listed-a")


async def test_the_platform_says_it_is_ready(platform: RayPlatform) -> None:
    assert await platform.ready()
    stats = await platform.engine_stats()
    assert sorted(s["shard"] for s in stats) == ["shard-0", "shard-1"]
