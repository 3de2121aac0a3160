"""The MySQL and MariaDB backend: a pool of connections to one database.

Each call borrows a connection from a pool, so calls from many tasks run
side by side, up to ``pool_max`` at a time. Writes go as a few large
statements built here: a batch of results is one multi-row ``INSERT
IGNORE`` that the server parses once, where the driver's ``executemany``
would escape every value through Python one by one.

The URL is ``mysql://[user[:password]@]host[:port]/database`` (``mariadb://``
too), with optional ``?pool_min=N&pool_max=N``:

- ``port`` defaults to 3306; without a user the driver uses the login name;
- ``pool_min`` (default 1) connections stay open while the store is idle;
- ``pool_max`` (default 10) connections at most, calls beyond wait a turn.

Characters special in URLs are percent-encoded in the user, password and
database (``%40`` for ``@``, ``%2F`` for ``/``). No error or log line repeats
the password or the URL.

Every operation, once started, runs to its end as a task of its own: a
cancelled caller stops waiting, not the write, and ``close`` waits for what
is running before it lets the connections go.

The tag filter reads tags with ``JSON_TABLE``, so the server must be MySQL
8.0 or MariaDB 10.6 or later.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote

import aiomysql
import pymysql.err
from pymysql.converters import escape_string

from engine.events import Event, StateChange
from engine.result import CheckResult, MonitorState, Reason
from store.base import (
    LatestState,
    Migration,
    MigrationProgress,
    MonitorRow,
    SchemaTooNewError,
    Store,
    StoreClosedError,
    StoreError,
    check_cursor,
    check_event,
    check_filters,
    check_limit,
    check_list,
    check_monitor_row,
    check_optional_time,
    check_result,
    check_state_change,
    check_text,
    load_migrations,
    monitor_row,
    retention_cutoffs,
    to_json,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_PORT = 3306

POOL_MIN = 1
"""Connections kept open while the store is idle (``pool_min``).

One is enough for the first call after a quiet spell not to wait for a
connection handshake; the pool opens more as calls overlap.
"""

POOL_MAX = 10
"""Connections open at most (``pool_max``); further calls wait for one.

Ten lets a busy platform write results, state changes and events while
pages of the web interface read, and still leaves most of a server's
connections (151 by default) to everyone else.
"""

CONNECT_TIMEOUT_SECONDS = 10
"""How long a new connection may take before the server counts as unreachable."""

POOL_RECYCLE_SECONDS = 3600
"""Idle connections older than this are replaced before they are used.

The server drops a connection idle for ``wait_timeout`` (8 hours by
default), and proxies in between often sooner; an hour stays under both.
"""

MIGRATION_LOCK_SECONDS = 120
"""How long ``open`` waits for another process to finish migrating."""

MAX_STATEMENT_BYTES = 4 * 1024 * 1024
"""The longest statement a write sends; longer batches are split.

The server refuses statements over ``max_allowed_packet`` (16 MiB on
MariaDB, 64 MiB on MySQL 8 by default), and the statement limit is kept
below that too. Beyond a few MiB a longer statement saves nothing more:
the server's work per row is the same.
"""

MAX_ID_BYTES = 255
"""The longest id the schema holds, in bytes of UTF-8 (VARBINARY(255))."""

MAX_IDS_PER_QUERY = 5_000
"""Monitor ids asked about in one query of ``latest_results``.

The server turns an ``IN`` list into index ranges in a memory budget of its
own; a list far longer could make it give up the index and scan the table.
"""

OFF_LOOP_ROWS = 1_000
"""Rows encoded or decoded on the event loop; larger batches use a thread.

Encoding a result takes about ten microseconds, so a batch of this size
holds the loop for about ten milliseconds at most.
"""

RETENTION_BATCH = 5_000
"""Rows deleted per statement by retention, so other writes get in between."""

DEADLOCK_ATTEMPTS = 3
"""How many times a write runs when the server picks it as a deadlock's victim.

InnoDB rolls the victim back whole, and every write here is idempotent, so
running it again is safe and almost always succeeds.
"""

VERSION_TABLE = "schema_migrations"
"""The table that records each migration applied, one row per version."""

MIGRATION_LOCK = "CONCAT('upcast-migrate-', SHA1(DATABASE()))"
"""The name of the ``GET_LOCK`` lock held while migrating, as SQL.

Lock names are shared by the whole server, so the name is made from the
database's; hashed, it stays under the 64 characters a name may have.
"""

SESSION_SQL_MODE = "STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION"
"""The SQL mode of every connection, whatever the server's default.

