"""The PostgreSQL store's own behaviour, against the local server.

Each test gets a schema of its own (``tests.store_backends.postgresql_url``),
dropped afterwards. Where a test looks behind the store's back, it uses a
plain asyncpg connection, as another process would.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import random
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from engine.events import MONITOR_CREATED, Event
from engine.result import CheckResult
from store import SchemaTooNewError, Store, StoreError, open_store
from store.base import HOURLY_ROLLUP_DAYS, Migration
from store.postgres import (
    RETENTION_BATCH,
    PostgresSettings,
    PostgresStore,
    packaged_migrations,
    parse_url,
)
from store.rollups import RESOLUTIONS, aggregate
from tests.store_backends import POSTGRESQL, postgresql_url
from tests.store_samples import DAY, definition, failed, result
from tests.waiting import eventually

PASSWORD = "s3cret-Pa55"

PACKAGED = [(m.version, m.description) for m in packaged_migrations()]
"""The packaged migrations as the version table records them."""


def every_step() -> list[tuple[int, int, str]]:
    """The progress calls of opening an empty schema: every packaged migration."""
    return [(version, len(PACKAGED), words) for version, words in PACKAGED]


@pytest.fixture
async def url(tmp_path: Path) -> AsyncIterator[str]:
    async with postgresql_url(tmp_path) as made:
        yield made


@pytest.fixture
def schema(url: str) -> str:
    return parse_url(url).schema


@pytest.fixture
async def admin() -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own to the test database, as another process has."""
    connection = await asyncpg.connect(POSTGRESQL)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def migrated(url: str) -> str:
    """The URL of a schema the packaged migrations have been applied to."""
    async with PostgresStore(url):
        pass
    return url


@pytest.fixture
async def store(url: str) -> AsyncIterator[Store]:
    async with open_store(url) as opened:
        yield opened


async def partitions(admin: asyncpg.Connection, schema: str) -> dict[str, int]:
    """The partitions of the schema's results table, each with its row count."""
    names = await admin.fetch(
        "SELECT child.relname FROM pg_inherits "
        "JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid "
        "JOIN pg_class AS parent ON parent.oid = pg_inherits.inhparent "
        "JOIN pg_namespace ON pg_namespace.oid = parent.relnamespace "
        "WHERE parent.relname = 'results' AND pg_namespace.nspname = $1",
        schema,
    )
    counts: dict[str, int] = {}
    for row in names:
        name = row["relname"]
        counts[name] = await admin.fetchval(f'SELECT count(*) FROM "{schema}"."{name}"')
    return counts


async def tables(admin: asyncpg.Connection, schema: str) -> set[str]:
    rows = await admin.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = $1", schema
    )
    return {row["tablename"] for row in rows}


async def monitor_columns(admin: asyncpg.Connection, schema: str) -> set[str]:
    rows = await admin.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = $1 AND table_name = 'monitors'",
        schema,
    )
    return {row["column_name"] for row in rows}


async def migrations_recorded(
    admin: asyncpg.Connection, schema: str
) -> list[tuple[int, str]]:
    rows = await admin.fetch(
        f'SELECT version, description FROM "{schema}".schema_migrations '
        "ORDER BY version"
    )
    return [(row["version"], row["description"]) for row in rows]


async def sessions(admin: asyncpg.Connection, schema: str, *, waiting: bool) -> int:
    """Server sessions of the store in ``schema``; only those waiting for a lock."""
    # Statistics views hold still within a transaction unless told to look again.
    await admin.execute("SELECT pg_stat_clear_snapshot()")
    count: int = await admin.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
        "AND (NOT $2 OR wait_event_type = 'Lock')",
        f"upcast {schema}",
        waiting,
    )
    return count


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> float:
    moment = datetime.datetime(year, month, day, hour, minute, second)
    return moment.replace(tzinfo=datetime.UTC).timestamp()


