"""``upcast storage status`` and ``migrate``, run in-process on every backend.

Each test gets an empty database of its own (see ``tests.store_backends``)
and looks at it directly with SQL, not through the store, to see what the
commands did to it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import pytest
import uvloop

from sdk.cli import main
from store import open_store
from store.base import load_migrations
from store.mysql import MysqlStore
from store.mysql import parse_url as parse_mysql_url
from store.postgres import parse_url as parse_postgres_url
from store.rollups import HOUR, bucket_start
from tests.store_backends import BACKENDS, ISOLATED_URLS, mysql_url
from tests.store_samples import definition, result

NEWER_VERSION = 99
"""A schema version no release of Upcast has reached."""

TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
    "mysql": "SELECT table_name FROM information_schema.tables "
    "WHERE table_schema = DATABASE()",
}

VERSION = {
    "sqlite": "PRAGMA user_version",
    "postgresql": "SELECT max(version) FROM schema_migrations",
    "mysql": "SELECT MAX(version) FROM schema_migrations",
}

RECORD_NEWER_VERSION = {
    "sqlite": f"PRAGMA user_version = {NEWER_VERSION}",
    "postgresql": "INSERT INTO schema_migrations (version, description) "
    f"VALUES ({NEWER_VERSION}, 'from a newer release')",
    "mysql": "INSERT INTO schema_migrations (version, description, applied_at) "
    f"VALUES ({NEWER_VERSION}, 'from a newer release', 0)",
}


@dataclass(frozen=True)
class Database:
    """An isolated database on one backend, and SQL run on it directly."""

    backend: str
    url: str

    @property
    def sqlite_path(self) -> Path:
        return Path(self.url.removeprefix("sqlite://"))

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """What one statement returns, run outside the store (and committed)."""
        if self.backend == "sqlite":
            path = self.sqlite_path
            with contextlib.closing(sqlite3.connect(path)) as connection, connection:
                return connection.execute(sql).fetchall()
        if self.backend == "postgresql":
            settings = parse_postgres_url(self.url)
            connection = await asyncpg.connect(
                host=settings.host,
                port=settings.port,
                database=settings.database,
                server_settings={"search_path": settings.schema},
            )
            try:
                return [tuple(row) for row in await connection.fetch(sql)]
            finally:
                await connection.close()
        mysql = parse_mysql_url(self.url)
        connection = await aiomysql.connect(
            host=mysql.host,
            port=mysql.port,
            user=mysql.user,
            db=mysql.database,
            autocommit=True,
        )
        try:
            async with connection.cursor() as cursor:
                await cursor.execute(sql)
                return list(await cursor.fetchall())
        finally:
            connection.close()

    def tables(self) -> list[str]:
        """The tables in the database; none for a SQLite file not there."""
        if self.backend == "sqlite" and not self.sqlite_path.exists():
            return []
        return sorted(
            str(row[0]) for row in uvloop.run(self.rows(TABLES[self.backend]))
        )

    def version(self) -> int:
        """The schema version the database records, read directly."""
        return int(uvloop.run(self.rows(VERSION[self.backend]))[0][0])


@pytest.fixture(params=BACKENDS)
async def database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Database]:
    """An empty database on one backend, removed after the test."""
    async with ISOLATED_URLS[request.param](tmp_path) as url:
        yield Database(request.param, url)


def storage(*arguments: str) -> int:
    return main(["storage", *arguments])


def known_steps(backend: str) -> list[tuple[int, str]]:
    return [(step.version, step.description) for step in load_migrations(backend)]


async def put_a_monitor(url: str) -> None:
    async with open_store(url) as store:
        await store.put_monitors([definition("api")])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_status_of_an_empty_database_lists_every_migration_as_pending(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = known_steps(database.backend)

    assert storage("status", "--store", database.url) == 1

    out = capsys.readouterr().out
    assert f"backend:  {database.backend}\n" in out
    assert f"schema:   version 0 found, {steps[-1][0]} known\n" in out
    for version, description in steps:
        assert f"  {version:04d}  {description}\n" in out
    assert f"{len(steps)} migrations are pending: run upcast storage migrate" in out


def test_status_leaves_an_empty_database_untouched(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert storage("status", "--store", database.url) == 1
    assert storage("status", "--store", database.url, "--json") == 1

    assert database.tables() == []
    if database.backend == "sqlite":
        assert not database.sqlite_path.parent.exists()
        assert "(no such file yet; migrating creates it)" in capsys.readouterr().out


def test_migrate_applies_each_pending_migration_with_a_line_of_progress(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = known_steps(database.backend)

    assert storage("migrate", "--store", database.url) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("migrating ")
    assert lines[0].endswith(" from schema version 0")
    assert lines[1:-1] == [
        f"[{number}/{len(steps)}] {description}"
        for number, (_, description) in enumerate(steps, start=1)
    ]
    assert lines[-1].startswith(f"now at schema version {steps[-1][0]} (")
    assert database.version() == steps[-1][0]


def test_status_after_migrating_says_up_to_date(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    known = known_steps(database.backend)[-1][0]
    assert storage("migrate", "--store", database.url) == 0
    capsys.readouterr()

    assert storage("status", "--store", database.url) == 0

    out = capsys.readouterr().out
    assert f"schema:   version {known} found, {known} known\n" in out
    assert "pending:  none\n" in out
    assert out.endswith("up to date\n")


def test_migrating_a_current_database_says_it_is_already_there(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    known = known_steps(database.backend)[-1][0]
    assert storage("migrate", "--store", database.url) == 0
    capsys.readouterr()

    assert storage("migrate", "--store", database.url) == 0

    out = capsys.readouterr().out
    assert out.endswith(f" is already at schema version {known}\n")
    assert "[1/" not in out


def test_a_database_from_a_newer_version_is_reported_and_left_alone(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    uvloop.run(put_a_monitor(database.url))
    uvloop.run(database.rows(RECORD_NEWER_VERSION[database.backend]))
    tables = database.tables()
    known = known_steps(database.backend)[-1][0]
    capsys.readouterr()

    assert storage("status", "--store", database.url) == 1
    reported = capsys.readouterr().out
    assert storage("migrate", "--store", database.url) == 2
    refused = capsys.readouterr()

    newer = f"is at schema version {NEWER_VERSION}, newer than the {known}"
    assert f"the database {newer}" in reported
    assert "pending:  none\n" in reported
    assert refused.out == ""
    assert refused.err.startswith("upcast storage migrate: error: ")
    assert newer in refused.err
    assert refused.err.rstrip().endswith("nothing was changed")
    assert database.version() == NEWER_VERSION
    assert database.tables() == tables
    assert uvloop.run(database.rows("SELECT count(*) FROM monitors")) == [(1,)]


def test_status_as_json_gives_the_state_and_each_step(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = known_steps(database.backend)
    assert storage("status", "--store", database.url, "--json") == 1
    before = json.loads(capsys.readouterr().out)
    assert storage("migrate", "--store", database.url) == 0
    capsys.readouterr()

    assert storage("status", "--store", database.url, "--json") == 0
    after = json.loads(capsys.readouterr().out)

    assert before["backend"] == database.backend
    assert before["state"] == "pending"
    assert before["empty"] is True
    assert (before["found"], before["known"]) == (0, steps[-1][0])
    assert [(s["version"], s["description"]) for s in before["pending"]] == steps
    assert before["applied"] == []
    assert after["state"] == "current"
    assert (after["found"], after["exists"], after["empty"]) == (
        steps[-1][0],
        True,
        False,
    )
    assert after["pending"] == []
    assert [(s["version"], s["description"]) for s in after["applied"]] == steps
    recorded = [step["applied_at"] for step in after["applied"]]
    if database.backend == "sqlite":
        assert recorded == [None] * len(steps)
    else:
        assert all(isinstance(moment, float) and moment > 0 for moment in recorded)


def test_storage_commands_find_the_store_in_the_data_directory_as_serve_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    assert storage("status") == 1
    default = capsys.readouterr().out
    assert storage("migrate", "--data-dir", "elsewhere") == 0
    capsys.readouterr()
    assert storage("status", "--data-dir", "elsewhere") == 0
    chosen = capsys.readouterr().out

    assert f"location: {tmp_path / 'upcast-data' / 'upcast.db'} (no such" in default
    assert not (tmp_path / "upcast-data").exists()
    assert f"location: {tmp_path / 'elsewhere' / 'upcast.db'}\n" in chosen
    assert (tmp_path / "elsewhere" / "upcast.db").is_file()


@pytest.mark.parametrize("command", ["status", "migrate"])
@pytest.mark.parametrize(
    ("url", "where"),
    [
        (
            "postgresql://upcast:hunter2@127.0.0.1:{port}/test",
            'PostgreSQL database "test" on 127.0.0.1:{port}',
        ),
        (
            "mysql://upcast:hunter2@127.0.0.1:{port}/upcast",
            "MySQL database 'upcast' at 127.0.0.1:{port}",
        ),
    ],
)
def test_an_unreachable_database_is_an_error_that_keeps_the_password_out(
    command: str, url: str, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()

    assert storage(command, "--store", url.format(port=port)) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    prefix = f"upcast storage {command}: error: cannot connect to "
    assert captured.err.startswith(prefix + where.format(port=port))
    assert "hunter2" not in captured.err


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://127.0.0.1/0", "url: unknown store scheme 'redis'"),
        ("sqlite:", "url: a sqlite URL must name a database file"),
        ("postgresql://127.0.0.1/test?scheme=x", "url: unknown query parameter"),
    ],
)
def test_a_store_url_that_cannot_be_read_is_an_error(
    url: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert storage("status", "--store", url) == 2

    assert capsys.readouterr().err.startswith(
        f"upcast storage status: error: {problem}"
    )


@pytest.fixture
async def analytics_url(tmp_path: Path) -> AsyncIterator[str]:
    async with mysql_url(tmp_path) as url:
        yield url


async def fill_primary(url: str) -> None:
    async with open_store(url) as store:
        await store.put_monitors([definition("api"), definition("web")])
        now = time.time()
        await store.write_results(
            [result("api", now - 7200), result("web", now - 3600), result("api", now)]
        )


async def drop_a_copied_rollup(url: str) -> None:
    analytics = open_store(url)
    assert isinstance(analytics, MysqlStore)
    async with analytics:
        hour = bucket_start(time.time() - 3600, HOUR)
        assert await analytics.delete_rollups("hour", [("web", hour)]) == 1


def test_sync_copies_the_store_to_analytics_and_verify_finds_it_whole(
    tmp_path: Path, analytics_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    uvloop.run(fill_primary(f"sqlite://{tmp_path / 'data' / 'upcast.db'}"))

    assert storage("sync", "--data-dir", data, "--analytics", analytics_url) == 0
    synced = capsys.readouterr().out
    assert storage("verify", "--data-dir", data, "--analytics", analytics_url) == 0
    verified = capsys.readouterr().out

    assert synced.startswith("copied 2 monitors, 3 rollups, 0 events (")
    assert verified == (
        "100% consistent: 3 rollups and events over 3 hours, 0 differences\n"
    )


def test_verify_names_a_missing_row_and_repair_puts_it_back(
    tmp_path: Path, analytics_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    uvloop.run(fill_primary(f"sqlite://{tmp_path / 'data' / 'upcast.db'}"))
    assert storage("sync", "--data-dir", data, "--analytics", analytics_url) == 0
    uvloop.run(drop_a_copied_rollup(analytics_url))
    capsys.readouterr()
    where = ("--data-dir", data, "--analytics", analytics_url)

    assert storage("verify", *where) == 1
    found = capsys.readouterr().out
    assert storage("verify", *where, "--repair") == 0
    repaired = capsys.readouterr().out

    assert found.startswith("66.67% consistent: 3 rollups and events over 3 hours")
    assert "rollup of web missing from the copy" in found
    assert repaired.endswith(
        "repaired 1 row; comparing again\n"
        "100% consistent: 3 rollups and events over 3 hours, 0 differences\n"
    )


def test_verify_without_an_analytics_store_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("UPCAST_ANALYTICS", raising=False)

    assert storage("verify", "--data-dir", str(tmp_path)) == 2

    assert "--analytics: the analytics store's URL is needed" in capsys.readouterr().err
