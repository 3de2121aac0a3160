"""The MySQL store, against the local MariaDB, each test in a database of its own.

Where a test needs to see or change the database behind the store's back, it
uses a plain aiomysql connection, as another process would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import re
import socket
import struct
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomysql
import pytest

from engine.events import MONITOR_CREATED, Event, StateChange
from engine.result import CheckResult, MonitorState
from store import SchemaTooNewError, Store, StoreClosedError, StoreError, open_store
from store.base import Migration, monitor_row
from store.mysql import (
    DEFAULT_PORT,
    MAX_ID_BYTES,
    MAX_STATEMENT_BYTES,
    MIGRATION_LOCK,
    POOL_MAX,
    POOL_MIN,
    ROLLUP_TIME_LIMIT,
    VERSION_TABLE,
    ConnectionSettings,
    MysqlStore,
    packaged_migrations,
    parse_url,
    split_statements,
)
from store.rollups import (
    BUCKETS,
    LATENCY_BOUNDS_MS,
    RESOLUTIONS,
    Rollup,
    aggregate,
    bucket_of,
)
from tests.store_backends import mysql_url
from tests.store_samples import failed, result

PASSWORD = "S3cret-Pa55word"


@pytest.fixture
async def url(tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database on the local server, dropped after the test."""
    async with mysql_url(tmp_path) as made:
        yield made


@pytest.fixture
async def store(url: str) -> AsyncIterator[Store]:
    async with open_store(url) as opened:
        yield opened


@pytest.fixture
async def mysql_store(url: str) -> AsyncIterator[MysqlStore]:
    async with MysqlStore(url) as opened:
        yield opened


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[Any]:
    """A connection of its own to the database the URL names."""
    settings = parse_url(url)
    connection = await aiomysql.connect(
        host=settings.host,
        port=settings.port,
        user=settings.user,
        db=settings.database,
        charset="utf8mb4",
        autocommit=True,
    )
    try:
        yield connection
    finally:
        connection.close()


async def query(connection: Any, sql: str, *parameters: object) -> list[Any]:
    async with connection.cursor() as cursor:
        await cursor.execute(sql, parameters or None)
        return list(await cursor.fetchall())


async def tables(connection: Any) -> set[str]:
    return {name for (name,) in await query(connection, "SHOW TABLES")}


async def inserts_so_far(connection: Any) -> int:
    """INSERT statements the server has run, from any connection."""
    ((_, count),) = await query(connection, "SHOW GLOBAL STATUS LIKE 'Com_insert'")
    return int(count)


async def test_a_batch_of_thousands_is_one_statement_a_table_and_again_adds_nothing(
    store: Store, url: str
) -> None:
    batch = [result(f"m{index % 100}", 1000.0 + index) for index in range(5000)]

    async with connected(url) as connection:
        before = await inserts_so_far(connection)
        assert await store.write_results(batch) == 5000
        first = await inserts_so_far(connection)
        assert await store.write_results(batch) == 0
        second = await inserts_so_far(connection)
        stored = await query(connection, "SELECT COUNT(*) FROM results")
        rolled = await query(
            connection,
            "SELECT (SELECT SUM(count) FROM rollup_minute), "
            "(SELECT SUM(count) FROM rollup_hour)",
        )

    # Results, minute rollups and hourly rollups; the second time, results only.
    assert (first - before, second - first) == (3, 1)
    assert stored == [(5000,)]
    assert rolled == [(5000, 5000)]


