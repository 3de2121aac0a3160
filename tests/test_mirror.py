"""The analytics copy: feeds of the primary copied into MySQL, and verified."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

import store.postgres
from store import Store, StoreError, open_store, schema_status
from store.mirror import Mirror, source_name
from store.mysql import MysqlStore
from store.rollups import HOUR
from tests.store_backends import BACKENDS, ISOLATED_URLS, mysql_url
from tests.store_samples import definition, event, failed, result

PRIMARIES = [name for name in ("sqlite", "postgresql") if name in BACKENDS]

pytestmark = pytest.mark.skipif(
    "mysql" not in BACKENDS, reason="the copy goes to MySQL"
)


@pytest.fixture(params=PRIMARIES)
async def primary_url(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    async with ISOLATED_URLS[request.param](tmp_path) as made:
        yield made


@pytest.fixture
async def primary(primary_url: str) -> AsyncIterator[Store]:
    async with open_store(primary_url) as opened:
        yield opened


@pytest.fixture
async def analytics(tmp_path: Path) -> AsyncIterator[MysqlStore]:
    async with mysql_url(tmp_path) as url:
        opened = open_store(url)
        assert isinstance(opened, MysqlStore)
        async with opened:
            yield opened


@pytest.fixture
def mirror(primary: Store, analytics: MysqlStore, primary_url: str) -> Mirror:
    return Mirror(primary, analytics, source=source_name(primary_url), page_rows=3)


async def fill(primary: Store) -> None:
    await primary.put_monitors(
        [definition("api", tags=["prod"]), definition("web"), definition("db")]
    )
    await primary.write_results(
        [
            result("api", 10.0, latency_ms=5.0),
            failed("api", 70.0),
            result("web", 3700.0, latency_ms=120.0),
            result("db", 7300.0, latency_ms=2.5),
            result("db", 7400.0, latency_ms=30.0),
        ]
    )
    await primary.write_events([event(100.0 + n, n) for n in range(5)])


async def test_a_copy_brings_monitors_hourly_rollups_and_events_over(
    primary: Store, analytics: MysqlStore, mirror: Mirror
) -> None:
    await fill(primary)

    copied = await mirror.copy()

    assert copied == {"monitors": 3, "rollups": 3, "events": 5}
    assert [m["id"] for m in await analytics.list_monitors()] == ["api", "db", "web"]
    for monitor_id in ("api", "web", "db"):
        assert await analytics.rollups(
            monitor_id, since=0, until=10 * HOUR
        ) == await primary.rollups(monitor_id, since=0, until=10 * HOUR)
    assert await analytics.events(limit=10) == await primary.events(limit=10)


async def test_a_second_copy_takes_only_what_changed_and_replaces_it(
    primary: Store, analytics: MysqlStore, mirror: Mirror
) -> None:
    await fill(primary)
    await mirror.copy()

    assert await mirror.copy() == {"monitors": 0, "rollups": 0, "events": 0}

    await primary.write_results([result("api", 130.0, latency_ms=7.0)])
    await primary.put_monitors([definition("web", tags=["edge"])])

    assert await mirror.copy() == {"monitors": 1, "rollups": 1, "events": 0}
    [api_hour] = await analytics.rollups("api", since=0, until=HOUR)
    assert (api_hour.count, api_hour.ok, api_hour.latency_sum) == (3, 2, 12.0)
    assert (await analytics.get_monitor("web") or {})["tags"] == ["edge"]


async def test_a_new_mirror_goes_on_from_the_saved_positions(
    primary: Store, analytics: MysqlStore, primary_url: str
) -> None:
    await fill(primary)
    source = source_name(primary_url)
    await Mirror(primary, analytics, source=source).copy()
    await primary.write_events([event(200.0, 9)])

    again = await Mirror(primary, analytics, source=source).copy()

    assert again == {"monitors": 0, "rollups": 0, "events": 1}


async def test_verify_finds_a_copy_complete_at_one_hundred_percent(
    primary: Store, mirror: Mirror
) -> None:
    await fill(primary)
    await mirror.copy()

    found = await mirror.verify(since=0, until=10 * HOUR)

    assert found.consistent
    assert found.matching_share == 1.0
    assert (found.hours, found.rows) == (3, 3 + 5)


async def test_verify_names_each_difference_and_repair_removes_them(
    primary: Store, analytics: MysqlStore, mirror: Mirror
) -> None:
    await fill(primary)
    await mirror.copy()
    [web_hour] = await analytics.rollups("web", since=0, until=10 * HOUR)
    await analytics.delete_rollups("hour", [("db", 7200.0)])
    web_hour.count += 1
    await analytics.put_rollups("hour", [web_hour])
    await analytics.delete_events([(await primary.events(limit=1))[0].id])
    await analytics.write_events([event(4000.0, 77)])

    found = await mirror.verify(since=0, until=10 * HOUR, repair=True)

    described = [difference.describe() for difference in found.differences]
    assert (
        described[0]
        == "1970-01-01T01:00Z: rollup of web differs (count 1 in the primary, 2 here)"
    )
    assert described[1] == "1970-01-01T02:00Z: rollup of db missing from the copy"
    assert described[2].startswith("1970-01-01T00:00Z: event ")
    assert described[2].endswith(" missing from the copy")
    assert described[3].startswith("1970-01-01T01:00Z: event ")
    assert described[3].endswith(" extra in the copy")
    assert len(described) == 4
    assert found.matching_share == pytest.approx(5 / 8)
    assert found.repaired == 4
    assert (await mirror.verify(since=0, until=10 * HOUR)).consistent


async def test_a_postgresql_feed_waits_for_a_transaction_that_drew_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row whose transaction commits after a later one is not skipped."""
    if "postgresql" not in PRIMARIES:
        pytest.skip("needs PostgreSQL")
    monkeypatch.setattr(store.postgres, "FEED_HORIZON_WAIT", 0.2)
    async with (
        ISOLATED_URLS["postgresql"](tmp_path) as url,
        open_store(url) as primary,
    ):
        schema = url.rpartition("schema=")[2]
        slow = await asyncpg.connect(url.partition("?")[0])
        try:
            await slow.execute(f"SET search_path TO {schema}")
            writing = slow.transaction()
            await writing.start()
            await slow.execute("SELECT pg_current_xact_id()")
            await slow.execute(
                "INSERT INTO events (id, at, type, monitor_id, data) "
                "VALUES ('slow', 1, 'note', NULL, '{}')"
            )
            await primary.write_events([event(2.0, 1)])

            while_open = await primary.event_feed(after=0)
            await writing.commit()
            after_commit = await primary.event_feed(after=while_open.position)
        finally:
            await slow.close()

    assert while_open.rows == []
    assert while_open.position == 0
    assert sorted(e.id for e in after_commit.rows) == sorted(["slow", event(2.0, 1).id])