Strict mode refuses a value that does not fit instead of cutting it short,
and the mode leaves out ``NO_BACKSLASH_ESCAPES``, which the escaping of the
statements built here relies on.
"""

# Server errors after which the same call can succeed later: too many
# connections, shutdown in progress, lock wait timeout, deadlock, read-only
# (a replica being promoted) and connection killed. The driver's own errors,
# 2000 to 2999, are all about reaching the server.
_RETRYABLE_CODES = frozenset({1040, 1053, 1205, 1213, 1290, 1836, 1927})
_CLIENT_CODES = range(2000, 3000)
_DEADLOCK = 1213
_NO_SUCH_TABLE = 1146

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

_PARAMETERS = ("pool_min", "pool_max")
_MIGRATION_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Where the store connects, read from its URL; the password is never shown."""

    host: str
    port: int
    database: str
    user: str | None = None
    password: str = field(default="", repr=False)
    pool_min: int = POOL_MIN
    pool_max: int = POOL_MAX

    @property
    def where(self) -> str:
        """The database for messages and logs: no user, no password."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"MySQL database {self.database!r} at {host}:{self.port}"


def parse_url(url: str) -> ConnectionSettings:
    """The settings of a ``mysql://`` or ``mariadb://`` URL, or ValueError.

    Messages name the part that is wrong but repeat no part that could hold
    a password: an unencoded ``/``, ``?`` or ``#`` in the password moves
    its tail into the path or query, so an ``@`` found there is refused
    before anything else is looked at.
    """
    if not isinstance(url, str):
        raise ValueError(f"url: must be text, got {type(url).__name__}")
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() not in ("mysql", "mariadb"):
        raise ValueError("url: must start with mysql:// or mariadb://")

    end = min((rest.find(mark) for mark in "/?#" if mark in rest), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in tail:
        raise ValueError(
            "url: '@' after the host; percent-encode special characters in the "
            "user and password (%40 for @, %2F for /, %3F for ?, %23 for #)"
        )
    if "#" in tail:
        raise ValueError("url: a MySQL URL takes no fragment")
    path, _, query = tail.partition("?")

    userinfo, at, hostport = authority.rpartition("@")
    user: str | None = None
    password = ""
    if at:
        name, _, secret = userinfo.partition(":")
        user = unquote(name) or None
        password = unquote(secret)
    host, port = _host_and_port(hostport)

    database = unquote(path.removeprefix("/"))
    if not database:
        raise ValueError("url: must name a database after the host")
    if "/" in database:
        raise ValueError("url: the database name must not contain '/'")

    pool = _pool_settings(query)
    return ConnectionSettings(host, port, database, user, password, **pool)


def _host_and_port(hostport: str) -> tuple[str, int]:
    if hostport.startswith("["):
        host, bracket, after = hostport[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ValueError("url: an IPv6 host must be written as [address]")
        port_text = after[1:]
    else:
        host, _, port_text = hostport.partition(":")
    host = unquote(host)
    if not host:
        raise ValueError("url: must name a host")
    if not port_text:
        return host, DEFAULT_PORT
    if not (port_text.isascii() and port_text.isdigit()) or not (
        1 <= int(port_text) <= 65535
    ):
        raise ValueError("url: the port must be a number from 1 to 65535")
    return host, int(port_text)


def _pool_settings(query: str) -> dict[str, int]:
    settings: dict[str, int] = {}
    for pair in query.split("&") if query else ():
        name, _, value = pair.partition("=")
        name = unquote(name)
        if name not in _PARAMETERS:
            raise ValueError(
                f"url: unknown parameter {name!r}; known: {', '.join(_PARAMETERS)}"
            )
        if name in settings:
            raise ValueError(f"url: parameter {name!r} is given twice")
        if not (value.isascii() and value.isdigit()):
            raise ValueError(f"url: {name} must be a whole number, got {value!r}")
        settings[name] = int(value)

    smallest = settings.get("pool_min", POOL_MIN)
    largest = settings.get("pool_max", POOL_MAX)
    if largest < 1:
        raise ValueError(f"url: pool_max must be at least 1, got {largest}")
    if smallest > largest:
        raise ValueError(
            f"url: pool_min ({smallest}) must not be above pool_max ({largest})"
        )
    return {"pool_min": smallest, "pool_max": largest}


def packaged_migrations() -> list[Migration]:
    """The MySQL migrations shipped in ``store/migrations/mysql``.

    MySQL commits each schema statement on its own, so a step cannot be
    undone as a whole: the store runs its statements one by one and records
    the version right after the last, and a step cut short runs again from
    its first statement at the next open, so each must be safe to run twice.
    """
    return load_migrations("mysql")


def split_statements(script: str) -> tuple[str, ...]:
    """The statements of a migration file, without comment lines."""
    statements: list[str] = []
    lines: list[str] = []
    for line in script.splitlines():
        text = line.strip()
        if not text or text.startswith("--"):
            continue
        lines.append(line)
        if text.endswith(";"):
            statements.append("\n".join(lines).rstrip().removesuffix(";"))
            lines = []
    if lines:
        statements.append("\n".join(lines))
    return tuple(statements)


class MysqlStore(Store):
    """The store in one MySQL or MariaDB database, named by a URL.

    ``progress`` hears about each migration as ``open`` applies it.
    ``migrations`` replaces the packaged schema steps.
    """

    def __init__(
        self,
        url: str,
        *,
        progress: MigrationProgress | None = None,
        migrations: Sequence[Migration] | None = None,
    ) -> None:
        self.settings = parse_url(url)
        self._where = self.settings.where
        self._progress = progress
        self._migrations = (
            packaged_migrations() if migrations is None else list(migrations)
        )
        # aiomysql has no type hints: the pool is an aiomysql.Pool.
        self._pool: Any = None
        self._opening = False
        self._closed = False
        self._version: int | None = None
        self._statement_bytes = MAX_STATEMENT_BYTES
        self._packet_bytes = MAX_STATEMENT_BYTES
        self._running: set[asyncio.Future[Any]] = set()
        self._shutdown: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"MysqlStore({self._where})"

    async def open(self) -> None:
        """Connect, bring the schema up to date, then accept calls.

        1. Create the pool; its first connection shows that the server can be
           reached with these credentials.
        2. On one connection, migrate (see ``_migrate``) and read the
           server's packet limit, which bounds the statements sent.
        3. Accept calls, unless ``close`` ran meanwhile: then let the pool go.
        """
        if self._closed:
            raise StoreClosedError("the store was closed; make a new one to reopen")
        if self._pool is not None or self._opening:
            raise StoreError("the store is open already")

        self._opening = True
        try:
            pool = await self._connect()
            try:
                async with pool.acquire() as connection:
                    version = await self._migrate(connection)
                    packet = int(
                        await _scalar(connection, "SELECT @@max_allowed_packet")
                    )
            except pymysql.err.Error as exc:
                await _terminate(pool)
                raise _store_error(exc, f"cannot open {self._where}") from exc
            except BaseException:
                await _terminate(pool)
                raise
        finally:
            self._opening = False

        if self._closed:
            await _terminate(pool)
            raise StoreClosedError("the store was closed while it opened")
        # Room for the packet's header.
        self._packet_bytes = packet - 1024
        self._statement_bytes = min(MAX_STATEMENT_BYTES, self._packet_bytes)
        self._pool, self._version = pool, version
        logger.info("opened %s at schema version %d", self._where, version)

    async def close(self) -> None:
        """Let the operations in progress finish, then close every connection.

        The shutdown is a task of its own: cancelling this wait does not stop
        it, and a second ``close`` waits for the same one.
        """
        self._closed = True
        if self._shutdown is None:
            self._shutdown = asyncio.ensure_future(self._shut_down())
        await asyncio.shield(self._shutdown)

    def schema_version(self) -> int:
        if self._version is None or self._pool is None:
            raise StoreClosedError("the store is not open")
        return self._version

    async def put_monitors(self, definitions: list[dict[str, Any]]) -> None:
        check_list("definitions", definitions)
        if definitions:
            encode = functools.partial(_definition_row, _double(time.time()))
            await self._write(
                _UPSERT_MONITORS, "definitions", definitions, Mapping, encode, _UPDATE
            )

    async def put_monitor_rows(self, rows: list[MonitorRow]) -> None:
        check_list("rows", rows)
        checked = [check_monitor_row(f"rows[{i}]", row) for i, row in enumerate(rows)]
        if checked:
            encode = functools.partial(_monitor_row, _double(time.time()))
            await self._write(
                _UPSERT_MONITORS, "rows", checked, MonitorRow, encode, _UPDATE
            )

    async def delete_monitor(self, monitor_id: str) -> bool:
        check_text("monitor_id", monitor_id)
        deleted = await self._change(
            "DELETE FROM monitors WHERE id = %s", (monitor_id,)
        )
        return deleted > 0

    async def get_monitor(self, monitor_id: str) -> dict[str, Any] | None:
        check_text("monitor_id", monitor_id)
        rows = await self._select(
            "SELECT definition FROM monitors WHERE id = %s", (monitor_id,)
        )
        return _definition(rows[0][0]) if rows else None

    async def list_monitors(
        self,
        *,
        kind: str | None = None,
        tag: str | None = None,
        enabled: bool | None = None,
    ) -> list[dict[str, Any]]:
        kind, tag, enabled = check_filters(kind, tag, enabled)
        conditions: list[str] = []
        parameters: list[object] = []
        if kind is not None:
            conditions.append("kind = %s")
            parameters.append(kind)
        if tag is not None:
            conditions.append(_HAS_TAG)
            parameters.append(tag)
        if enabled is not None:
            conditions.append("enabled = %s")
            parameters.append(enabled)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = await self._select(
            f"SELECT definition FROM monitors {where} ORDER BY id", parameters
        )
        return await _decoded(rows, lambda row: _definition(row[0]))

    async def catalogue(
        self, *, after: str | None = None, limit: int = 10_000
    ) -> list[tuple[str, str]]:
        after = check_cursor(after, "a monitor id")
        rows = await self._select(
            "SELECT id, definition FROM monitors WHERE id > %s ORDER BY id LIMIT %s",
            ("" if after is None else after, check_limit(limit)),
        )
        return [(monitor_id.decode(), text) for monitor_id, text in rows]

    async def write_results(self, results: list[CheckResult]) -> int:
        check_list("results", results)
        if not results:
            return 0
        return await self._write(
            _INSERT_RESULTS, "results", results, CheckResult, _result_row
        )

    async def results(
        self,
        monitor_id: str,
        *,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
    ) -> list[CheckResult]:
        check_text("monitor_id", monitor_id)
        start = check_optional_time("since", since)
        end = check_optional_time("until", until)
        sql = f"SELECT {_RESULT_COLUMNS} FROM results WHERE monitor_id = %s"
        parameters: list[object] = [monitor_id]
        if start is not None:
            sql += " AND started_at >= %s"
            parameters.append(start)
        if end is not None:
            sql += " AND started_at < %s"
            parameters.append(end)
        sql += " ORDER BY started_at DESC LIMIT %s"
        parameters.append(check_limit(limit))
        return await _decoded(await self._select(sql, parameters), _result)

    async def latest_results(self, monitor_ids: list[str]) -> dict[str, CheckResult]:
        check_list("monitor_ids", monitor_ids, str)
        rows = await self._newest(_RESULT_COLUMNS, monitor_ids)
        return {result.monitor_id: result for result in await _decoded(rows, _result)}

    async def latest_states(self, monitor_ids: list[str]) -> dict[str, LatestState]:
        check_list("monitor_ids", monitor_ids, str)
        rows = await self._newest(_STATE_COLUMNS, monitor_ids)
        return {
            row[0].decode(): LatestState(
                row[1], row[2], bool(row[3]), row[4], row[5], row[6], row[7]
            )
            for row in rows
        }

    async def write_state_changes(self, changes: list[StateChange]) -> None:
        check_list("changes", changes)
        if changes:
            await self._write(
                _INSERT_STATE_CHANGES,
                "changes",
                changes,
                StateChange,
                _state_change_row,
            )

    async def state_changes(
        self,
        monitor_id: str | None = None,
        *,
        since: float | None = None,
        limit: int = 100,
    ) -> list[StateChange]:
        conditions: list[str] = []
        parameters: list[object] = []
        if monitor_id is not None:
            conditions.append("monitor_id = %s")
            parameters.append(check_text("monitor_id", monitor_id))
        start = check_optional_time("since", since)
        if start is not None:
            conditions.append("at >= %s")
            parameters.append(start)
        parameters.append(check_limit(limit))
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = await self._select(
            f"SELECT {_STATE_CHANGE_COLUMNS} FROM state_changes {where} "
            "ORDER BY at DESC, seq DESC LIMIT %s",
            parameters,
        )
        return await _decoded(rows, _state_change)

    async def write_events(self, events: list[Event]) -> None:
        check_list("events", events)
        if events:
            await self._write(_INSERT_EVENTS, "events", events, Event, _event_row)

    async def events(
        self,
        *,
        after: str | None = None,
        monitor_id: str | None = None,
        limit: int = 100,
    ) -> list[Event]:
        after = check_cursor(after, "an event id")
        conditions: list[str] = []
        parameters: list[object] = []
        if after is not None:
            conditions.append("id > %s")
            parameters.append(after)
        if monitor_id is not None:
            conditions.append("monitor_id = %s")
            parameters.append(check_text("monitor_id", monitor_id))
        parameters.append(check_limit(limit))
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = await self._select(
            f"SELECT {_EVENT_COLUMNS} FROM events {where} ORDER BY id LIMIT %s",
            parameters,
        )
        return await _decoded(rows, _event)

    async def enforce_retention(self, days: float, *, now: float | None = None) -> int:
        """Delete rows older than ``days`` before ``now`` (default: the clock).

        Each table loses its old rows one ``DELETE ... LIMIT`` at a time, each
        committed on its own, until one deletes fewer than a full batch.
        """
        cutoff, _ = retention_cutoffs(days, now)

        deleted = 0
        for table, column in _RETAINED:
            statement = (
                f"DELETE FROM {table} WHERE {column} < %s LIMIT {RETENTION_BATCH}"
            )
            batch = RETENTION_BATCH
            while batch == RETENTION_BATCH:
                batch = await self._change(statement, (cutoff,))
                deleted += batch

        if deleted:
            logger.info(
                "retention deleted %d rows older than %g days from %s",
                deleted,
                days,
                self._where,
            )
        return deleted

    async def _connect(self) -> Any:
        settings = self.settings
        try:
            return await aiomysql.create_pool(
                minsize=settings.pool_min,
                maxsize=settings.pool_max,
                pool_recycle=POOL_RECYCLE_SECONDS,
                host=settings.host,
                port=settings.port,
                user=settings.user,
                password=settings.password,
                db=settings.database,
                charset="utf8mb4",
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                init_command=f"SET SESSION sql_mode = '{SESSION_SQL_MODE}'",
                cursorclass=_Cursor,
            )
        except (pymysql.err.Error, OSError) as exc:
            raise _store_error(exc, f"cannot connect to {self._where}") from exc

    async def _migrate(self, connection: Any) -> int:
        """Bring the schema up to date; the version it is at afterwards.

        1. Read the recorded version, and refuse a newer one than these
           migrations know before anything in the database changes.
        2. When a step is pending, take the migration lock: MySQL cannot undo
           schema statements, so two processes must never interleave them.
           Under the lock read the version again, since the process that
           held it may have done the work.
        3. Apply each pending step and record its version right after its
           last statement.
        4. Release the lock (the server also does when the connection drops).
        """
        known = self._migrations[-1].version if self._migrations else 0
        found = await self._recorded_version(connection, known)
        if found == known:
            return found

        acquired = await _scalar(
            connection,
            f"SELECT GET_LOCK({MIGRATION_LOCK}, %s)",
            (MIGRATION_LOCK_SECONDS,),
        )
        if acquired != 1:
            raise StoreError(
                f"{self._where}: another process held the migration lock for "
                f"{MIGRATION_LOCK_SECONDS} s; try again when it has finished",
                retryable=True,
            )
        try:
            found = await self._recorded_version(connection, known)
            pending = [step for step in self._migrations if step.version > found]
            if pending:
                await _execute(connection, _CREATE_VERSION_TABLE)
            for number, step in enumerate(pending, start=1):
                if self._progress is not None:
                    self._progress(number, len(pending), step.description)
                logger.info(
                    "migrating %s to schema version %d (%s)",
                    self._where,
                    step.version,
                    step.description,
                )
                for statement in split_statements(step.sql):
                    await _execute(connection, statement)
                await _execute(
                    connection,
                    f"INSERT INTO {VERSION_TABLE} (version, description, applied_at) "
                    "VALUES (%s, %s, %s)",
                    (step.version, step.description, time.time()),
                )
        finally:
            with contextlib.suppress(pymysql.err.Error):
                await _scalar(connection, f"SELECT RELEASE_LOCK({MIGRATION_LOCK})")
        return known

    async def _recorded_version(self, connection: Any, known: int) -> int:
        try:
            found = await _scalar(
                connection, f"SELECT MAX(version) FROM {VERSION_TABLE}"
            )
        except pymysql.err.ProgrammingError as exc:
            if exc.args[0] != _NO_SUCH_TABLE:
                raise
            found = None
        version = 0 if found is None else int(found)
        if version > known:
            raise SchemaTooNewError(self._where, version, known)
        return version

    async def _shut_down(self) -> None:
        pool, self._pool = self._pool, None
        if self._running:
            await asyncio.wait(set(self._running))
        if pool is not None:
            pool.close()
            await pool.wait_closed()
            logger.info("closed %s", self._where)

    async def _run(self, operation: Callable[[Any], Awaitable[T]]) -> T:
        """Run an operation on the pool to its end, even if the caller is cancelled.

        The operation is a task of its own that ``close`` waits for; the
        caller waits for it behind a shield, so a cancelled caller never
        leaves a write half sent or a connection in the middle of a reply.
        """
        pool = self._pool
        if pool is None or self._closed:
            raise StoreClosedError("the store is not open")
        task = asyncio.ensure_future(self._translated(operation(pool)))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return await asyncio.shield(task)

    async def _translated(self, work: Awaitable[T]) -> T:
        try:
            return await work
        except pymysql.err.Error as exc:
            raise _store_error(exc, self._where) from exc

    async def _write(
        self,
        head: str,
        name: str,
        items: list[Any],
        kind: type,
        row: Callable[[Any, str], str],
        tail: str = "",
    ) -> int:
        """Check and encode items as rows, then send them; how many rows changed.

        Every row is encoded, and so checked, before the first statement is
        sent, so a bad one writes nothing. The rows go in as few statements
        as ``_statement_bytes`` allows, in one transaction.
        """
        encode = functools.partial(_rows_of, name, items, kind, row)
        target, most = self._statement_bytes, self._packet_bytes

        async def operation(pool: Any) -> int:
            rows = await _off_loop(encode, len(items))
            statements = _batched(head, rows, tail, target=target, most=most, name=name)
            async with pool.acquire() as connection:
                changed = await _transaction(connection, statements)
            logger.debug(
                "sent %d rows in %d statements to %s, %d changed",
                len(rows),
                len(statements),
                self._where,
                changed,
            )
            return changed

        return await self._run(operation)

    async def _change(self, sql: str, parameters: Sequence[object]) -> int:
        """Run one statement that changes rows; how many it changed."""

        async def operation(pool: Any) -> int:
            async with pool.acquire() as connection:
                return await _execute(connection, sql, parameters)

        return await self._run(operation)

    async def _select(
        self, sql: str, parameters: Sequence[object] = ()
    ) -> list[tuple[Any, ...]]:
        async def operation(pool: Any) -> list[tuple[Any, ...]]:
            async with pool.acquire() as connection, connection.cursor() as cursor:
                await cursor.execute(sql, tuple(parameters) or None)
                rows: list[tuple[Any, ...]] = list(await cursor.fetchall())
                return rows

        return await self._run(operation)

    async def _newest(
        self, columns: str, monitor_ids: list[str]
    ) -> list[tuple[Any, ...]]:
        """Each listed monitor's newest result row, for as many ids as asked.

        The ids go into one query as an ``IN`` list (one query a
        MAX_IDS_PER_QUERY ids): the server finds each one's newest time at
        the end of its range of the (monitor, time) key, then joins that row.
        """
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(monitor_ids), MAX_IDS_PER_QUERY):
            wanted = ", ".join(
                _text(monitor_id, "monitor_ids", start + offset)
                for offset, monitor_id in enumerate(
                    monitor_ids[start : start + MAX_IDS_PER_QUERY]
                )
            )
            rows += await self._select(_NEWEST.format(columns=columns, ids=wanted))
        return rows


class _Cursor(aiomysql.Cursor):  # type: ignore[misc]
    """A cursor that leaves the server's warnings unread.

    ``INSERT IGNORE`` reports every duplicate it skips as a warning. The
    driver's cursor would fetch them with one more round trip and issue each
    as a Python warning; where warnings are made errors, a write that has
    already committed would then raise.
    """

    async def _show_warnings(self, connection: Any) -> None:
        return


async def _terminate(pool: Any) -> None:
    """Close a pool at once, connections in use too."""
    pool.terminate()
    await pool.wait_closed()


async def _execute(
    connection: Any, sql: str, parameters: Sequence[object] | None = None
) -> int:
    async with connection.cursor() as cursor:
        changed: int = await cursor.execute(sql, parameters)
        return changed


async def _scalar(
    connection: Any, sql: str, parameters: Sequence[object] | None = None
) -> Any:
    async with connection.cursor() as cursor:
        await cursor.execute(sql, parameters)
        row = await cursor.fetchone()
        return None if row is None else row[0]


async def _transaction(connection: Any, statements: list[str]) -> int:
    """Run statements as one transaction; how many rows they changed.

    1. One statement runs alone: the connection commits it by itself.
    2. Several run between BEGIN and COMMIT, and are rolled back together
       when one fails.
    3. When the server ends the transaction as a deadlock's victim, run it
       again, up to DEADLOCK_ATTEMPTS times.
    """
    attempt = 1
    while True:
        try:
            if len(statements) == 1:
                return await _execute(connection, statements[0])
            await connection.begin()
            try:
                changed = 0
                for statement in statements:
                    changed += await _execute(connection, statement)
                await connection.commit()
            except BaseException:
                with contextlib.suppress(pymysql.err.Error):
                    await connection.rollback()
                raise
            return changed
        except pymysql.err.OperationalError as exc:
            if exc.args[0] != _DEADLOCK or attempt >= DEADLOCK_ATTEMPTS:
                raise
            logger.warning("deadlock on attempt %d; running the write again", attempt)
            attempt += 1


def _store_error(exc: BaseException, doing: str) -> StoreError:
    """A driver error as a StoreError that says whether retrying can help."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    if code is not None and len(exc.args) > 1:
        detail = f"{exc.args[1]} (error {code})"
    else:
        detail = str(exc) or type(exc).__name__
    if code is None:
        retryable = not isinstance(exc, pymysql.err.Error)
    else:
        retryable = code in _RETRYABLE_CODES or code in _CLIENT_CODES
    return StoreError(f"{doing}: {detail}", retryable=retryable)