async def test_a_batch_longer_than_a_statement_is_split_and_lands_whole(
    store: Store, url: str
) -> None:
    # Together about one and a half times as long as one statement may be.
    message = "x" * (MAX_STATEMENT_BYTES * 3 // 4000)
    batch = [result("api", float(at), message=message) for at in range(2000)]

    async with connected(url) as connection:
        before = await inserts_so_far(connection)
        assert await store.write_results(batch) == 2000
        sent = await inserts_so_far(connection) - before

    # Two of results, and one of rollups for each table.
    assert sent == 2 + 2
    assert len(await store.results("api", limit=5000)) == 2000


AWKWARD_TEXTS = [
    "it's",
    'say "hi"',
    "back\\slash\\",
    "\\'; DROP TABLE results; --",
    "tab\there, new\nline, return\r, ctrl-z \x1a, bell \x07, delete \x7f",
    "naïve café, 漢字, 🚀",
    "%s %(name)s {0} %%",
    "  spaced  ",
]


@pytest.mark.parametrize("text", AWKWARD_TEXTS)
async def test_quotes_backslashes_control_characters_and_unicode_round_trip(
    store: Store, text: str
) -> None:
    definition = {"id": text, "name": text, "kind": "http", "tags": [text, "other"]}
    stored = result(text, 10.0, message=text, details={text: text, "list": [text]})
    change = StateChange(text, 10.0, MonitorState.UP, MonitorState.DOWN, None, text)
    happening = Event(text, 10.0, text, text, {text: [text]})

    await store.put_monitors([definition])
    await store.write_results([stored])
    await store.write_state_changes([change])
    await store.write_events([happening])

    assert await store.get_monitor(text) == definition
    assert await store.list_monitors(tag=text) == [definition]
    assert await store.catalogue() == [(text, monitor_row("x", definition).definition)]
    assert await store.results(text) == [stored]
    assert await store.latest_results([text]) == {text: stored}
    assert await store.state_changes(text) == [change]
    assert await store.events(monitor_id=text) == [happening]


async def test_ids_sort_as_python_strings_and_differ_by_a_trailing_space(
    store: Store,
) -> None:
    ids = ["a", "a ", "a\t", "a\x7f", "B", "b", "ab", "é", "z", "~", "🚀", "ﬀ"]
    shuffled = random.Random(3).sample(ids, len(ids))

    await store.put_monitors([{"id": i, "name": i, "kind": "http"} for i in shuffled])
    await store.write_events([Event(i, 1.0, MONITOR_CREATED) for i in shuffled])

    assert [monitor_id for monitor_id, _ in await store.catalogue()] == sorted(ids)
    assert [item["id"] for item in await store.list_monitors()] == sorted(ids)
    assert [item.id for item in await store.events()] == sorted(ids)
    assert [item.id for item in await store.events(after="a")] == [
        i for i in sorted(ids) if i > "a"
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"tag": "prod"}, ["lower"]),
        ({"tag": "Prod"}, ["upper"]),
        ({"tag": "prod "}, ["spaced"]),
        ({"kind": "http"}, ["lower", "spaced"]),
        ({"kind": "HTTP"}, ["upper"]),
    ],
)
async def test_tags_and_kinds_match_only_exactly(
    store: Store, filters: dict[str, Any], expected: list[str]
) -> None:
    await store.put_monitors(
        [
            {"id": "lower", "name": "Lower", "kind": "http", "tags": ["prod"]},
            {"id": "upper", "name": "Upper", "kind": "HTTP", "tags": ["Prod"]},
            {"id": "spaced", "name": "Spaced", "kind": "http", "tags": ["prod "]},
        ]
    )

    listed = await store.list_monitors(**filters)

    assert [item["id"] for item in listed] == expected


def any_double(generator: random.Random) -> float:
    """A finite float drawn from every bit pattern, not only the usual range."""
    while True:
        bits = generator.getrandbits(64).to_bytes(8, "little")
        (value,) = struct.unpack("<d", bits)
        if math.isfinite(value):
            return float(value)


async def test_times_and_latencies_come_back_as_the_same_floats(store: Store) -> None:
    generator = random.Random(11)
    extremes = [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1]
    values = extremes + [any_double(generator) for _ in range(2000)]
    written = [
        result("api", value, latency_ms=-value, lateness_ms=value / 3)
        for value in values
    ]

    await store.write_results(written)
    read = await store.results("api", limit=5000)

    assert sorted(read, key=lambda r: r.started_at) == sorted(
        written, key=lambda r: r.started_at
    )