async def test_a_copy_and_writes_running_together_end_consistent(
    primary: Store, mirror: Mirror
) -> None:
    await primary.put_monitors([definition(f"m{n}") for n in range(20)])

    async def write() -> None:
        for step in range(30):
            await primary.write_results(
                [result(f"m{n}", 60.0 * step + n) for n in range(20)]
            )

    async def copy_while_writing(writer: asyncio.Task[None]) -> None:
        while not writer.done():
            await mirror.copy()

    writer = asyncio.ensure_future(write())
    await asyncio.gather(writer, copy_while_writing(writer))
    await mirror.copy()

    found = await mirror.verify(since=0, until=10 * HOUR)
    assert found.consistent, [d.describe() for d in found.differences]
    assert found.rows == 20


@pytest.mark.parametrize(
    "backend", [b for b in ("postgresql", "mysql") if b in BACKENDS]
)
async def test_a_store_opened_only_to_read_migrates_nothing_and_reads(
    backend: str, tmp_path: Path
) -> None:
    async with ISOLATED_URLS[backend](tmp_path) as url:
        with pytest.raises(StoreError, match="upcast storage migrate") as behind:
            await open_store(url, reading_only=True).open()
        untouched = await schema_status(url)
        async with open_store(url) as writer:
            await writer.write_results([result("api", 10.0)])
        async with open_store(url, reading_only=True) as reader:
            summaries = await reader.rollup_summaries(since=0, until=HOUR)

    assert "schema version 0" in str(behind.value)
    assert untouched.empty
    assert [(s.monitor_id, s.count) for s in summaries] == [("api", 1)]


def test_a_sqlite_store_cannot_be_opened_only_to_read(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no replicas"):
        open_store(f"sqlite://{tmp_path / 'x.db'}", reading_only=True)