async def _off_loop(work: Callable[[], T], size: int) -> T:
    """Run ``work`` here when ``size`` is small, else on a thread."""
    if size <= OFF_LOOP_ROWS:
        return work()
    return await asyncio.to_thread(work)


async def _decoded(
    rows: list[tuple[Any, ...]], decode: Callable[[tuple[Any, ...]], T]
) -> list[T]:
    return await _off_loop(lambda: [decode(row) for row in rows], len(rows))


def _batched(
    head: str, rows: list[str], tail: str, *, target: int, most: int, name: str
) -> list[str]:
    """The rows as statements of ``target`` bytes at most.

    A row too long to share a statement goes alone. One too long for the
    server's packet limit (``most``) even alone is refused before anything
    is sent: the server would drop the connection over it.
    """
    statements: list[str] = []
    chunk: list[str] = []
    fixed = len(head) + len(tail)
    size = fixed
    for index, row in enumerate(rows):
        length = (len(row) if row.isascii() else len(row.encode())) + 1
        if fixed + length > most:
            raise ValueError(
                f"{name}[{index}]: takes {length} bytes as SQL, more than the "
                f"{most} the server takes in one statement"
            )
        if chunk and size + length > target:
            statements.append(head + ",".join(chunk) + tail)
            chunk, size = [], fixed
        chunk.append(row)
        size += length
    if chunk:
        statements.append(head + ",".join(chunk) + tail)
    return statements