async def test_results_of_three_days_land_in_three_partitions(
    store: Store, admin: asyncpg.Connection, schema: str
) -> None:
    written = [
        result("api", 2 * DAY + 60),
        result("web", 2 * DAY + 120),
        result("api", math.nextafter(3 * DAY, 0)),
        result("api", utc(2024, 2, 29, 23, 59, 59)),
    ]

    assert await store.write_results(written) == 4

    found = await partitions(admin, schema)
    assert found["results_19700103"] == 3
    assert found["results_20240229"] == 1
    assert [r.started_at for r in await store.results("api")] == [
        utc(2024, 2, 29, 23, 59, 59),
        math.nextafter(3 * DAY, 0),
        2 * DAY + 60,
    ]


async def test_open_makes_the_partitions_of_today_and_the_next_two_days(
    store: Store, admin: asyncpg.Connection, schema: str
) -> None:
    found = await partitions(admin, schema)

    # Midnight may have passed since the store opened: today and tomorrow
    # are in its three days either way.
    today = datetime.datetime.now(datetime.UTC).date()
    tomorrow = today + datetime.timedelta(days=1)
    days = {name for name in found if re.fullmatch(r"results_\d{8}", name)}
    assert {f"results_{today:%Y%m%d}", f"results_{tomorrow:%Y%m%d}"} <= days
    assert len(days) == 3


async def test_results_outside_the_calendar_are_kept_in_the_end_partitions(
    store: Store, admin: asyncpg.Connection, schema: str
) -> None:
    far = [result("api", -1e12), result("api", 1e13), result("api", 1e300)]

    assert await store.write_results(far) == 3

    found = await partitions(admin, schema)
    assert found["results_before_year_1"] == 1
    assert found["results_after_year_9999"] == 2
    assert await store.results("api") == list(reversed(far))


async def test_retention_drops_whole_old_partitions_and_keeps_the_newer_ones(
    store: Store, admin: asyncpg.Connection, schema: str
) -> None:
    now = 10 * DAY + 3600
    old_days = [
        result("api", day * DAY + second) for day in (5, 6, 7) for second in (0, 1)
    ]
    straddling = [result("api", 8 * DAY + 60), result("api", 8 * DAY + 7200)]
    await store.write_results([*old_days, *straddling, result("api", 9 * DAY)])
    await store.write_results([result("ancient", -1e12)])

    deleted = await store.enforce_retention(2, now=now)

    assert deleted == len(old_days) + 1 + 1
    found = await partitions(admin, schema)
    assert not {"results_19700106", "results_19700107", "results_19700108"} & set(found)
    assert found["results_19700109"] == 1
    assert found["results_19700110"] == 1
    assert found["results_before_year_1"] == 0
    assert [r.started_at for r in await store.results("api")] == [
        9 * DAY,
        8 * DAY + 7200,
    ]


async def test_writes_go_on_after_retention_dropped_their_day(store: Store) -> None:
    await store.write_results([result("api", 5 * DAY)])
    await store.enforce_retention(1, now=10 * DAY)

    assert await store.write_results([result("api", 5 * DAY + 1)]) == 1

    assert [r.started_at for r in await store.results("api")] == [5 * DAY + 1]


async def test_a_partition_another_process_dropped_is_made_again(
    store: Store, admin: asyncpg.Connection, schema: str
) -> None:
    await store.write_results([result("api", 3 * DAY)])
    await admin.execute(f'DROP TABLE "{schema}".results_19700104')

    assert await store.write_results([result("api", 3 * DAY + 1)]) == 1

    assert (await partitions(admin, schema))["results_19700104"] == 1


