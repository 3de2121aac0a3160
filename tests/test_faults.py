"""The platform survives losing its own parts: killed actors, moving shards.

Each test runs a platform of its own (in the session's Ray) and kills real
actor processes with SIGKILL, as the kernel's OOM killer or a crash would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest

from actors.placement import owner
from actors.runtime import RayPlatform, Settings
from store import open_store
from store.mirror import Mirror, Verification, source_name
from store.mysql import MysqlStore
from tests.store_backends import POSTGRESQL, mysql_url, postgresql_url
from tests.tcp_proxy import TcpProxy
from tests.tcp_target import TcpTarget
from tests.waiting import eventually
from tests.webhook_inbox import Inbox, running_inbox

# Ray restarts an actor in about two seconds here; a shard then reloads.
RESUME_WITHIN = 10.0


@pytest.fixture
async def fresh(
    ray_session: None, tmp_path: Path
) -> AsyncIterator[tuple[RayPlatform, Path]]:
    """A platform of the test's own, with its store in ``tmp_path``."""
    platform = await RayPlatform.start(Settings(data_dir=tmp_path, shards=2))
    try:
        yield platform, tmp_path / "upcast.db"
    finally:
        await platform.close()


@pytest.fixture
def target() -> Iterator[TcpTarget]:
    with TcpTarget() as running:
        yield running


def tcp_monitors(prefix: str, count: int, address: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}-{number}",
            "name": f"{prefix} {number}",
            "kind": "tcp",
            "target": address,
            "interval": 1,
            "timeout": 1,
        }
        for number in range(count)
    ]