# Literals for the statements built by hand. Every connection runs without
# NO_BACKSLASH_ESCAPES (see SESSION_SQL_MODE), so the driver's backslash
# escaping is the right one, and utf8mb4 has no multi-byte character that
# could hide a quote from it.


def _text(value: object, place: str, what: str | int) -> str:
    """``value`` as a quoted string literal, or ValueError naming its place."""
    if type(value) is not str:
        if not isinstance(value, str):
            raise ValueError(
                f"{_place(place, what)}: must be text, got {type(value).__name__}"
            )
        value = str(value)
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"{_place(place, what)}: cannot be stored as UTF-8: {exc.reason}"
            ) from None
    return _quoted(value)


def _id(value: object, place: str, what: str) -> str:
    """An id as a quoted literal: text of at most MAX_ID_BYTES bytes."""
    literal = _text(value, place, what)
    # UTF-8 takes four bytes a character at most, so a short id fits.
    text = str(value)
    if len(text) > MAX_ID_BYTES // 4 and len(text.encode()) > MAX_ID_BYTES:
        raise ValueError(
            f"{_place(place, what)}: must be at most {MAX_ID_BYTES} bytes of UTF-8"
        )
    return literal


def _place(place: str, what: str | int) -> str:
    return f"{place}[{what}]" if isinstance(what, int) else f"{place}.{what}"