async def test_latest_results_of_thousands_of_monitors_come_in_one_call(
    store: Store,
) -> None:
    ids = [f"m{index:05d}" for index in range(6000)]
    await store.write_results(
        [result(i, 10.0) for i in ids] + [result(i, 20.0, attempt=1) for i in ids]
    )

    latest = await store.latest_results([*ids, "none"])
    states = await store.latest_states(ids[:10])

    assert latest == {i: result(i, 20.0, attempt=1) for i in ids}
    assert set(states) == set(ids[:10])
    assert {state.started_at for state in states.values()} == {20.0}


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (
            [result("api"), result("x" * (MAX_ID_BYTES + 1))],
            f"results[1].monitor_id: must be at most {MAX_ID_BYTES} bytes",
        ),
        (
            [result("api"), result("é" * 200)],
            f"results[1].monitor_id: must be at most {MAX_ID_BYTES} bytes",
        ),
        (
            [result("api"), result(attempt=2**31)],
            "results[1].attempt: must be a whole number from",
        ),
        (
            [result("api"), result(message="lone \ud800 surrogate")],
            "results[1].message: cannot be stored as UTF-8",
        ),
        (
            [result("api"), result(state="sideways")],
            "results[1].state: must be one of unknown, up,",
        ),
    ],
)
async def test_values_the_columns_cannot_hold_are_refused_before_writing(
    store: Store, batch: list[CheckResult], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        await store.write_results(batch)

    assert await store.results("api") == []


async def test_a_result_longer_than_the_server_takes_is_refused_before_writing(
    store: Store, url: str
) -> None:
    async with connected(url) as connection:
        ((packet,),) = await query(connection, "SELECT @@max_allowed_packet")
    batch = [result("api"), result("api", 2.0, message="x" * packet)]

    with pytest.raises(ValueError, match=r"^results\[1\]: takes \d+ bytes as SQL"):
        await store.write_results(batch)

    assert await store.results("api") == []


async def test_open_applies_the_migrations_and_records_each_version(url: str) -> None:
    steps: list[tuple[int, int, str]] = []
    known = len(packaged_migrations())

    async with MysqlStore(url, progress=lambda *step: steps.append(step)) as first:
        assert first.schema_version() == known
    async with MysqlStore(url, progress=lambda *step: steps.append(step)):
        pass

    packaged = [(m.version, m.description) for m in packaged_migrations()]
    assert steps == [(version, known, words) for version, words in packaged]
    async with connected(url) as connection:
        recorded = await query(
            connection,
            f"SELECT version, description FROM {VERSION_TABLE} ORDER BY version",
        )
    assert recorded == packaged


async def test_a_database_from_a_newer_version_is_refused_and_left_untouched(
    url: str,
) -> None:
    async with connected(url) as connection:
        await query(
            connection,
            f"CREATE TABLE {VERSION_TABLE} (version INT PRIMARY KEY, "
            "description VARCHAR(255) NOT NULL, applied_at DOUBLE NOT NULL)",
        )
        await query(connection, f"INSERT INTO {VERSION_TABLE} VALUES (99, 'x', 0)")

        with pytest.raises(SchemaTooNewError) as caught:
            await MysqlStore(url).open()

        assert await tables(connection) == {VERSION_TABLE}
        assert await query(connection, f"SELECT version FROM {VERSION_TABLE}") == [
            (99,)
        ]
    known = len(packaged_migrations())
    assert (caught.value.found, caught.value.known) == (99, known)
    assert not caught.value.retryable
    assert "schema version 99" in str(caught.value)


async def test_two_stores_opening_at_once_migrate_only_once(url: str) -> None:
    steps: list[tuple[int, int, str]] = []
    stores = [
        MysqlStore(url, progress=lambda *step: steps.append(step)) for _ in range(2)
    ]

    await asyncio.gather(*(opened.open() for opened in stores))
    await asyncio.gather(*(opened.close() for opened in stores))

    known = len(packaged_migrations())
    assert steps == [(m.version, known, m.description) for m in packaged_migrations()]
    async with connected(url) as connection:
        assert await query(connection, f"SELECT COUNT(*) FROM {VERSION_TABLE}") == [
            (len(packaged_migrations()),)
        ]


async def test_open_waits_while_another_process_holds_the_migration_lock(
    url: str,
) -> None:
    async with connected(url) as connection:
        assert await query(connection, f"SELECT GET_LOCK({MIGRATION_LOCK}, 0)") == [
            (1,)
        ]
        store = MysqlStore(url)
        opening = asyncio.create_task(store.open())
        await asyncio.sleep(0.5)

        assert not opening.done()
        assert await tables(connection) == set()

        await query(connection, f"SELECT RELEASE_LOCK({MIGRATION_LOCK})")
        await asyncio.wait_for(opening, timeout=10)
        version = store.schema_version()
        await store.close()

    assert version == len(packaged_migrations())


async def test_a_failing_migration_leaves_the_version_at_the_last_good_one(
    url: str,
) -> None:
    good = packaged_migrations()
    broken = Migration(
        len(good) + 1,
        "broken",
        "CREATE TABLE IF NOT EXISTS extra (x INT);\nINSERT INTO nowhere VALUES (1);",
    )

    with pytest.raises(StoreError, match="nowhere") as caught:
        await MysqlStore(url, migrations=[*good, broken]).open()

    assert not caught.value.retryable
    async with connected(url) as connection:
        assert await query(connection, f"SELECT MAX(version) FROM {VERSION_TABLE}") == [
            (len(good),)
        ]
    async with MysqlStore(url) as reopened:
        assert reopened.schema_version() == len(good)


def test_a_migration_file_splits_into_its_statements() -> None:
    script = (
        "-- A comment; with a semicolon.\n"
        "CREATE TABLE IF NOT EXISTS a (\n"
        "    x INT -- the column\n"
        ");\n"
        "\n"
        "CREATE TABLE IF NOT EXISTS b (y INT);\n"
    )

    assert split_statements(script) == (
        "CREATE TABLE IF NOT EXISTS a (\n    x INT -- the column\n)",
        "CREATE TABLE IF NOT EXISTS b (y INT)",
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "mysql://db.internal/upcast",
            ConnectionSettings("db.internal", DEFAULT_PORT, "upcast"),
        ),
        (
            "mariadb://upcast:p%40ss%2Fword@10.0.0.5:3307/metrics?pool_max=20",
            ConnectionSettings(
                "10.0.0.5", 3307, "metrics", "upcast", "p@ss/word", 1, 20
            ),
        ),
        (
            "MYSQL://root:a:b@[::1]:3306/upcast?pool_min=0&pool_max=1",
            ConnectionSettings("::1", 3306, "upcast", "root", "a:b", 0, 1),
        ),
        (
            "mysql://user:p@ss@host/db",
            ConnectionSettings("host", DEFAULT_PORT, "db", "user", "p@ss"),
        ),
    ],
)
def test_urls_name_the_server_credentials_and_pool(
    url: str, expected: ConnectionSettings
) -> None:
    assert parse_url(url) == expected


