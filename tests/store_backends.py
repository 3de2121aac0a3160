"""A fresh, empty store on each backend the storage tests run against.

SQLite gets a file in the test's temporary folder. PostgreSQL gets a schema
of its own in the local server's ``test`` database, MySQL a database of its
own on the local MariaDB, each dropped afterwards, so tests never see each
other's rows.

``UPCAST_STORE_BACKENDS`` (comma-separated) narrows the backends, for
working on one of them; the suite runs on all three by default.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiomysql
import asyncpg

POSTGRESQL = "postgresql://127.0.0.1:5432/test"
MYSQL_HOST = "127.0.0.1"
MYSQL_PORT = 3306

ALL_BACKENDS = ("sqlite", "postgresql", "mysql")
BACKENDS = [
    name
    for name in os.environ.get("UPCAST_STORE_BACKENDS", ",".join(ALL_BACKENDS)).split(
        ","
    )
    if name
]
"""The backends every storage contract test runs on."""

IsolatedUrl = Callable[[Path], contextlib.AbstractAsyncContextManager[str]]


@contextlib.asynccontextmanager
async def sqlite_url(tmp_path: Path) -> AsyncIterator[str]:
    yield f"sqlite://{tmp_path / 'data' / 'upcast.db'}"


@contextlib.asynccontextmanager
async def postgresql_url(tmp_path: Path) -> AsyncIterator[str]:
    schema = f"upcast_test_{secrets.token_hex(6)}"
    connection = await asyncpg.connect(POSTGRESQL)
    try:
        await connection.execute(f"CREATE SCHEMA {schema}")
        yield f"{POSTGRESQL}?schema={schema}"
    finally:
        await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await connection.close()


@contextlib.asynccontextmanager
async def mysql_url(tmp_path: Path) -> AsyncIterator[str]:
    database = f"upcast_test_{secrets.token_hex(6)}"
    connection = await aiomysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", autocommit=True
    )
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(f"CREATE DATABASE {database}")
        yield f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{database}"
    finally:
        async with connection.cursor() as cursor:
            await cursor.execute(f"DROP DATABASE IF EXISTS {database}")
        connection.close()


ISOLATED_URLS: dict[str, IsolatedUrl] = {
    "sqlite": sqlite_url,
    "postgresql": postgresql_url,
    "mysql": mysql_url,
}
"""For each backend, how to make the URL of an empty store and remove it after."""