def _double(value: float) -> str:
    """A float as a literal that reads back as the same float.

    ``repr`` is the shortest text that round-trips. With an exponent the
    server reads a literal as a DOUBLE directly; without one it would read
    an exact DECIMAL first, so one is added, as the driver does.
    """
    text = repr(float(value))
    return text if "e" in text else text + "e0"


def _flag(value: object) -> str:
    return "1" if value else "0"


def _whole(value: object, place: str, what: str) -> str:
    """A whole number that fits the INT column, as a literal.

    ``INSERT IGNORE`` would clamp one out of range with a warning, so it is
    refused here instead.
    """
    if isinstance(value, int) and _INT_MIN <= value <= _INT_MAX:
        return str(int(value))
    raise ValueError(
        f"{place}.{what}: must be a whole number from {_INT_MIN} to {_INT_MAX}, "
        f"got {value!r}"
    )


def _json(value: Any, place: str, what: str) -> str:
    if type(value) is dict and not value:
        return "'{}'"
    return _quoted(to_json(f"{place}.{what}", value))


def _quoted(text: str) -> str:
    escaped: str = escape_string(text)
    return "'" + escaped + "'"


# States and reasons are written from these tables of their literals: the
# columns are short, and a value that is not a member could not be read back.
_STATES = {str(state): _quoted(state) for state in MonitorState}
_REASONS = {str(reason): _quoted(reason) for reason in Reason}


