"""The PostgreSQL backend: one schema, a pool of connections, results by the day.

Every call borrows a connection from one ``asyncpg`` pool for as long as it
runs; PostgreSQL lets many connections write at once, so there is no writer
queue as in the SQLite store. Results go in by binary COPY into a table
partitioned by UTC day: a batch is one round trip, and retention drops a
whole day's partition instead of deleting its rows one by one. The schema is
migrated at ``open`` under an advisory lock, so two processes starting
together never migrate at once.

The minute and hour rollups of the new results are added in the same
transaction as the results, one upsert a table, so they never count a
result the table does not hold or count one twice.

Text cannot hold the NUL character in PostgreSQL, so a name, message or
definition that contains one is refused with a ``StoreError`` here, where
SQLite would keep it. Rows are checked, encoded and decoded on the event
loop, where asyncpg does its own share too: ``put_monitors`` of 100,000
definitions holds the loop for about a second, ``put_monitor_rows`` of as
many about half of that.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import asyncpg

from engine.events import Event, StateChange
from engine.result import CheckResult
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
from store.alerting import TimelineEntry, body_from_text, timeline_from_row
from store.base import (
    AppliedMigration,
    Cutoffs,
    EventTotal,
    FeedPage,
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
from store.outbox import Attempt, OutboxEntry, Outgoing, entry_from_row
from store.rollups import (
    HISTOGRAM_COLUMNS,
    HOUR,
    LATENCY_BOUNDS_MS,
    Rollup,
    Summary,
    UptimeRow,
    bucket_of,
    bucket_start,
    check_resolution,
    summarise,
    uptime_row,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_SCHEMA = "public"
"""The schema a URL without ``schema=`` keeps its tables in."""

DEFAULT_POOL_MIN = 1
"""Connections kept open while the store is idle.

One, so the first call after a quiet spell does not wait for a connection
handshake, without holding server processes that nothing uses.
"""

DEFAULT_POOL_MAX = 10
"""The most connections the store opens at once.

Each connection is a server process with memory of its own, and a server
allows about a hundred by default, so one store takes a tenth of them.
More rarely helps: concurrent writers of one table wait for the same index
pages.
"""

CONNECT_TIMEOUT = 10.0
"""Seconds a new connection may take before the call fails (retryably)."""

PARTITIONS_AHEAD = 2
"""Days after today whose result partitions ``open`` makes.

The first results after midnight then find their partition ready instead
of waiting for the DDL that makes it.
"""

RETENTION_BATCH = 5_000
"""Rows deleted per statement by retention, so no transaction runs long."""

MONITORS_PER_STATEMENT = 10_000
"""Definitions sent in one upsert statement.

A catalogue of a million goes as a hundred statements of a few megabytes
each, all in the one transaction ``put_monitors`` promises.
"""

_DAY = 86_400
_EPOCH = datetime.date(1970, 1, 1)
# The days of 0001-01-01 and 9999-12-31: the calendar a partition is named
# by. Times outside it go to the two partitions at either end (see the
# first migration).
_FIRST_DAY = -719_162
_LAST_DAY = 2_932_896

_QUERY_PARAMETERS = ("schema", "pool_min", "pool_max")
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_MIGRATION_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
_PARTITION_NAME = re.compile(r"results_(\d{4})(\d{2})(\d{2})")

# SQLSTATEs after which the same call can succeed later: serialization
# failure, deadlock, lock not available, and the server shutting down or
# starting up. Classes 08 (connection) and 53 (resources) count whole.
_RETRYABLE_CLASSES = frozenset({"08", "53"})
_RETRYABLE_STATES = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03"})

# What the driver and the network raise; each is translated at the boundary.
_DATABASE_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)


@dataclass(frozen=True, slots=True)
class PostgresSettings:
    """Where a PostgreSQL store connects and how, as its URL says.

    The password stays out of the repr, and ``location``, which names the
    database in messages and logs, never includes it.
    """

    host: str | None
    port: int | None
    user: str | None
    password: str | None = field(repr=False)
    database: str | None
    schema: str
    pool_min: int
    pool_max: int

    def server(self) -> dict[str, Any]:
        """The arguments that reach the server, as asyncpg takes them."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database,
            "timeout": CONNECT_TIMEOUT,
        }

    @property
    def location(self) -> str:
        host = self.host or "the default host"
        port = "" if self.port is None else f":{self.port}"
        database = self.database or "the default database"
        return (
            f'PostgreSQL database "{database}" on {host}{port}, schema "{self.schema}"'
        )


