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
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from engine.events import MONITOR_CREATED, Event
from store import SchemaTooNewError, Store, StoreError, open_store
from store.base import Migration
from store.postgres import (
    PostgresSettings,
    PostgresStore,
    packaged_migrations,
    parse_url,
)
from tests.store_backends import POSTGRESQL, postgresql_url
from tests.store_samples import DAY, definition, result
from tests.waiting import eventually

PASSWORD = "s3cret-Pa55"


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

    assert steps == [(1, 1, "initial")]
    assert await migrations_recorded(admin, schema) == [(1, "initial")]


async def test_a_new_migration_is_applied_on_top_of_the_recorded_ones(
    migrated: str, admin: asyncpg.Connection, schema: str
) -> None:
    added = Migration(2, "monitor owners", "ALTER TABLE monitors ADD owner text;")
    steps: list[tuple[int, int, str]] = []

    async with PostgresStore(
        migrated,
        progress=lambda *step: steps.append(step),
        migrations=[*packaged_migrations(), added],
    ) as upgraded:
        assert upgraded.schema_version() == 2

    assert steps == [(1, 1, "monitor owners")]
    assert await migrations_recorded(admin, schema) == [
        (1, "initial"),
        (2, "monitor owners"),
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
    failing = Migration(2, "owners", "ALTER TABLE monitors ADD owner text; SELECT 1/0;")
    upgrade = PostgresStore(migrated, migrations=[*packaged_migrations(), failing])

    with pytest.raises(StoreError, match="division by zero") as caught:
        await upgrade.open()

    assert not caught.value.retryable
    assert await migrations_recorded(admin, schema) == [(1, "initial")]
    assert "owner" not in await monitor_columns(admin, schema)


async def test_two_stores_opening_at_once_migrate_once(
    url: str, admin: asyncpg.Connection, schema: str
) -> None:
    steps: list[tuple[int, int, str]] = []
    first = PostgresStore(url, progress=lambda *step: steps.append(step))
    second = PostgresStore(url, progress=lambda *step: steps.append(step))

    try:
        await asyncio.gather(first.open(), second.open())
        assert first.schema_version() == second.schema_version() == 1
    finally:
        await asyncio.gather(first.close(), second.close())

    assert steps == [(1, 1, "initial")]
    assert await migrations_recorded(admin, schema) == [(1, "initial")]


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
        repr(store.settings),
        caplog.text,
    ]
    assert not [text for text in shown if PASSWORD in text]