def _member(literals: dict[str, str], value: object, place: str, what: str) -> str:
    literal = literals.get(value) if isinstance(value, str) else None
    if literal is None:
        raise ValueError(
            f"{place}.{what}: must be one of {', '.join(literals)}, got {value!r}"
        )
    return literal


def _reason_literal(reason: object, place: str) -> str:
    return "NULL" if reason is None else _member(_REASONS, reason, place, "reason")


_RESULT_COLUMNS = (
    "monitor_id, started_at, ok, latency_ms, state, reason, message, "
    "retryable, attempt, lateness_ms, phases, details"
)

_STATE_COLUMNS = (
    "monitor_id, state, started_at, ok, latency_ms, reason, message, attempt"
)

_STATE_CHANGE_COLUMNS = "monitor_id, at, state_before, state_after, reason, message"

_EVENT_COLUMNS = "id, at, type, monitor_id, data"

_INSERT_RESULTS = f"INSERT IGNORE INTO results ({_RESULT_COLUMNS}) VALUES "

_INSERT_STATE_CHANGES = (
    f"INSERT IGNORE INTO state_changes ({_STATE_CHANGE_COLUMNS}) VALUES "
)

_INSERT_EVENTS = f"INSERT IGNORE INTO events ({_EVENT_COLUMNS}) VALUES "