def stored(database: Path, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
    """Rows read from the platform's SQLite file while it runs."""
    connection = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


def newest_result(database: Path) -> dict[str, float]:
    rows = stored(
        database, "SELECT monitor_id, MAX(started_at) FROM results GROUP BY monitor_id"
    )
    return {monitor_id: at for monitor_id, at in rows}


async def placement(platform: RayPlatform) -> dict[str, list[str]]:
    """The monitor ids each shard runs, by shard name."""
    return {
        stats["shard"]: sorted(await platform.shard_monitors(stats["shard"]))
        for stats in await platform.engine_stats()
    }


async def pid_of(platform: RayPlatform, role: str) -> int:
    actors = {actor["role"]: actor for actor in await platform.actors()}
    pid: int = actors[role]["pid"]
    return pid


def assert_each_on_exactly_its_owner(
    where: dict[str, list[str]], monitor_ids: list[str]
) -> None:
    everywhere = [monitor_id for ids in where.values() for monitor_id in ids]
    assert sorted(everywhere) == sorted(monitor_ids), "a monitor is lost or doubled"
    roster = sorted(where)
    for shard, ids in where.items():
        assert all(owner(monitor_id, roster) == shard for monitor_id in ids)


async def test_a_killed_shard_comes_back_and_its_monitors_resume_once_each(
    fresh: tuple[RayPlatform, Path], target: TcpTarget
) -> None:
    platform, database = fresh
    monitors = tcp_monitors("revived", 20, target.address)
    await platform.apply_monitors(monitors)
    ids = [m["id"] for m in monitors]
    await eventually(lambda: _all_have_results(database, ids))
    victims = (await placement(platform))["shard-0"]
    assert victims
    before = {s["shard"]: s["incarnation"] for s in await platform.engine_stats()}

    os.kill(await pid_of(platform, "shard-0"), signal.SIGKILL)
    killed_at = time.time()

    async def resumed() -> bool:
        newest = newest_result(database)
        return all(newest.get(m, 0) > killed_at for m in victims)

    await eventually(resumed, within=RESUME_WITHIN, every=0.2)
    after = {s["shard"]: s["incarnation"] for s in await platform.engine_stats()}
    assert after["shard-0"] != before["shard-0"]
    assert after["shard-1"] == before["shard-1"]
    assert_each_on_exactly_its_owner(await placement(platform), ids)


async def test_adding_and_removing_a_shard_moves_monitors_with_their_state(
    fresh: tuple[RayPlatform, Path], target: TcpTarget
) -> None:
    platform, database = fresh
    monitors = tcp_monitors("moving", 40, target.address)
    # One monitor points at a closed port, so its DOWN state must travel.
    monitors[0]["target"] = "127.0.0.1:1"
    await platform.apply_monitors(monitors)
    ids = [m["id"] for m in monitors]
    await eventually(lambda: _all_have_results(database, ids))
    await eventually(lambda: _state_is(platform, "moving-0", "down"))

    added = await platform.add_shard()
    where = await placement(platform)

    assert added["shard"] == "shard-2"
    assert added["moved"] == len(where["shard-2"]) > 0
    assert_each_on_exactly_its_owner(where, ids)
    moved_at = time.time()

    async def moved_ones_run() -> bool:
        newest = newest_result(database)
        return all(newest.get(m, 0) > moved_at for m in where["shard-2"])

    await eventually(moved_ones_run)

    removed = await platform.remove_shard("shard-2")
    where = await placement(platform)

    assert removed == {"shard": "shard-2", "moved": added["moved"]}
    assert sorted(where) == ["shard-0", "shard-1"]
    assert_each_on_exactly_its_owner(where, ids)
    assert await _state_is(platform, "moving-0", "down")
    changes = stored(
        database,
        "SELECT state_before, state_after FROM state_changes WHERE monitor_id = ?",
        "moving-0",
    )
    assert changes == [("unknown", "down")]


async def test_crashed_storage_and_alert_actors_lose_no_result(
    fresh: tuple[RayPlatform, Path], target: TcpTarget
) -> None:
    platform, database = fresh
    monitors = tcp_monitors("kept", 30, target.address)
    await platform.apply_monitors(monitors)
    ids = [m["id"] for m in monitors]
    await eventually(lambda: _all_have_results(database, ids))

    os.kill(await pid_of(platform, "storage"), signal.SIGKILL)
    await asyncio.sleep(1.5)
    os.kill(await pid_of(platform, "alert"), signal.SIGKILL)
    await asyncio.sleep(1.5)
    for monitor_id in ids:
        await platform.pause_monitor(monitor_id)
    shards = await eventually(lambda: _drained(platform), within=30)

    produced = sum(shard["checks_done"] for shard in shards)
    kept = stored(database, "SELECT COUNT(*) FROM results")[0][0]
    assert kept == produced
    assert produced > 2 * len(ids)
    changes = stored(database, "SELECT state_before, state_after FROM state_changes")
    assert changes == [("unknown", "up")] * len(ids)


async def test_a_killed_coordinator_comes_back_with_the_catalogue_and_shards(
    fresh: tuple[RayPlatform, Path], target: TcpTarget
) -> None:
    platform, database = fresh
    await platform.add_shard()
    monitors = tcp_monitors("guided", 10, target.address)
    await platform.apply_monitors(monitors)

    os.kill(await pid_of(platform, "coordinator"), signal.SIGKILL)
    late = tcp_monitors("late", 5, target.address)
    for definition in late:
        await platform.create_monitor(definition)

    assert (await platform.get_monitor("guided-3"))["name"] == "guided 3"
    ids = [m["id"] for m in monitors + late]
    where = await placement(platform)
    assert sorted(where) == ["shard-0", "shard-1", "shard-2"]
    assert_each_on_exactly_its_owner(where, ids)
    await eventually(lambda: _all_have_results(database, ids))


async def _all_have_results(database: Path, ids: list[str]) -> bool:
    newest = newest_result(database)
    return all(monitor_id in newest for monitor_id in ids)


async def _state_is(platform: RayPlatform, monitor_id: str, state: str) -> bool:
    status = (await platform.get_monitor(monitor_id))["status"]
    return status is not None and status["state"] == state


async def _drained(platform: RayPlatform) -> list[dict[str, Any]] | None:
    """The shards' figures once nothing is running or waiting to be delivered."""
    shards = await platform.engine_stats()
    if all(s["in_flight"] == 0 and s["undelivered"] == 0 for s in shards):
        return shards
    return None


async def test_a_store_cut_off_mid_stream_loses_no_result_and_its_copy_verifies(
    ray_session: None, tmp_path: Path, target: TcpTarget
) -> None:
    async with postgresql_url(tmp_path) as url, mysql_url(tmp_path) as analytics:
        schema = parse_qs(urlsplit(url).query)["schema"][0]
        with TcpProxy(("127.0.0.1", 5432)) as proxy:
            proxied = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
            settings = Settings(
                data_dir=tmp_path,
                shards=2,
                store_url=proxied,
                analytics_url=analytics,
                copy_every=0.5,
            )
            platform = await RayPlatform.start(settings)
            try:
                produced, spooled = await _cut_and_restore(
                    platform, proxy, target, schema
                )
                copied = await _copied_after(platform, time.time())
            finally:
                await platform.close()
        counts = await _counted(schema)
        verified = await _verified(url, analytics, proxied)

    assert spooled > 0
    assert counts == (produced, produced)
    assert copied["rollups"] > 0
    assert verified.consistent, [d.describe() for d in verified.differences]
    assert verified.matching_share == 1.0
    assert verified.rows >= 20


async def _copied_after(platform: RayPlatform, moment: float) -> dict[str, int]:
    """The rows copied to analytics, once a copy has finished after ``moment``."""

    async def copied() -> dict[str, int] | None:
        stats = (await platform.storage_stats())["analytics"]
        done = stats["last_copy_at"] is not None and stats["last_copy_at"] > moment
        return dict(stats["copied"]) if done else None

    found: dict[str, int] = await eventually(copied, within=30, every=0.2)
    return found


async def _verified(primary_url: str, analytics_url: str, source: str) -> Verification:
    """What verifying the analytics copy against the primary finds."""
    analytics = open_store(analytics_url)
    assert isinstance(analytics, MysqlStore)
    async with open_store(primary_url) as primary, analytics:
        mirror = Mirror(primary, analytics, source=source_name(source))
        return await mirror.verify(since=0)


async def _cut_and_restore(
    platform: RayPlatform, proxy: TcpProxy, target: TcpTarget, schema: str
) -> tuple[int, int]:
    """Run monitors, cut the store's connections for a while, bring them back.

    Returns the results the shards produced and the most the spool held.
    """
    monitors = tcp_monitors("spooled", 20, target.address)
    await platform.apply_monitors(monitors)
    await eventually(lambda: _stored_some(schema))

    proxy.cut()
    await asyncio.sleep(3)
    spooled = (await platform.storage_stats())["spool"]["records"]
    proxy.restore()

    async def written_back() -> bool:
        spool = (await platform.storage_stats())["spool"]
        return bool(spool["records"] == 0)

    await eventually(written_back, within=30, every=0.2)
    for definition in monitors:
        await platform.pause_monitor(definition["id"])
    shards = await eventually(lambda: _drained(platform), within=30)
    await eventually(written_back, within=30, every=0.2)
    produced = sum(shard["checks_done"] for shard in shards)
    return produced, spooled


async def _stored_some(schema: str) -> bool:
    return (await _counted(schema))[0] > 0


async def _counted(schema: str) -> tuple[int, int]:
    """Results stored, and distinct (monitor, time) keys among them."""
    connection = await asyncpg.connect(POSTGRESQL)
    try:
        row = await connection.fetchrow(
            f"SELECT count(*), count(DISTINCT (monitor_id, started_at)) "
            f"FROM {schema}.results"
        )
    finally:
        await connection.close()
    assert row is not None
    return int(row[0]), int(row[1])


async def test_a_killed_alert_actor_carries_on_its_incidents_and_tells_each_once(
    fresh: tuple[RayPlatform, Path], target: TcpTarget
) -> None:
    platform, _ = fresh
    async with running_inbox() as inbox:
        await platform.put_setting(
            "channel", {"id": "hook", "kind": "webhook", "url": f"{inbox.url}/hook"}
        )
        await platform.put_setting(
            "route",
            {
                "id": "everything",
                "channels": ["hook"],
                "group_wait": 0,
                "group_interval": 1,
            },
        )
        [monitor] = tcp_monitors("told", 1, target.address)
        await platform.create_monitor(monitor)
        await eventually(lambda: _state_is(platform, "told-0", "up"))
        target.stop()
        await eventually(lambda: _posted(inbox, "firing"), within=RESUME_WITHIN)

        # The recovery happens while the Alert actor restarts: it reaches
        # the new one when the shard delivers its batch again.
        os.kill(await pid_of(platform, "alert"), signal.SIGKILL)
        target.start()
        await eventually(lambda: _posted(inbox, "resolved"), within=3 * RESUME_WITHIN)
        [incident] = await platform.incidents({"monitor_id": "told-0"})
        await asyncio.sleep(2)

    assert [body["status"] for _, body, _, _ in inbox.posts] == ["firing", "resolved"]
    assert len(set(inbox.keys())) == 2
    assert incident["status"] == "resolved"


async def _posted(inbox: Inbox, status: str) -> bool:
    return any(body["status"] == status for _, body, _, _ in inbox.posts)