async def test_a_batch_delivered_twice_takes_the_slow_path_and_stores_each_row_once(
    store: Store,
    admin: asyncpg.Connection,
    schema: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    batch = [result("api", 100.0 + index) for index in range(50)]
    assert await store.write_results(batch) == 50

    with caplog.at_level(logging.DEBUG, logger="store.postgres"):
        assert await store.write_results([*batch, result("api", 500.0)]) == 1

    assert "holds stored ones; merging" in caplog.text
    assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".results') == 51
    assert len(await store.results("api", limit=1000)) == 51


async def test_a_result_repeated_within_one_batch_is_stored_once(
    store: Store,
) -> None:
    assert await store.write_results([result(), result(), result("api", 2.0)]) == 2

    assert [r.started_at for r in await store.results("api")] == [1000.0, 2.0]


async def test_open_applies_each_migration_once_and_records_its_version(
    url: str, admin: asyncpg.Connection, schema: str
) -> None:
    steps: list[tuple[int, int, str]] = []

    for _ in range(2):
        async with PostgresStore(url, progress=lambda *step: steps.append(step)) as s:
            assert s.schema_version() == len(packaged_migrations())

    assert steps == every_step()
    assert await migrations_recorded(admin, schema) == PACKAGED


async def test_a_new_migration_is_applied_on_top_of_the_recorded_ones(
    migrated: str, admin: asyncpg.Connection, schema: str
) -> None:
    added = Migration(
        len(PACKAGED) + 1, "monitor owners", "ALTER TABLE monitors ADD owner text;"
    )
    steps: list[tuple[int, int, str]] = []

    async with PostgresStore(
        migrated,
        progress=lambda *step: steps.append(step),
        migrations=[*packaged_migrations(), added],
    ) as upgraded:
        assert upgraded.schema_version() == len(PACKAGED) + 1

    assert steps == [(1, 1, "monitor owners")]
    assert await migrations_recorded(admin, schema) == [
        *PACKAGED,
        (len(PACKAGED) + 1, "monitor owners"),
    ]
    assert "owner" in await monitor_columns(admin, schema)


async def test_a_schema_from_a_newer_version_is_refused_and_left_untouched(
    url: str, admin: asyncpg.Connection, schema: str
) -> None:
    await admin.execute(
        f'CREATE TABLE "{schema}".schema_migrations '
        "(version integer PRIMARY KEY, description text NOT NULL)"
    )
    await admin.execute(
        f"INSERT INTO \"{schema}\".schema_migrations VALUES (99, 'from the future')"
    )

    with pytest.raises(SchemaTooNewError) as caught:
        await PostgresStore(url).open()

    refused = caught.value
    known = len(packaged_migrations())
    assert (refused.found, refused.known, refused.retryable) == (99, known, False)
    assert f"up to {known}" in str(refused)
    assert await tables(admin, schema) == {"schema_migrations"}


async def test_a_failing_migration_is_rolled_back_with_its_ddl(
    migrated: str, admin: asyncpg.Connection, schema: str
) -> None:
    failing = Migration(
        len(PACKAGED) + 1, "owners", "ALTER TABLE monitors ADD owner text; SELECT 1/0;"
    )
    upgrade = PostgresStore(migrated, migrations=[*packaged_migrations(), failing])

    with pytest.raises(StoreError, match="division by zero") as caught:
        await upgrade.open()

    assert not caught.value.retryable
    assert await migrations_recorded(admin, schema) == PACKAGED
    assert "owner" not in await monitor_columns(admin, schema)


async def test_two_stores_opening_at_once_migrate_once(
    url: str, admin: asyncpg.Connection, schema: str
) -> None:
    steps: list[tuple[int, int, str]] = []
    first = PostgresStore(url, progress=lambda *step: steps.append(step))
    second = PostgresStore(url, progress=lambda *step: steps.append(step))

    try:
        await asyncio.gather(first.open(), second.open())
        assert first.schema_version() == second.schema_version() == len(PACKAGED)
    finally:
        await asyncio.gather(first.close(), second.close())

    # Each migration is applied once, by one store or the other; a store
    # that read the version while the other was part way numbers its steps
    # from there.
    assert sorted(words for _, _, words in steps) == sorted(w for _, w in PACKAGED)
    assert await migrations_recorded(admin, schema) == PACKAGED


async def test_the_url_schema_is_made_when_missing_and_holds_the_tables(
    admin: asyncpg.Connection,
) -> None:
    schema = f"upcast_test_{secrets.token_hex(6)}"
    try:
        async with open_store(f"{POSTGRESQL}?schema={schema}") as opened:
            await opened.put_monitors([definition("api")])

        assert {"monitors", "results", "events"} <= await tables(admin, schema)
        definitions = await admin.fetch(f'SELECT id FROM "{schema}".monitors')
        assert [row["id"] for row in definitions] == ["api"]
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def test_the_pool_opens_pool_min_connections_and_never_more_than_pool_max(
    url: str, admin: asyncpg.Connection, schema: str
) -> None:
    async with open_store(f"{url}&pool_min=2&pool_max=3") as opened:
        assert await sessions(admin, schema, waiting=False) == 2

        async with admin.transaction():
            await admin.execute(f'LOCK TABLE "{schema}".monitors')
            writes = [
                asyncio.create_task(opened.put_monitors([definition(f"m{index}")]))
                for index in range(6)
            ]

            async def three_waiting() -> bool:
                return await sessions(admin, schema, waiting=True) == 3

            await eventually(three_waiting)
            await asyncio.sleep(0.2)
            assert await sessions(admin, schema, waiting=False) == 3

        await asyncio.gather(*writes)
        assert len(await opened.list_monitors()) == 6


async def test_close_waits_for_a_write_held_up_by_a_lock(
    url: str, admin: asyncpg.Connection, schema: str
) -> None:
    opened = open_store(url)
    await opened.open()
    async with admin.transaction():
        await admin.execute(f'LOCK TABLE "{schema}".monitors')
        write = asyncio.create_task(opened.put_monitors([definition("api")]))

        async def write_waiting() -> bool:
            return await sessions(admin, schema, waiting=True) == 1

        await eventually(write_waiting)
        closing = asyncio.create_task(opened.close())
        await asyncio.sleep(0.2)
        assert not closing.done()

    await closing
    await write
    async with open_store(url) as reopened:
        assert await reopened.get_monitor("api") == definition("api")


async def test_monitors_keep_their_configuration_as_jsonb_and_their_words_indexed(
    store: Store, admin: asyncpg.Connection, schema: str
) -> None:
    await store.put_monitors(
        [
            definition("api", description="Checks the payments gateway"),
            definition("web", tags=["prod"]),
        ]
    )

    target = await admin.fetchval(
        f"SELECT config ->> 'target' FROM \"{schema}\".monitors WHERE id = 'api'"
    )
    searched = await admin.fetch(
        f'SELECT id FROM "{schema}".monitors '
        "WHERE search @@ plainto_tsquery('simple', 'payments gateway')"
    )
    assert target == "https://api.example.com/health"
    assert [row["id"] for row in searched] == ["api"]


async def test_catalogue_pages_follow_the_order_python_sorts_ids_in(
    store: Store,
) -> None:
    ids = ["a", "B", "Z", "_", "aa", "A1", "a-1", "a.1", "é", "ü", "Ω", "z"]
    # Plain rows, not the model's: the store keeps any id, not only the
    # model's letters and digits.
    await store.put_monitors([{"id": i, "name": i, "kind": "http"} for i in ids])

    first = await store.catalogue(limit=4)
    rest = await store.catalogue(after=first[-1][0], limit=100)

    assert [monitor_id for monitor_id, _ in first + rest] == sorted(ids)


async def test_events_follow_the_order_python_sorts_ids_in(store: Store) -> None:
    ids = ["b-2", "B-1", "a-9", "_-0", "é-3"]
    await store.write_events([Event(i, 1.0, MONITOR_CREATED) for i in ids])

    assert [e.id for e in await store.events()] == sorted(ids)
    assert [e.id for e in await store.events(after="a-9")] == ["b-2", "é-3"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"postgresql://upcast:{PASSWORD}@db.internal:5433/monitoring"
            "?schema=ops&pool_min=2&pool_max=20",
            PostgresSettings(
                "db.internal", 5433, "upcast", PASSWORD, "monitoring", "ops", 2, 20
            ),
        ),
        (
            "postgres://db/upcast",
            PostgresSettings("db", None, None, None, "upcast", "public", 1, 10),
        ),
        (
            "postgresql://us%40er:p%2Fss@[::1]/d%20b?pool_min=0",
            PostgresSettings("::1", None, "us@er", "p/ss", "d b", "public", 0, 10),
        ),
        (
            "PostgreSQL://127.0.0.1:5432/test?pool_max=1",
            PostgresSettings("127.0.0.1", 5432, None, None, "test", "public", 1, 1),
        ),
    ],
)
def test_urls_name_the_server_schema_and_pool_sizes(
    url: str, expected: PostgresSettings
) -> None:
    assert parse_url(url) == expected


