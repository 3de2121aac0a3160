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

Rollups per minute and per hour (see ``store.rollups``) are kept up to date
by ``write_results`` in the transaction that stores the results, and
``put_rollups`` stores rollups made elsewhere as they are, for a database
that holds copies from another store for analytics.

The tag filter reads tags with ``JSON_TABLE``, so the server must be MySQL
8.0 or MariaDB 10.6 or later.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
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
from store.accounts import (
    ACTIVITY_COLUMNS,
    API_KEY_COLUMNS,
    SESSION_COLUMNS,
    USER_COLUMNS,
    Activity,
    ApiKey,
    Session,
    User,
    activity_filters,
    activity_from_row,
    activity_row,
    api_key_from_row,
    api_key_row,
    check_id,
    check_revocation,
    check_rotation,
    check_secret,
    latest_sightings,
    latest_uses,
    name_taken,
    session_from_row,
    session_row,
    user_from_row,
    user_row,
)
from store.alerting import (
    INCIDENT_STATUSES,
    RESOLVED,
    TIMELINE_COLUMNS,
    IncidentRow,
    TimelineEntry,
    body_from_text,
    timeline_from_row,
)
from store.base import (
    AppliedMigration,
    EventTotal,
    HourTotal,
    LatestState,
    Migration,
    MigrationProgress,
    MonitorRow,
    SchemaStatus,
    SchemaTooNewError,
    Store,
    StoreClosedError,
    StoreError,
    attempt_filters,
    attempt_row,
    behind_error,
    check_claim,
    check_cursor,
    check_entry_id,
    check_event,
    check_feed,
    check_filters,
    check_incident_query,
    check_key_text,
    check_limit,
    check_list,
    check_monitor_row,
    check_optional_time,
    check_outbox_filters,
    check_outgoing,
    check_result,
    check_setting_key,
    check_setting_kind,
    check_span,
    check_state_change,
    check_text,
    check_time,
    check_uptime_query,
    incident_rows,
    load_migrations,
    monitor_row,
    retention_cutoffs,
    setting_row,
    timeline_rows,
    to_json,
    unknown_cursor,
    where_clause,
)
from store.outbox import Attempt, OutboxEntry, Outgoing
from store.rollups import (
    BUCKETS,
    HISTOGRAM_COLUMNS,
    LATENCY_BOUNDS_MS,
    RESOLUTIONS,
    Rollup,
    Summary,
    UptimeRow,
    aggregate,
    check_resolution,
    summarise,
    uptime_row,
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
"""Monitor ids, or rollup buckets, asked about in one query.

The server turns an ``IN`` list or a list of ``OR`` conditions into index
ranges in a memory budget of its own; a list far longer could make it give
up the index and scan the table (and, in a write, lock all of it).
"""

OFF_LOOP_ROWS = 1_000
"""Rows encoded or decoded on the event loop; larger batches use a thread.

Encoding a result takes about ten microseconds, so a batch of this size
holds the loop for about ten milliseconds at most.
"""

ROLLUP_TIME_LIMIT = 2.0**1023
"""Results further than this from 1970, either way, are kept but not rolled up.

The start of a bucket next to the largest double does not fit in one, and
the server refuses to compute it; half the largest leaves room for the ends
of any bucket, and no check runs anywhere near either.
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

CLAIM_LOCK = "CONCAT('upcast-outbox-', SHA1(DATABASE()))"
"""The name of the ``GET_LOCK`` lock a claim of outbox entries holds, as SQL."""

CLAIM_LOCK_SECONDS = 10

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
_DUPLICATE_KEY = 1062
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

    def server(self) -> dict[str, Any]:
        """The arguments that reach the server, as aiomysql takes them."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "db": self.database,
            "charset": "utf8mb4",
            "autocommit": True,
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        }

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

    The URL is read by ``parse_url`` into ``connection_settings`` (the
    ``settings`` method reads alerting's). ``progress`` hears about each
    migration as ``open`` applies it.
    ``migrations`` replaces the packaged schema steps.
    """

    backend = "MySQL"

    def __init__(
        self,
        url: str,
        *,
        progress: MigrationProgress | None = None,
        migrations: Sequence[Migration] | None = None,
        reading_only: bool = False,
    ) -> None:
        self.connection_settings = parse_url(url)
        self.reading_only = reading_only
        self._where = self.connection_settings.where
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
                    if self.reading_only:
                        known = len(self._migrations)
                        version = await self._recorded_version(connection, known)
                        if version < known:
                            raise behind_error(self._where, version, known)
                    else:
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
        """Keep results and roll up the new ones, in one transaction.

        ``INSERT IGNORE`` tells only how many rows were new, not which, so:

        1. When every result was new, the batch's own rollups are added to
           the stored ones.
        2. When none was, the rollups stay as they are.
        3. Otherwise the buckets the batch touches are counted again from
           the stored results, which now hold each result once.
        """
        check_list("results", results)
        if not results:
            return 0
        encode = functools.partial(
            _ResultWrite.of, results, self._statement_bytes, self._packet_bytes
        )

        async def operation(pool: Any) -> int:
            write = await _off_loop(encode, len(results))
            async with pool.acquire() as connection:
                written = await _retried(
                    functools.partial(_in_transaction, connection, write.run)
                )
            logger.debug(
                "sent %d results in %d statements to %s, %d new",
                len(results),
                len(write.inserts),
                self._where,
                written,
            )
            return written

        return await self._run(operation)

    async def results(
        self,
        monitor_id: str,
        *,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
    ) -> list[CheckResult]:
        where, parameters = _where(
            ("monitor_id = {}", check_text("monitor_id", monitor_id)),
            ("started_at >= {}", check_optional_time("since", since)),
            ("started_at < {}", check_optional_time("until", until)),
        )
        sql = f"SELECT {_RESULT_COLUMNS} FROM results {where} "
        sql += "ORDER BY started_at DESC LIMIT %s"
        rows = await self._select(sql, [*parameters, check_limit(limit)])
        return await _decoded(rows, _result)

    async def rollups(
        self,
        monitor_id: str,
        *,
        resolution: str = "hour",
        since: float,
        until: float,
        limit: int = 1000,
    ) -> list[Rollup]:
        check_resolution(resolution)
        parameters = (
            check_text("monitor_id", monitor_id),
            check_time("since", since),
            check_time("until", until),
            check_limit(limit),
        )
        rows = await self._select(
            f"SELECT {_ROLLUP_COLUMNS} FROM {_ROLLUP_TABLES[resolution]} "
            "WHERE monitor_id = %s AND start >= %s AND start < %s "
            "ORDER BY start LIMIT %s",
            parameters,
        )
        return await _decoded(rows, _rollup)

    async def rollup_summaries(
        self,
        *,
        since: float,
        until: float,
        resolution: str = "hour",
        monitor_ids: list[str] | None = None,
    ) -> list[Summary]:
        """How each monitor did over ``[since, until)``, summed by the server.

        A list of monitors is asked about MAX_IDS_PER_QUERY ids at a time,
        each id once, and the answers are put back in order of id.
        """
        check_resolution(resolution)
        if monitor_ids is not None:
            check_list("monitor_ids", monitor_ids, str)
        # Written as literals, not parameters: the driver would read a % in
        # an id as a placeholder.
        sql = _SUMMARIES.format(
            table=_ROLLUP_TABLES[resolution],
            since=_double(check_time("since", since)),
            until=_double(check_time("until", until)),
        )
        if monitor_ids is None:
            return await _decoded(await self._select(sql + _BY_MONITOR), _summary)

        rows: list[tuple[Any, ...]] = []
        for wanted in _id_lists(monitor_ids, "monitor_ids"):
            rows += await self._select(
                f"{sql} AND monitor_id IN ({wanted}){_BY_MONITOR}"
            )
        summaries = await _decoded(rows, _summary)
        summaries.sort(key=lambda summary: summary.monitor_id)
        return summaries

    async def uptime_report(
        self,
        *,
        period: str,
        since: float,
        until: float,
        by: str = "monitor",
        monitor_ids: list[str] | None = None,
        tags: list[str] | None = None,
    ) -> list[UptimeRow]:
        """Uptime per bucket and monitor or tag, summed by the server.

        A list of monitors is asked about MAX_IDS_PER_QUERY ids at a time,
        as in ``rollup_summaries``. Each answer is already a row per bucket
        and key; when there are several, rows with the same bucket and key
        (a tag shared across them) are added up here.
        """
        query = check_uptime_query(period, by, since, until, monitor_ids, tags)
        if query.matches_nothing:
            return []
        # Literals, not parameters, as in rollup_summaries.
        conditions = [
            f"start >= {_double(query.since)}",
            f"start < {_double(query.until)}",
        ]
        only = ""
        if query.tags is not None:
            wanted_tags = _tag_list(query.tags)
            conditions.append(_HAS_ANY_TAG.format(tags=wanted_tags))
            only = f" WHERE CAST(listed.tag AS BINARY) IN ({wanted_tags})"
        tail = (
            _UPTIME_BY_MONITOR
            if query.by == "monitor"
            else _UPTIME_BY_TAG.format(only=only)
        )
        id_lists: list[str | None] = (
            [None]
            if query.monitor_ids is None
            else list(_id_lists(query.monitor_ids, "monitor_ids"))
        )

        rows: list[UptimeRow] = []
        for wanted in id_lists:
            where = (
                conditions
                if wanted is None
                else [*conditions, f"monitor_id IN ({wanted})"]
            )
            sql = _UPTIME_DAYS.format(where=" AND ".join(where))
            sql += _UPTIME_BUCKETS[query.period] + tail
            rows += await _decoded(await self._select(sql), _uptime_row)
        return rows if len(id_lists) == 1 else _added_up(rows)

    async def put_rollups(self, resolution: str, rollups: list[Rollup]) -> None:
        """Store rollups as given, replacing any with the same monitor and start.

        For rollups copied in from another store: they are absolute values,
        not additions, so copying a row again leaves it as it was. The rows
        go as few multi-row statements as ``_statement_bytes`` allows, in one
        transaction; of two with one monitor and start, the later wins.
        """
        check_resolution(resolution)
        check_list("rollups", rollups)
        if rollups:
            await self._write(
                _INSERT_ROLLUPS[resolution],
                "rollups",
                rollups,
                Rollup,
                _rollup_row,
                _REPLACE_ROLLUP,
            )

    async def hourly_totals(self, *, since: float, until: float) -> list[HourTotal]:
        rows = await self._select(_HOURLY_TOTALS, check_span(since, until))
        return [
            HourTotal(start, rollups, int(checks), int(ok), latency)
            for start, rollups, checks, ok, latency in rows
        ]

    async def event_totals(self, *, since: float, until: float) -> list[EventTotal]:
        rows = await self._select(_EVENT_TOTALS, check_span(since, until))
        return [EventTotal(start, events) for start, events in rows]

    async def hour_rollups(
        self, start: float, *, after: str | None = None, limit: int = 1000
    ) -> list[Rollup]:
        parameters = (
            check_time("start", start),
            check_cursor(after, "a monitor id") or "",
            check_limit(limit),
        )
        rows = await self._select(_HOUR_ROLLUPS, parameters)
        return await _decoded(rows, _rollup)

    async def events_between(
        self,
        *,
        since: float,
        until: float,
        after: str | None = None,
        limit: int = 1000,
    ) -> list[Event]:
        parameters = (
            *check_span(since, until),
            check_cursor(after, "an event id") or "",
            check_limit(limit),
        )
        rows = await self._select(_EVENTS_BETWEEN, parameters)
        return await _decoded(rows, _event)

    async def copy_position(self, source: str, feed: str) -> int:
        """How far a copy has read ``feed`` of ``source``: 0 before its first read."""
        rows = await self._select(
            "SELECT position FROM copy_positions WHERE source = %s AND feed = %s",
            (check_text("source", source), check_text("feed", feed)),
        )
        return int(rows[0][0]) if rows else 0

    async def set_copy_position(self, source: str, feed: str, position: int) -> None:
        """Record how far a copy has read ``feed`` of ``source``."""
        check_feed(position, 1)
        await self._change(
            "INSERT INTO copy_positions (source, feed, position, updated_at) "
            "VALUES (%s, %s, %s, %s) ON DUPLICATE KEY UPDATE "
            "position = VALUES(position), updated_at = VALUES(updated_at)",
            (
                check_text("source", source),
                check_text("feed", feed),
                position,
                time.time(),
            ),
        )

    async def delete_rollups(
        self, resolution: str, keys: list[tuple[str, float]]
    ) -> int:
        """Remove the rollups of these (monitor, start) keys; how many went.

        For a copy that holds rows its source no longer has.
        """
        check_resolution(resolution)
        table = _ROLLUP_TABLES[resolution]
        check_list("keys", keys, tuple)
        deleted = 0
        for start in range(0, len(keys), _DELETE_BATCH):
            chunk = keys[start : start + _DELETE_BATCH]
            marks = ", ".join("(%s, %s)" for _ in chunk)
            parameters = [part for key in chunk for part in (key[0], float(key[1]))]
            deleted += await self._change(
                f"DELETE FROM {table} WHERE (monitor_id, start) IN ({marks})",
                parameters,
            )
        return deleted

    async def delete_events(self, ids: list[str]) -> int:
        """Remove the events of these ids; how many went. As ``delete_rollups``."""
        check_list("ids", ids, str)
        deleted = 0
        for start in range(0, len(ids), _DELETE_BATCH):
            chunk = ids[start : start + _DELETE_BATCH]
            marks = ", ".join("%s" for _ in chunk)
            deleted += await self._change(
                f"DELETE FROM events WHERE id IN ({marks})", chunk
            )
        return deleted

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

    async def enqueue(self, outgoing: list[Outgoing]) -> int:
        parameters: list[object] = []
        for index, item in enumerate(check_outgoing(outgoing)):
            payload = to_json(f"outgoing[{index}].payload", dict(item.payload))
            parameters += [
                item.channel_id,
                item.key,
                payload,
                item.at,
                item.at,
                item.at,
                item.at,
            ]
        if not parameters:
            return 0
        row = "(%s, %s, %s, 'pending', %s, %s, %s, %s, '')"
        rows = ", ".join([row] * len(outgoing))
        return await self._change(_ENQUEUE + rows, parameters)

    async def claim_due(
        self, *, now: float, limit: int = 100, lease: float = 60.0
    ) -> list[OutboxEntry]:
        moment, page, seconds = check_claim(now, limit, lease)

        async def claim(connection: Any) -> list[tuple[Any, ...]]:
            async with connection.cursor() as cursor:
                await cursor.execute(_DUE, (moment, page))
                ids = [row[0] for row in await cursor.fetchall()]
                if not ids:
                    return []
                marks = ", ".join(["%s"] * len(ids))
                await cursor.execute(
                    _CLAIM.format(marks=marks), (moment + seconds, moment, *ids)
                )
                await cursor.execute(
                    f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE id IN ({marks})", ids
                )
                return list(await cursor.fetchall())

        async def operation(pool: Any) -> list[tuple[Any, ...]]:
            async with pool.acquire() as connection:
                acquired = await _scalar(
                    connection,
                    f"SELECT GET_LOCK({CLAIM_LOCK}, %s)",
                    (CLAIM_LOCK_SECONDS,),
                )
                if acquired != 1:
                    raise StoreError(
                        f"{self._where}: the outbox was being claimed for "
                        f"{CLAIM_LOCK_SECONDS} s; try again",
                        retryable=True,
                    )
                try:
                    return await _in_transaction(connection, claim)
                finally:
                    await _scalar(connection, f"SELECT RELEASE_LOCK({CLAIM_LOCK})")

        rows = await self._run(operation)
        entries = (_outbox_entry(row) for row in rows)
        return sorted(entries, key=lambda entry: (entry.created_at, entry.id))

    async def record_attempt(
        self,
        entry: OutboxEntry,
        *,
        at: float,
        ok: bool,
        status: int | None = None,
        detail: str = "",
        response: str = "",
        retry_at: float | None = None,
    ) -> bool:
        settled, logged = attempt_row(entry, at, ok, status, detail, response, retry_at)

        async def settle(connection: Any) -> bool:
            changed = await _execute(
                connection, _SETTLE, (*settled, entry.id, entry.claim)
            )
            if not changed:
                return False
            await _execute(
                connection,
                _LOG_ATTEMPT,
                (entry.id, entry.channel_id, entry.attempts + 1, *logged),
            )
            return True

        async def operation(pool: Any) -> bool:
            async with pool.acquire() as connection:
                return await _in_transaction(connection, settle)

        done: bool = await self._run(operation)
        return done

    async def outbox(
        self,
        *,
        state: str | None = None,
        channel_id: str | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> list[OutboxEntry]:
        state, channel_id, position = check_outbox_filters(state, channel_id, after)
        where, parameters = _where(
            ("id > {}", position),
            ("state = {}", state),
            ("channel_id = {}", channel_id),
        )
        sql = f"SELECT {_OUTBOX_COLUMNS} FROM outbox {where} ORDER BY id LIMIT %s"
        rows = await self._select(sql, [*parameters, check_limit(limit)])
        return [_outbox_entry(row) for row in rows]

    async def delivery_log(
        self,
        *,
        channel_id: str | None = None,
        entry_id: int | None = None,
        limit: int = 100,
    ) -> list[Attempt]:
        where, parameters = _where(*attempt_filters(channel_id, entry_id))
        sql = (
            f"SELECT {_ATTEMPT_COLUMNS} FROM delivery_attempts {where} "
            "ORDER BY at DESC, seq DESC LIMIT %s"
        )
        rows = await self._select(sql, [*parameters, check_limit(limit)])
        return [
            Attempt(r[0], r[1].decode(), r[2], r[3], bool(r[4]), r[5], r[6], r[7])
            for r in rows
        ]

    async def requeue(self, entry_id: int, *, now: float) -> bool:
        moment = check_time("now", now)
        changed = await self._change(
            _REQUEUE, (moment, moment, check_entry_id(entry_id))
        )
        return changed > 0

    async def put_setting(
        self, kind: str, setting_id: str, body: Mapping[str, Any], *, at: float
    ) -> bool:
        row = setting_row(kind, setting_id, body, at)
        # The server counts a new row as one changed, a replaced one as two
        # and one put again unchanged as none.
        return await self._change(_PUT_SETTING, row) == 1

    async def get_setting(self, kind: str, setting_id: str) -> dict[str, Any] | None:
        rows = await self._select(_GET_SETTING, check_setting_key(kind, setting_id))
        return body_from_text(rows[0][0]) if rows else None

    async def settings(self, kind: str) -> list[dict[str, Any]]:
        rows = await self._select(_SETTINGS, (check_setting_kind(kind),))
        return await _decoded(rows, lambda row: body_from_text(row[0]))

    async def delete_setting(self, kind: str, setting_id: str) -> bool:
        key = check_setting_key(kind, setting_id)
        return await self._change(_DELETE_SETTING, key) > 0

    async def put_incidents(self, incidents: list[Mapping[str, Any]]) -> None:
        rows = incident_rows(incidents)
        if rows:
            await self._write(
                _PUT_INCIDENTS,
                "incidents",
                rows,
                IncidentRow,
                _incident_row,
                _UPDATE_INCIDENT,
            )

    async def get_incident(self, incident_id: str) -> dict[str, Any] | None:
        rows = await self._select(
            _GET_INCIDENT, (check_key_text("incident_id", incident_id),)
        )
        return body_from_text(rows[0][0]) if rows else None

    async def incidents(
        self,
        *,
        status: Sequence[str] | None = None,
        monitor_id: str | None = None,
        before: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        query = check_incident_query(status, monitor_id, before, limit)
        if query.matches_nothing:
            return []
        # Statuses are words without commas, so they make a set as text.
        statuses = None if query.statuses is None else ",".join(query.statuses)
        where, parameters = _where(
            ("monitor_id = {}", query.monitor_id),
            ("FIND_IN_SET(status, {})", statuses),
        )

        async def page(connection: Any) -> list[tuple[Any, ...]]:
            clause, values = where, list(parameters)
            if query.before is not None:
                opened = await _scalar(connection, _GET_OPENED_AT, (query.before,))
                if opened is None:
                    raise unknown_cursor(query.before)
                # Spelled out: the server reads a comparison of row values
                # as a range of the index only in this form.
                after = "(opened_at < %s OR (opened_at = %s AND id < %s))"
                clause = f"{clause} AND {after}" if clause else f"WHERE {after}"
                values += [opened, opened, query.before]
            sql = (
                f"SELECT body FROM incidents {clause} "
                "ORDER BY opened_at DESC, id DESC LIMIT %s"
            )
            async with connection.cursor() as cursor:
                await cursor.execute(sql, (*values, query.limit))
                return list(await cursor.fetchall())

        async def operation(pool: Any) -> list[tuple[Any, ...]]:
            async with pool.acquire() as connection:
                return await page(connection)

        rows = await self._run(operation)
        return await _decoded(rows, lambda row: body_from_text(row[0]))

    async def unresolved_incidents(self) -> list[dict[str, Any]]:
        rows = await self._select(_UNRESOLVED)
        return await _decoded(rows, lambda row: body_from_text(row[0]))

    async def add_timeline(self, entries: list[TimelineEntry]) -> int:
        rows = timeline_rows(entries)
        if not rows:
            return 0
        return await self._write(
            _ADD_TIMELINE, "entries", rows, tuple, _timeline_row, _KEEP_TIMELINE
        )

    async def timeline(
        self, incident_id: str, *, limit: int = 1000
    ) -> list[TimelineEntry]:
        rows = await self._select(
            _TIMELINE,
            (check_key_text("incident_id", incident_id), check_limit(limit)),
        )
        return await _decoded(rows, timeline_from_row)

    async def create_user(self, user: User) -> bool:
        return await self._change(_CREATE_USER, user_row(user)) > 0

    async def update_user(self, user: User) -> bool:
        row = user_row(user)

        async def update(connection: Any) -> bool:
            try:
                changed = await _execute(connection, _UPDATE_USER, (*row[1:], row[0]))
            except pymysql.err.IntegrityError as exc:
                # The id is the row's own, so only the name can clash.
                if exc.args[0] != _DUPLICATE_KEY:
                    raise
                raise name_taken(user.name) from exc
            if changed:
                return True
            # The server counts a row given the values it had as unchanged.
            return await _scalar(connection, _USER_EXISTS, (row[0],)) is not None

        return await self._on_connection(update)

    async def get_user(self, user_id: str) -> User | None:
        rows = await self._select(_GET_USER, (check_id("user_id", user_id),))
        return user_from_row(rows[0]) if rows else None

    async def user_named(self, name: str) -> User | None:
        rows = await self._select(_USER_NAMED, (check_id("name", name).lower(),))
        return user_from_row(rows[0]) if rows else None

    async def users(self) -> list[User]:
        return await _decoded(await self._select(_USERS), user_from_row)

    async def delete_user(self, user_id: str) -> bool:
        key = (check_id("user_id", user_id),)

        async def delete(connection: Any) -> int:
            await _execute(connection, "DELETE FROM sessions WHERE user_id = %s", key)
            await _execute(connection, "DELETE FROM api_keys WHERE user_id = %s", key)
            return await _execute(connection, "DELETE FROM users WHERE id = %s", key)

        return await self._transact(delete) > 0

    async def create_session(self, session: Session) -> None:
        await self._change(_CREATE_SESSION, session_row(session))

    async def get_session(self, session_id: str) -> Session | None:
        rows = await self._select(_GET_SESSION, (check_id("session_id", session_id),))
        return session_from_row(rows[0]) if rows else None

    async def rotate_session(
        self,
        session_id: str,
        *,
        generation: int,
        token_hash: str,
        new_token_hash: str,
        now: float,
        expires_at: float,
        user_agent: str,
        address: str,
    ) -> bool:
        rotation = check_rotation(
            session_id,
            generation,
            token_hash,
            new_token_hash,
            now,
            expires_at,
            user_agent,
            address,
        )
        parameters = (
            rotation.new_token_hash,
            rotation.now,
            rotation.expires_at,
            rotation.user_agent,
            rotation.address,
            rotation.session_id,
            rotation.generation,
            rotation.token_hash,
            rotation.now,
        )
        return await self._change(_ROTATE_SESSION, parameters) == 1

    async def revoke_sessions(
        self,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        reason: str,
        now: float,
    ) -> int:
        revocation = check_revocation(session_id, user_id, reason, now)
        sql = _REVOKE_SESSIONS.format(column=revocation.column)
        return await self._change(
            sql, (revocation.now, revocation.reason, revocation.key, revocation.now)
        )

    async def sessions(self, user_id: str, *, now: float) -> list[Session]:
        rows = await self._select(
            _SESSIONS, (check_id("user_id", user_id), check_time("now", now))
        )
        return await _decoded(rows, session_from_row)

    async def touch_sessions(self, seen: list[tuple[str, float, str]]) -> None:
        rows = latest_sightings(seen)
        if rows:
            await self._update_from(_TOUCH_SESSIONS, ("id", "at", "address"), rows)

    async def create_api_key(self, key: ApiKey) -> None:
        await self._change(_CREATE_API_KEY, api_key_row(key))

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        rows = await self._select(_GET_API_KEY, (check_id("key_id", key_id),))
        return api_key_from_row(rows[0]) if rows else None

    async def api_keys(self, user_id: str | None = None) -> list[ApiKey]:
        if user_id is None:
            rows = await self._select(_API_KEYS)
        else:
            rows = await self._select(_USER_API_KEYS, (check_id("user_id", user_id),))
        return await _decoded(rows, api_key_from_row)

    async def revoke_api_key(self, key_id: str, *, now: float) -> bool:
        key, moment = check_id("key_id", key_id), check_time("now", now)

        async def revoke(connection: Any) -> bool:
            if not await _execute(connection, _REVOKE_API_KEY, (moment, key)):
                return False
            expires_at = await _scalar(connection, _KEY_EXPIRES, (key,))
            return expires_at is None or moment < expires_at

        return await self._transact(revoke)

    async def touch_api_keys(self, used: list[tuple[str, float]]) -> None:
        rows = latest_uses(used)
        if rows:
            await self._update_from(_TOUCH_API_KEYS, ("id", "at"), rows)

    async def add_activity(self, entries: list[Activity]) -> None:
        check_list("entries", entries)
        if entries:
            await self._write(
                _ADD_ACTIVITY, "entries", entries, Activity, _activity_row
            )

    async def activity(
        self,
        *,
        before: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
    ) -> list[Activity]:
        where, parameters = _where(*activity_filters(before, actor, action))
        sql = (
            f"SELECT id, {ACTIVITY_COLUMNS} FROM activity {where} "
            "ORDER BY id DESC LIMIT %s"
        )
        rows = await self._select(sql, [*parameters, check_limit(limit)])
        return await _decoded(rows, activity_from_row)

    async def gateway_secret(self, name: str, candidate: str, *, at: float) -> str:
        row = check_secret(name, candidate, at)

        async def keep(connection: Any) -> str:
            # Each statement commits on its own, so the read sees the row of
            # a gateway whose insert this one waited for.
            await _execute(connection, _KEEP_SECRET, row)
            secret: str = await _scalar(connection, _GET_SECRET, (row[0],))
            return secret

        return await self._on_connection(keep)

    async def enforce_retention(self, days: float, *, now: float | None = None) -> int:
        """Delete rows older than ``days`` before ``now`` (default: the clock).

        Minute rollups go at the same cutoff as results, hourly rollups at
        the later of it and ``HOURLY_ROLLUP_DAYS``; rollups are not counted
        in the number returned. Each table loses its old rows one ``DELETE
        ... LIMIT`` at a time, each committed on its own, until one deletes
        fewer than a full batch. Sessions that ended before the cutoff go
        by their expiry, then by their revocation, each along its index.
        """
        cutoffs = retention_cutoffs(days, now)

        deleted = 0
        for table, column in _RETAINED:
            deleted += await self._delete_before(table, column, cutoffs.rows)
        await self._delete_before(_ROLLUP_TABLES["minute"], "start", cutoffs.rows)
        await self._delete_before(_ROLLUP_TABLES["hour"], "start", cutoffs.hourly)
        for statement in (_DELETE_OLD_OUTBOX, _DELETE_OLD_ATTEMPTS):
            while await self._change(statement, (cutoffs.rows,)) == RETENTION_BATCH:
                pass
        while await self._delete_old_incidents(cutoffs.rows) == _DELETE_BATCH:
            pass
        await self._delete_before("sessions", "expires_at", cutoffs.rows)
        await self._delete_before("sessions", "revoked_at", cutoffs.rows)

        if deleted:
            logger.info(
                "retention deleted %d rows older than %g days from %s",
                deleted,
                days,
                self._where,
            )
        return deleted

    async def _delete_old_incidents(self, cutoff: float) -> int:
        """Delete a batch of incidents resolved before ``cutoff``; how many went.

        Their timelines go in the same transaction. The batch is picked and
        locked first, so an incident reopened meanwhile waits for it or is
        left out.
        """

        async def batch(connection: Any) -> int:
            async with connection.cursor() as cursor:
                await cursor.execute(_OLD_RESOLVED, (cutoff,))
                # As text: the driver cannot pass bytes back as a parameter.
                ids = [row[0].decode() for row in await cursor.fetchall()]
                if ids:
                    marks = ", ".join(["%s"] * len(ids))
                    await cursor.execute(
                        f"DELETE FROM incident_timeline WHERE incident_id IN ({marks})",
                        ids,
                    )
                    await cursor.execute(
                        f"DELETE FROM incidents WHERE id IN ({marks})", ids
                    )
            return len(ids)

        async def operation(pool: Any) -> int:
            async with pool.acquire() as connection:
                return await _retried(
                    functools.partial(_in_transaction, connection, batch)
                )

        return await self._run(operation)

    async def _delete_before(self, table: str, column: str, cutoff: float) -> int:
        """Delete a table's rows with ``column`` below ``cutoff``; how many went."""
        statement = f"DELETE FROM {table} WHERE {column} < %s LIMIT {RETENTION_BATCH}"
        deleted = batch = await self._change(statement, (cutoff,))
        while batch == RETENTION_BATCH:
            batch = await self._change(statement, (cutoff,))
            deleted += batch
        return deleted

    async def _connect(self) -> Any:
        settings = self.connection_settings
        try:
            return await aiomysql.create_pool(
                minsize=settings.pool_min,
                maxsize=settings.pool_max,
                pool_recycle=POOL_RECYCLE_SECONDS,
                **settings.server(),
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

    async def _on_connection(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``work`` on one pooled connection, each statement committing alone."""

        async def operation(pool: Any) -> T:
            async with pool.acquire() as connection:
                return await work(connection)

        return await self._run(operation)

    async def _transact(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction, again if it is a deadlock's victim."""

        async def operation(pool: Any) -> T:
            async with pool.acquire() as connection:
                return await _retried(
                    functools.partial(_in_transaction, connection, work)
                )

        return await self._run(operation)

    async def _update_from(
        self, sql: str, columns: tuple[str, ...], rows: Sequence[Sequence[object]]
    ) -> None:
        """Update rows from a table of values, in one transaction.

        ``sql`` joins ``{given}``, a derived table of the rows with these
        column names, MAX_IDS_PER_QUERY rows a statement: neither MySQL nor
        MariaDB takes the other's syntax for a list of values, but both
        take a ``UNION ALL`` of selects.
        """
        first = "SELECT " + ", ".join(f"%s AS {name}" for name in columns)
        other = " UNION ALL SELECT " + ", ".join(["%s"] * len(columns))

        async def update(connection: Any) -> None:
            for start in range(0, len(rows), MAX_IDS_PER_QUERY):
                chunk = rows[start : start + MAX_IDS_PER_QUERY]
                given = first + other * (len(chunk) - 1)
                values = [value for row in chunk for value in row]
                await _execute(connection, sql.format(given=given), values)

        await self._transact(update)

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
        for wanted in _id_lists(monitor_ids, "monitor_ids"):
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


async def _rows(connection: Any, sql: str) -> list[tuple[Any, ...]]:
    async with connection.cursor() as cursor:
        await cursor.execute(sql)
        rows: list[tuple[Any, ...]] = list(await cursor.fetchall())
        return rows


async def _scalar(
    connection: Any, sql: str, parameters: Sequence[object] | None = None
) -> Any:
    async with connection.cursor() as cursor:
        await cursor.execute(sql, parameters)
        row = await cursor.fetchone()
        return None if row is None else row[0]


async def _transaction(connection: Any, statements: list[str]) -> int:
    """Run statements as one transaction; how many rows they changed.

    One statement runs alone: the connection commits it by itself. Several
    run between BEGIN and COMMIT. Either way a deadlock's victim runs again.
    """
    if len(statements) == 1:
        return await _retried(functools.partial(_execute, connection, statements[0]))

    async def every(connection: Any) -> int:
        changed = 0
        for statement in statements:
            changed += await _execute(connection, statement)
        return changed

    return await _retried(functools.partial(_in_transaction, connection, every))


async def _in_transaction(connection: Any, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work`` on the connection between BEGIN and COMMIT.

    When it fails, everything it did is rolled back together.
    """
    await connection.begin()
    try:
        outcome = await work(connection)
        await connection.commit()
    except BaseException:
        with contextlib.suppress(pymysql.err.Error):
            await connection.rollback()
        raise
    return outcome


async def _retried(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run a write, again when the server ends it as a deadlock's victim.

    InnoDB rolls the victim back whole, so the write starts over from its
    first statement, up to DEADLOCK_ATTEMPTS times in all.
    """
    number = 1
    while True:
        try:
            return await attempt()
        except pymysql.err.OperationalError as exc:
            if exc.args[0] != _DEADLOCK or number >= DEADLOCK_ATTEMPTS:
                raise
            logger.warning("deadlock on attempt %d; running the write again", number)
            number += 1


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
    head: str,
    rows: list[str],
    tail: str,
    *,
    target: int,
    most: int,
    name: str,
    separator: str = ",",
    order: Sequence[int] | None = None,
) -> list[str]:
    """The rows as statements of ``target`` bytes at most.

    A row too long to share a statement goes alone. One too long for the
    server's packet limit (``most``) even alone is refused, by its index in
    ``rows``, before anything is sent: the server would drop the connection
    over it. The rows of a statement are joined by ``separator``: a comma
    between the rows of an INSERT, ``OR`` between conditions. ``order``
    gives the indexes of the rows in the order to send them, when that is
    not theirs.
    """
    statements: list[str] = []
    chunk: list[str] = []
    fixed = len(head) + len(tail)
    size = fixed
    for index in range(len(rows)) if order is None else order:
        row = rows[index]
        length = (len(row) if row.isascii() else len(row.encode())) + len(separator)
        if fixed + length > most:
            raise ValueError(
                f"{name}[{index}]: takes {length} bytes as SQL, more than the "
                f"{most} the server takes in one statement"
            )
        if chunk and size + length > target:
            statements.append(head + separator.join(chunk) + tail)
            chunk, size = [], fixed
        chunk.append(row)
        size += length
    if chunk:
        statements.append(head + separator.join(chunk) + tail)
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


def _id_lists(ids: list[str], name: str) -> list[str]:
    """The ids as quoted ``IN`` lists of MAX_IDS_PER_QUERY at most, each id once.

    An id that is not UTF-8 text is refused by its place in ``ids``.
    """
    literals = list(
        dict.fromkeys(_text(value, name, index) for index, value in enumerate(ids))
    )
    return [
        ", ".join(literals[first : first + MAX_IDS_PER_QUERY])
        for first in range(0, len(literals), MAX_IDS_PER_QUERY)
    ]


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

_ROLLUP_TABLES = {resolution: f"rollup_{resolution}" for resolution in RESOLUTIONS}

_ROLLUP_COLUMNS = (
    "monitor_id, start, count, ok, latency_min, latency_max, latency_sum, "
    + ", ".join(HISTOGRAM_COLUMNS)
)

_INSERT_ROLLUPS = {
    resolution: f"INSERT INTO {table} ({_ROLLUP_COLUMNS}) VALUES "
    for resolution, table in _ROLLUP_TABLES.items()
}

# The rollups of new results add to the stored ones. LEAST and GREATEST are
# NULL when either side is, as in a bucket without a passing check yet; then
# the side that has a latency is kept.
_ADD_ROLLUP = " ON DUPLICATE KEY UPDATE " + ", ".join(
    [
        *(
            f"{column} = {column} + VALUES({column})"
            for column in ("count", "ok", "latency_sum", *HISTOGRAM_COLUMNS)
        ),
        "latency_min = COALESCE(LEAST(latency_min, VALUES(latency_min)), "
        "latency_min, VALUES(latency_min))",
        "latency_max = COALESCE(GREATEST(latency_max, VALUES(latency_max)), "
        "latency_max, VALUES(latency_max))",
    ]
)

_REPLACE_ROLLUP = " ON DUPLICATE KEY UPDATE " + ", ".join(
    f"{column} = VALUES({column})" for column in _ROLLUP_COLUMNS.split(", ")[2:]
)

# A passing check's histogram bucket is the number of bounds its latency is
# above (one equal to a bound counts in that bound's bucket); a failing
# check's is -1, no bucket.
_BUCKET = "IF(ok, {}, -1)".format(
    " + ".join(f"(latency_ms > {_double(bound)})" for bound in LATENCY_BOUNDS_MS)
)


def _bucket_start(span: int) -> str:
    """SQL for the start of the bucket of ``span`` seconds a result is in.

    The server computes it to the same double as ``store.rollups.
    bucket_start``. The factor is written as a double: MariaDB gives
    ``FLOOR`` of a double at most 17 digits, which a temporary table, as
    for GROUP BY, keeps, and any start beyond 1e17 would come out as 1e17.
    """
    return f"FLOOR(started_at / {span}) * {span}e0"


def _sums_query(span: int) -> tuple[str, str]:
    """The head and tail of a query that sums stored results into rollups.

    Conditions on monitor and time go in between, joined by ``OR``; the
    rows come back in the columns of a rollup table, one per bucket, whole
    numbers as DECIMAL.
    """
    bucket = _bucket_start(span)
    histogram = ", ".join(f"SUM(bucket = {index})" for index in range(BUCKETS))
    head = (
        f"SELECT monitor_id, {bucket}, COUNT(*), SUM(ok), "
        "MIN(IF(ok, latency_ms, NULL)), MAX(IF(ok, latency_ms, NULL)), "
        f"SUM(IF(ok, latency_ms, 0)), {histogram} "
        f"FROM (SELECT monitor_id, started_at, ok, latency_ms, {_BUCKET} AS bucket "
        "FROM results WHERE "
    )
    return head, f") AS checks GROUP BY monitor_id, {bucket}"


_SUMS = {resolution: _sums_query(span) for resolution, span in RESOLUTIONS.items()}

# Makes the rollup rows it names that are missing and leaves the others as
# they are, holding each row's lock either way.
_HOLD_ROLLUP = " ON DUPLICATE KEY UPDATE count = count"

# The sums of a monitor's rollups, in the columns of one rollup.
_SUMMARIES = (
    "SELECT monitor_id, MIN(start), SUM(count), SUM(ok), MIN(latency_min), "
    "MAX(latency_max), SUM(latency_sum), "
    + ", ".join(f"SUM({column})" for column in HISTOGRAM_COLUMNS)
    + " FROM {table} WHERE start >= {since} AND start < {until}"
)

_BY_MONITOR = " GROUP BY monitor_id ORDER BY monitor_id"

_ROUNDING_STEPS = 4
"""Floats a bucket's recount reaches past each of its ends.

A time within a rounding error of a bucket's end can divide into the
neighbouring bucket; the bucket's times are within two floats of its ends.
"""


@dataclass(frozen=True, slots=True)
class _ResultWrite:
    """A batch of results as statements, with the rollups that go with them.

    Every transaction that writes results takes its locks in one order, so
    that concurrent writes seldom deadlock: first the results, in key
    order, then the rollups, in key order. No write reads results with
    locks, which would take a result's lock after a rollup's.
    """

    size: int
    inserts: list[str]
    """The ``INSERT IGNORE`` statements of the results, rows in key order."""
    keys: dict[str, list[tuple[str, float]]]
    """The buckets the batch touches, by resolution, in key order."""
    additions: list[str]
    """Statements adding the batch's rollups, for when every result is new."""
    target: int
    most: int

    @classmethod
    def of(cls, results: list[CheckResult], target: int, most: int) -> _ResultWrite:
        """Check and encode a batch; a bad result raises before anything is sent."""
        rows = _rows_of("results", results, CheckResult, _result_row)
        inserts = _batched(
            _INSERT_RESULTS,
            rows,
            "",
            target=target,
            most=most,
            name="results",
            order=sorted(range(len(rows)), key=lambda i: _result_key(results[i])),
        )

        rolled = [r for r in results if abs(r.started_at) < ROLLUP_TIME_LIMIT]
        keys: dict[str, list[tuple[str, float]]] = {}
        additions: list[str] = []
        for resolution, span in RESOLUTIONS.items():
            rollups = sorted(aggregate(rolled, span), key=_rollup_key)
            keys[resolution] = [_rollup_key(rollup) for rollup in rollups]
            additions += _rollup_statements(
                resolution, rollups, _ADD_ROLLUP, target, most
            )
        return cls(len(results), inserts, keys, additions, target, most)

    async def run(self, connection: Any) -> int:
        """Send the batch inside a transaction; how many results were new."""
        written = 0
        for statement in self.inserts:
            written += await _execute(connection, statement)

        if written == self.size:
            for statement in self.additions:
                await _execute(connection, statement)
        elif written:
            await self._recount(connection)
        return written

    async def _recount(self, connection: Any) -> None:
        """Count each bucket the batch touches again, from the stored results.

        1. Lock each touched rollup row, making the missing ones: a write
           that changed one before has committed by now, and one that
           changes one later waits for this transaction.
        2. Sum the buckets' results with plain reads. The first plain read
           of a transaction fixes what all its reads see, so they see every
           result committed before step 1 ended, and this batch's own.
        3. Replace each touched rollup by its sum. A bucket whose results
           retention deleted meanwhile is left counting none.
        """
        for resolution, keys in self.keys.items():
            empty = [Rollup(monitor_id, start) for monitor_id, start in keys]
            statements = _rollup_statements(
                resolution, empty, _HOLD_ROLLUP, self.target, self.most
            )
            for statement in statements:
                await _execute(connection, statement)

        counted: dict[str, list[Rollup]] = {}
        for resolution, keys in self.keys.items():
            found: dict[tuple[str, float], Rollup] = {}
            for statement in self._sums(resolution, keys):
                for row in await _rows(connection, statement):
                    rollup = _summed_rollup(row)
                    found[_rollup_key(rollup)] = rollup
            counted[resolution] = [found.get(key) or Rollup(*key) for key in keys]

        for resolution, rollups in counted.items():
            statements = _rollup_statements(
                resolution, rollups, _REPLACE_ROLLUP, self.target, self.most
            )
            for statement in statements:
                await _execute(connection, statement)

    def _sums(self, resolution: str, keys: list[tuple[str, float]]) -> list[str]:
        """Queries summing the results of these buckets, a rollup row each."""
        span = RESOLUTIONS[resolution]
        head, tail = _SUMS[resolution]
        conditions = [_bucket_condition(*key, span) for key in keys]
        queries: list[str] = []
        for first in range(0, len(conditions), MAX_IDS_PER_QUERY):
            queries += _batched(
                head,
                conditions[first : first + MAX_IDS_PER_QUERY],
                tail,
                target=self.target,
                most=self.most,
                name="results",
                separator=" OR ",
            )
        return queries


def _rollup_statements(
    resolution: str, rollups: list[Rollup], tail: str, target: int, most: int
) -> list[str]:
    """Rollups of sound fields as INSERT statements that end with ``tail``."""
    rows = [_rollup_literal(rollup) for rollup in rollups]
    return _batched(
        _INSERT_ROLLUPS[resolution],
        rows,
        tail,
        target=target,
        most=most,
        name="rollups",
    )


def _bucket_condition(monitor_id: str, start: float, span: int) -> str:
    """SQL true for the results of one monitor's bucket, found by index range.

    The range reaches a few floats past each end of ``[start, start +
    span)`` and the bucket's own expression picks its results from it.
    """
    low, high = start, start + span
    for _ in range(_ROUNDING_STEPS):
        low = math.nextafter(low, -math.inf)
        high = math.nextafter(high, math.inf)
    return (
        f"(monitor_id = {_quoted(monitor_id)} AND started_at >= {_double(low)} "
        f"AND started_at < {_double(high)} "
        f"AND {_bucket_start(span)} = {_double(start)})"
    )


def _result_key(result: CheckResult) -> tuple[str, float]:
    return result.monitor_id, result.started_at


def _rollup_key(rollup: Rollup) -> tuple[str, float]:
    return rollup.monitor_id, rollup.start


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


def _rollup_row(rollup: Rollup, place: str) -> str:
    """A rollup given by a caller as the text of a row, once each field is checked."""
    histogram = rollup.histogram
    if not isinstance(histogram, list | tuple) or len(histogram) != BUCKETS:
        raise ValueError(f"{place}.histogram: must be a list of {BUCKETS} counts")
    _id(rollup.monitor_id, place, "monitor_id")
    checked = Rollup(
        rollup.monitor_id,
        check_time(f"{place}.start", rollup.start),
        _count(rollup.count, place, "count"),
        _count(rollup.ok, place, "ok"),
        check_optional_time(f"{place}.latency_min", rollup.latency_min),
        check_optional_time(f"{place}.latency_max", rollup.latency_max),
        check_time(f"{place}.latency_sum", rollup.latency_sum),
        [
            _count(count, place, f"histogram[{index}]")
            for index, count in enumerate(histogram)
        ],
    )
    return _rollup_literal(checked)


def _count(value: object, place: str, what: str) -> int:
    """A whole number that fits the INT column, as a plain int."""
    return int(_whole(value, place, what))


def _rollup_literal(rollup: Rollup) -> str:
    """A rollup of plain ints and finite floats as the text of one row."""
    low, high = rollup.latency_min, rollup.latency_max
    return (
        f"({_quoted(rollup.monitor_id)},{_double(rollup.start)},"
        f"{rollup.count},{rollup.ok},"
        f"{'NULL' if low is None else _double(low)},"
        f"{'NULL' if high is None else _double(high)},"
        f"{_double(rollup.latency_sum)},{','.join(map(str, rollup.histogram))})"
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


def _rollup(row: tuple[Any, ...]) -> Rollup:
    monitor_id, start, count, ok, low, high, total, *histogram = row
    return Rollup(monitor_id.decode(), start, count, ok, low, high, total, histogram)


def _summed_rollup(row: tuple[Any, ...]) -> Rollup:
    """A rollup the server summed; it gives sums of whole numbers as DECIMAL."""
    monitor_id, start, count, ok, low, high, total, *histogram = row
    return Rollup(
        monitor_id.decode(),
        start,
        int(count),
        int(ok),
        low,
        high,
        total,
        [int(value) for value in histogram],
    )


def _summary(row: tuple[Any, ...]) -> Summary:
    total = _summed_rollup(row)
    return summarise(
        total.monitor_id,
        total.count,
        total.ok,
        total.latency_min,
        total.latency_max,
        total.latency_sum,
        total.histogram,
    )


def _reason(value: str | None) -> Reason | None:
    return None if value is None else Reason(value)


_COUNT_TABLES = (
    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()"
)


async def read_schema_status(url: str) -> SchemaStatus:
    """Where the database a URL names stands, read without changing it.

    Only SELECTs run: the version table is not created when it is missing,
    no migration lock is taken, and a newer version than this one knows is
    reported, not refused.
    """
    settings = parse_url(url)
    migrations = packaged_migrations()
    try:
        connection = await aiomysql.connect(**settings.server())
    except (pymysql.err.Error, OSError) as exc:
        raise _store_error(exc, f"cannot connect to {settings.where}") from exc

    try:
        tables = int(await _scalar(connection, _COUNT_TABLES))
        applied = await _applied_migrations(connection)
    except pymysql.err.Error as exc:
        doing = f"cannot read the schema version of {settings.where}"
        raise _store_error(exc, doing) from exc
    finally:
        try:
            await connection.ensure_closed()
        except (pymysql.err.Error, OSError):
            connection.close()

    return SchemaStatus.compare(
        "mysql",
        settings.where,
        migrations,
        found=max((step.version for step in applied), default=0),
        applied=applied,
        empty=not tables,
    )


async def _applied_migrations(connection: Any) -> tuple[AppliedMigration, ...]:
    """The rows of the version table, oldest first; none before it exists."""
    try:
        rows = await _rows(
            connection,
            f"SELECT version, description, applied_at FROM {VERSION_TABLE} "
            "ORDER BY version",
        )
    except pymysql.err.ProgrammingError as exc:
        if exc.args[0] != _NO_SUCH_TABLE:
            raise
        return ()
    return tuple(
        AppliedMigration(int(version), str(description), float(applied_at))
        for version, description, applied_at in rows
    )


_DELETE_BATCH = 1000
"""Keys named in one DELETE of a copy's surplus rows."""

_HOURLY_TOTALS = """
    SELECT start, COUNT(*), SUM(count), SUM(ok), SUM(latency_sum) FROM rollup_hour
    WHERE start >= %s AND start < %s GROUP BY start ORDER BY start
"""

# The factor is a double for the reason given in migration 0002.
_EVENT_TOTALS = """
    SELECT FLOOR(at / 3600) * 3600e0 AS hour, COUNT(*) FROM events
    WHERE at >= %s AND at < %s GROUP BY hour ORDER BY hour
"""

_HOUR_ROLLUPS = f"""
    SELECT {_ROLLUP_COLUMNS} FROM rollup_hour
    WHERE start = %s AND monitor_id > %s ORDER BY monitor_id LIMIT %s
"""

_EVENTS_BETWEEN = f"""
    SELECT {_EVENT_COLUMNS} FROM events
    WHERE at >= %s AND at < %s AND id > %s ORDER BY id LIMIT %s
"""


# Each monitor's checks per day (counted from 1970-01-01), the first step
# of every uptime report. SQL_BIG_RESULT has the server sort the hours to
# group them: a temporary table of a row per monitor and day outgrows memory
# for a large fleet's month, and grouping in it on disk took several times
# as long as sorting.
_UPTIME_DAYS = (
    "WITH days AS (SELECT SQL_BIG_RESULT monitor_id, FLOOR(start / 86400) AS day, "
    "SUM(count) AS checks, SUM(ok) AS ok FROM rollup_hour WHERE {where} "
    "GROUP BY monitor_id, day), "
)


def _days_summed(period_start: str) -> str:
    """The buckets of an uptime report as the sum of the days in them.

    Working out the calendar for a row per monitor and day, not per hour,
    is the cheaper for it; the days are few enough to group in memory.
    """
    return (
        f"buckets AS (SELECT monitor_id, {period_start} AS period_start, "
        "SUM(checks) AS checks, SUM(ok) AS ok FROM days "
        "GROUP BY monitor_id, period_start) "
    )


# Each monitor's checks per bucket, from its days. Only arithmetic and DATE
# values are used, never FROM_UNIXTIME or TIMESTAMP columns, so the session's
# time zone cannot move a bucket: 1970-01-01 was a Thursday, three days
# after the Monday that starts its ISO week, and a month starts (day of
# month - 1) days before a day in it.
_UPTIME_BUCKETS = {
    "day": "buckets AS (SELECT monitor_id, day * 86400e0 AS period_start, "
    "checks, ok FROM days) ",
    "week": _days_summed("(FLOOR((day + 3) / 7) * 7 - 3) * 86400e0"),
    "month": _days_summed(
        "(day - DAYOFMONTH(DATE '1970-01-01' + INTERVAL day DAY) + 1) * 86400e0"
    ),
}

# The monitors in the catalogue with any of the tags in {tags}, compared as
# bytes, as in _HAS_TAG.
_HAS_ANY_TAG = (
    "monitor_id IN (SELECT id FROM monitors WHERE EXISTS (SELECT 1 FROM "
    "JSON_TABLE(monitors.tags, '$[*]' COLUMNS (tag LONGTEXT PATH '$')) AS listed "
    "WHERE CAST(listed.tag AS BINARY) IN ({tags})))"
)

_UPTIME_BY_MONITOR = (
    "SELECT period_start, monitor_id, checks, ok FROM buckets "
    "ORDER BY period_start, monitor_id"
)

# Buckets of monitors fanned out to their tags, each tag of a monitor once,
# and summed per bucket and tag. Tags are grouped and sorted as bytes: the
# text collation would take 'Prod' and 'prod' for one tag.
_UPTIME_BY_TAG = (
    "SELECT period_start, tagged.tag, SUM(checks), SUM(ok) FROM buckets "
    "JOIN (SELECT DISTINCT monitors.id AS id, CAST(listed.tag AS BINARY) AS tag "
    "FROM monitors, JSON_TABLE(monitors.tags, '$[*]' COLUMNS "
    "(tag LONGTEXT PATH '$')) AS listed{only}) AS tagged "
    "ON tagged.id = buckets.monitor_id GROUP BY period_start, tagged.tag "
    "ORDER BY period_start, tagged.tag"
)


def _tag_list(tags: list[str]) -> str:
    """The tags as an ``IN`` list of byte strings, each tag once."""
    literals = dict.fromkeys(
        _text(tag, "tags", index) for index, tag in enumerate(tags)
    )
    return ", ".join(f"CAST({literal} AS BINARY)" for literal in literals)


def _uptime_row(row: tuple[Any, ...]) -> UptimeRow:
    """A row of an uptime report: ids and tags come as bytes, sums as DECIMAL."""
    period_start, key, checks, ok = row
    return uptime_row(period_start, key.decode(), checks, ok)


def _added_up(rows: list[UptimeRow]) -> list[UptimeRow]:
    """Rows of several answers with one bucket and key summed, in report order."""
    sums: dict[tuple[float, str], tuple[int, int]] = {}
    for row in rows:
        checks, ok = sums.get((row.period_start, row.key), (0, 0))
        sums[row.period_start, row.key] = (checks + row.checks, ok + row.ok)
    return [
        uptime_row(period_start, key, checks, ok)
        for (period_start, key), (checks, ok) in sorted(sums.items())
    ]


_OUTBOX_COLUMNS = (
    "id, channel_id, `key`, payload, state, attempts, next_at, created_at, "
    "last_status, last_detail, claim"
)

_ATTEMPT_COLUMNS = "entry_id, channel_id, attempt, at, ok, status, detail, response"

_ENQUEUE = (
    "INSERT IGNORE INTO outbox (channel_id, `key`, payload, state, next_at, "
    "due_at, created_at, updated_at, last_detail) VALUES "
)

# Pending entries whose time has come, and entries whose sender's lease ran
# out. Claims take turns (CLAIM_LOCK) rather than skip each other's rows:
# under SKIP LOCKED, InnoDB leaves concurrent claims empty-handed or
# deadlocked when every entry is due at once, and claiming is rare and
# quick enough to serialise.
_DUE = """
    SELECT id FROM outbox FORCE INDEX (outbox_due)
    WHERE due_at <= %s ORDER BY due_at, id LIMIT %s
    FOR UPDATE
"""

_CLAIM = """
    UPDATE outbox SET state = 'sending', claim = claim + 1, next_at = %s,
        due_at = next_at, updated_at = %s
    WHERE id IN ({marks})
"""

_SETTLE = """
    UPDATE outbox SET state = %s, attempts = attempts + 1, next_at = %s,
        due_at = IF(state = 'pending', next_at, NULL),
        last_status = %s, last_detail = %s, updated_at = %s
    WHERE id = %s AND claim = %s AND state = 'sending'
"""

_LOG_ATTEMPT = f"""
    INSERT INTO delivery_attempts ({_ATTEMPT_COLUMNS})
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""

_REQUEUE = """
    UPDATE outbox SET state = 'pending', next_at = %s, due_at = next_at,
        updated_at = %s
    WHERE id = %s AND state = 'dead'
"""

_DELETE_OLD_OUTBOX = f"""
    DELETE FROM outbox WHERE state IN ('sent', 'dead') AND updated_at < %s
    LIMIT {RETENTION_BATCH}
"""

_DELETE_OLD_ATTEMPTS = (
    f"DELETE FROM delivery_attempts WHERE at < %s LIMIT {RETENTION_BATCH}"
)


def _outbox_entry(row: tuple[Any, ...]) -> OutboxEntry:
    (
        entry_id,
        channel_id,
        key,
        payload,
        state,
        attempts,
        next_at,
        created_at,
        last_status,
        last_detail,
        claim,
    ) = row
    return OutboxEntry(
        entry_id,
        channel_id.decode(),
        key.decode(),
        json.loads(payload),
        state,
        attempts,
        next_at,
        created_at,
        last_status,
        last_detail,
        claim,
    )


def _where(*clauses: tuple[str, object]) -> tuple[str, list[object]]:
    """``where_clause`` with MySQL's placeholders."""
    return where_clause(clauses, lambda number: "%s")


_PUT_SETTING = """
    INSERT INTO alert_settings (kind, id, body, updated_at) VALUES (%s, %s, %s, %s)
    ON DUPLICATE KEY UPDATE body = VALUES(body), updated_at = VALUES(updated_at)
"""

_GET_SETTING = "SELECT body FROM alert_settings WHERE kind = %s AND id = %s"

_SETTINGS = "SELECT body FROM alert_settings WHERE kind = %s ORDER BY id"

_DELETE_SETTING = "DELETE FROM alert_settings WHERE kind = %s AND id = %s"

_PUT_INCIDENTS = (
    "INSERT INTO incidents (id, monitor_id, status, opened_at, updated_at, "
    "resolved_at, body) VALUES "
)

# Rows of one statement are applied in order, so of two incidents with one
# id the later one is what stays.
_UPDATE_INCIDENT = (
    " ON DUPLICATE KEY UPDATE monitor_id = VALUES(monitor_id), "
    "status = VALUES(status), opened_at = VALUES(opened_at), "
    "updated_at = VALUES(updated_at), resolved_at = VALUES(resolved_at), "
    "body = VALUES(body)"
)

_GET_INCIDENT = "SELECT body FROM incidents WHERE id = %s"

_GET_OPENED_AT = "SELECT opened_at FROM incidents WHERE id = %s"

# The statuses listed, rather than "not resolved", so the status index is read.
_STILL_OPEN = ", ".join(
    _quoted(status) for status in INCIDENT_STATUSES if status != RESOLVED
)

_UNRESOLVED = (
    f"SELECT body FROM incidents WHERE status IN ({_STILL_OPEN}) ORDER BY opened_at, id"
)

_ADD_TIMELINE = f"INSERT INTO incident_timeline ({TIMELINE_COLUMNS}) VALUES "

# An entry stored already is kept as it is and counts as no row changed.
# Unlike INSERT IGNORE, this turns no other error into a warning.
_KEEP_TIMELINE = " ON DUPLICATE KEY UPDATE incident_id = incident_id"

_TIMELINE = f"""
    SELECT {TIMELINE_COLUMNS} FROM incident_timeline
    WHERE incident_id = %s ORDER BY at, entry_id LIMIT %s
"""

_OLD_RESOLVED = f"""
    SELECT id FROM incidents WHERE status = 'resolved' AND resolved_at < %s
    LIMIT {_DELETE_BATCH} FOR UPDATE
"""


def _incident_row(row: IncidentRow, place: str) -> str:
    """A checked incident as the text of one row of ``_PUT_INCIDENTS``."""
    resolved = "NULL" if row.resolved_at is None else _double(row.resolved_at)
    return (
        f"({_text(row.id, place, 'id')},{_text(row.monitor_id, place, 'monitor_id')},"
        f"{_quoted(row.status)},{_double(row.opened_at)},{_double(row.updated_at)},"
        f"{resolved},{_text(row.body, place, 'body')})"
    )


def _timeline_row(row: tuple[Any, ...], place: str) -> str:
    """A checked timeline entry as the text of one row of ``_ADD_TIMELINE``."""
    incident_id, entry_id, at, kind, data = row
    return (
        f"({_text(incident_id, place, 'incident_id')},"
        f"{_text(entry_id, place, 'entry_id')},{_double(at)},"
        f"{_text(kind, place, 'kind')},{_text(data, place, 'data')})"
    )


# A user whose id or name is taken is kept as it is, and counts as no row
# changed. Unlike INSERT IGNORE, this turns no other error into a warning.
_CREATE_USER = f"""
    INSERT INTO users ({USER_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON DUPLICATE KEY UPDATE id = id
"""

_UPDATE_USER = """
    UPDATE users SET name = %s, role = %s, password_hash = %s,
        password_history = %s, teams = %s, disabled = %s, created_at = %s,
        updated_at = %s
    WHERE id = %s
"""

_USER_EXISTS = "SELECT 1 FROM users WHERE id = %s"

_GET_USER = f"SELECT {USER_COLUMNS} FROM users WHERE id = %s"

_USER_NAMED = f"SELECT {USER_COLUMNS} FROM users WHERE name = %s"

_USERS = f"SELECT {USER_COLUMNS} FROM users ORDER BY name"

_CREATE_SESSION = f"""
    INSERT INTO sessions ({SESSION_COLUMNS})
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""

_GET_SESSION = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = %s"

# An UPDATE reads the row as last committed and locks it, so of two
# rotations with one token the second waits for the first, then finds the
# generation moved on and changes nothing.
_ROTATE_SESSION = """
    UPDATE sessions SET generation = generation + 1, token_hash = %s,
        last_seen_at = %s, expires_at = %s, user_agent = %s, address = %s
    WHERE id = %s AND generation = %s AND token_hash = %s
        AND revoked_at IS NULL AND %s < expires_at
"""

# Only sessions still active are ended, so the count is of those, and an
# earlier revocation (or expiry) stays the one on record.
_REVOKE_SESSIONS = """
    UPDATE sessions SET revoked_at = %s, revoked_reason = %s
    WHERE {column} = %s AND revoked_at IS NULL AND %s < expires_at
"""

_SESSIONS = f"""
    SELECT {SESSION_COLUMNS} FROM sessions
    WHERE user_id = %s AND revoked_at IS NULL AND %s < expires_at
    ORDER BY last_seen_at DESC, id
"""

# Each session is in the table once (see store.accounts.latest_sightings).
_TOUCH_SESSIONS = """
    UPDATE sessions JOIN ({given}) AS seen ON sessions.id = seen.id
    SET sessions.last_seen_at = seen.at, sessions.address = seen.address
    WHERE sessions.last_seen_at <= seen.at
"""

_CREATE_API_KEY = f"""
    INSERT INTO api_keys ({API_KEY_COLUMNS})
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
"""

_GET_API_KEY = f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = %s"

_API_KEYS = f"""
    SELECT {API_KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL
    ORDER BY created_at DESC, id DESC
"""

_USER_API_KEYS = f"""
    SELECT {API_KEY_COLUMNS} FROM api_keys WHERE user_id = %s AND revoked_at IS NULL
    ORDER BY created_at DESC, id DESC
"""

# A key expired already is revoked too, so it leaves the list of keys,
# but it was not usable until now.
_REVOKE_API_KEY = """
    UPDATE api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL
"""

_KEY_EXPIRES = "SELECT expires_at FROM api_keys WHERE id = %s"

_TOUCH_API_KEYS = """
    UPDATE api_keys JOIN ({given}) AS used ON api_keys.id = used.id
    SET api_keys.last_used_at = used.at
    WHERE api_keys.last_used_at IS NULL OR api_keys.last_used_at < used.at
"""

_ADD_ACTIVITY = f"INSERT INTO activity ({ACTIVITY_COLUMNS}) VALUES "

_KEEP_SECRET = """
    INSERT INTO gateway_secrets (name, secret, created_at) VALUES (%s, %s, %s)
    ON DUPLICATE KEY UPDATE name = name
"""

_GET_SECRET = "SELECT secret FROM gateway_secrets WHERE name = %s"


def _activity_row(entry: Activity, place: str) -> str:
    """A checked activity entry as the text of one row of ``_ADD_ACTIVITY``."""
    at, actor, action, target, via, address, details = activity_row(entry)
    return (
        f"({_double(at)},{_text(actor, place, 'actor')},"
        f"{_text(action, place, 'action')},{_text(target, place, 'target')},"
        f"{_text(via, place, 'via')},{_text(address, place, 'address')},"
        f"{_text(details, place, 'details')})"
    )