def parse_url(url: str) -> PostgresSettings:
    """The settings of a PostgreSQL URL, or ValueError naming what is wrong.

    ``postgresql://[user[:password]@]host[:port]/database`` with optional
    query parameters ``schema`` (default ``public``), ``pool_min`` (default
    1) and ``pool_max`` (default 10); any other parameter is refused, so a
    misspelt one is not silently ignored. Parts left out go to asyncpg's
    defaults (the ``PG*`` environment variables, then the OS user). Messages
    name the part at fault and never repeat the URL, which may hold a
    password.
    """
    if not isinstance(url, str):
        raise ValueError(f"url: must be text, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        # urllib's message quotes the part it failed on, which can be a
        # piece of the password when that holds an unencoded "/".
        raise ValueError(
            "url: not a valid PostgreSQL URL; check the host and port, and "
            "percent-encode special characters in the user and password"
        ) from None
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        raise ValueError("url: a PostgreSQL URL starts with postgresql://")
    if parts.fragment:
        raise ValueError("url: a PostgreSQL URL takes no fragment")
    if "," in parts.netloc:
        raise ValueError("url: name one host; several are not supported")
    database = unquote(parts.path.removeprefix("/")) or None
    if database is not None and "/" in database:
        raise ValueError("url: the path must name one database")

    given: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in _QUERY_PARAMETERS:
            raise ValueError(
                f"url: unknown query parameter {name!r}; known: "
                + ", ".join(_QUERY_PARAMETERS)
            )
        if name in given:
            raise ValueError(f"url: query parameter {name!r} is given twice")
        given[name] = value

    schema = given.get("schema", DEFAULT_SCHEMA)
    if not _SCHEMA_NAME.fullmatch(schema):
        raise ValueError(
            "url: schema must be a name of letters, digits and underscores "
            f"that does not start with a digit, at most 63 long, got {schema!r}"
        )
    pool_min = _pool_size(given, "pool_min", DEFAULT_POOL_MIN, minimum=0)
    pool_max = _pool_size(given, "pool_max", DEFAULT_POOL_MAX, minimum=1)
    if pool_min > pool_max:
        raise ValueError(
            f"url: pool_min ({pool_min}) must not be above pool_max ({pool_max})"
        )

    return PostgresSettings(
        host=unquote(parts.hostname) if parts.hostname else None,
        port=port,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        database=database,
        schema=schema,
        pool_min=pool_min,
        pool_max=pool_max,
    )


def _pool_size(given: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    text = given.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < minimum:
        raise ValueError(f"url: {name} must be a whole number from {minimum}")
    return int(text)


def packaged_migrations() -> list[Migration]:
    """The PostgreSQL migrations shipped in ``store/migrations/postgresql``."""
    return load_migrations("postgresql")


class PostgresStore(Store):
    """The store in one schema of a PostgreSQL database.

    ``url`` is read by ``parse_url`` into ``connection_settings`` (the
    ``settings`` method reads alerting's). ``progress`` hears about each
    migration as ``open`` applies it; ``migrations`` replaces the packaged
    schema steps. A write whose caller is cancelled still runs to its
    commit, and ``close`` waits for it.
    """

    backend = "PostgreSQL"

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
        self._progress = progress
        self._migrations = (
            packaged_migrations() if migrations is None else list(migrations)
        )
        self._partitions = _Partitions(
            _lock_key("partitions", self.connection_settings.schema)
        )
        self._pool: asyncpg.Pool | None = None
        self._version: int | None = None
        self._opening = False
        self._closed = False
        self._closing: asyncio.Future[None] | None = None
        # Calls in progress, so close waits for them before the pool goes.
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._abandoned: set[asyncio.Future[Any]] = set()

    async def open(self) -> None:
        """Connect, migrate the schema and make the coming days' partitions.

        1. Create the pool: each connection it opens has the store's schema
           as its search_path and says which store it serves in its
           application_name.
        2. On one of them, migrate (see ``_migrate``), learn which result
           partitions exist, and make those of today and the next
           PARTITIONS_AHEAD days.
        3. Only then accept calls; a ``close`` that ran meanwhile wins.
        """
        if self._closed:
            raise StoreClosedError("the store was closed; make a new one to reopen")
        if self._opening or self._pool is not None:
            raise StoreError("the store is open already")

        self._opening = True
        try:
            pool = await self._create_pool()
            try:
                async with pool.acquire() as connection:
                    if self.reading_only:
                        version = await self._current_version(connection)
                    else:
                        version = await self._migrate(connection)
                    await self._partitions.load(connection)
                    today = _day_of(time.time())
                    upcoming = range(today, today + PARTITIONS_AHEAD + 1)
                    if not self.reading_only:
                        await self._partitions.ensure(connection, upcoming)
            except _DATABASE_ERRORS as exc:
                pool.terminate()
                raise self._error(exc, "cannot open") from exc
            except BaseException:
                pool.terminate()
                raise
        finally:
            self._opening = False

        if self._closed:
            await pool.close()
            raise StoreClosedError("the store was closed while it opened")
        self._pool = pool
        self._version = version
        logger.info(
            "opened %s at schema version %d", self.connection_settings.location, version
        )

    async def close(self) -> None:
        """Let calls in progress finish, then close every connection.

        Calls made from now on are refused. The closing runs in a task of its
        own, so cancelling the wait does not stop it, and a second ``close``
        waits for the same one.
        """
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            self._closing = asyncio.ensure_future(self._drain(pool))
        if self._closing is not None:
            await asyncio.shield(self._closing)

    def schema_version(self) -> int:
        if self._version is None or self._pool is None:
            raise StoreClosedError("the store is not open")
        return self._version

    async def put_monitors(self, definitions: list[dict[str, Any]]) -> None:
        check_list("definitions", definitions)
        check_list("definitions", definitions, Mapping)
        rows = [
            monitor_row(f"definitions[{index}]", definition)
            for index, definition in enumerate(definitions)
        ]
        if rows:
            await self._run(functools.partial(_upsert_monitors, rows), shield=True)

    async def put_monitor_rows(self, rows: list[MonitorRow]) -> None:
        check_list("rows", rows)
        checked = [check_monitor_row(f"rows[{i}]", row) for i, row in enumerate(rows)]
        if checked:
            await self._run(functools.partial(_upsert_monitors, checked), shield=True)

    async def delete_monitor(self, monitor_id: str) -> bool:
        check_text("monitor_id", monitor_id)
        status = await self._write("DELETE FROM monitors WHERE id = $1", monitor_id)
        return _row_count(status) > 0

    async def get_monitor(self, monitor_id: str) -> dict[str, Any] | None:
        check_text("monitor_id", monitor_id)
        rows = await self._fetch(
            "SELECT definition FROM monitors WHERE id = $1", monitor_id
        )
        if not rows:
            return None
        found: dict[str, Any] = json.loads(rows[0]["definition"])
        return found

    async def list_monitors(
        self,
        *,
        kind: str | None = None,
        tag: str | None = None,
        enabled: bool | None = None,
    ) -> list[dict[str, Any]]:
        kind, tag, enabled = check_filters(kind, tag, enabled)
        where, parameters = _where(
            ("kind = {}", kind), ("tags ? {}", tag), ("enabled = {}", enabled)
        )
        sql = f"SELECT definition FROM monitors {where} ORDER BY id"
        rows = await self._fetch(sql, *parameters)
        return [json.loads(row["definition"]) for row in rows]

    async def catalogue(
        self, *, after: str | None = None, limit: int = 10_000
    ) -> list[tuple[str, str]]:
        after = check_cursor(after, "a monitor id")
        sql = "SELECT id, definition FROM monitors WHERE id > $1 ORDER BY id LIMIT $2"
        rows = await self._fetch(sql, after or "", check_limit(limit))
        return [(row["id"], row["definition"]) for row in rows]

    async def write_results(self, results: list[CheckResult]) -> int:
        check_list("results", results)
        if not results:
            return 0
        records = _result_records(results)
        rollups = _rollup_upserts(records)
        return await self._run(
            functools.partial(self._insert_results, records, rollups), shield=True
        )

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
        sql = (
            f"SELECT {_RESULT_SELECT} FROM results {where} "
            f"ORDER BY started_at DESC LIMIT ${len(parameters) + 1}"
        )
        rows = await self._fetch(sql, *parameters, check_limit(limit))
        return [_result(row) for row in rows]

    async def rollups(
        self,
        monitor_id: str,
        *,
        resolution: str = "hour",
        since: float,
        until: float,
        limit: int = 1000,
    ) -> list[Rollup]:
        span = check_resolution(resolution)
        start, end = check_time("since", since), check_time("until", until)
        if resolution == "minute":
            # Rolled up from the results whose buckets start in the span.
            start, end = _first_bucket_at(start, span), _first_bucket_at(end, span)
        rows = await self._fetch(
            _READ_ROLLUPS[resolution],
            check_text("monitor_id", monitor_id),
            start,
            end,
            check_limit(limit),
        )
        return [_rollup(tuple(row)) for row in rows]

    async def rollup_summaries(
        self,
        *,
        since: float,
        until: float,
        resolution: str = "hour",
        monitor_ids: list[str] | None = None,
    ) -> list[Summary]:
        span = check_resolution(resolution)
        if monitor_ids is not None:
            check_list("monitor_ids", monitor_ids, str)
        start, end = check_time("since", since), check_time("until", until)
        column = "start"
        if resolution == "minute":
            start, end = _first_bucket_at(start, span), _first_bucket_at(end, span)
            column = "started_at"
        where, parameters = _where(
            (f"{column} >= {{}}", start),
            (f"{column} < {{}}", end),
            ("monitor_id = ANY({}::text[])", monitor_ids),
        )
        sql = _SUM_ROLLUPS[resolution].format(where=where)
        rows = await self._fetch(sql, *parameters)
        return [_summary(tuple(row)) for row in rows]

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
        query = check_uptime_query(period, by, since, until, monitor_ids, tags)
        if query.matches_nothing:
            return []
        where, parameters = _where(
            ("start >= {}", query.since),
            ("start < {}", query.until),
            ("monitor_id = ANY({}::text[])", query.monitor_ids),
            (_HAS_ANY_TAG, query.tags),
        )
        sql = _UPTIME_BUCKETS.format(period=_UPTIME_PERIODS[query.period], where=where)
        if query.by == "monitor":
            sql += _UPTIME_BY_MONITOR
        else:
            # The tags, when given, are the last parameter: the tag rows
            # keep to them too.
            only = (
                ""
                if query.tags is None
                else f" WHERE tag = ANY(${len(parameters)}::text[])"
            )
            sql += _UPTIME_BY_TAG.format(only=only)
        rows = await self._fetch(sql, *parameters)
        return [uptime_row(*row) for row in rows]

    async def monitor_feed(
        self, *, after: int = 0, limit: int = 1000
    ) -> FeedPage[MonitorRow]:
        rows, position = await self._feed(_MONITOR_FEED, "change_seq", after, limit)
        return FeedPage([MonitorRow(*row[:-1]) for row in rows], position)

    async def rollup_feed(
        self, *, after: int = 0, limit: int = 1000
    ) -> FeedPage[Rollup]:
        rows, position = await self._feed(_ROLLUP_FEED, "rollup_seq", after, limit)
        return FeedPage([_rollup(tuple(row)[:-1]) for row in rows], position)

    async def event_feed(self, *, after: int = 0, limit: int = 1000) -> FeedPage[Event]:
        rows, position = await self._feed(_EVENT_FEED, "change_seq", after, limit)
        return FeedPage([_event(row) for row in rows], position)

    async def hourly_totals(self, *, since: float, until: float) -> list[HourTotal]:
        rows = await self._fetch(_HOURLY_TOTALS, *check_span(since, until))
        return [HourTotal(*row) for row in rows]

    async def event_totals(self, *, since: float, until: float) -> list[EventTotal]:
        rows = await self._fetch(_EVENT_TOTALS, *check_span(since, until))
        return [EventTotal(*row) for row in rows]

    async def hour_rollups(
        self, start: float, *, after: str | None = None, limit: int = 1000
    ) -> list[Rollup]:
        rows = await self._fetch(
            _HOUR_ROLLUPS,
            check_time("start", start),
            check_cursor(after, "a monitor id") or "",
            check_limit(limit),
        )
        return [_rollup(tuple(row)) for row in rows]

    async def events_between(
        self,
        *,
        since: float,
        until: float,
        after: str | None = None,
        limit: int = 1000,
    ) -> list[Event]:
        rows = await self._fetch(
            _EVENTS_BETWEEN,
            *check_span(since, until),
            check_cursor(after, "an event id") or "",
            check_limit(limit),
        )
        return [_event(row) for row in rows]

    async def _feed(
        self, sql: str, sequence: str, after: object, limit: object
    ) -> tuple[list[Any], int]:
        """A page of a feed, and the position after it.

        A value of the sequence is drawn when a row is written, not when its
        transaction commits, so the highest one seen may sit above a row
        still to commit. The read therefore stops at a horizon:

        1. Take the last value drawn so far, then the snapshot's next
           transaction id. Each writer takes its transaction id before it
           draws, so every row up to that value belongs to a transaction
           below that id.
        2. Wait until every transaction below that id has ended (briefly:
           writes are single short transactions).
        3. Read the rows from ``after`` up to the horizon: all committed.

        When old transactions do not end within ``FEED_HORIZON_WAIT``, the
        page is empty and the position stays, for the next read to retry.
        """
        position, page = check_feed(after, limit)

        async def read(connection: asyncpg.Connection) -> tuple[list[Any], int]:
            horizon, next_xid = await connection.fetchrow(
                _FEED_HORIZON.format(sequence=_quote(sequence))
            )
            deadline = time.monotonic() + FEED_HORIZON_WAIT
            while not await connection.fetchval(_ENDED_BEFORE, next_xid):
                if time.monotonic() > deadline:
                    return [], position
                await asyncio.sleep(0.01)
            rows = await connection.fetch(sql, position, horizon, page)
            if len(rows) == page:
                return rows, int(rows[-1]["seq"])
            return rows, max(position, int(horizon))

        return await self._run(read)

    async def latest_results(self, monitor_ids: list[str]) -> dict[str, CheckResult]:
        check_list("monitor_ids", monitor_ids, str)
        if not monitor_ids:
            return {}
        sql = _newest_of_each(_RESULT_SELECT)
        rows = await self._fetch(sql, _distinct(monitor_ids))
        return {row["monitor_id"]: _result(row) for row in rows}

    async def latest_states(self, monitor_ids: list[str]) -> dict[str, LatestState]:
        check_list("monitor_ids", monitor_ids, str)
        if not monitor_ids:
            return {}
        sql = _newest_of_each(
            "monitor_id, state, started_at, ok, latency_ms, reason, message, attempt"
        )
        rows = await self._fetch(sql, _distinct(monitor_ids))
        return {row["monitor_id"]: LatestState(*tuple(row)[1:]) for row in rows}

    async def write_state_changes(self, changes: list[StateChange]) -> None:
        check_list("changes", changes)
        check_list("changes", changes, StateChange)
        # The first of two equal changes is kept, as a second write would keep it.
        unique: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for index, change in enumerate(changes):
            check_state_change(f"changes[{index}]", change)
            row = (
                change.monitor_id,
                float(change.at),
                str(change.before),
                str(change.after),
                _text_or_none(change.reason),
                change.message,
            )
            unique.setdefault(row[:4], row)
        await self._insert_rows(_INSERT_STATE_CHANGES, unique.values())

    async def state_changes(
        self,
        monitor_id: str | None = None,
        *,
        since: float | None = None,
        limit: int = 100,
    ) -> list[StateChange]:
        if monitor_id is not None:
            check_text("monitor_id", monitor_id)
        where, parameters = _where(
            ("monitor_id = {}", monitor_id),
            ("at >= {}", check_optional_time("since", since)),
        )
        sql = (
            "SELECT monitor_id, at, state_before AS before, state_after AS after, "
            f"reason, message FROM state_changes {where} "
            f"ORDER BY at DESC, seq DESC LIMIT ${len(parameters) + 1}"
        )
        rows = await self._fetch(sql, *parameters, check_limit(limit))
        return [StateChange.from_dict(row) for row in rows]

    async def write_events(self, events: list[Event]) -> None:
        check_list("events", events)
        check_list("events", events, Event)
        unique: dict[str, tuple[Any, ...]] = {}
        for index, event in enumerate(events):
            place = f"events[{index}]"
            check_event(place, event)
            data = to_json(f"{place}.data", dict(event.data))
            row = (event.id, float(event.at), event.type, event.monitor_id, data)
            unique.setdefault(event.id, row)
        if unique:
            columns = _columns(list(unique.values()))
            await self._run(functools.partial(_insert_events, columns), shield=True)

    async def events(
        self,
        *,
        after: str | None = None,
        monitor_id: str | None = None,
        limit: int = 100,
    ) -> list[Event]:
        after = check_cursor(after, "an event id")
        if monitor_id is not None:
            check_text("monitor_id", monitor_id)
        where, parameters = _where(("id > {}", after), ("monitor_id = {}", monitor_id))
        sql = (
            f"SELECT id, at, type, monitor_id, data FROM events {where} "
            f"ORDER BY id LIMIT ${len(parameters) + 1}"
        )
        rows = await self._fetch(sql, *parameters, check_limit(limit))
        return [_event(row) for row in rows]

    async def enqueue(self, outgoing: list[Outgoing]) -> int:
        rows = [
            (
                item.channel_id,
                item.key,
                to_json(f"outgoing[{index}].payload", dict(item.payload)),
                item.at,
            )
            for index, item in enumerate(check_outgoing(outgoing))
        ]
        if not rows:
            return 0
        return _row_count(await self._write(_ENQUEUE, *_columns(rows)))

    async def claim_due(
        self, *, now: float, limit: int = 100, lease: float = 60.0
    ) -> list[OutboxEntry]:
        moment, page, seconds = check_claim(now, limit, lease)
        rows: list[Any] = await self._run(
            lambda connection: connection.fetch(_CLAIM_DUE, moment, page, seconds),
            shield=True,
        )
        entries = (entry_from_row(row) for row in rows)
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

        async def settle(connection: asyncpg.Connection) -> bool:
            async with connection.transaction():
                attempts = await connection.fetchval(
                    _SETTLE, *settled, entry.id, entry.claim
                )
                if attempts is None:
                    return False
                await connection.execute(
                    _LOG_ATTEMPT, entry.id, entry.channel_id, attempts, *logged
                )
                return True

        done: bool = await self._run(settle, shield=True)
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
        sql = (
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox {where} "
            f"ORDER BY id LIMIT ${len(parameters) + 1}"
        )
        rows = await self._fetch(sql, *parameters, check_limit(limit))
        return [entry_from_row(row) for row in rows]

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
            f"ORDER BY at DESC, seq DESC LIMIT ${len(parameters) + 1}"
        )
        rows = await self._fetch(sql, *parameters, check_limit(limit))
        return [Attempt(*row) for row in rows]

    async def requeue(self, entry_id: int, *, now: float) -> bool:
        status = await self._write(
            _REQUEUE, check_time("now", now), check_entry_id(entry_id)
        )
        return _row_count(status) > 0

    async def put_setting(
        self, kind: str, setting_id: str, body: Mapping[str, Any], *, at: float
    ) -> bool:
        row = setting_row(kind, setting_id, body, at)
        inserted: bool = await self._run(
            lambda connection: connection.fetchval(_PUT_SETTING, *row), shield=True
        )
        return inserted

    async def get_setting(self, kind: str, setting_id: str) -> dict[str, Any] | None:
        rows = await self._fetch(_GET_SETTING, *check_setting_key(kind, setting_id))
        return body_from_text(rows[0][0]) if rows else None

    async def settings(self, kind: str) -> list[dict[str, Any]]:
        rows = await self._fetch(_SETTINGS, check_setting_kind(kind))
        return [body_from_text(row[0]) for row in rows]

    async def delete_setting(self, kind: str, setting_id: str) -> bool:
        key = check_setting_key(kind, setting_id)
        return _row_count(await self._write(_DELETE_SETTING, *key)) > 0

    async def put_incidents(self, incidents: list[Mapping[str, Any]]) -> None:
        # One statement cannot update a row twice, so the later of two
        # incidents with one id is the one sent.
        latest = list({row.id: row for row in incident_rows(incidents)}.values())
        if latest:
            await self._write(_PUT_INCIDENTS, *_columns(latest))

    async def get_incident(self, incident_id: str) -> dict[str, Any] | None:
        rows = await self._fetch(
            _GET_INCIDENT, check_key_text("incident_id", incident_id)
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
        statuses = None if query.statuses is None else list(query.statuses)
        where, parameters = _where(
            ("monitor_id = {}", query.monitor_id),
            ("status = ANY({}::text[])", statuses),
        )

        async def page(connection: asyncpg.Connection) -> list[Any]:
            clause, values = where, list(parameters)
            if query.before is not None:
                opened = await connection.fetchval(_GET_OPENED_AT, query.before)
                if opened is None:
                    raise unknown_cursor(query.before)
                after = f"(opened_at, id) < (${len(values) + 1}, ${len(values) + 2})"
                clause = f"{clause} AND {after}" if clause else f"WHERE {after}"
                values += [opened, query.before]
            sql = (
                f"SELECT body::text FROM incidents {clause} "
                f"ORDER BY opened_at DESC, id DESC LIMIT ${len(values) + 1}"
            )
            rows: list[Any] = await connection.fetch(sql, *values, query.limit)
            return rows

        return [body_from_text(row[0]) for row in await self._run(page)]

    async def unresolved_incidents(self) -> list[dict[str, Any]]:
        return [body_from_text(row[0]) for row in await self._fetch(_UNRESOLVED)]

    async def add_timeline(self, entries: list[TimelineEntry]) -> int:
        rows = timeline_rows(entries)
        if not rows:
            return 0
        return _row_count(await self._write(_ADD_TIMELINE, *_columns(rows)))

    async def timeline(
        self, incident_id: str, *, limit: int = 1000
    ) -> list[TimelineEntry]:
        rows = await self._fetch(
            _TIMELINE, check_key_text("incident_id", incident_id), check_limit(limit)
        )
        return [timeline_from_row(row) for row in rows]

    async def create_user(self, user: User) -> bool:
        return _row_count(await self._write(_CREATE_USER, *user_row(user))) > 0

    async def update_user(self, user: User) -> bool:
        row = user_row(user)

        async def update(connection: asyncpg.Connection) -> str:
            try:
                status: str = await connection.execute(_UPDATE_USER, *row)
            except asyncpg.UniqueViolationError as exc:
                # The id is the row's own, so only the name can clash.
                raise name_taken(user.name) from exc
            return status

        return _row_count(await self._run(update, shield=True)) > 0

    async def get_user(self, user_id: str) -> User | None:
        rows = await self._fetch(_GET_USER, check_id("user_id", user_id))
        return user_from_row(rows[0]) if rows else None

    async def user_named(self, name: str) -> User | None:
        rows = await self._fetch(_USER_NAMED, check_id("name", name).lower())
        return user_from_row(rows[0]) if rows else None

    async def users(self) -> list[User]:
        return [user_from_row(row) for row in await self._fetch(_USERS)]

    async def delete_user(self, user_id: str) -> bool:
        status = await self._write(_DELETE_USER, check_id("user_id", user_id))
        return _row_count(status) > 0

    async def create_session(self, session: Session) -> None:
        await self._write(_CREATE_SESSION, *session_row(session))

    async def get_session(self, session_id: str) -> Session | None:
        rows = await self._fetch(_GET_SESSION, check_id("session_id", session_id))
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
        return _row_count(await self._write(_ROTATE_SESSION, *rotation)) == 1

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
        status = await self._write(
            sql, revocation.key, revocation.reason, revocation.now
        )
        return _row_count(status)

    async def sessions(self, user_id: str, *, now: float) -> list[Session]:
        rows = await self._fetch(
            _SESSIONS, check_id("user_id", user_id), check_time("now", now)
        )
        return [session_from_row(row) for row in rows]

    async def touch_sessions(self, seen: list[tuple[str, float, str]]) -> None:
        rows = latest_sightings(seen)
        if rows:
            await self._write(_TOUCH_SESSIONS, *_columns(rows))

    async def create_api_key(self, key: ApiKey) -> None:
        await self._write(_CREATE_API_KEY, *api_key_row(key))

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        rows = await self._fetch(_GET_API_KEY, check_id("key_id", key_id))
        return api_key_from_row(rows[0]) if rows else None

    async def api_keys(self, user_id: str | None = None) -> list[ApiKey]:
        if user_id is None:
            rows = await self._fetch(_API_KEYS)
        else:
            rows = await self._fetch(_USER_API_KEYS, check_id("user_id", user_id))
        return [api_key_from_row(row) for row in rows]

    async def revoke_api_key(self, key_id: str, *, now: float) -> bool:
        parameters = (check_id("key_id", key_id), check_time("now", now))
        usable: bool | None = await self._run(
            lambda connection: connection.fetchval(_REVOKE_API_KEY, *parameters),
            shield=True,
        )
        return bool(usable)

    async def touch_api_keys(self, used: list[tuple[str, float]]) -> None:
        rows = latest_uses(used)
        if rows:
            await self._write(_TOUCH_API_KEYS, *_columns(rows))

    async def add_activity(self, entries: list[Activity]) -> None:
        check_list("entries", entries, Activity)
        await self._insert_rows(_ADD_ACTIVITY, [activity_row(e) for e in entries])

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
            f"ORDER BY id DESC LIMIT ${len(parameters) + 1}"
        )
        rows = await self._fetch(sql, *parameters, check_limit(limit))
        return [activity_from_row(row) for row in rows]

    async def gateway_secret(self, name: str, candidate: str, *, at: float) -> str:
        row = check_secret(name, candidate, at)

        async def keep(connection: asyncpg.Connection) -> str:
            # Two statements, each with a snapshot of its own: the read sees
            # the row of a gateway whose insert this one waited for.
            await connection.execute(_KEEP_SECRET, *row)
            secret: str = await connection.fetchval(_GET_SECRET, row[0])
            return secret

        return await self._run(keep, shield=True)

    async def enforce_retention(self, days: float, *, now: float | None = None) -> int:
        """Delete rows older than ``days`` before ``now`` (default: the clock).

        Whole days of results go by dropping their partition (see
        ``_retain``); the rest goes in batches of RETENTION_BATCH rows, one
        statement each. Minute rollups go with the results, hourly ones
        after HOURLY_ROLLUP_DAYS at least; neither counts in the number
        returned. Like a write, retention runs on when its caller is
        cancelled.
        """
        cutoffs = retention_cutoffs(days, now)

        deleted = await self._run(functools.partial(self._retain, cutoffs), shield=True)
        if deleted:
            logger.info(
                "retention removed %d rows from over %g days ago", deleted, days
            )
        return deleted

    async def _create_pool(self) -> asyncpg.Pool:
        settings = self.connection_settings
        try:
            return await asyncpg.create_pool(
                **settings.server(),
                min_size=settings.pool_min,
                max_size=settings.pool_max,
                server_settings={
                    "search_path": _quote(settings.schema),
                    "application_name": f"upcast {settings.schema}"[:63],
                },
            )
        except _DATABASE_ERRORS as exc:
            raise self._error(exc, "cannot connect to") from exc

    async def _current_version(self, connection: asyncpg.Connection) -> int:
        """The schema version, which must be this version's: nothing is migrated.

        For a store opened only to read, such as a read replica for reports.
        """
        found = await _schema_version(connection, self.connection_settings.schema)
        known = len(self._migrations)
        if found > known:
            raise SchemaTooNewError(self.connection_settings.location, found, known)
        if found < known:
            raise behind_error(self.connection_settings.location, found, known)
        return found

    async def _migrate(self, connection: asyncpg.Connection) -> int:
        """Bring the schema up to date; the version it is at then.

        1. In one transaction under the store's advisory lock: read the
           version (0 while the schema or its version table is missing) and
           refuse a newer one before anything changes; then create the
           schema and the version table if they are missing.
        2. Apply each pending migration in a transaction of its own, under
           the lock again, together with its row in the version table. The
           version is read again first, so a migration another process
           applied in between is skipped.
        """
        schema = self.connection_settings.schema
        lock = _lock_key("migrations", schema)
        known = self._migrations[-1].version if self._migrations else 0
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", lock)
            version = await _schema_version(connection, schema)
            if version > known:
                raise SchemaTooNewError(
                    self.connection_settings.location, version, known
                )
            if not await connection.fetchval(_SCHEMA_EXISTS, schema):
                await connection.execute(f"CREATE SCHEMA {_quote(schema)}")
            await connection.execute(_CREATE_VERSION_TABLE)

        pending = [step for step in self._migrations if step.version > version]
        for number, migration in enumerate(pending, start=1):
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock($1)", lock)
                version = await _schema_version(connection, schema)
                if version > known:
                    raise SchemaTooNewError(
                        self.connection_settings.location, version, known
                    )
                if version >= migration.version:
                    continue
                if self._progress is not None:
                    self._progress(number, len(pending), migration.description)
                logger.info(
                    "migrating %s to schema version %d (%s)",
                    self.connection_settings.location,
                    migration.version,
                    migration.description,
                )
                await connection.execute(migration.sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (version, description) "
                    "VALUES ($1, $2)",
                    migration.version,
                    migration.description,
                )
                version = migration.version
        return version

    async def _insert_results(
        self,
        records: list[tuple[Any, ...]],
        rollups: list[_Upsert],
        connection: asyncpg.Connection,
    ) -> int:
        """Store the results not stored yet, and their rollups; how many were new.

        1. Make the partitions of the days the batch touches.
        2. Copy the batch in (see ``_copy_results``); ``rollups`` add the
           whole batch, for when every row is new.
        3. When no partition took a row, another process dropped one this
           store still counted on: read the partitions again, make the
           missing ones and copy once more.
        """
        days = {_day_of(record[1]) for record in records}
        await self._partitions.ensure(connection, days)
        try:
            return await _copy_results(connection, records, rollups)
        except asyncpg.CheckViolationError:
            logger.debug("a result partition went missing; reading them again")
            await self._partitions.load(connection)
            await self._partitions.ensure(connection, days)
            return await _copy_results(connection, records, rollups)

    async def _retain(self, cutoffs: Cutoffs, connection: asyncpg.Connection) -> int:
        """Remove rows from before the cutoffs; how many went, rollups aside.

        1. Drop each day partition that ends at or before the cutoff,
           counting its rows first. Each drop is a transaction that locks the
           parent table first, so no write lands in the partition between the
           count and the drop, and locks are always taken parent first; reads
           and writes of results wait for the few milliseconds a drop takes.
        2. Delete the older rows left (those of the day the cutoff falls in,
           and of the partition before year 1) in batches.
        3. Delete old state changes and events in batches.
        4. Delete minute rollups from before the same cutoff, and hourly
           ones from before theirs, in batches too.
        5. Delete settled outbox entries, old delivery attempts, and
           incidents resolved before the cutoff with their timelines.
        6. Delete sessions that expired or were revoked before the cutoff.
        """
        cutoff = cutoffs.rows
        deleted = 0
        for name, day in await _partition_days(connection):
            if (day + 1) * _DAY > cutoff:
                continue
            async with connection.transaction():
                await connection.execute(
                    "LOCK TABLE ONLY results IN ACCESS EXCLUSIVE MODE"
                )
                if await connection.fetchval("SELECT to_regclass($1)", name) is None:
                    continue
                count = await connection.fetchval(
                    f"SELECT count(*) FROM {_quote(name)}"
                )
                await connection.execute(f"DROP TABLE {_quote(name)}")
            self._partitions.forget(day)
            deleted += int(count)
            logger.debug("dropped result partition %s of %d rows", name, count)

        for statement in (_DELETE_OLD_RESULTS, _DELETE_OLD_CHANGES, _DELETE_OLD_EVENTS):
            deleted += await _delete_in_batches(connection, statement, cutoff)

        await _delete_in_batches(connection, _DELETE_OLD_ROLLUPS, cutoffs.hourly)
        await connection.execute(_DELETE_OLD_HOUR_CHANGES, cutoffs.hourly)
        await _delete_in_batches(connection, _DELETE_OLD_OUTBOX, cutoff)
        await _delete_in_batches(connection, _DELETE_OLD_ATTEMPTS, cutoff)
        await _delete_in_batches(connection, _DELETE_OLD_INCIDENTS, cutoff)
        await _delete_in_batches(connection, _DELETE_ENDED_SESSIONS, cutoff)
        return deleted

    async def _fetch(self, sql: str, *parameters: object) -> list[Any]:
        """The rows of one query."""
        rows: list[Any] = await self._run(
            lambda connection: connection.fetch(sql, *parameters)
        )
        return rows

    async def _write(self, sql: str, *parameters: object) -> str:
        """Run one writing statement, shielded; its command tag."""
        status: str = await self._run(
            lambda connection: connection.execute(sql, *parameters), shield=True
        )
        return status

    async def _insert_rows(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        """Insert rows with a statement that takes one array per column."""
        listed = list(rows)
        if listed:
            await self._write(sql, *_columns(listed))

    async def _run(
        self,
        work: Callable[[asyncpg.Connection], Awaitable[T]],
        *,
        shield: bool = False,
    ) -> T:
        """Run ``work`` on a pooled connection, translating the driver's errors.

        With ``shield`` (every write), cancelling the caller stops the wait,
        not the work, as in the SQLite store: a shutdown never leaves a batch
        half sent, and ``close`` waits for it.
        """
        pool = self._claim()
        operation = self._operate(pool, work)
        if not shield:
            return await operation
        task = asyncio.ensure_future(operation)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self._abandoned.add(task)
            task.add_done_callback(self._settle_abandoned)
            raise

    async def _operate(
        self, pool: asyncpg.Pool, work: Callable[[asyncpg.Connection], Awaitable[T]]
    ) -> T:
        try:
            async with pool.acquire() as connection:
                return await work(connection)
        except _DATABASE_ERRORS as exc:
            raise self._error(exc) from exc
        finally:
            self._release()

    def _claim(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreClosedError("the store is not open")
        self._busy += 1
        self._idle.clear()
        return self._pool

    def _release(self) -> None:
        self._busy -= 1
        if self._busy == 0:
            self._idle.set()

    def _settle_abandoned(self, task: asyncio.Future[Any]) -> None:
        """Log the failure of a write nobody waits for any more."""
        self._abandoned.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "a write whose caller was cancelled failed",
                exc_info=task.exception(),
            )

    async def _drain(self, pool: asyncpg.Pool) -> None:
        await self._idle.wait()
        try:
            await pool.close()
        except _DATABASE_ERRORS:
            logger.warning(
                "%s did not close cleanly", self.connection_settings.location
            )
        logger.info("closed %s", self.connection_settings.location)

    def _error(self, exc: BaseException, doing: str | None = None) -> StoreError:
        """A driver or network error as a StoreError that says if a retry helps.

        The message names the database by its location and has the password
        masked, in case the server or the driver ever quotes it.
        """
        text = str(exc) or type(exc).__name__
        if self.connection_settings.password:
            text = text.replace(self.connection_settings.password, "***")
        location = self.connection_settings.location
        where = f"{doing} {location}" if doing else location
        return StoreError(f"{where}: {text}", retryable=_retryable(exc))


class _Partitions:
    """The day partitions of ``results`` this process knows exist, and more of them.

    Knowing them spares each write a look at the catalogue; one that another
    process dropped shows up as a failed insert, after which the store reads
    them again.
    """

    def __init__(self, lock_key: int) -> None:
        self._days: set[int] = set()
        self._lock = asyncio.Lock()
        self._lock_key = lock_key

    async def load(self, connection: asyncpg.Connection) -> None:
        self._days = {day for _, day in await _partition_days(connection)}

    def forget(self, day: int) -> None:
        self._days.discard(day)

    async def ensure(self, connection: asyncpg.Connection, days: Iterable[int]) -> None:
        """Make the partitions of those days that are not known yet.

        Days outside the years 1 to 9999 have their partitions from the first
        migration. One task of the process makes partitions at a time, and an
        advisory lock keeps other processes out meanwhile, so IF NOT EXISTS
        never races another creation of the same table.
        """
        missing = {
            day
            for day in days
            if day not in self._days and _FIRST_DAY <= day <= _LAST_DAY
        }
        if not missing:
            return
        async with self._lock:
            missing -= self._days
            if not missing:
                return
            async with connection.transaction():
                await connection.execute(
                    "SELECT pg_advisory_xact_lock($1)", self._lock_key
                )
                for day in sorted(missing):
                    start = day * _DAY
                    await connection.execute(
                        f"CREATE TABLE IF NOT EXISTS {_quote(_partition_name(day))} "
                        f"PARTITION OF results FOR VALUES FROM ({start}) "
                        f"TO ({start + _DAY})"
                    )
            self._days |= missing
        logger.debug(
            "made result partitions for %d days from %s",
            len(missing),
            _partition_name(min(missing)),
        )


_RESULT_COLUMNS = (
    "monitor_id",
    "started_at",
    "ok",
    "latency_ms",
    "state",
    "reason",
    "message",
    "retryable",
    "attempt",
    "lateness_ms",
    "phases",
    "details",
)
_RESULT_SELECT = ", ".join(_RESULT_COLUMNS)

_CREATE_VERSION_TABLE = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        description text NOT NULL,
        applied_at double precision NOT NULL DEFAULT extract(epoch FROM now())
    )
"""

_SCHEMA_EXISTS = "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)"

_PARTITIONS = """
    SELECT child.relname FROM pg_inherits
    JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid
    WHERE pg_inherits.inhparent = 'results'::regclass
"""

# Kept for the connection's life and emptied at each commit, so a batch
# delivered twice costs no catalogue churn.
_CREATE_INCOMING = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS results_incoming (LIKE results) "
    "ON COMMIT DELETE ROWS"
)

# Returns what a rollup counts of each result that was new.
_MERGE_INCOMING = (
    f"INSERT INTO results ({_RESULT_SELECT}) "
    f"SELECT {_RESULT_SELECT} FROM results_incoming ON CONFLICT DO NOTHING "
    "RETURNING monitor_id, started_at, ok, latency_ms"
)

_ROLLUP_COLUMNS = (
    "monitor_id",
    "start",
    "count",
    "ok",
    "latency_min",
    "latency_max",
    "latency_sum",
    *HISTOGRAM_COLUMNS,
)
_ROLLUP_SELECT = ", ".join(_ROLLUP_COLUMNS)


def _add_rollups(table: str) -> str:
    """An upsert that rolls results up into ``table`` and adds them to its rows.

    It takes one array per field of the results: monitor, bucket start,
    whether the check passed, latency and histogram bucket, the last two
    chosen by ``store.rollups``. The database groups them by monitor and
    bucket, in key order, so writers sharing buckets lock them in the same
    order and never deadlock. Counts and sums add up; least and greatest
    skip NULLs, so a bucket with no passing check yet takes the new minimum
    and maximum. The new row's seq, drawn from the sequence by default,
    marks the change.
    """
    histogram = ", ".join(
        f"count(*) FILTER (WHERE ok AND bucket = {index})"
        for index in range(len(HISTOGRAM_COLUMNS))
    )
    added = ", ".join(
        f"{column} = kept.{column} + excluded.{column}"
        for column in ("count", "ok", "latency_sum", *HISTOGRAM_COLUMNS)
    )
    return (
        f"INSERT INTO {table} AS kept ({_ROLLUP_SELECT}) "
        "SELECT monitor_id, start, count(*), count(*) FILTER (WHERE ok), "
        "min(latency_ms) FILTER (WHERE ok), max(latency_ms) FILTER (WHERE ok), "
        f"coalesce(sum(latency_ms) FILTER (WHERE ok), 0), {histogram} "
        "FROM unnest($1::text[], $2::float8[], $3::boolean[], $4::float8[], "
        "$5::integer[]) AS batch (monitor_id, start, ok, latency_ms, bucket) "
        'GROUP BY monitor_id, start ORDER BY monitor_id COLLATE "C", start '
        f"ON CONFLICT (monitor_id, start) DO UPDATE SET {added}, "
        "latency_min = least(kept.latency_min, excluded.latency_min), "
        "latency_max = greatest(kept.latency_max, excluded.latency_max), "
        "seq = excluded.seq"
    )


def _roll_up_results(keys: str, where: str, rest: str) -> str:
    """A query rolling results up as ``store.rollups`` does, grouped by ``keys``.

    Each passing latency lands in the first histogram bucket whose bound it
    does not exceed; the columns come out as a rollup row's after its keys.
    """
    lower = None
    buckets = []
    for bound in (*LATENCY_BOUNDS_MS, None):
        inside = [] if lower is None else [f"latency_ms > {lower!r}"]
        if bound is not None:
            inside.append(f"latency_ms <= {bound!r}")
        buckets.append(f"count(*) FILTER (WHERE ok AND {' AND '.join(inside)})")
        lower = bound
    return (
        f"SELECT {keys}, count(*), count(*) FILTER (WHERE ok), "
        "min(latency_ms) FILTER (WHERE ok), max(latency_ms) FILTER (WHERE ok), "
        "coalesce(sum(latency_ms) FILTER (WHERE ok), 0), "
        f"{', '.join(buckets)} FROM results {where} {rest}"
    )


def _first_bucket_at(moment: float, span: int) -> float:
    """Where the first bucket starting at or after ``moment`` starts."""
    return float(math.ceil(moment / span) * span)


def _sum_rollups(table: str) -> str:
    """A query summing each monitor's rows of ``table``; ``{where}`` picks them."""
    histogram = ", ".join(f"sum({column})" for column in HISTOGRAM_COLUMNS)
    return (
        "SELECT monitor_id, sum(count), sum(ok), min(latency_min), "
        f"max(latency_max), sum(latency_sum), {histogram} FROM {table} "
        "{where} GROUP BY monitor_id ORDER BY monitor_id"
    )


_ADD_ROLLUPS = _add_rollups("rollup_hour")

_MARK_CHANGED_HOURS = """
    INSERT INTO rollup_hour_changes AS kept (start, seq)
    SELECT start, nextval('rollup_seq')
    FROM (SELECT DISTINCT unnest($1::float8[]) AS start ORDER BY 1) AS hours
    ON CONFLICT (start) DO UPDATE SET seq = excluded.seq
"""
"""Give each hour a batch touched a seq above those of the rows it changed."""

_READ_ROLLUPS = {
    "hour": f"SELECT {_ROLLUP_SELECT} FROM rollup_hour "
    "WHERE monitor_id = $1 AND start >= $2 AND start < $3 ORDER BY start LIMIT $4",
    "minute": _roll_up_results(
        "monitor_id, floor(started_at / 60) * 60",
        "WHERE monitor_id = $1 AND started_at >= $2 AND started_at < $3",
        "GROUP BY monitor_id, floor(started_at / 60) ORDER BY 2 LIMIT $4",
    ),
}

_SUM_ROLLUPS = {
    "hour": _sum_rollups("rollup_hour"),
    "minute": _roll_up_results(
        "monitor_id", "{where}", "GROUP BY monitor_id ORDER BY monitor_id"
    ),
}

_DELETE_OLD_ROLLUPS = (
    "DELETE FROM rollup_hour WHERE (monitor_id, start) IN ("
    "SELECT monitor_id, start FROM rollup_hour WHERE start < $1 LIMIT $2)"
)

_DELETE_OLD_HOUR_CHANGES = "DELETE FROM rollup_hour_changes WHERE start < $1"

_Upsert = tuple[str, list[list[Any]]]
"""A statement and the arrays it takes."""

_UPSERT_MONITORS = """
    INSERT INTO monitors (id, name, kind, enabled, tags, definition)
    SELECT id, name, kind, enabled, tags::jsonb, definition
    FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[],
        $6::text[]) AS given (id, name, kind, enabled, tags, definition)
    ON CONFLICT (id) DO UPDATE SET
        name = excluded.name,
        kind = excluded.kind,
        enabled = excluded.enabled,
        tags = excluded.tags,
        definition = excluded.definition,
        updated_at = excluded.updated_at,
        seq = excluded.seq
"""

_INSERT_STATE_CHANGES = """
    INSERT INTO state_changes
        (monitor_id, at, state_before, state_after, reason, message)
    SELECT * FROM unnest($1::text[], $2::float8[], $3::text[], $4::text[],
        $5::text[], $6::text[])
    ON CONFLICT DO NOTHING
"""

_INSERT_EVENTS = """
    INSERT INTO events (id, at, type, monitor_id, data)
    SELECT id, at, type, monitor_id, data::json
    FROM unnest($1::text[], $2::float8[], $3::text[], $4::text[], $5::text[])
        AS given (id, at, type, monitor_id, data)
    ON CONFLICT (id) DO NOTHING
"""

# The outer condition on started_at keeps the delete to the partitions that
# can hold old rows; the key then finds each row through the unique index.
_DELETE_OLD_RESULTS = """
    DELETE FROM results
    USING (SELECT monitor_id, started_at FROM results
        WHERE started_at < $1 LIMIT $2) AS old
    WHERE results.started_at < $1
        AND results.monitor_id = old.monitor_id
        AND results.started_at = old.started_at
"""

_DELETE_OLD_CHANGES = """
    DELETE FROM state_changes WHERE seq IN (
        SELECT seq FROM state_changes WHERE at < $1 LIMIT $2)
"""

_DELETE_OLD_EVENTS = """
    DELETE FROM events WHERE id IN (
        SELECT id FROM events WHERE at < $1 LIMIT $2)
"""


async def _schema_version(connection: asyncpg.Connection, schema: str) -> int:
    """The last migration recorded, or 0 before the version table exists."""
    table = f"{_quote(schema)}.schema_migrations"
    if await connection.fetchval("SELECT to_regclass($1)", table) is None:
        return 0
    version = await connection.fetchval(
        f"SELECT coalesce(max(version), 0) FROM {table}"
    )
    return int(version)


async def _partition_days(connection: asyncpg.Connection) -> list[tuple[str, int]]:
    """Each day partition of ``results`` by name, with its day, oldest first."""
    found = []
    for row in await connection.fetch(_PARTITIONS):
        match = _PARTITION_NAME.fullmatch(row["relname"])
        if match is not None:
            date = datetime.date(int(match[1]), int(match[2]), int(match[3]))
            found.append((row["relname"], (date - _EPOCH).days))
    return sorted(found, key=lambda partition: partition[1])


async def _copy_results(
    connection: asyncpg.Connection,
    records: list[tuple[Any, ...]],
    rollups: list[_Upsert],
) -> int:
    """Copy results into ``results`` and roll them up; how many were new.

    1. Fast path: in one transaction, binary COPY straight into
       ``results``, then ``rollups``, which add the whole batch.
    2. When a row is stored already, the unique index refuses the COPY and
       the transaction rolls back. Then COPY the batch into a temporary
       table and insert from it what is new, skipping the conflicts; the
       rows the insert returns are the new results, and only they are
       rolled up, in the same transaction.
    """
    try:
        async with connection.transaction():
            await connection.copy_records_to_table(
                "results", records=records, columns=_RESULT_COLUMNS
            )
            await _upsert_rollups(connection, rollups)
    except asyncpg.UniqueViolationError:
        logger.debug("a batch of %d results holds stored ones; merging", len(records))
    else:
        return len(records)

    async with connection.transaction():
        await connection.execute(_CREATE_INCOMING)
        await connection.copy_records_to_table(
            "results_incoming", records=records, columns=_RESULT_COLUMNS
        )
        stored = await connection.fetch(_MERGE_INCOMING)
        await _upsert_rollups(connection, _rollup_upserts(stored))
    return len(stored)


async def _upsert_rollups(
    connection: asyncpg.Connection, upserts: list[_Upsert]
) -> None:
    for statement, arrays in upserts:
        await connection.execute(statement, *arrays)


def _rollup_upserts(rows: Sequence[Sequence[Any]]) -> list[_Upsert]:
    """The statements that add results to the hourly rollups and mark the hours.

    ``rows`` start with a result's monitor, start time, whether it passed
    and its latency: COPY records, or the rows a merge returns. Python picks
    each result's buckets, so they are those of ``store.rollups`` on every
    backend; the database adds them up (see ``_add_rollups``), which costs
    less than sending the sums of every bucket. Minute rollups are read
    from the results (see ``_roll_up_results``), so nothing keeps them.
    """
    if not rows:
        return []
    hours = [bucket_start(row[1], HOUR) for row in rows]
    arrays = [
        [row[0] for row in rows],
        hours,
        [row[2] for row in rows],
        [row[3] for row in rows],
        [bucket_of(row[3]) for row in rows],
    ]
    return [(_ADD_ROLLUPS, arrays), (_MARK_CHANGED_HOURS, [hours])]


async def _delete_in_batches(
    connection: asyncpg.Connection, statement: str, cutoff: float
) -> int:
    """Run a delete of up to RETENTION_BATCH old rows until one comes back short.

    Each batch commits on its own, so no transaction holds locks for long;
    returns how many rows went in all.
    """
    deleted = 0
    while True:
        status = await connection.execute(statement, cutoff, RETENTION_BATCH)
        count = _row_count(status)
        deleted += count
        if count < RETENTION_BATCH:
            return deleted


async def _upsert_monitors(
    rows: list[MonitorRow], connection: asyncpg.Connection
) -> None:
    """Insert or replace definitions by id, all in one transaction.

    One statement cannot update a row twice, so the list is reduced to the
    last row of each id first: the later definition wins, as promised.
    """
    latest = list({row.id: row for row in rows}.values())
    async with connection.transaction():
        await connection.execute(_TAKE_TRANSACTION_ID)
        for start in range(0, len(latest), MONITORS_PER_STATEMENT):
            chunk = latest[start : start + MONITORS_PER_STATEMENT]
            await connection.execute(_UPSERT_MONITORS, *_columns(chunk))


def _result_records(results: list[CheckResult]) -> list[tuple[Any, ...]]:
    """Check a batch and turn it into COPY records, or ValueError naming the row.

    Every row is checked before any is sent, so a bad batch writes nothing.
    """
    check_list("results", results, CheckResult)
    records = []
    for index, result in enumerate(results):
        place = f"results[{index}]"
        check_result(place, result)
        phases = to_json(f"{place}.phases", result.phases)
        details = to_json(f"{place}.details", result.details)
        records.append(
            (
                result.monitor_id,
                float(result.started_at),
                bool(result.ok),
                float(result.latency_ms),
                str(result.state),
                _text_or_none(result.reason),
                result.message,
                bool(result.retryable),
                result.attempt,
                float(result.lateness_ms),
                phases,
                details,
            )
        )
    return records


def _result(row: Mapping[str, Any]) -> CheckResult:
    return CheckResult.from_dict(
        {
            **row,
            "phases": json.loads(row["phases"]),
            "details": json.loads(row["details"]),
        }
    )


def _rollup(row: tuple[Any, ...]) -> Rollup:
    """A rollup from a row of its columns in ``_ROLLUP_COLUMNS`` order."""
    monitor_id, start, count, ok, latency_min, latency_max, latency_sum = row[:7]
    return Rollup(
        monitor_id,
        start,
        count,
        ok,
        latency_min,
        latency_max,
        latency_sum,
        list(row[7:]),
    )


def _summary(row: tuple[Any, ...]) -> Summary:
    """A summary from a row of ``_SUM_ROLLUPS``: the sums, then the histogram."""
    monitor_id, count, ok, latency_min, latency_max, latency_sum = row[:6]
    return summarise(
        monitor_id, count, ok, latency_min, latency_max, latency_sum, row[6:]
    )


def _newest_of_each(columns: str) -> str:
    """A query for the newest result of each monitor in the id array ``$1``.

    The ids travel as one array, so a page of thousands needs neither a
    temporary table nor thousands of placeholders; each is looked up at the
    end of its range of the unique index.
    """
    return (
        f"SELECT newest.* FROM unnest($1::text[]) AS wanted (id) "
        f"CROSS JOIN LATERAL (SELECT {columns} FROM results "
        "WHERE monitor_id = wanted.id ORDER BY started_at DESC LIMIT 1) AS newest"
    )


def _where(*clauses: tuple[str, object]) -> tuple[str, list[object]]:
    """``where_clause`` with PostgreSQL's numbered placeholders.

    Leaving out a filter also lets the planner prune the result partitions.
    """
    return where_clause(clauses, lambda number: f"${number}")


def _columns(rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows turned into one list per column, the arrays an ``unnest`` insert takes."""
    return [list(column) for column in zip(*rows, strict=True)]


def _distinct(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _row_count(status: str) -> int:
    """The row count at the end of a command tag such as ``INSERT 0 5``."""
    return int(status.rsplit(" ", 1)[-1])


def _day_of(moment: float) -> int:
    """The UTC day (counted from 1970-01-01) a time falls in.

    Dividing can round a time a hair before midnight up to the next day, so
    the day is checked against the exact bounds its partition has.
    """
    day = math.floor(moment / _DAY)
    if day * _DAY > moment:
        day -= 1
    elif (day + 1) * _DAY <= moment:
        day += 1
    return day


def _partition_name(day: int) -> str:
    date = _EPOCH + datetime.timedelta(days=day)
    return f"results_{date.year:04d}{date.month:02d}{date.day:02d}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lock_key(purpose: str, schema: str) -> int:
    """An advisory lock key of its own for each purpose and schema.

    Stores in different schemas of one database never wait for each other.
    """
    digest = hashlib.blake2b(f"upcast {purpose} {schema}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, OSError | TimeoutError):
        return True
    state = getattr(exc, "sqlstate", None)
    if not isinstance(state, str):
        return False
    return state[:2] in _RETRYABLE_CLASSES or state in _RETRYABLE_STATES


FEED_HORIZON_WAIT = 2.0
"""Seconds a feed read waits for older transactions to end before it gives up."""

_TAKE_TRANSACTION_ID = "SELECT pg_current_xact_id()"
"""Run first in a transaction that draws feed positions (see ``_feed``)."""

_FEED_HORIZON = """
    SELECT CASE WHEN is_called THEN last_value ELSE 0 END,
        pg_snapshot_xmax(pg_current_snapshot())
    FROM {sequence}
"""

_ENDED_BEFORE = "SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1"

_MONITOR_FEED = """
    SELECT id, name, kind, enabled, tags::text, definition, seq FROM monitors
    WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3
"""

_ROLLUP_FEED = f"""
    SELECT {_ROLLUP_SELECT}, seq FROM rollup_hour
    WHERE start IN (SELECT start FROM rollup_hour_changes WHERE seq > $1)
        AND seq > $1 AND seq <= $2
    ORDER BY seq LIMIT $3
"""
"""Rows changed in ``($1, $2]``, looked for only in the hours changed after $1."""

_EVENT_FEED = """
    SELECT id, at, type, monitor_id, data, seq FROM events
    WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3
"""

_HOURLY_TOTALS = """
    SELECT start, count(*), sum(count), sum(ok), sum(latency_sum) FROM rollup_hour
    WHERE start >= $1 AND start < $2 GROUP BY start ORDER BY start
"""

_EVENT_TOTALS = """
    SELECT floor(at / 3600) * 3600, count(*) FROM events
    WHERE at >= $1 AND at < $2 GROUP BY 1 ORDER BY 1
"""

_HOUR_ROLLUPS = f"""
    SELECT {_ROLLUP_SELECT} FROM rollup_hour
    WHERE start = $1 AND monitor_id > $2 ORDER BY monitor_id LIMIT $3
"""

_EVENTS_BETWEEN = """
    SELECT id, at, type, monitor_id, data FROM events
    WHERE at >= $1 AND at < $2 AND id > $3 ORDER BY id LIMIT $4
"""


async def _insert_events(
    columns: list[list[Any]], connection: asyncpg.Connection
) -> None:
    async with connection.transaction():
        await connection.execute(_TAKE_TRANSACTION_ID)
        await connection.execute(_INSERT_EVENTS, *columns)


def _event(row: Mapping[str, Any]) -> Event:
    return Event(
        row["id"], row["at"], row["type"], row["monitor_id"], json.loads(row["data"])
    )


_COUNT_TABLES = """
    SELECT count(*) FROM pg_class
    JOIN pg_namespace ON pg_namespace.oid = pg_class.relnamespace
    WHERE pg_namespace.nspname = $1 AND pg_class.relkind IN ('r', 'p')
"""


async def read_schema_status(url: str) -> SchemaStatus:
    """Where the schema a URL names stands, read in a read-only transaction.

    Nothing is created, not even the schema or its version table, and a
    newer version than this one knows is reported, not refused. Errors name
    the database by its location, with the password masked.
    """
    settings = parse_url(url)
    migrations = packaged_migrations()
    try:
        connection = await asyncpg.connect(
            **settings.server(),
            server_settings={"application_name": "upcast storage status"},
        )
    except _DATABASE_ERRORS as exc:
        raise _settings_error(settings, exc, "cannot connect to") from exc

    try:
        async with connection.transaction(readonly=True):
            schema = settings.schema
            exists = bool(await connection.fetchval(_SCHEMA_EXISTS, schema))
            found = await _schema_version(connection, schema)
            applied = await _applied_migrations(connection, schema)
            tables = await connection.fetchval(_COUNT_TABLES, schema)
    except _DATABASE_ERRORS as exc:
        doing = "cannot read the schema version of"
        raise _settings_error(settings, exc, doing) from exc
    finally:
        try:
            await connection.close(timeout=CONNECT_TIMEOUT)
        except _DATABASE_ERRORS:
            connection.terminate()

    return SchemaStatus.compare(
        "postgresql",
        settings.location,
        migrations,
        found=found,
        applied=applied,
        exists=exists,
        empty=not tables,
    )


async def _applied_migrations(
    connection: asyncpg.Connection, schema: str
) -> tuple[AppliedMigration, ...]:
    """The rows of the version table, oldest first; none before it exists."""
    table = f"{_quote(schema)}.schema_migrations"
    if await connection.fetchval("SELECT to_regclass($1)", table) is None:
        return ()
    rows = await connection.fetch(
        f"SELECT version, description, applied_at FROM {table} ORDER BY version"
    )
    return tuple(
        AppliedMigration(row["version"], row["description"], row["applied_at"])
        for row in rows
    )


def _settings_error(
    settings: PostgresSettings, exc: BaseException, doing: str
) -> StoreError:
    """A driver or network error as a StoreError, the password masked."""
    text = str(exc) or type(exc).__name__
    if settings.password:
        text = text.replace(settings.password, "***")
    return StoreError(f"{doing} {settings.location}: {text}", retryable=_retryable(exc))


# A bucket's start in terms of the start of its hour's day, in UTC whatever
# the session's time zone: 1970-01-01 was a Thursday, three days after the
# Monday that starts its ISO week, and a month starts (day of month - 1)
# days before a day in it.
_UPTIME_PERIODS = {
    "day": "day",
    "week": "floor((day + 259200) / 604800) * 604800 - 259200",
    "month": "day - (date_part('day', to_timestamp(day) AT TIME ZONE 'UTC') - 1) "
    "* 86400",
}

# The monitors in the catalogue with any of the tags in an array, found
# through the GIN index on tags.
_HAS_ANY_TAG = "monitor_id IN (SELECT id FROM monitors WHERE tags ?| {}::text[])"

# Each monitor's checks per bucket, the rows by monitor. Days come from
# arithmetic rather than date_trunc, which took more than twice as long over
# the millions of hourly rows of a large fleet's month.
_UPTIME_BUCKETS = (
    "WITH buckets AS (SELECT monitor_id, {period} AS period_start, "
    "sum(count)::bigint AS checks, sum(ok)::bigint AS ok FROM ("
    "SELECT monitor_id, floor(start / 86400) * 86400 AS day, count, ok "
    "FROM rollup_hour {where}) AS hours GROUP BY monitor_id, period_start) "
)

_UPTIME_BY_MONITOR = (
    "SELECT period_start, monitor_id, checks, ok FROM buckets "
    "ORDER BY period_start, monitor_id"
)

# Buckets of monitors fanned out to their tags, each tag of a monitor once
# (a jsonb array can repeat one), and summed per bucket and tag; tags sort
# byte by byte, as ids do.
_UPTIME_BY_TAG = (
    "SELECT period_start, tagged.tag, sum(checks)::bigint, sum(ok)::bigint "
    "FROM buckets JOIN (SELECT DISTINCT id, tag FROM monitors "
    "CROSS JOIN jsonb_array_elements_text(tags) AS tag{only}) AS tagged "
    "ON tagged.id = buckets.monitor_id GROUP BY period_start, tagged.tag "
    'ORDER BY period_start, tagged.tag COLLATE "C"'
)


_OUTBOX_COLUMNS = (
    "id, channel_id, key, payload::text, state, attempts, next_at, created_at, "
    "last_status, last_detail, claim"
)

_ATTEMPT_COLUMNS = "entry_id, channel_id, attempt, at, ok, status, detail, response"

_ENQUEUE = """
    INSERT INTO outbox (channel_id, key, payload, state, next_at, created_at,
        updated_at)
    SELECT channel_id, key, payload::jsonb, 'pending', at, at, at
    FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[])
        AS given (channel_id, key, payload, at)
    ON CONFLICT (channel_id, key) DO NOTHING
"""

# Pending entries whose time has come, and entries whose sender's lease ran
# out; rows another claim is taking right now are skipped, not waited for.
_CLAIM_DUE = f"""
    UPDATE outbox SET state = 'sending', claim = claim + 1, next_at = $1 + $3,
        updated_at = $1
    WHERE id IN (
        SELECT id FROM outbox
        WHERE state IN ('pending', 'sending') AND next_at <= $1
        ORDER BY next_at, id LIMIT $2
        FOR UPDATE SKIP LOCKED
    )
    RETURNING {_OUTBOX_COLUMNS}
"""

_SETTLE = """
    UPDATE outbox SET state = $1, attempts = attempts + 1, next_at = $2,
        last_status = $3, last_detail = $4, updated_at = $5
    WHERE id = $6 AND claim = $7 AND state = 'sending'
    RETURNING attempts
"""

_LOG_ATTEMPT = f"""
    INSERT INTO delivery_attempts ({_ATTEMPT_COLUMNS})
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""

_REQUEUE = """
    UPDATE outbox SET state = 'pending', next_at = $1, updated_at = $1
    WHERE id = $2 AND state = 'dead'
"""

_DELETE_OLD_OUTBOX = """
    DELETE FROM outbox WHERE id IN (
        SELECT id FROM outbox
        WHERE state IN ('sent', 'dead') AND updated_at < $1 LIMIT $2)
"""

_DELETE_OLD_ATTEMPTS = """
    DELETE FROM delivery_attempts WHERE seq IN (
        SELECT seq FROM delivery_attempts WHERE at < $1 LIMIT $2)
"""


# xmax is 0 in a row version no transaction has replaced: the row was
# inserted, not updated by the conflict clause.
_PUT_SETTING = """
    INSERT INTO alert_settings (kind, id, body, updated_at)
    VALUES ($1, $2, $3::jsonb, $4)
    ON CONFLICT (kind, id) DO UPDATE SET
        body = excluded.body, updated_at = excluded.updated_at
    RETURNING xmax = 0
"""

_GET_SETTING = "SELECT body::text FROM alert_settings WHERE kind = $1 AND id = $2"

_SETTINGS = "SELECT body::text FROM alert_settings WHERE kind = $1 ORDER BY id"

_DELETE_SETTING = "DELETE FROM alert_settings WHERE kind = $1 AND id = $2"

_PUT_INCIDENTS = """
    INSERT INTO incidents
        (id, monitor_id, status, opened_at, updated_at, resolved_at, body)
    SELECT id, monitor_id, status, opened_at, updated_at, resolved_at, body::jsonb
    FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[],
        $6::float8[], $7::text[])
        AS given (id, monitor_id, status, opened_at, updated_at, resolved_at, body)
    ON CONFLICT (id) DO UPDATE SET
        monitor_id = excluded.monitor_id,
        status = excluded.status,
        opened_at = excluded.opened_at,
        updated_at = excluded.updated_at,
        resolved_at = excluded.resolved_at,
        body = excluded.body
"""

_GET_INCIDENT = "SELECT body::text FROM incidents WHERE id = $1"

_GET_OPENED_AT = "SELECT opened_at FROM incidents WHERE id = $1"

# The condition is the one of the partial index incidents_unresolved.
_UNRESOLVED = """
    SELECT body::text FROM incidents WHERE status <> 'resolved'
    ORDER BY opened_at, id
"""

_ADD_TIMELINE = """
    INSERT INTO incident_timeline (incident_id, entry_id, at, kind, data)
    SELECT incident_id, entry_id, at, kind, data::jsonb
    FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[], $5::text[])
        AS given (incident_id, entry_id, at, kind, data)
    ON CONFLICT (incident_id, entry_id) DO NOTHING
"""

_TIMELINE = """
    SELECT incident_id, entry_id, at, kind, data::text FROM incident_timeline
    WHERE incident_id = $1 ORDER BY at, entry_id LIMIT $2
"""

# A batch of incidents resolved before the cutoff goes with its timelines
# in one statement. The batch is locked as it is picked, and a row reopened
# meanwhile is checked again and left out.
_DELETE_OLD_INCIDENTS = """
    WITH old AS (
        SELECT id FROM incidents
        WHERE status = 'resolved' AND resolved_at < $1 LIMIT $2
        FOR UPDATE
    ), timelines AS (
        DELETE FROM incident_timeline WHERE incident_id IN (SELECT id FROM old)
    )
    DELETE FROM incidents WHERE id IN (SELECT id FROM old)
"""


_CREATE_USER = f"""
    INSERT INTO users ({USER_COLUMNS})
    VALUES ($1, $2, $3, $4, $5::json, $6::json, $7, $8, $9)
    ON CONFLICT DO NOTHING
"""

_UPDATE_USER = """
    UPDATE users SET name = $2, role = $3, password_hash = $4,
        password_history = $5::json, teams = $6::json, disabled = $7,
        created_at = $8, updated_at = $9
    WHERE id = $1
"""

_GET_USER = f"SELECT {USER_COLUMNS} FROM users WHERE id = $1"

_USER_NAMED = f"SELECT {USER_COLUMNS} FROM users WHERE name = $1"

_USERS = f"SELECT {USER_COLUMNS} FROM users ORDER BY name"

# The sessions and keys go in the same statement as the account.
_DELETE_USER = """
    WITH sessions_gone AS (
        DELETE FROM sessions WHERE user_id = $1
    ), keys_gone AS (
        DELETE FROM api_keys WHERE user_id = $1
    )
    DELETE FROM users WHERE id = $1
"""

_CREATE_SESSION = f"""
    INSERT INTO sessions ({SESSION_COLUMNS})
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""

_GET_SESSION = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"

# Numbered in the order of the fields of store.accounts.Rotation. Of two
# rotations with one token, the second waits for the first to commit, then
# checks its conditions again against the new row and finds the generation
# moved on.
_ROTATE_SESSION = """
    UPDATE sessions SET generation = generation + 1, token_hash = $4,
        last_seen_at = $5, expires_at = $6, user_agent = $7, address = $8
    WHERE id = $1 AND generation = $2 AND token_hash = $3
        AND revoked_at IS NULL AND $5 < expires_at
"""

# Only sessions still active are ended, so the count is of those, and an
# earlier revocation (or expiry) stays the one on record.
_REVOKE_SESSIONS = """
    UPDATE sessions SET revoked_at = $3, revoked_reason = $2
    WHERE {column} = $1 AND revoked_at IS NULL AND $3 < expires_at
"""

_SESSIONS = f"""
    SELECT {SESSION_COLUMNS} FROM sessions
    WHERE user_id = $1 AND revoked_at IS NULL AND $2 < expires_at
    ORDER BY last_seen_at DESC, id
"""

# Each session is in the arrays once (see store.accounts.latest_sightings).
_TOUCH_SESSIONS = """
    UPDATE sessions SET last_seen_at = seen.at, address = seen.address
    FROM unnest($1::text[], $2::float8[], $3::text[]) AS seen (id, at, address)
    WHERE sessions.id = seen.id AND sessions.last_seen_at <= seen.at
"""

_DELETE_ENDED_SESSIONS = """
    DELETE FROM sessions WHERE id IN (
        SELECT id FROM sessions WHERE expires_at < $1 OR revoked_at < $1 LIMIT $2)
"""

_CREATE_API_KEY = f"""
    INSERT INTO api_keys ({API_KEY_COLUMNS})
    VALUES ($1, $2, $3, $4::json, $5, $6, $7, $8, $9)
"""

_GET_API_KEY = f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1"

_API_KEYS = f"""
    SELECT {API_KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL
    ORDER BY created_at DESC, id DESC
"""

_USER_API_KEYS = f"""
    SELECT {API_KEY_COLUMNS} FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL
    ORDER BY created_at DESC, id DESC
"""

# A key expired already is revoked too, so it leaves the list of keys,
# but it was not usable until now.
_REVOKE_API_KEY = """
    UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL
    RETURNING expires_at IS NULL OR $2 < expires_at
"""

_TOUCH_API_KEYS = """
    UPDATE api_keys SET last_used_at = used.at
    FROM unnest($1::text[], $2::float8[]) AS used (id, at)
    WHERE api_keys.id = used.id
        AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < used.at)
"""

# Ids are drawn in the order of the arrays, so entries keep theirs.
_ADD_ACTIVITY = f"""
    INSERT INTO activity ({ACTIVITY_COLUMNS})
    SELECT at, actor, action, target, via, address, details::json
    FROM unnest($1::float8[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::text[], $7::text[]) WITH ORDINALITY
        AS given (at, actor, action, target, via, address, details, position)
    ORDER BY position
"""

_KEEP_SECRET = """
    INSERT INTO gateway_secrets (name, secret, created_at) VALUES ($1, $2, $3)
    ON CONFLICT (name) DO NOTHING
"""

_GET_SECRET = "SELECT secret FROM gateway_secrets WHERE name = $1"
