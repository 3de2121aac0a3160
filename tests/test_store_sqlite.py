"""The SQLite store, against real database files in a temporary directory.

Each test opens its own file under ``tmp_path``; where a test needs to see or
change the file behind the store's back, it uses a plain ``sqlite3``
connection, as another process would.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from store import (
    SchemaTooNewError,
    SqliteStore,
    Store,
    StoreError,
    open_store,
)
from store.base import Migration
from store.sqlite import packaged_migrations
from tests.store_samples import definition, result


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "data" / "upcast.db"


@pytest.fixture
async def store(database: Path) -> AsyncIterator[Store]:
    async with open_store(f"sqlite://{database}") as opened:
        yield opened


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    return version


async def test_open_applies_every_migration_and_records_the_version(
    database: Path,
) -> None:
    steps: list[tuple[int, int, str]] = []
    known = len(packaged_migrations())

    async with SqliteStore(database, progress=lambda *step: steps.append(step)) as s:
        assert s.schema_version() == known

    assert user_version(database) == known
    assert steps == [(m.version, known, m.description) for m in packaged_migrations()]
    assert [m.description for m in packaged_migrations()][:3] == [
        "initial",
        "results in arrival order",
        "rollups",
    ]


async def test_results_stored_by_the_first_schema_are_kept_and_rolled_up(
    database: Path,
) -> None:
    async with SqliteStore(database, migrations=packaged_migrations()[:1]):
        pass
    with sqlite3.connect(database) as first_schema:
        first_schema.executemany(
            "INSERT INTO results VALUES "
            "(?, ?, 1, ?, 'up', NULL, '', 0, 0, 0, '{}', '{}')",
            [("api", 10.0, 12.5), ("api", 20.0, 12.5)],
        )

    async with SqliteStore(database) as upgraded:
        assert upgraded.schema_version() == len(packaged_migrations())
        assert [r.started_at for r in await upgraded.results("api")] == [20.0, 10.0]
        assert await upgraded.latest_results(["api"]) == {"api": result("api", 20.0)}
        assert await upgraded.write_results([result("api", 20.0)]) == 0
        summaries = await upgraded.rollup_summaries(since=0.0, until=3600.0)
    assert [(s.monitor_id, s.count, s.ok) for s in summaries] == [("api", 2, 2)]


async def test_an_up_to_date_database_opens_without_migrating(database: Path) -> None:
    async with SqliteStore(database):
        pass
    steps: list[tuple[int, int, str]] = []

    async with SqliteStore(database, progress=lambda *step: steps.append(step)):
        pass

    assert steps == []


async def test_a_database_from_a_newer_version_is_refused_and_left_untouched(
    database: Path,
) -> None:
    database.parent.mkdir()
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA user_version = 99")

    with pytest.raises(SchemaTooNewError) as caught:
        await SqliteStore(database).open()

    known = len(packaged_migrations())
    assert caught.value.found == 99
    assert caught.value.known == known
    assert not caught.value.retryable
    assert "schema version 99" in str(caught.value)
    assert f"up to {known}" in str(caught.value)
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 99


async def test_a_failing_migration_leaves_the_database_at_the_last_good_version(
    database: Path,
) -> None:
    good = packaged_migrations()
    broken = Migration(
        len(good) + 1,
        "broken",
        "CREATE TABLE extra (x);\nINSERT INTO nowhere VALUES (1);",
    )

    with pytest.raises(StoreError, match="no such table: nowhere"):
        await SqliteStore(database, migrations=[*good, broken]).open()

    assert user_version(database) == len(good)
    with sqlite3.connect(database) as connection:
        tables = {
            row[0] for row in connection.execute("SELECT name FROM sqlite_schema")
        }
    assert "monitors" in tables
    assert "extra" not in tables


@pytest.fixture
def not_a_database(database: Path) -> Path:
    database.parent.mkdir()
    database.write_bytes(b"these are not the pages you are looking for" * 100)
    return database


async def test_a_file_that_is_not_a_database_is_refused(not_a_database: Path) -> None:
    with pytest.raises(StoreError, match="cannot open") as caught:
        await SqliteStore(not_a_database).open()

    assert not caught.value.retryable


async def test_the_database_runs_in_wal_mode(store: Store, database: Path) -> None:
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_closing_folds_the_wal_back_into_the_database_file(
    database: Path,
) -> None:
    async with SqliteStore(database) as opened:
        await opened.write_results([result()])
        assert database.with_name("upcast.db-wal").exists()

    assert not database.with_name("upcast.db-wal").exists()


async def test_reads_go_ahead_while_a_write_waits_for_the_lock(
    store: Store, database: Path
) -> None:
    await store.put_monitors([definition("api")])
    other_process = sqlite3.connect(database, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")
    try:
        blocked = asyncio.create_task(store.put_monitors([definition("web")]))
        await asyncio.sleep(0.1)

        assert await store.get_monitor("api") == definition("api")
        assert not blocked.done()
    finally:
        other_process.execute("COMMIT")
        other_process.close()

    await blocked
    assert await store.get_monitor("web") == definition("web")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite://{tmp}/data/upcast.db", "{tmp}/data/upcast.db"),
        ("SQLite://{tmp}/upcast.db", "{tmp}/upcast.db"),
        ("sqlite:{tmp}/upcast.db", "{tmp}/upcast.db"),
        ("sqlite:relative/upcast.db", "{cwd}/relative/upcast.db"),
        ("sqlite:upcast.db", "{cwd}/upcast.db"),
        ("sqlite://{tmp}/with%20space.db", "{tmp}/with space.db"),
    ],
)
def test_open_store_finds_the_sqlite_file_a_url_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    opened = open_store(url.format(tmp=tmp_path))

    assert isinstance(opened, SqliteStore)
    assert opened.path == Path(expected.format(tmp=tmp_path, cwd=work))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "oracle://upcast:s3cret@db/upcast",
            "url: unknown store scheme 'oracle'; supported: sqlite, postgresql, mysql",
        ),
        ("upcast.db", "url: must start with a scheme, one of: sqlite"),
        ("sqlite://db-host/upcast.db", "url: a sqlite URL names no host"),
        ("sqlite::memory:", "url: an in-memory SQLite database"),
        ("sqlite:", "url: a sqlite URL must name a database file"),
        ("sqlite:///var/lib/upcast/", "url: a sqlite URL must name a database file"),
        ("sqlite:///upcast.db?mode=ro", "url: a sqlite URL takes no query"),
    ],
)
def test_open_store_refuses_urls_it_cannot_use(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        open_store(url)

    assert "s3cret" not in str(caught.value)