_UPSERT_MONITORS = (
    "INSERT INTO monitors (id, name, kind, enabled, tags, definition, updated_at) "
    "VALUES "
)

# Rows of one statement are applied in order, so of two with one id the
# later one is what stays.
_UPDATE = (
    " ON DUPLICATE KEY UPDATE name = VALUES(name), kind = VALUES(kind), "
    "enabled = VALUES(enabled), tags = VALUES(tags), "
    "definition = VALUES(definition), updated_at = VALUES(updated_at)"
)

# JSON_TABLE reads the tags as JSON, escapes and all; the bytes are compared,
# so a tag matches only itself.
_HAS_TAG = (
    "EXISTS (SELECT 1 FROM JSON_TABLE(monitors.tags, '$[*]' "
    "COLUMNS (tag LONGTEXT PATH '$')) AS listed "
    "WHERE CAST(listed.tag AS BINARY) = CAST(%s AS BINARY))"
)

_NEWEST = (
    "SELECT {columns} FROM results JOIN ("
    "SELECT monitor_id AS wanted, MAX(started_at) AS newest FROM results "
    "WHERE monitor_id IN ({ids}) GROUP BY monitor_id"
    ") AS latest ON monitor_id = latest.wanted AND started_at = latest.newest"
)

_CREATE_VERSION_TABLE = f"""
    CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
        version INT NOT NULL PRIMARY KEY,
        description VARCHAR(255) NOT NULL,
        applied_at DOUBLE NOT NULL
    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4
"""