def test_the_pool_defaults_to_one_to_ten_connections() -> None:
    settings = parse_url("mysql://localhost/upcast")

    assert (settings.pool_min, settings.pool_max) == (POOL_MIN, POOL_MAX) == (1, 10)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/upcast?pool_size=3", "unknown parameter 'pool_size'"),
        ("mysql://localhost/upcast?pool_max=5&ssl=1", "unknown parameter 'ssl'"),
        (f"mysql://localhost/upcast?password={PASSWORD}", "parameter 'password'"),
        ("mysql://localhost/upcast?pool_min=some", "pool_min must be a whole number"),
        ("mysql://localhost/upcast?pool_max=0", "pool_max must be at least 1"),
        ("mysql://localhost/upcast?pool_min=5&pool_max=2", "must not be above"),
        ("mysql://localhost/upcast?pool_max=2&pool_max=3", "given twice"),
        ("mysql://localhost", "must name a database"),
        ("mysql://localhost:70000/upcast", "the port must be a number"),
        (f"mysql://root:{PASSWORD}@localhost:{PASSWORD}/upcast", "the port"),
        (f"mysql://root:{PASSWORD[:4]}/{PASSWORD[4:]}@localhost/db", "percent-encode"),
        (f"mysql://root:{PASSWORD[:4]}#{PASSWORD[4:]}@localhost/db", "percent-encode"),
        ("mysql:///upcast", "must name a host"),
        ("mysql://localhost/up/cast", "must not contain '/'"),
    ],
)
def test_bad_urls_are_refused_by_name_without_their_secrets(
    url: str, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        open_store(url)

    assert PASSWORD not in str(caught.value)
    assert PASSWORD[4:] not in str(caught.value)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def told(error: BaseException) -> str:
    """Everything an error and the errors behind it say."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None and len(parts) < 20:
        parts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


async def test_an_unreachable_server_is_retryable_and_never_shows_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    store = open_store(f"mysql://root:{PASSWORD}@127.0.0.1:{unused_port()}/upcast")

    with pytest.raises(StoreError, match="cannot connect") as caught:
        await store.open()

    assert caught.value.retryable
    assert caught.value.__cause__ is not None
    assert PASSWORD not in told(caught.value)
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(store)
    assert isinstance(store, MysqlStore)
    assert PASSWORD not in repr(store.connection_settings)


async def test_a_wrong_password_is_refused_without_showing_it(url: str) -> None:
    settings = parse_url(url)
    wrong = url.replace("root@", f"root:{PASSWORD}@")
    assert parse_url(wrong).password == PASSWORD

    with pytest.raises(StoreError, match="cannot connect") as caught:
        await open_store(wrong).open()

    assert PASSWORD not in told(caught.value)
    assert settings.database in str(caught.value)


async def test_a_missing_database_is_not_worth_retrying(url: str) -> None:
    missing = url.rsplit("/", 1)[0] + "/upcast_missing_database"

    with pytest.raises(StoreError) as caught:
        await open_store(missing).open()

    assert not caught.value.retryable


async def test_closing_lets_a_read_in_progress_finish(url: str) -> None:
    async with open_store(url) as opened:
        await opened.write_results([result("api", float(at)) for at in range(100)])
    store = open_store(url)
    await store.open()

    read = asyncio.create_task(store.results("api", limit=1000))
    await asyncio.sleep(0)
    await store.close()

    assert len(await read) == 100


async def test_a_write_the_server_picks_as_a_deadlock_victim_runs_again(
    store: Store, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="store.mysql")
    heavy = ", ".join(
        f"('heavy', {index}, 1, 1, 'up', NULL, '', 0, 0, 0, '{{}}', '{{}}')"
        for index in range(1000)
    )
    columns = (
        "monitor_id, started_at, ok, latency_ms, state, reason, message, "
        "retryable, attempt, lateness_ms, phases, details"
    )

    async with connected(url) as other:
        # The other transaction holds the second row and has written much
        # more, so when both wait for each other the server rolls back the
        # store's smaller write.
        await other.begin()
        await query(other, f"INSERT INTO results ({columns}) VALUES {heavy}")
        await query(
            other,
            f"INSERT INTO results ({columns}) "
            "VALUES ('api', 2, 1, 1, 'up', NULL, '', 0, 0, 0, '{}', '{}')",
        )
        write = asyncio.create_task(
            store.write_results([result("api", 1.0), result("api", 2.0)])
        )
        await asyncio.sleep(0.5)
        await query(
            other,
            f"INSERT INTO results ({columns}) "
            "VALUES ('api', 1, 1, 1, 'up', NULL, '', 0, 0, 0, '{}', '{}')",
        )
        await other.commit()

        assert await asyncio.wait_for(write, timeout=10) == 0

    assert "deadlock" in caplog.text
    assert [item.started_at for item in await store.results("api")] == [2.0, 1.0]


async def test_cancelling_close_still_finishes_the_writes_and_closes(
    url: str,
) -> None:
    store = MysqlStore(url)
    await store.open()
    batch = [result("api", float(at)) for at in range(10)]
    write = asyncio.create_task(store.write_results(batch))
    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0)

    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    await store.close()

    assert await write == 10
    with pytest.raises(StoreClosedError):
        store.schema_version()


def made(
    monitor_id: str, start: float, count: int, ok: int, latency_ms: float
) -> Rollup:
    """A rollup of ``count`` checks, ``ok`` of them passing in ``latency_ms``."""
    histogram = [0] * BUCKETS
    histogram[bucket_of(latency_ms)] = ok
    latency = latency_ms if ok else None
    return Rollup(
        monitor_id, start, count, ok, latency, latency, latency_ms * ok, histogram
    )


@pytest.mark.parametrize("resolution", ["minute", "hour"])
async def test_put_rollups_replace_rows_by_monitor_and_start_and_summaries_read_them(
    mysql_store: MysqlStore, resolution: str
) -> None:
    span = RESOLUTIONS[resolution]
    first = [
        made("api", 0.0, 10, 10, 100.0),
        made("api", span, 10, 5, 200.0),
        made("web", 0.0, 1, 0, 0.0),
    ]
    replacing = [made("api", span, 20, 20, 50.0), made("web", 0.0, 4, 4, 3.0)]

    await mysql_store.put_rollups(resolution, first)
    await mysql_store.put_rollups(resolution, [made("web", 0.0, 9, 9, 9.0)])
    await mysql_store.put_rollups(resolution, replacing)
    await mysql_store.put_rollups(resolution, replacing)

    stored = await mysql_store.rollups(
        "api", resolution=resolution, since=0.0, until=10.0 * span
    )
    summaries = await mysql_store.rollup_summaries(
        since=0.0, until=10.0 * span, resolution=resolution
    )
    other = "hour" if resolution == "minute" else "minute"
    assert stored == [first[0], replacing[0]]
    api, web = summaries
    assert (api.monitor_id, api.count, api.ok) == ("api", 30, 30)
    assert (api.latency_min, api.latency_max) == (50.0, 100.0)
    assert api.latency_mean == pytest.approx(2000.0 / 30)
    assert (web.monitor_id, web.count, web.uptime, web.p50) == ("web", 4, 1.0, 3.5)
    assert (
        await mysql_store.rollup_summaries(
            since=0.0, until=10.0 * span, resolution=other
        )
        == []
    )


async def test_of_two_put_rollups_with_one_monitor_and_start_the_later_wins(
    mysql_store: MysqlStore,
) -> None:
    later = made("api", 0.0, 2, 1, 7.0)

    await mysql_store.put_rollups("hour", [made("api", 0.0, 5, 5, 1.0), later])

    assert await mysql_store.rollups("api", since=0.0, until=1.0) == [later]


@pytest.mark.parametrize(
    ("rollup", "message"),
    [
        (Rollup("x" * (MAX_ID_BYTES + 1), 0.0), "rollups[1].monitor_id: must be at"),
        (Rollup("api", math.nan), "rollups[1].start: must be a finite number"),
        (
            Rollup("api", 0.0, count=1.5),  # type: ignore[arg-type]
            "rollups[1].count: must be a whole number",
        ),
        (Rollup("api", 0.0, ok=2**31), "rollups[1].ok: must be a whole number"),
        (
            Rollup("api", 0.0, latency_min=math.inf),
            "rollups[1].latency_min: must be a finite number",
        ),
        (
            Rollup("api", 0.0, latency_sum="1"),  # type: ignore[arg-type]
            "rollups[1].latency_sum: must be a number",
        ),
        (
            Rollup("api", 0.0, histogram=[0] * (BUCKETS - 1)),
            f"rollups[1].histogram: must be a list of {BUCKETS} counts",
        ),
        (
            Rollup("api", 0.0, histogram=[0] * (BUCKETS - 1) + [-(2**40)]),
            f"rollups[1].histogram[{BUCKETS - 1}]: must be a whole number",
        ),
    ],
)
async def test_rollups_the_columns_cannot_hold_are_refused_before_writing(
    mysql_store: MysqlStore, rollup: Rollup, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        await mysql_store.put_rollups("hour", [made("api", 0.0, 1, 1, 1.0), rollup])

    assert await mysql_store.rollups("api", since=0.0, until=1.0) == []


@pytest.mark.parametrize(
    ("resolution", "rollups", "message"),
    [
        ("day", [], "resolution: must be one of minute, hour"),
        ("hour", (made("api", 0.0, 1, 1, 1.0),), "rollups: must be a list"),
        ("hour", [result("api")], "rollups[0]: must be a Rollup"),
    ],
)
async def test_put_rollups_takes_a_resolution_and_a_list_of_rollups(
    mysql_store: MysqlStore, resolution: str, rollups: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        await mysql_store.put_rollups(resolution, rollups)


def rolled_up(results: list[CheckResult], monitor_id: str, span: int) -> list[Rollup]:
    """What the rollups of one monitor should be, oldest first."""
    mine = [r for r in results if r.monitor_id == monitor_id]
    return sorted(aggregate(mine, span), key=lambda rollup: rollup.start)


async def all_rollups(store: Store, monitor_id: str, resolution: str) -> list[Rollup]:
    return await store.rollups(
        monitor_id,
        resolution=resolution,
        since=-sys.float_info.max,
        until=sys.float_info.max,
        limit=10_000,
    )


@pytest.mark.parametrize(
    "leftovers",
    [
        # As a database from before rollups: no tables, version 1.
        ["DROP TABLE rollup_minute, rollup_hour"],
        # As an open cut short inside the step: tables made, rows wrong.
        [
            "UPDATE rollup_minute SET count = count + 7, h03 = 0",
            "DELETE FROM rollup_hour",
        ],
    ],
    ids=["before the step", "cut short"],
)
async def test_the_rollup_migration_rolls_up_the_results_stored_before_it(
    url: str, leftovers: list[str]
) -> None:
    # On and just above every bound of the histogram; halves, so that sums
    # come out the same in any order.
    latencies = [0.0, *LATENCY_BOUNDS_MS, *(b + 0.5 for b in LATENCY_BOUNDS_MS)]
    rolled = [
        *(
            result("api", 30.0 * step, latency_ms=latencies[step % len(latencies)])
            for step in range(300)
        ),
        *(failed("api", 30.0 * step + 1) for step in range(0, 300, 11)),
        result("web", 7200.5, latency_ms=0.5),
        result("web", -ROLLUP_TIME_LIMIT / 2),
    ]
    beyond = [result("far", ROLLUP_TIME_LIMIT), result("far", sys.float_info.max)]
    async with open_store(url) as first:
        await first.write_results(rolled + beyond)
    async with connected(url) as connection:
        for statement in leftovers:
            await query(connection, statement)
        await query(connection, f"DELETE FROM {VERSION_TABLE} WHERE version >= 2")

    async with open_store(url) as reopened:
        found = {
            (monitor_id, resolution): await all_rollups(
                reopened, monitor_id, resolution
            )
            for monitor_id in ("api", "web", "far")
            for resolution in RESOLUTIONS
        }
        assert reopened.schema_version() == len(packaged_migrations())
        assert len(await reopened.results("far")) == len(beyond)

    assert found == {
        (monitor_id, resolution): rolled_up(rolled, monitor_id, span)
        for monitor_id in ("api", "web", "far")
        for resolution, span in RESOLUTIONS.items()
    }


async def test_overlapping_batches_written_at_once_count_each_result_once(
    store: Store,
) -> None:
    generator = random.Random(7)
    every = [
        result(
            f"m{index % 3}",
            20.0 * index + generator.random(),
            ok=index % 5 != 0,
            latency_ms=float(generator.randrange(1, 3000)),
        )
        for index in range(600)
    ]
    batches = [generator.sample(every, 150) for _ in range(12)] + [every]

    await asyncio.gather(*(store.write_results(batch) for batch in batches))

    for monitor_id in ("m0", "m1", "m2"):
        for resolution, span in RESOLUTIONS.items():
            assert await all_rollups(store, monitor_id, resolution) == rolled_up(
                every, monitor_id, span
            )


async def test_a_batch_partly_stored_before_is_counted_again_exactly_at_any_time(
    store: Store,
) -> None:
    generator = random.Random(5)
    times = [any_double(generator) for _ in range(300)]
    edges = [60.0 * 9973 * step for step in range(1, 40)]
    times += [
        math.nextafter(edge, direction) for edge in edges for direction in (0, 1e9)
    ]
    every = [
        result("api", at, latency_ms=float(generator.randrange(0, 70_000)))
        for at in times
        if abs(at) < ROLLUP_TIME_LIMIT
    ]

    await store.write_results(every[::2])
    await store.write_results(every)

    for resolution, span in RESOLUTIONS.items():
        assert await all_rollups(store, "api", resolution) == rolled_up(
            every, "api", span
        )