BASE = f"postgresql://upcast:{PASSWORD}@db.internal/upcast"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"{BASE}?sslmode=require", "url: unknown query parameter 'sslmode'"),
        (f"{BASE}?schema=ops&pool_size=5", "url: unknown query parameter 'pool_size'"),
        (f"{BASE}?pool_min=two", "url: pool_min must be a whole number from 0"),
        (f"{BASE}?pool_max=0", "url: pool_max must be a whole number from 1"),
        (f"{BASE}?pool_min=5&pool_max=2", "url: pool_min (5) must not be above"),
        (f"{BASE}?schema=a%3Bdrop", "url: schema must be a name of letters"),
        (f"{BASE}?schema=a&schema=b", "url: query parameter 'schema' is given twice"),
        (f"postgresql://upcast:{PASSWORD}@db:port/x", "url: not a valid PostgreSQL"),
        (f"postgresql://upcast:{PASSWORD[:4]}/{PASSWORD[5:]}@db/x", "url: not a valid"),
        (f"postgresql://upcast:{PASSWORD}@a,b/x", "url: name one host"),
        (f"{BASE}#part", "url: a PostgreSQL URL takes no fragment"),
    ],
)
def test_bad_urls_are_refused_by_the_part_at_fault(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        open_store(url)

    assert PASSWORD[:4] not in str(caught.value)
    assert PASSWORD[5:] not in str(caught.value)


async def test_a_wrong_port_fails_retryably_and_never_shows_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = PostgresStore(f"postgresql://root:{PASSWORD}@127.0.0.1:1/test")

    with caplog.at_level(logging.DEBUG), pytest.raises(StoreError) as caught:
        await store.open()

    assert caught.value.retryable
    assert isinstance(caught.value.__cause__, OSError)
    assert str(caught.value).startswith("cannot connect to PostgreSQL database")
    assert "127.0.0.1:1" in str(caught.value)
    shown: list[Any] = [
        str(caught.value),
        repr(caught.value),
        str(caught.value.__cause__),
        repr(store.connection_settings),
        caplog.text,
    ]
    assert not [text for text in shown if PASSWORD in text]


# -- rollups ----------------------------------------------------------------

Arrival = Callable[[str, asyncpg.Connection, str, list[CheckResult]], Awaitable[None]]


def checks_around_an_hour(start: float) -> list[CheckResult]:
    """Results of two monitors over the minutes either side of an hour's end.

    Their latencies sit on and between the histogram's bounds, some checks
    fail, and one failure is from before year 1, so a bucket holds no
    passing check. Every latency is a sum of powers of two, so sums of them
    are exact whatever order they are added in.
    """
    latencies = [0.0, 1.0, 1.5, 2.0, 60000.0, 60000.5, 250.0, 12.5, 999.75]
    checks = [
        result(
            ("api", "web")[index % 2],
            start + 3540.0 + 5.0 * index,
            ok=index % 5 != 3,
            latency_ms=latencies[index % len(latencies)],
        )
        for index in range(30)
    ]
    return [*checks, failed("api", -1e12)]


async def written_once(
    url: str, admin: asyncpg.Connection, schema: str, checks: list[CheckResult]
) -> None:
    async with open_store(url) as opened:
        await opened.write_results(checks)


async def written_again_in_part(
    url: str, admin: asyncpg.Connection, schema: str, checks: list[CheckResult]
) -> None:
    async with open_store(url) as opened:
        await opened.write_results(checks[::3])
        await opened.write_results(checks)


async def stored_before_the_rollup_migration(
    url: str, admin: asyncpg.Connection, schema: str, checks: list[CheckResult]
) -> None:
    """Store the results as the first schema did, then migrate to rollups."""
    async with PostgresStore(url, migrations=packaged_migrations()[:1]):
        pass
    await admin.execute(
        f'INSERT INTO "{schema}".results SELECT monitor_id, started_at, ok, '
        "latency_ms, state, NULL, '', false, 0, 0, '{}', '{}' FROM unnest("
        "$1::text[], $2::float8[], $3::boolean[], $4::float8[], $5::text[]) "
        "AS stored (monitor_id, started_at, ok, latency_ms, state)",
        [c.monitor_id for c in checks],
        [c.started_at for c in checks],
        [c.ok for c in checks],
        [c.latency_ms for c in checks],
        [str(c.state) for c in checks],
    )
    async with PostgresStore(url):
        pass


@pytest.mark.parametrize(
    "arrive",
    [written_once, written_again_in_part, stored_before_the_rollup_migration],
)
async def test_rollups_hold_what_store_rollups_makes_of_the_stored_results(
    url: str, admin: asyncpg.Connection, schema: str, arrive: Arrival
) -> None:
    # Today, which has a result partition once a store has opened.
    today = math.floor(time.time() / DAY) * DAY
    checks = checks_around_an_hour(today)

    await arrive(url, admin, schema, checks)

    async with open_store(url) as opened:
        for resolution, span in RESOLUTIONS.items():
            found = [
                rollup
                for monitor_id in ("api", "web")
                for rollup in await opened.rollups(
                    monitor_id, resolution=resolution, since=-2e12, until=today + DAY
                )
            ]
            expected = sorted(
                aggregate(checks, span), key=lambda r: (r.monitor_id, r.start)
            )
            assert found == expected


async def rollup_seqs(
    admin: asyncpg.Connection, schema: str, table: str
) -> dict[tuple[str, float], int]:
    """The seq of each row of one rollup table, by monitor and start."""
    rows = await admin.fetch(f'SELECT monitor_id, start, seq FROM "{schema}".{table}')
    return {(row["monitor_id"], row["start"]): row["seq"] for row in rows}


async def test_every_change_of_an_hourly_rollup_takes_a_higher_seq_and_marks_its_hour(
    store: Store, admin: asyncpg.Connection, schema: str
) -> None:
    async def write_and_read_seqs(
        *results: CheckResult,
    ) -> tuple[dict[tuple[str, float], int], dict[float, int]]:
        await store.write_results(list(results))
        hours = await admin.fetch(
            f'SELECT start, seq FROM "{schema}".rollup_hour_changes'
        )
        return (
            await rollup_seqs(admin, schema, "rollup_hour"),
            {row["start"]: row["seq"] for row in hours},
        )

    rows_1, hours_1 = await write_and_read_seqs(result("api", 10.0))
    rows_2, hours_2 = await write_and_read_seqs(
        result("api", 20.0), result("web", 3700.0)
    )
    rows_3, hours_3 = await write_and_read_seqs(result("api", 70.0))
    rows_4, hours_4 = await write_and_read_seqs(result("api", 70.0))

    api, web = ("api", 0.0), ("web", 3600.0)
    assert hours_1[0.0] > rows_1[api]
    assert rows_2[api] > hours_1[0.0]
    assert hours_2[0.0] > rows_2[api]
    assert hours_2[3600.0] > rows_2[web]
    # A later batch leaves the rows and hours it does not touch as they were.
    assert rows_3[web] == rows_2[web]
    assert hours_3[3600.0] == hours_2[3600.0]
    assert rows_3[api] > hours_2[0.0]
    # Writing the same batch again changes nothing.
    assert (rows_4, hours_4) == (rows_3, hours_3)


async def test_minute_rollups_come_from_the_results_of_buckets_starting_in_the_span(
    store: Store,
) -> None:
    await store.write_results(
        [result("api", at, latency_ms=at) for at in (59.0, 60.0, 119.5, 120.0, 185.0)]
    )

    found = await store.rollups("api", resolution="minute", since=30.0, until=120.0)
    summed = await store.rollup_summaries(resolution="minute", since=30.0, until=180.0)

    assert [(r.start, r.count, r.latency_sum) for r in found] == [(60.0, 2, 179.5)]
    assert [(s.monitor_id, s.count, s.latency_max) for s in summed] == [
        ("api", 3, 120.0)
    ]


async def test_a_result_written_again_with_other_values_counts_as_first_stored(
    store: Store,
) -> None:
    await store.write_results([result("api", 10.0, latency_ms=5.0)])

    again = [result("api", 10.0, latency_ms=900.0), result("api", 20.0)]
    assert await store.write_results(again) == 1
    repeated_in_one_batch = [
        result("web", 10.0, latency_ms=3.0),
        result("web", 10.0, latency_ms=700.0, ok=False),
    ]
    assert await store.write_results(repeated_in_one_batch) == 1

    api, web = [
        (await store.rollups(monitor_id, since=0.0, until=3600.0))[0]
        for monitor_id in ("api", "web")
    ]
    stored_web = (await store.results("web"))[0]
    assert (api.count, api.latency_min, api.latency_max) == (2, 5.0, 12.5)
    assert (web.count, web.ok) == (1, int(stored_web.ok))
    assert web.latency_sum == (stored_web.latency_ms if stored_web.ok else 0.0)


async def test_writers_sharing_buckets_never_deadlock(url: str) -> None:
    monitors = [f"m{index:03d}" for index in range(400)]
    writers = 8
    rounds = 4

    async with open_store(f"{url}&pool_max={writers}") as opened:
        for round_ in range(rounds):
            batches = []
            for writer in range(writers):
                chosen = random.Random(round_ * writers + writer).sample(monitors, 300)
                moment = 60.0 * round_ + writer
                batches.append([result(monitor, moment) for monitor in chosen])
            written = await asyncio.gather(*map(opened.write_results, batches))
            assert written == [300] * writers

        summaries = await opened.rollup_summaries(since=0.0, until=3600.0)

    assert sum(summary.count for summary in summaries) == 300 * writers * rounds


async def test_retention_deletes_old_rollups_in_batches_without_counting_them(
    store: Store, admin: asyncpg.Connection, schema: str
) -> None:
    minutes = RETENTION_BATCH + 100
    old = [result("api", 60.0 * minute) for minute in range(minutes)]
    await store.write_results([*old, result("api", 10 * DAY)])

    deleted = await store.enforce_retention(1, now=10 * DAY + 60)
    minutes_left = await store.rollups(
        "api", resolution="minute", since=0, until=11 * DAY
    )
    hours_left = await rollup_seqs(admin, schema, "rollup_hour")
    a_year_on = (HOURLY_ROLLUP_DAYS + 11) * DAY
    deleted_a_year_on = await store.enforce_retention(1, now=a_year_on)

    assert deleted == len(old)
    assert [rollup.start for rollup in minutes_left] == [10 * DAY]
    assert len(hours_left) == math.ceil(minutes / 60) + 1
    assert deleted_a_year_on == 1
    assert await rollup_seqs(admin, schema, "rollup_hour") == {}
    changes = f'SELECT count(*) FROM "{schema}".rollup_hour_changes'
    assert await admin.fetchval(changes) == 0


async def test_a_day_of_ten_thousand_monitors_sums_up_in_well_under_a_second(
    store: Store, admin: asyncpg.Connection, schema: str
) -> None:
    # Each monitor passes 58 of 60 checks an hour, 50 of them within 50 ms
    # (h05) and 8 within 100 ms (h06).
    await admin.execute(
        f'INSERT INTO "{schema}".rollup_hour '
        "(monitor_id, start, count, ok, latency_min, latency_max, latency_sum, "
        "h05, h06) SELECT 'm' || lpad(monitor::text, 5, '0'), 3600 * hour, "
        "60, 58, 21, 87 + monitor, 2320, 50, 8 "
        "FROM generate_series(0, 9999) AS monitor, generate_series(0, 23) AS hour"
    )

    started = time.perf_counter()
    summaries = await store.rollup_summaries(since=0.0, until=DAY)
    elapsed = time.perf_counter() - started

    print(f"summary of {len(summaries)} monitors x 24 hourly rollups: {elapsed:.3f} s")
    assert len(summaries) == 10_000
    last = summaries[-1]
    assert (last.monitor_id, last.count, last.ok) == ("m09999", 1440, 1392)
    assert (last.latency_min, last.latency_max) == (21.0, 10086.0)
    assert last.latency_mean == pytest.approx(40.0)
    assert last.p50 is not None
    assert 20.0 < last.p50 <= 50.0
    # Machines are noisy, so the bound is far above the time printed.
    assert elapsed < 2.0