_RETAINED = (("results", "started_at"), ("state_changes", "at"), ("events", "at"))


def _rows_of(
    name: str, items: list[Any], kind: type, row: Callable[[Any, str], str]
) -> list[str]:
    """Each item checked and written as the text of one row of an INSERT.

    ``row`` checks an item and encodes it; ``name`` starts the place of a
    problem in its ValueError (``results[3].started_at``).
    """
    check_list(name, items, kind)
    return [row(item, f"{name}[{index}]") for index, item in enumerate(items)]


def _definition_row(stamp: str, definition: Mapping[str, Any], place: str) -> str:
    return _monitor_row(stamp, monitor_row(place, definition), place)


def _monitor_row(stamp: str, row: MonitorRow, place: str) -> str:
    return (
        f"({_id(row.id, place, 'id')},{_text(row.name, place, 'name')},"
        f"{_id(row.kind, place, 'kind')},{_flag(row.enabled)},"
        f"{_text(row.tags, place, 'tags')},"
        f"{_text(row.definition, place, 'definition')},{stamp})"
    )


def _definition(text: str) -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(text)
    return definition


def _result_row(result: CheckResult, place: str) -> str:
    check_result(place, result)
    state = _member(_STATES, result.state, place, "state")
    return (
        f"({_id(result.monitor_id, place, 'monitor_id')},"
        f"{_double(result.started_at)},{_flag(result.ok)},"
        f"{_double(result.latency_ms)},{state},"
        f"{_reason_literal(result.reason, place)},"
        f"{_text(result.message, place, 'message')},{_flag(result.retryable)},"
        f"{_whole(result.attempt, place, 'attempt')},"
        f"{_double(result.lateness_ms)},"
        f"{_json(result.phases, place, 'phases')},"
        f"{_json(result.details, place, 'details')})"
    )


def _state_change_row(change: StateChange, place: str) -> str:
    check_state_change(place, change)
    return (
        f"({_id(change.monitor_id, place, 'monitor_id')},{_double(change.at)},"
        f"{_member(_STATES, change.before, place, 'before')},"
        f"{_member(_STATES, change.after, place, 'after')},"
        f"{_reason_literal(change.reason, place)},"
        f"{_text(change.message, place, 'message')})"
    )


def _event_row(event: Event, place: str) -> str:
    check_event(place, event)
    monitor = event.monitor_id
    return (
        f"({_id(event.id, place, 'id')},{_double(event.at)},"
        f"{_text(event.type, place, 'type')},"
        f"{'NULL' if monitor is None else _id(monitor, place, 'monitor_id')},"
        f"{_json(dict(event.data), place, 'data')})"
    )


# The columns are read in the order of the fields of CheckResult, StateChange
# and Event, so a row becomes one by position.


def _result(row: tuple[Any, ...]) -> CheckResult:
    (
        monitor_id,
        started_at,
        ok,
        latency_ms,
        state,
        reason,
        message,
        retryable,
        attempt,
        lateness_ms,
        phases,
        details,
    ) = row
    return CheckResult(
        monitor_id.decode(),
        started_at,
        bool(ok),
        latency_ms,
        MonitorState(state),
        _reason(reason),
        message,
        bool(retryable),
        attempt,
        lateness_ms,
        json.loads(phases),
        json.loads(details),
    )


def _state_change(row: tuple[Any, ...]) -> StateChange:
    monitor_id, at, before, after, reason, message = row
    return StateChange(
        monitor_id.decode(),
        at,
        MonitorState(before),
        MonitorState(after),
        _reason(reason),
        message,
    )


def _event(row: tuple[Any, ...]) -> Event:
    event_id, at, kind, monitor_id, data = row
    monitor = None if monitor_id is None else monitor_id.decode()
    return Event(event_id.decode(), at, kind, monitor, json.loads(data))


def _reason(value: str | None) -> Reason | None:
    return None if value is None else Reason(value)
