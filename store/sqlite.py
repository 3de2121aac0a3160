"""The SQLite backend: one database file, one writer thread, readers that never wait.

SQLite lets one connection write at a time, so this store gives every write
to a single thread that owns the only write connection. Writes queue up as
jobs; when several are waiting, the thread runs them in one transaction,
which turns many small commits into one. Reads go through read-only
connections on a small thread pool and, with the journal in WAL mode, read
the last committed state without waiting for the writer.

The journal is synchronous=NORMAL: a committed write survives the process
crashing, but the last few commits can be lost if the machine loses power.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

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
    TIMELINE_COLUMNS,
    IncidentRow,
    TimelineEntry,
    body_from_text,
    timeline_from_row,
)
from store.base import (
    CALENDAR_START,
    AppliedMigration,
    EventTotal,
    FeedPage,
    HourTotal,
    IncidentQuery,
    LatestState,
    Migration,
    MigrationProgress,
    MonitorRow,
    SchemaStatus,
    SchemaTooNewError,
    Store,
    StoreClosedError,
    StoreError,
    UptimeQuery,
    attempt_filters,
    attempt_row,
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
    MINUTE,
    Rollup,
    Summary,
    UptimeRow,
    aggregate,
    bucket_start,
    check_resolution,
    summarise,
    uptime_row,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

READER_THREADS = 4
"""Reads that run at once.

WAL readers do not block each other, so a few threads use several cores;
each holds its own connection and page cache, so the pool stays small.
"""

MAX_JOBS_PER_TRANSACTION = 64
"""The most queued writes committed together.

Sharing a commit makes small writes cheap, but every caller in the group
waits for the whole group, so the group is capped.
"""

RETENTION_BATCH = 5_000
"""Rows deleted per transaction by retention, so other writes get in between."""

WRITER_CACHE_KIB = 64 * 1024
"""Page cache of the writer: the hot pages of the result index stay in it."""

CHECKPOINT_PAGES = 10_000
"""WAL pages (4 KiB each) written before they are folded into the database.

Folding less often folds a page changed many times once; the WAL then
grows to about 40 MiB between checkpoints.
"""

BUSY_TIMEOUT_MS = 5_000
"""How long a connection waits for a lock held by another process."""

# Primary result codes after which the same call can succeed later:
# SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR and SQLITE_FULL.
_RETRYABLE_CODES = frozenset({5, 6, 10, 13})


def packaged_migrations() -> list[Migration]:
    """The SQLite migrations shipped in ``store/migrations/sqlite``."""
    return load_migrations("sqlite")


class SqliteStore(Store):
    """The store in one SQLite file.

    ``progress`` hears about each migration as ``open`` applies it, from the
    writer thread. ``migrations`` replaces the packaged schema steps.
    """

    backend = "SQLite"

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        progress: MigrationProgress | None = None,
        migrations: Sequence[Migration] | None = None,
    ) -> None:
        self.path = Path(path).absolute()
        self._progress = progress
        self._migrations = (
            packaged_migrations() if migrations is None else list(migrations)
        )
        self._writer: _Writer | None = None
        self._readers: _Readers | None = None
        self._version: int | None = None
        self._closed = False

    async def open(self) -> None:
        """Start the writer, migrate the schema, then accept calls.

        1. Start the writer thread; it creates the data directory if it is
           missing, connects, refuses a newer schema, turns on WAL and
           applies the pending migrations.
        2. Only then start the readers, since they need the WAL files.
        """
        if self._closed:
            raise StoreClosedError("the store was closed; make a new one to reopen")
        if self._writer is not None:
            raise StoreError("the store is open already")

        writer = _Writer(self.path, self._migrations, self._progress)
        self._writer = writer
        try:
            self._version = await writer.start()
        except BaseException:
            self._writer = None
            writer.stop()
            raise
        if self._writer is not writer:
            # close() ran while the schema was migrating and stopped the writer.
            raise StoreClosedError("the store was closed while it opened")

        self._readers = _Readers(self.path)
        logger.info("opened %s at schema version %d", self.path, self._version)

    async def close(self) -> None:
        """Let reads in progress finish, then run every queued write and close.

        The writer is told to stop even when the wait is cancelled, so queued
        writes are committed either way.
        """
        writer, readers = self._writer, self._readers
        self._closed = True
        self._writer = None
        self._readers = None
        if writer is None:
            return
        try:
            if readers is not None:
                await asyncio.to_thread(readers.close)
        finally:
            writer.stop()
        await writer.join()
        logger.info("closed %s", self.path)

    def schema_version(self) -> int:
        if self._version is None or self._writer is None:
            raise StoreClosedError("the store is not open")
        return self._version

    async def put_monitors(self, definitions: list[dict[str, Any]]) -> None:
        check_list("definitions", definitions)
        if definitions:
            await self._write(functools.partial(_put_monitors, definitions))

    async def put_monitor_rows(self, rows: list[MonitorRow]) -> None:
        check_list("rows", rows)
        checked = [check_monitor_row(f"rows[{i}]", row) for i, row in enumerate(rows)]
        if checked:
            await self._write(functools.partial(_put_monitor_rows, checked))

    async def delete_monitor(self, monitor_id: str) -> bool:
        check_text("monitor_id", monitor_id)
        return await self._write(functools.partial(_delete_monitor, monitor_id))

    async def get_monitor(self, monitor_id: str) -> dict[str, Any] | None:
        check_text("monitor_id", monitor_id)
        return await self._read(functools.partial(_get_monitor, monitor_id))

    async def list_monitors(
        self,
        *,
        kind: str | None = None,
        tag: str | None = None,
        enabled: bool | None = None,
    ) -> list[dict[str, Any]]:
        kind, tag, enabled = check_filters(kind, tag, enabled)
        return await self._read(
            functools.partial(_list_monitors, kind=kind, tag=tag, enabled=enabled)
        )

    async def catalogue(
        self, *, after: str | None = None, limit: int = 10_000
    ) -> list[tuple[str, str]]:
        after = check_cursor(after, "a monitor id")
        return await self._read(
            functools.partial(_catalogue_page, after, check_limit(limit))
        )

    async def write_results(self, results: list[CheckResult]) -> int:
        check_list("results", results)
        if not results:
            return 0
        return await self._write(functools.partial(_write_results, results))

    async def results(
        self,
        monitor_id: str,
        *,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
    ) -> list[CheckResult]:
        query = functools.partial(
            _read_results,
            check_text("monitor_id", monitor_id),
            check_optional_time("since", since),
            check_optional_time("until", until),
            check_limit(limit),
        )
        return await self._read(query)

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
        query = functools.partial(
            _rollup_rows,
            _TABLE_OF[resolution],
            check_text("monitor_id", monitor_id),
            check_time("since", since),
            check_time("until", until),
            check_limit(limit),
        )
        return await self._read(query)

    async def rollup_summaries(
        self,
        *,
        since: float,
        until: float,
        resolution: str = "hour",
        monitor_ids: list[str] | None = None,
    ) -> list[Summary]:
        check_resolution(resolution)
        if monitor_ids is not None:
            check_list("monitor_ids", monitor_ids, str)
        query = functools.partial(
            _rollup_summaries,
            _TABLE_OF[resolution],
            check_time("since", since),
            check_time("until", until),
            monitor_ids,
        )
        return await self._read(query)

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
        return await self._read(functools.partial(_uptime_report, query))

    async def monitor_feed(
        self, *, after: int = 0, limit: int = 1000
    ) -> FeedPage[MonitorRow]:
        query = functools.partial(_feed, _MONITOR_FEED, *check_feed(after, limit))
        rows, position = await self._read(query)
        return FeedPage(
            [MonitorRow(r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows],
            position,
        )

    async def rollup_feed(
        self, *, after: int = 0, limit: int = 1000
    ) -> FeedPage[Rollup]:
        query = functools.partial(_feed, _ROLLUP_FEED, *check_feed(after, limit))
        rows, position = await self._read(query)
        return FeedPage([_rollup(row) for row in rows], position)

    async def event_feed(self, *, after: int = 0, limit: int = 1000) -> FeedPage[Event]:
        query = functools.partial(_feed, _EVENT_FEED, *check_feed(after, limit))
        rows, position = await self._read(query)
        return FeedPage([_event(row) for row in rows], position)

    async def hourly_totals(self, *, since: float, until: float) -> list[HourTotal]:
        query = functools.partial(_fetch, _HOURLY_TOTALS, check_span(since, until))
        return [HourTotal(*row) for row in await self._read(query)]

    async def event_totals(self, *, since: float, until: float) -> list[EventTotal]:
        query = functools.partial(_fetch, _EVENT_TOTALS, check_span(since, until))
        return [EventTotal(*row) for row in await self._read(query)]

    async def hour_rollups(
        self, start: float, *, after: str | None = None, limit: int = 1000
    ) -> list[Rollup]:
        parameters = (
            check_time("start", start),
            check_cursor(after, "a monitor id") or "",
            check_limit(limit),
        )
        query = functools.partial(_fetch, _HOUR_ROLLUPS, parameters)
        return [_rollup(row) for row in await self._read(query)]

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
        query = functools.partial(_fetch, _EVENTS_BETWEEN, parameters)
        return [_event(row) for row in await self._read(query)]

    async def latest_results(self, monitor_ids: list[str]) -> dict[str, CheckResult]:
        check_list("monitor_ids", monitor_ids, str)
        if not monitor_ids:
            return {}
        return await self._read(functools.partial(_latest_results, monitor_ids))

    async def latest_states(self, monitor_ids: list[str]) -> dict[str, LatestState]:
        check_list("monitor_ids", monitor_ids, str)
        if not monitor_ids:
            return {}
        return await self._read(functools.partial(_latest_states, monitor_ids))

    async def write_state_changes(self, changes: list[StateChange]) -> None:
        check_list("changes", changes)
        if changes:
            await self._write(functools.partial(_write_state_changes, changes))

    async def state_changes(
        self,
        monitor_id: str | None = None,
        *,
        since: float | None = None,
        limit: int = 100,
    ) -> list[StateChange]:
        if monitor_id is not None:
            check_text("monitor_id", monitor_id)
        query = functools.partial(
            _read_state_changes,
            monitor_id,
            check_optional_time("since", since),
            check_limit(limit),
        )
        return await self._read(query)

    async def write_events(self, events: list[Event]) -> None:
        check_list("events", events)
        if events:
            await self._write(functools.partial(_write_events, events))

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
        query = functools.partial(_read_events, after, monitor_id, check_limit(limit))
        return await self._read(query)

    async def enqueue(self, outgoing: list[Outgoing]) -> int:
        rows = [
            (
                item.channel_id,
                item.key,
                to_json(f"outgoing[{i}].payload", dict(item.payload)),
                item.at,
            )
            for i, item in enumerate(check_outgoing(outgoing))
        ]
        if not rows:
            return 0
        return await self._write(functools.partial(_enqueue, rows))

    async def claim_due(
        self, *, now: float, limit: int = 100, lease: float = 60.0
    ) -> list[OutboxEntry]:
        moment, page, seconds = check_claim(now, limit, lease)
        return await self._write(functools.partial(_claim_due, moment, page, seconds))

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
        attempt = attempt_row(entry, at, ok, status, detail, response, retry_at)
        return await self._write(functools.partial(_record_attempt, entry, *attempt))

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
        sql = f"SELECT {_OUTBOX_COLUMNS} FROM outbox {where} ORDER BY id LIMIT ?"
        query = functools.partial(_fetch, sql, [*parameters, check_limit(limit)])
        return [entry_from_row(row) for row in await self._read(query)]

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
            "ORDER BY at DESC, rowid DESC LIMIT ?"
        )
        query = functools.partial(_fetch, sql, [*parameters, check_limit(limit)])
        rows = await self._read(query)
        return [Attempt(r[0], r[1], r[2], r[3], bool(r[4]), *r[5:]) for r in rows]

    async def requeue(self, entry_id: int, *, now: float) -> bool:
        parameters = (check_time("now", now), check_entry_id(entry_id))
        changed = await self._write(functools.partial(_change, _REQUEUE, parameters))
        return changed > 0

    async def put_setting(
        self, kind: str, setting_id: str, body: Mapping[str, Any], *, at: float
    ) -> bool:
        row = setting_row(kind, setting_id, body, at)
        return await self._write(functools.partial(_put_setting, row))

    async def get_setting(self, kind: str, setting_id: str) -> dict[str, Any] | None:
        key = check_setting_key(kind, setting_id)
        rows = await self._read(functools.partial(_fetch, _GET_SETTING, key))
        return body_from_text(rows[0][0]) if rows else None

    async def settings(self, kind: str) -> list[dict[str, Any]]:
        query = functools.partial(_bodies, _SETTINGS, (check_setting_kind(kind),))
        return await self._read(query)

    async def delete_setting(self, kind: str, setting_id: str) -> bool:
        key = check_setting_key(kind, setting_id)
        changed = await self._write(functools.partial(_change, _DELETE_SETTING, key))
        return changed > 0

    async def put_incidents(self, incidents: list[Mapping[str, Any]]) -> None:
        rows = incident_rows(incidents)
        if rows:
            await self._write(functools.partial(_put_incidents, rows))

    async def get_incident(self, incident_id: str) -> dict[str, Any] | None:
        key = (check_key_text("incident_id", incident_id),)
        rows = await self._read(functools.partial(_fetch, _GET_INCIDENT, key))
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
        return await self._read(functools.partial(_incidents, query))

    async def unresolved_incidents(self) -> list[dict[str, Any]]:
        return await self._read(functools.partial(_bodies, _UNRESOLVED, ()))

    async def add_timeline(self, entries: list[TimelineEntry]) -> int:
        rows = timeline_rows(entries)
        if not rows:
            return 0
        return await self._write(functools.partial(_add_timeline, rows))

    async def timeline(
        self, incident_id: str, *, limit: int = 1000
    ) -> list[TimelineEntry]:
        parameters = (check_key_text("incident_id", incident_id), check_limit(limit))
        rows = await self._read(functools.partial(_fetch, _TIMELINE, parameters))
        return [timeline_from_row(row) for row in rows]

    async def create_user(self, user: User) -> bool:
        row = user_row(user)
        return await self._write(functools.partial(_change, _CREATE_USER, row)) > 0

    async def update_user(self, user: User) -> bool:
        row = user_row(user)
        return await self._write(functools.partial(_update_user, row))

    async def get_user(self, user_id: str) -> User | None:
        key = (check_id("user_id", user_id),)
        rows = await self._read(functools.partial(_fetch, _GET_USER, key))
        return user_from_row(rows[0]) if rows else None

    async def user_named(self, name: str) -> User | None:
        key = (check_id("name", name).lower(),)
        rows = await self._read(functools.partial(_fetch, _USER_NAMED, key))
        return user_from_row(rows[0]) if rows else None

    async def users(self) -> list[User]:
        rows = await self._read(functools.partial(_fetch, _USERS, ()))
        return [user_from_row(row) for row in rows]

    async def delete_user(self, user_id: str) -> bool:
        key = check_id("user_id", user_id)
        return await self._write(functools.partial(_delete_user, key))

    async def create_session(self, session: Session) -> None:
        row = session_row(session)
        await self._write(functools.partial(_change, _CREATE_SESSION, row))

    async def get_session(self, session_id: str) -> Session | None:
        key = (check_id("session_id", session_id),)
        rows = await self._read(functools.partial(_fetch, _GET_SESSION, key))
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
        rotate = functools.partial(_change, _ROTATE_SESSION, rotation)
        return await self._write(rotate) == 1

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
        parameters = (revocation.now, revocation.reason, revocation.key)
        return await self._write(functools.partial(_change, sql, parameters))

    async def sessions(self, user_id: str, *, now: float) -> list[Session]:
        parameters = (check_id("user_id", user_id), check_time("now", now))
        rows = await self._read(functools.partial(_fetch, _SESSIONS, parameters))
        return [session_from_row(row) for row in rows]

    async def touch_sessions(self, seen: list[tuple[str, float, str]]) -> None:
        rows = [
            (at, address, session_id)
            for session_id, at, address in latest_sightings(seen)
        ]
        if rows:
            await self._write(functools.partial(_change_many, _TOUCH_SESSION, rows))

    async def create_api_key(self, key: ApiKey) -> None:
        row = api_key_row(key)
        await self._write(functools.partial(_change, _CREATE_API_KEY, row))

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        key = (check_id("key_id", key_id),)
        rows = await self._read(functools.partial(_fetch, _GET_API_KEY, key))
        return api_key_from_row(rows[0]) if rows else None

    async def api_keys(self, user_id: str | None = None) -> list[ApiKey]:
        if user_id is None:
            query = functools.partial(_fetch, _API_KEYS, ())
        else:
            owner = (check_id("user_id", user_id),)
            query = functools.partial(_fetch, _USER_API_KEYS, owner)
        rows = await self._read(query)
        return [api_key_from_row(row) for row in rows]

    async def revoke_api_key(self, key_id: str, *, now: float) -> bool:
        parameters = (check_id("key_id", key_id), check_time("now", now))
        return await self._write(functools.partial(_revoke_api_key, *parameters))

    async def touch_api_keys(self, used: list[tuple[str, float]]) -> None:
        rows = [(at, key_id) for key_id, at in latest_uses(used)]
        if rows:
            await self._write(functools.partial(_change_many, _TOUCH_API_KEY, rows))

    async def add_activity(self, entries: list[Activity]) -> None:
        check_list("entries", entries, Activity)
        rows = [activity_row(entry) for entry in entries]
        if rows:
            await self._write(functools.partial(_change_many, _ADD_ACTIVITY, rows))

    async def activity(
        self,
        *,
        before: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
    ) -> list[Activity]:
        where, parameters = _where(*activity_filters(before, actor, action))
        sql = f"SELECT id, {ACTIVITY_COLUMNS} FROM activity {where} "
        sql += "ORDER BY id DESC LIMIT ?"
        query = functools.partial(_fetch, sql, [*parameters, check_limit(limit)])
        return [activity_from_row(row) for row in await self._read(query)]

    async def gateway_secret(self, name: str, candidate: str, *, at: float) -> str:
        row = check_secret(name, candidate, at)
        return await self._write(functools.partial(_gateway_secret, row))

    async def enforce_retention(self, days: float, *, now: float | None = None) -> int:
        """Delete rows older than ``days`` before ``now`` (default: the clock).

        Each table is emptied of old rows one batch per transaction, until a
        batch comes back short; other writes queue in between the batches.
        """
        cutoff, hourly = retention_cutoffs(days, now)

        # Rollups go too, but are not counted: the count is of records.
        deletes: list[tuple[Callable[[sqlite3.Connection], int], bool]] = [
            (functools.partial(_delete_old_results, cutoff), True),
            (functools.partial(_delete_old_state_changes, cutoff), True),
            (functools.partial(_delete_old_events, cutoff), True),
            (functools.partial(_delete_old_rollups, "rollup_minute", cutoff), False),
            (functools.partial(_delete_old_rollups, "rollup_hour", hourly), False),
            (functools.partial(_change, _DELETE_OLD_OUTBOX, (cutoff,)), False),
            (functools.partial(_change, _DELETE_OLD_ATTEMPTS, (cutoff,)), False),
            (functools.partial(_delete_old_incidents, cutoff), False),
            (functools.partial(_change, _DELETE_ENDED_SESSIONS, (cutoff,)), False),
        ]
        deleted = 0
        for delete, counted in deletes:
            while True:
                count = await self._write(delete)
                deleted += count if counted else 0
                if count < RETENTION_BATCH:
                    break

        if deleted:
            logger.info("retention deleted %d rows older than %g days", deleted, days)
        return deleted

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            raise StoreClosedError("the store is not open")
        return await self._writer.submit(work)

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._readers is None:
            raise StoreClosedError("the store is not open")
        return await self._readers.run(work)


@dataclass(slots=True)
class _Job:
    """One write waiting for the writer, and the future its caller awaits."""

    work: Callable[[sqlite3.Connection], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class _Writer:
    """The thread that owns the only write connection and runs queued writes.

    A write once queued always runs: cancelling the caller stops the wait,
    not the write, so a shutdown never drops half of what was sent.
    """

    def __init__(
        self,
        path: Path,
        migrations: list[Migration],
        progress: MigrationProgress | None,
    ) -> None:
        self._path = path
        self._migrations = migrations
        self._progress = progress
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._stopped = False
        self._thread: threading.Thread | None = None

    async def start(self) -> int:
        """Start the thread; the schema version once it is connected and migrated."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[int] = loop.create_future()
        self._thread = threading.Thread(
            target=self._run,
            args=(loop, ready),
            name="upcast-store-writer",
            daemon=True,
        )
        self._thread.start()
        return await ready

    async def submit(self, work: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._stopped:
                raise StoreClosedError("the store is closing")
            self._queue.put(_Job(work, loop, future))
        return await future

    def stop(self) -> None:
        """Let the thread finish the queued writes, then close the connection."""
        with self._lock:
            if not self._stopped:
                self._stopped = True
                self._queue.put(None)

    async def join(self) -> None:
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    def _run(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[int]) -> None:
        try:
            connection, version = _connect_writer(
                self._path, self._migrations, self._progress
            )
        except Exception as exc:
            _settle(loop, ready, None, exc)
            return
        _settle(loop, ready, version, None)
        try:
            self._serve(connection)
        finally:
            _close_writer(connection, self._path)

    def _serve(self, connection: sqlite3.Connection) -> None:
        """Run queued jobs until told to stop.

        1. Wait for a job, then take whatever else is queued, up to
           MAX_JOBS_PER_TRANSACTION, stopping at the stop marker.
        2. Run the group in one transaction (see ``_run_group``).
        3. Stop after the group that met the stop marker.
        """
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            while len(jobs) < MAX_JOBS_PER_TRANSACTION:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                jobs.append(job)

            try:
                _run_group(connection, jobs)
            except Exception as exc:
                # A fault here is a bug in the store itself; the callers hear
                # of it and the thread goes on with the next group.
                logger.exception("write group of %d jobs failed", len(jobs))
                for job in jobs:
                    _settle(job.loop, job.future, None, StoreError(str(exc)))


def _run_group(connection: sqlite3.Connection, jobs: list[_Job]) -> None:
    """Run jobs in one transaction, each in a savepoint, and answer each caller.

    A job that raises is rolled back to its savepoint alone, and its caller
    gets the error; the others still commit. Callers hear back only after
    the commit, so a returned write is a durable one.
    """
    started = time.perf_counter()
    outcomes: list[tuple[Any, BaseException | None]] = []
    try:
        connection.execute("BEGIN IMMEDIATE")
        for job in jobs:
            connection.execute("SAVEPOINT job")
            try:
                result = job.work(connection)
            except Exception as exc:
                connection.execute("ROLLBACK TO job")
                connection.execute("RELEASE job")
                outcomes.append((None, _translate(exc)))
            else:
                connection.execute("RELEASE job")
                outcomes.append((result, None))
        connection.execute("COMMIT")
    except sqlite3.Error as exc:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        outcomes = [(None, _translate(exc)) for _ in jobs]

    logger.debug(
        "committed %d write jobs in %.1f ms",
        len(jobs),
        (time.perf_counter() - started) * 1000,
    )
    for job, (result, error) in zip(jobs, outcomes, strict=True):
        _settle(job.loop, job.future, result, error)


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    error: BaseException | None,
) -> None:
    """Hand a job's outcome to the loop its caller awaits on."""

    def apply() -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    # A closed loop raises RuntimeError; then no caller is left waiting.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(apply)


def _translate(exc: Exception) -> Exception:
    """A SQLite error as a StoreError that says whether retrying can help."""
    if not isinstance(exc, sqlite3.Error):
        return exc
    error = StoreError(f"SQLite: {exc}", retryable=_retryable(exc))
    error.__cause__ = exc
    return error


def _retryable(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _RETRYABLE_CODES


def _connect_writer(
    path: Path, migrations: list[Migration], progress: MigrationProgress | None
) -> tuple[sqlite3.Connection, int]:
    """The write connection, with the schema brought up to date.

    1. Create the data directory, connect, and read the version first: a
       newer one is refused before anything in the file changes.
    2. Turn on WAL (kept in the file) and synchronous=NORMAL (per connection).
    3. Apply each pending migration in its own transaction.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        found: int = connection.execute("PRAGMA user_version").fetchone()[0]
        known = migrations[-1].version if migrations else 0
        if found > known:
            raise SchemaTooNewError(str(path), found, known)

        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(f"{path}: cannot use WAL journal mode, got {mode!r}")
        connection.execute("PRAGMA synchronous = NORMAL")
        # Savepoints keep their undo pages in a temporary journal; in
        # memory that costs a copy, in a file a write per page changed.
        connection.execute("PRAGMA temp_store = MEMORY")
        connection.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        connection.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")

        _migrate(connection, path, found, migrations, progress)
        _install_change_counter(connection)
    except sqlite3.Error as exc:
        connection.close()
        message = f"cannot open {path}: {exc}"
        raise StoreError(message, retryable=_retryable(exc)) from exc
    except BaseException:
        connection.close()
        raise
    return connection, known


def _migrate(
    connection: sqlite3.Connection,
    path: Path,
    found: int,
    migrations: list[Migration],
    progress: MigrationProgress | None,
) -> None:
    pending = [migration for migration in migrations if migration.version > found]
    for step, migration in enumerate(pending, start=1):
        if progress is not None:
            progress(step, len(pending), migration.description)
        logger.info(
            "migrating %s to schema version %d (%s)",
            path,
            migration.version,
            migration.description,
        )
        script = (
            f"BEGIN IMMEDIATE;\n{migration.sql}\n;\n"
            f"PRAGMA user_version = {migration.version};\nCOMMIT;"
        )
        try:
            connection.executescript(script)
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise


def _close_writer(connection: sqlite3.Connection, path: Path) -> None:
    """Fold the WAL back into the database file and close."""
    try:
        connection.execute("PRAGMA optimize")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error:
        logger.warning("could not checkpoint %s on close", path, exc_info=True)
    finally:
        connection.close()


class _Readers:
    """Read-only connections, one per thread of a small pool."""

    def __init__(self, path: Path) -> None:
        self._uri = path.as_uri() + "?mode=ro"
        self._executor = ThreadPoolExecutor(
            max_workers=READER_THREADS, thread_name_prefix="upcast-store-read"
        )
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(self._call, work)
        )

    def close(self) -> None:
        """Wait for reads in progress, then close every connection."""
        self._executor.shutdown(wait=True)
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return work(self._connection())
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            # Made in one pool thread and closed from another at shutdown.
            connection = sqlite3.connect(
                self._uri, uri=True, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection


# The jobs below run on the writer thread or a reader thread, never on the
# event loop: rows are built and decoded there too, so large batches do not
# stall the loop.

_UPSERT_MONITOR = """
    INSERT INTO monitors (id, name, kind, enabled, tags, definition, updated_at, seq)
    VALUES (?, ?, ?, ?, ?, ?, ?, next_change())
    ON CONFLICT (id) DO UPDATE SET
        name = excluded.name,
        kind = excluded.kind,
        enabled = excluded.enabled,
        tags = excluded.tags,
        definition = excluded.definition,
        updated_at = excluded.updated_at,
        seq = excluded.seq
"""

_RESULT_COLUMNS = (
    "monitor_id, started_at, ok, latency_ms, state, reason, message, "
    "retryable, attempt, lateness_ms, phases, details"
)

_INSERT_RESULT = f"""
    INSERT OR IGNORE INTO results ({_RESULT_COLUMNS})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_ROLLUP_TABLES = (("rollup_minute", MINUTE), ("rollup_hour", HOUR))
_TABLE_OF = {"minute": "rollup_minute", "hour": "rollup_hour"}
_FED_ROLLUP_TABLES = ("rollup_hour",)
_HISTOGRAM = ", ".join(HISTOGRAM_COLUMNS)


def _rollup_upsert(table: str) -> str:
    """Add a bucket's counts to a rollup row; hourly rows draw a feed number."""
    marks = ", ".join("?" for _ in range(7 + len(HISTOGRAM_COLUMNS)))
    added = ", ".join(f"{c} = {c} + excluded.{c}" for c in HISTOGRAM_COLUMNS)
    fed = table in _FED_ROLLUP_TABLES
    return (
        f"INSERT INTO {table} (monitor_id, start, count, ok, latency_min, "
        f"latency_max, latency_sum, {_HISTOGRAM}{', seq' if fed else ''}) "
        f"VALUES ({marks}{', next_change()' if fed else ''}) "
        "ON CONFLICT (monitor_id, start) DO UPDATE SET "
        f"{'seq = excluded.seq, ' if fed else ''}"
        "count = count + excluded.count, ok = ok + excluded.ok, "
        "latency_min = min(coalesce(latency_min, excluded.latency_min), "
        "coalesce(excluded.latency_min, latency_min)), "
        "latency_max = max(coalesce(latency_max, excluded.latency_max), "
        "coalesce(excluded.latency_max, latency_max)), "
        f"latency_sum = latency_sum + excluded.latency_sum, {added}"
    )


def _rollup_recount(table: str) -> str:
    """Rebuild one bucket of a monitor from its stored results."""
    buckets = []
    lower: float | None = None
    for index in range(len(HISTOGRAM_COLUMNS)):
        if index < len(LATENCY_BOUNDS_MS):
            upper = LATENCY_BOUNDS_MS[index]
            inside = f"latency_ms <= {upper!r}"
            if lower is not None:
                inside = f"latency_ms > {lower!r} AND {inside}"
            lower = upper
        else:
            inside = f"latency_ms > {lower!r}"
        buckets.append(f"SUM(ok AND {inside})")
    return (
        f"INSERT OR REPLACE INTO {table} SELECT monitor_id, ?2, COUNT(*), SUM(ok), "
        "MIN(CASE WHEN ok THEN latency_ms END), MAX(CASE WHEN ok THEN latency_ms END), "
        f"TOTAL(CASE WHEN ok THEN latency_ms END), {', '.join(buckets)}"
        f"{', next_change()' if table in _FED_ROLLUP_TABLES else ''} "
        "FROM results WHERE monitor_id = ?1 AND started_at >= ?2 AND started_at < ?3 "
        "GROUP BY monitor_id"
    )


_ROLLUP_UPSERT = {table: _rollup_upsert(table) for table, _ in _ROLLUP_TABLES}
_ROLLUP_RECOUNT = {table: _rollup_recount(table) for table, _ in _ROLLUP_TABLES}

# A monitor's newest result: the last entry of the (monitor, time) index.
_NEWEST_ROWID = (
    "SELECT rowid FROM results WHERE monitor_id = wanted.value "
    "ORDER BY started_at DESC LIMIT 1"
)

_STATE_CHANGE_COLUMNS = "monitor_id, at, state_before, state_after, reason, message"

_EVENT_COLUMNS = "id, at, type, monitor_id, data"


def _put_monitors(
    definitions: list[dict[str, Any]], connection: sqlite3.Connection
) -> None:
    check_list("definitions", definitions, Mapping)
    now = time.time()
    rows = [
        (*monitor_row(f"definitions[{index}]", definition), now)
        for index, definition in enumerate(definitions)
    ]
    connection.executemany(_UPSERT_MONITOR, rows)
    connection.execute(_KEEP_CHANGE_COUNTER)


def _put_monitor_rows(rows: list[MonitorRow], connection: sqlite3.Connection) -> None:
    now = time.time()
    connection.executemany(_UPSERT_MONITOR, [(*row, now) for row in rows])
    connection.execute(_KEEP_CHANGE_COUNTER)


def _delete_monitor(monitor_id: str, connection: sqlite3.Connection) -> bool:
    cursor = connection.execute("DELETE FROM monitors WHERE id = ?", (monitor_id,))
    return cursor.rowcount > 0


def _get_monitor(
    monitor_id: str, connection: sqlite3.Connection
) -> dict[str, Any] | None:
    row = connection.execute(
        "SELECT definition FROM monitors WHERE id = ?", (monitor_id,)
    ).fetchone()
    return None if row is None else _definition(row[0])


def _list_monitors(
    connection: sqlite3.Connection,
    *,
    kind: str | None,
    tag: str | None,
    enabled: bool | None,
) -> list[dict[str, Any]]:
    conditions: list[str] = []
    parameters: list[Any] = []
    if kind is not None:
        conditions.append("kind = ?")
        parameters.append(kind)
    if tag is not None:
        conditions.append("EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?)")
        parameters.append(tag)
    if enabled is not None:
        conditions.append("enabled = ?")
        parameters.append(enabled)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = connection.execute(
        f"SELECT definition FROM monitors {where} ORDER BY id", parameters
    ).fetchall()
    return [_definition(text) for (text,) in rows]


def _catalogue_page(
    after: str | None, limit: int, connection: sqlite3.Connection
) -> list[tuple[str, str]]:
    rows = connection.execute(
        "SELECT id, definition FROM monitors WHERE id > ? ORDER BY id LIMIT ?",
        ("" if after is None else after, limit),
    ).fetchall()
    return [(monitor_id, text) for monitor_id, text in rows]


def _definition(text: str) -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(text)
    return definition


def _write_results(results: list[CheckResult], connection: sqlite3.Connection) -> int:
    """Insert the results not stored yet; how many were new."""
    check_list("results", results, CheckResult)
    rows = []
    for index, result in enumerate(results):
        place = f"results[{index}]"
        check_result(place, result)
        rows.append(
            (
                result.monitor_id,
                float(result.started_at),
                result.ok,
                result.latency_ms,
                str(result.state),
                None if result.reason is None else str(result.reason),
                result.message,
                result.retryable,
                result.attempt,
                result.lateness_ms,
                to_json(f"{place}.phases", result.phases),
                to_json(f"{place}.details", result.details),
            )
        )

    before = connection.total_changes
    connection.executemany(_INSERT_RESULT, rows)
    written = connection.total_changes - before
    if written == len(rows):
        for table, span in _ROLLUP_TABLES:
            _add_rollups(connection, table, aggregate(results, span))
    elif written:
        # Some of the batch was stored before (a retry): count the touched
        # buckets again from the stored results instead of adding twice.
        for table, span in _ROLLUP_TABLES:
            keys = {(r.monitor_id, bucket_start(r.started_at, span)) for r in results}
            _recount_rollups(connection, table, span, keys)
    if written:
        connection.execute(_KEEP_CHANGE_COUNTER)
    return written


def _add_rollups(
    connection: sqlite3.Connection, table: str, rollups: list[Rollup]
) -> None:
    connection.executemany(
        _ROLLUP_UPSERT[table],
        [
            (
                r.monitor_id,
                r.start,
                r.count,
                r.ok,
                r.latency_min,
                r.latency_max,
                r.latency_sum,
                *r.histogram,
            )
            for r in rollups
        ],
    )


def _recount_rollups(
    connection: sqlite3.Connection,
    table: str,
    span: int,
    keys: set[tuple[str, float]],
) -> None:
    connection.executemany(
        _ROLLUP_RECOUNT[table],
        [(monitor_id, start, start + span) for monitor_id, start in keys],
    )


def _rollup_rows(
    table: str,
    monitor_id: str,
    since: float,
    until: float,
    limit: int,
    connection: sqlite3.Connection,
) -> list[Rollup]:
    rows = connection.execute(
        f"SELECT monitor_id, start, count, ok, latency_min, latency_max, "
        f"latency_sum, {_HISTOGRAM} FROM {table} "
        "WHERE monitor_id = ? AND start >= ? AND start < ? ORDER BY start LIMIT ?",
        (monitor_id, since, until, limit),
    )
    return [_rollup(row) for row in rows]


def _rollup_summaries(
    table: str,
    since: float,
    until: float,
    monitor_ids: list[str] | None,
    connection: sqlite3.Connection,
) -> list[Summary]:
    sums = ", ".join(f"SUM({column})" for column in HISTOGRAM_COLUMNS)
    sql = (
        f"SELECT monitor_id, SUM(count), SUM(ok), MIN(latency_min), "
        f"MAX(latency_max), TOTAL(latency_sum), {sums} FROM {table} "
        "WHERE start >= ? AND start < ?"
    )
    parameters: list[Any] = [since, until]
    if monitor_ids is not None:
        sql += " AND monitor_id IN (SELECT value FROM json_each(?))"
        parameters.append(json.dumps(monitor_ids))
    rows = connection.execute(
        sql + " GROUP BY monitor_id ORDER BY monitor_id", parameters
    )
    return [
        summarise(row[0], row[1], row[2], row[3], row[4], row[5], row[6:])
        for row in rows
    ]


def _read_results(
    monitor_id: str,
    since: float | None,
    until: float | None,
    limit: int,
    connection: sqlite3.Connection,
) -> list[CheckResult]:
    where, parameters = _where(
        ("monitor_id = {}", monitor_id),
        ("started_at >= {}", since),
        ("started_at < {}", until),
    )
    sql = f"SELECT {_RESULT_COLUMNS} FROM results {where} "
    sql += "ORDER BY started_at DESC LIMIT ?"
    return [_result(row) for row in connection.execute(sql, [*parameters, limit])]


def _latest_results(
    monitor_ids: list[str], connection: sqlite3.Connection
) -> dict[str, CheckResult]:
    columns = ", ".join(f"r.{name}" for name in _RESULT_COLUMNS.split(", "))
    rows = connection.execute(
        f"SELECT {columns} FROM json_each(?) AS wanted "
        f"CROSS JOIN results AS r ON r.rowid = ({_NEWEST_ROWID})",
        (json.dumps(monitor_ids),),
    )
    return {row[0]: _result(row) for row in rows}


def _latest_states(
    monitor_ids: list[str], connection: sqlite3.Connection
) -> dict[str, LatestState]:
    # The ids travel as one JSON parameter, so a page of thousands needs
    # neither a temporary table nor thousands of placeholders.
    rows = connection.execute(
        "SELECT r.monitor_id, r.state, r.started_at, r.ok, r.latency_ms, "
        "r.reason, r.message, r.attempt FROM json_each(?) AS wanted "
        f"CROSS JOIN results AS r ON r.rowid = ({_NEWEST_ROWID})",
        (json.dumps(monitor_ids),),
    )
    return {
        row[0]: LatestState(row[1], row[2], bool(row[3]), row[4], *row[5:])
        for row in rows
    }


def _result(row: tuple[Any, ...]) -> CheckResult:
    return CheckResult(
        monitor_id=row[0],
        started_at=row[1],
        ok=bool(row[2]),
        latency_ms=row[3],
        state=MonitorState(row[4]),
        reason=None if row[5] is None else Reason(row[5]),
        message=row[6],
        retryable=bool(row[7]),
        attempt=row[8],
        lateness_ms=row[9],
        phases=json.loads(row[10]),
        details=json.loads(row[11]),
    )


def _write_state_changes(
    changes: list[StateChange], connection: sqlite3.Connection
) -> None:
    check_list("changes", changes, StateChange)
    rows = []
    for index, change in enumerate(changes):
        check_state_change(f"changes[{index}]", change)
        rows.append(
            (
                change.monitor_id,
                float(change.at),
                str(change.before),
                str(change.after),
                None if change.reason is None else str(change.reason),
                change.message,
            )
        )
    connection.executemany(
        f"INSERT OR IGNORE INTO state_changes ({_STATE_CHANGE_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )


def _read_state_changes(
    monitor_id: str | None,
    since: float | None,
    limit: int,
    connection: sqlite3.Connection,
) -> list[StateChange]:
    conditions: list[str] = []
    parameters: list[Any] = []
    if monitor_id is not None:
        conditions.append("monitor_id = ?")
        parameters.append(monitor_id)
    if since is not None:
        conditions.append("at >= ?")
        parameters.append(since)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    parameters.append(limit)
    rows = connection.execute(
        f"SELECT {_STATE_CHANGE_COLUMNS} FROM state_changes {where} "
        "ORDER BY at DESC, rowid DESC LIMIT ?",
        parameters,
    )
    return [
        StateChange(
            monitor_id=row[0],
            at=row[1],
            before=MonitorState(row[2]),
            after=MonitorState(row[3]),
            reason=None if row[4] is None else Reason(row[4]),
            message=row[5],
        )
        for row in rows
    ]


def _write_events(events: list[Event], connection: sqlite3.Connection) -> None:
    check_list("events", events, Event)
    rows = []
    for index, event in enumerate(events):
        place = f"events[{index}]"
        check_event(place, event)
        rows.append(
            (
                event.id,
                float(event.at),
                event.type,
                event.monitor_id,
                to_json(f"{place}.data", dict(event.data)),
            )
        )
    connection.executemany(
        f"INSERT OR IGNORE INTO events ({_EVENT_COLUMNS}, seq) "
        "VALUES (?, ?, ?, ?, ?, next_change())",
        rows,
    )
    connection.execute(_KEEP_CHANGE_COUNTER)


def _read_events(
    after: str | None,
    monitor_id: str | None,
    limit: int,
    connection: sqlite3.Connection,
) -> list[Event]:
    conditions: list[str] = []
    parameters: list[Any] = []
    if after is not None:
        conditions.append("id > ?")
        parameters.append(after)
    if monitor_id is not None:
        conditions.append("monitor_id = ?")
        parameters.append(monitor_id)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    parameters.append(limit)
    rows = connection.execute(
        f"SELECT {_EVENT_COLUMNS} FROM events {where} ORDER BY id LIMIT ?",
        parameters,
    )
    return [
        Event(
            id=row[0],
            at=row[1],
            type=row[2],
            monitor_id=row[3],
            data=json.loads(row[4]),
        )
        for row in rows
    ]


def _delete_old_results(cutoff: float, connection: sqlite3.Connection) -> int:
    cursor = connection.execute(
        "DELETE FROM results WHERE rowid IN ("
        "SELECT rowid FROM results WHERE started_at < ? LIMIT ?)",
        (cutoff, RETENTION_BATCH),
    )
    return cursor.rowcount


def _delete_old_rollups(
    table: str, cutoff: float, connection: sqlite3.Connection
) -> int:
    cursor = connection.execute(
        f"DELETE FROM {table} WHERE (monitor_id, start) IN ("
        f"SELECT monitor_id, start FROM {table} WHERE start < ? LIMIT ?)",
        (cutoff, RETENTION_BATCH),
    )
    return cursor.rowcount


def _delete_old_state_changes(cutoff: float, connection: sqlite3.Connection) -> int:
    cursor = connection.execute(
        "DELETE FROM state_changes WHERE rowid IN ("
        "SELECT rowid FROM state_changes WHERE at < ? LIMIT ?)",
        (cutoff, RETENTION_BATCH),
    )
    return cursor.rowcount


def _delete_old_events(cutoff: float, connection: sqlite3.Connection) -> int:
    cursor = connection.execute(
        "DELETE FROM events WHERE rowid IN ("
        "SELECT rowid FROM events WHERE at < ? LIMIT ?)",
        (cutoff, RETENTION_BATCH),
    )
    return cursor.rowcount


async def read_schema_status(path: Path) -> SchemaStatus:
    """Where the database file at ``path`` stands, read without changing it.

    A missing file is not created: it is reported at version 0 with every
    migration pending, which is what ``open`` would find before making it.
    SQLite keeps only the version (``PRAGMA user_version``), so the applied
    migrations are the packaged ones up to it, without a time.
    """
    migrations = packaged_migrations()
    read = await asyncio.to_thread(_read_version, path)
    if read is None:
        return SchemaStatus.compare(
            "sqlite", str(path), migrations, found=0, exists=False, empty=True
        )

    found, tables = read
    applied = tuple(
        AppliedMigration(step.version, step.description, None)
        for step in migrations
        if step.version <= found
    )
    return SchemaStatus.compare(
        "sqlite", str(path), migrations, found=found, applied=applied, empty=not tables
    )


def _read_version(path: Path) -> tuple[int, int] | None:
    """The schema version and the number of tables of a file; None if missing.

    The connection may write (``mode=rw``, which never creates a file) but
    is made query-only: a read-only one cannot remove the ``-wal`` and
    ``-shm`` files of a WAL database when it closes, so it would leave them
    behind where none were.
    """
    if not path.exists():
        return None
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a database file")
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True)
    except sqlite3.Error as exc:
        message = f"cannot open {path}: {exc}"
        raise StoreError(message, retryable=_retryable(exc)) from exc
    try:
        connection.execute("PRAGMA query_only = ON")
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        version: int = connection.execute("PRAGMA user_version").fetchone()[0]
        tables: int = connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
        ).fetchone()[0]
    except sqlite3.Error as exc:
        message = f"cannot read the schema version of {path}: {exc}"
        raise StoreError(message, retryable=_retryable(exc)) from exc
    finally:
        connection.close()
    return version, tables


class _ChangeCounter:
    """The numbers the writer gives rows of the feeds (migration 0004).

    They are drawn inside SQL statements through ``next_change()``, one per
    row written, and ``_KEEP_CHANGE_COUNTER`` records the last one in the
    same transaction. Only the writer connection draws, so numbers follow
    commit order; a rolled-back transaction leaves a gap, which feeds allow.
    """

    def __init__(self, value: int) -> None:
        self.value = value

    def next(self) -> int:
        self.value += 1
        return self.value

    def last(self) -> int:
        return self.value


def _install_change_counter(connection: sqlite3.Connection) -> None:
    """Give the writer ``next_change()`` and ``last_change()``, from the stored count.

    A schema without feeds (an older version, opened with its own migrations)
    starts from zero; its statements that draw would fail on the missing
    columns anyway.
    """
    try:
        value = connection.execute("SELECT value FROM change_counter").fetchone()[0]
    except sqlite3.OperationalError:
        value = 0
    counter = _ChangeCounter(int(value))
    connection.create_function("next_change", 0, counter.next)
    connection.create_function("last_change", 0, counter.last)


_KEEP_CHANGE_COUNTER = "UPDATE change_counter SET value = last_change()"

_ROLLUP_SELECT = (
    f"monitor_id, start, count, ok, latency_min, latency_max, latency_sum, {_HISTOGRAM}"
)

_MONITOR_FEED = """
    SELECT id, name, kind, enabled, tags, definition, seq FROM monitors
    WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?
"""

_ROLLUP_FEED = f"""
    SELECT {_ROLLUP_SELECT}, seq FROM rollup_hour
    WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?
"""

_EVENT_FEED = f"""
    SELECT {_EVENT_COLUMNS}, seq FROM events
    WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?
"""

_HOURLY_TOTALS = """
    SELECT start, count(*), sum(count), sum(ok), total(latency_sum) FROM rollup_hour
    WHERE start >= ? AND start < ? GROUP BY start ORDER BY start
"""

# Whole hours as doubles, as store.rollups.bucket_start gives them.
_EVENT_TOTALS = """
    SELECT floor(at / 3600) * 3600.0 AS hour, count(*) FROM events
    WHERE at >= ? AND at < ? GROUP BY hour ORDER BY hour
"""

_HOUR_ROLLUPS = f"""
    SELECT {_ROLLUP_SELECT} FROM rollup_hour
    WHERE start = ? AND monitor_id > ? ORDER BY monitor_id LIMIT ?
"""

_EVENTS_BETWEEN = f"""
    SELECT {_EVENT_COLUMNS} FROM events
    WHERE at >= ? AND at < ? AND id > ? ORDER BY id LIMIT ?
"""


def _feed(
    sql: str, after: int, limit: int, connection: sqlite3.Connection
) -> tuple[list[Any], int]:
    """A page of a feed and the position after it (see ``_ChangeCounter``).

    The stored count is read first: every row numbered up to it is
    committed, so a page short of ``limit`` has read everything up to it.
    """
    (horizon,) = connection.execute("SELECT value FROM change_counter").fetchone()
    rows = connection.execute(sql, (after, horizon, limit)).fetchall()
    if len(rows) == limit:
        return [row[:-1] for row in rows], int(rows[-1][-1])
    return [row[:-1] for row in rows], max(after, int(horizon))


def _fetch(
    sql: str, parameters: Sequence[Any], connection: sqlite3.Connection
) -> list[Any]:
    return connection.execute(sql, parameters).fetchall()


def _rollup(row: Sequence[Any]) -> Rollup:
    return Rollup(row[0], row[1], row[2], row[3], row[4], row[5], row[6], list(row[7:]))


def _event(row: Sequence[Any]) -> Event:
    return Event(row[0], row[1], row[2], row[3], json.loads(row[4]))


# Days are counted from CALENDAR_START, 0001-01-01 and a Monday, which no
# start in an uptime report is before: from there CAST rounds down, as the
# floor() that some SQLite builds lack would, and a day's number of days
# from it, modulo 7, is its weekday from Monday.
_FROM_YEAR_ONE = repr(-CALENDAR_START)

_DAY_OF_START = (
    f"CAST((start + {_FROM_YEAR_ONE}) / 86400 AS INTEGER) * 86400 - {_FROM_YEAR_ONE}"
)

# A bucket's start in terms of the start of a day in it.
_UPTIME_PERIODS = {
    "day": "day",
    "week": f"day - CAST((day + {_FROM_YEAR_ONE}) / 86400 AS INTEGER) % 7 * 86400",
    "month": "day - (CAST(strftime('%d', day, 'unixepoch') AS INTEGER) - 1) * 86400",
}

# Every monitor with hourly rollups, found by skipping from each id to the
# next in the primary key: a seek per monitor, where the index on start
# would look each of a month's rows up in the table at random. The last
# row is NULL, which joins nothing.
_EVERY_ROLLED_UP_MONITOR = (
    "SELECT min(monitor_id) FROM rollup_hour UNION ALL "
    "SELECT (SELECT min(monitor_id) FROM rollup_hour WHERE monitor_id > ids.id) "
    "FROM ids WHERE ids.id IS NOT NULL"
)

# The monitors in the catalogue with any of the tags in the JSON array :tags.
_TAGGED_MONITORS = (
    "SELECT DISTINCT monitors.id FROM monitors, json_each(monitors.tags) AS listed "
    "WHERE listed.value IN (SELECT value FROM json_each(:tags))"
)

# 1. ids: the monitors the report counts, each once.
# 2. days: their checks per day, read a monitor at a time along the primary
#    key (CROSS JOIN keeps that order of the loops).
# 3. buckets: the days summed per bucket, so the calendar is worked out for
#    a row per monitor and day rather than per hour.
_UPTIME_BUCKETS = (
    "WITH RECURSIVE ids(id) AS ({monitors}), "
    "days AS (SELECT monitor_id, {day} AS day, SUM(count) AS checks, "
    "SUM(ok) AS ok FROM ids CROSS JOIN rollup_hour WHERE monitor_id = ids.id "
    "AND start >= :since AND start < :until GROUP BY monitor_id, day), "
    "buckets AS (SELECT monitor_id, {period} AS period_start, "
    "SUM(checks) AS checks, SUM(ok) AS ok FROM days "
    "GROUP BY monitor_id, period_start) "
)

_UPTIME_BY_MONITOR = (
    "SELECT period_start, monitor_id, checks, ok FROM buckets "
    "ORDER BY period_start, monitor_id"
)

# Buckets of monitors fanned out to their tags, each tag of a monitor once,
# and summed per bucket and tag.
_UPTIME_BY_TAG = (
    "SELECT period_start, tagged.tag, SUM(checks), SUM(ok) FROM buckets "
    "JOIN (SELECT DISTINCT monitors.id AS id, listed.value AS tag "
    "FROM monitors, json_each(monitors.tags) AS listed{only}) AS tagged "
    "ON tagged.id = buckets.monitor_id "
    "GROUP BY period_start, tagged.tag ORDER BY period_start, tagged.tag"
)


def _uptime_report(
    query: UptimeQuery, connection: sqlite3.Connection
) -> list[UptimeRow]:
    """The rows of ``uptime_report``: summed per monitor, then per tag if asked.

    Summing each monitor's buckets before fanning them out to tags joins
    a row per monitor and bucket with the catalogue, not every hour.
    """
    parameters: dict[str, Any] = {
        "since": query.since,
        "until": query.until,
        "ids": None if query.monitor_ids is None else json.dumps(query.monitor_ids),
        "tags": None if query.tags is None else json.dumps(query.tags),
    }
    sql = _UPTIME_BUCKETS.format(
        monitors=_uptime_monitors(query),
        day=_DAY_OF_START,
        period=_UPTIME_PERIODS[query.period],
    )
    if query.by == "monitor":
        sql += _UPTIME_BY_MONITOR
    else:
        only = (
            ""
            if query.tags is None
            else " WHERE listed.value IN (SELECT value FROM json_each(:tags))"
        )
        sql += _UPTIME_BY_TAG.format(only=only)
    rows = connection.execute(sql, parameters)
    return [uptime_row(*row) for row in rows]


def _uptime_monitors(query: UptimeQuery) -> str:
    """SQL for the ids of the monitors an uptime report counts, each once.

    With a filter, those it names; by tag, the catalogue's monitors with
    tags, the only ones that have any; otherwise every monitor with
    rollups, deleted ones too.
    """
    if query.tags is not None:
        if query.monitor_ids is None:
            return _TAGGED_MONITORS
        return (
            f"{_TAGGED_MONITORS} AND monitors.id IN (SELECT value FROM json_each(:ids))"
        )
    if query.monitor_ids is not None:
        return "SELECT DISTINCT value FROM json_each(:ids)"
    if query.by == "tag":
        return "SELECT id FROM monitors WHERE json_array_length(tags) > 0"
    return _EVERY_ROLLED_UP_MONITOR


_OUTBOX_COLUMNS = (
    "id, channel_id, key, payload, state, attempts, next_at, created_at, "
    "last_status, last_detail, claim"
)

_ATTEMPT_COLUMNS = "entry_id, channel_id, attempt, at, ok, status, detail, response"

_ENQUEUE = """
    INSERT OR IGNORE INTO outbox
        (channel_id, key, payload, state, next_at, created_at, updated_at)
    VALUES (?1, ?2, ?3, 'pending', ?4, ?4, ?4)
"""

# A claim takes what is due: pending entries whose time has come, and
# entries being sent whose sender's lease ran out.
_CLAIM_DUE = f"""
    UPDATE outbox SET state = 'sending', claim = claim + 1, next_at = ?1 + ?3,
        updated_at = ?1
    WHERE id IN (
        SELECT id FROM outbox
        WHERE state IN ('pending', 'sending') AND next_at <= ?1
        ORDER BY next_at, id LIMIT ?2
    )
    RETURNING {_OUTBOX_COLUMNS}
"""

_SETTLE = """
    UPDATE outbox SET state = ?1, attempts = attempts + 1, next_at = ?2,
        last_status = ?3, last_detail = ?4, updated_at = ?5
    WHERE id = ?6 AND claim = ?7 AND state = 'sending'
    RETURNING attempts
"""

_LOG_ATTEMPT = f"""
    INSERT INTO delivery_attempts ({_ATTEMPT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""

_REQUEUE = """
    UPDATE outbox SET state = 'pending', next_at = ?1, updated_at = ?1
    WHERE id = ?2 AND state = 'dead'
"""

_DELETE_OLD_OUTBOX = f"""
    DELETE FROM outbox WHERE id IN (
        SELECT id FROM outbox
        WHERE state IN ('sent', 'dead') AND updated_at < ? LIMIT {RETENTION_BATCH})
"""

_DELETE_OLD_ATTEMPTS = f"""
    DELETE FROM delivery_attempts WHERE rowid IN (
        SELECT rowid FROM delivery_attempts WHERE at < ? LIMIT {RETENTION_BATCH})
"""


def _enqueue(rows: list[tuple[Any, ...]], connection: sqlite3.Connection) -> int:
    before = connection.total_changes
    connection.executemany(_ENQUEUE, rows)
    return connection.total_changes - before


def _claim_due(
    now: float, limit: int, lease: float, connection: sqlite3.Connection
) -> list[OutboxEntry]:
    rows = connection.execute(_CLAIM_DUE, (now, limit, lease)).fetchall()
    return sorted(
        (entry_from_row(row) for row in rows), key=lambda e: (e.created_at, e.id)
    )


def _record_attempt(
    entry: OutboxEntry,
    settled: tuple[Any, ...],
    logged: tuple[Any, ...],
    connection: sqlite3.Connection,
) -> bool:
    row = connection.execute(_SETTLE, (*settled, entry.id, entry.claim)).fetchone()
    if row is None:
        return False
    connection.execute(_LOG_ATTEMPT, (entry.id, entry.channel_id, row[0], *logged))
    return True


def _change(sql: str, parameters: Sequence[Any], connection: sqlite3.Connection) -> int:
    return connection.execute(sql, parameters).rowcount


def _where(*clauses: tuple[str, object]) -> tuple[str, list[object]]:
    """``where_clause`` with SQLite's placeholders."""
    return where_clause(clauses, lambda number: "?")


_PUT_SETTING = """
    INSERT INTO alert_settings (kind, id, body, updated_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (kind, id) DO UPDATE SET
        body = excluded.body, updated_at = excluded.updated_at
"""

_GET_SETTING = "SELECT body FROM alert_settings WHERE kind = ? AND id = ?"

_SETTINGS = "SELECT body FROM alert_settings WHERE kind = ? ORDER BY id"

_DELETE_SETTING = "DELETE FROM alert_settings WHERE kind = ? AND id = ?"

_PUT_INCIDENT = """
    INSERT INTO incidents
        (id, monitor_id, status, opened_at, updated_at, resolved_at, body)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET
        monitor_id = excluded.monitor_id,
        status = excluded.status,
        opened_at = excluded.opened_at,
        updated_at = excluded.updated_at,
        resolved_at = excluded.resolved_at,
        body = excluded.body
"""

_GET_INCIDENT = "SELECT body FROM incidents WHERE id = ?"

# The condition is the one of the partial index incidents_unresolved.
_UNRESOLVED = """
    SELECT body FROM incidents WHERE status <> 'resolved' ORDER BY opened_at, id
"""

_ADD_TIMELINE = f"""
    INSERT OR IGNORE INTO incident_timeline ({TIMELINE_COLUMNS}) VALUES (?, ?, ?, ?, ?)
"""

_TIMELINE = f"""
    SELECT {TIMELINE_COLUMNS} FROM incident_timeline
    WHERE incident_id = ? ORDER BY at, entry_id LIMIT ?
"""

_OLD_RESOLVED = f"""
    SELECT id FROM incidents WHERE status = 'resolved' AND resolved_at < ?
    LIMIT {RETENTION_BATCH}
"""


def _put_setting(row: tuple[Any, ...], connection: sqlite3.Connection) -> bool:
    """Insert or replace a settings document; whether it was new.

    Only the writer thread writes, so nothing can come between the look
    and the write.
    """
    found = connection.execute(_GET_SETTING, row[:2]).fetchone()
    connection.execute(_PUT_SETTING, row)
    return found is None


def _bodies(
    sql: str, parameters: Sequence[Any], connection: sqlite3.Connection
) -> list[dict[str, Any]]:
    """The JSON bodies a query selects, decoded on the reader thread."""
    return [body_from_text(text) for (text,) in connection.execute(sql, parameters)]


def _put_incidents(rows: list[IncidentRow], connection: sqlite3.Connection) -> None:
    connection.executemany(_PUT_INCIDENT, rows)


def _incidents(
    query: IncidentQuery, connection: sqlite3.Connection
) -> list[dict[str, Any]]:
    """A page of ``incidents``, after the cursor incident when there is one."""
    statuses = None if query.statuses is None else json.dumps(query.statuses)
    where, parameters = _where(
        ("monitor_id = {}", query.monitor_id),
        ("status IN (SELECT value FROM json_each({}))", statuses),
    )
    if query.before is not None:
        found = connection.execute(_GET_OPENED_AT, (query.before,)).fetchone()
        if found is None:
            raise unknown_cursor(query.before)
        where = f"{where} AND " if where else "WHERE "
        where += "(opened_at, id) < (?, ?)"
        parameters += [found[0], query.before]
    sql = f"SELECT body FROM incidents {where} ORDER BY opened_at DESC, id DESC LIMIT ?"
    return _bodies(sql, [*parameters, query.limit], connection)


_GET_OPENED_AT = "SELECT opened_at FROM incidents WHERE id = ?"


def _add_timeline(rows: list[Any], connection: sqlite3.Connection) -> int:
    before = connection.total_changes
    connection.executemany(_ADD_TIMELINE, rows)
    return connection.total_changes - before


def _delete_old_incidents(cutoff: float, connection: sqlite3.Connection) -> int:
    """Delete a batch of incidents resolved before ``cutoff``, timelines first.

    Both go in the job's one transaction; returns how many incidents went.
    """
    ids = connection.execute(_OLD_RESOLVED, (cutoff,)).fetchall()
    connection.executemany("DELETE FROM incident_timeline WHERE incident_id = ?", ids)
    connection.executemany("DELETE FROM incidents WHERE id = ?", ids)
    return len(ids)


_CREATE_USER = f"""
    INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT DO NOTHING
"""

_UPDATE_USER = """
    UPDATE users SET name = ?, role = ?, password_hash = ?, password_history = ?,
        teams = ?, disabled = ?, created_at = ?, updated_at = ?
    WHERE id = ?
"""

_GET_USER = f"SELECT {USER_COLUMNS} FROM users WHERE id = ?"

_USER_NAMED = f"SELECT {USER_COLUMNS} FROM users WHERE name = ?"

_USERS = f"SELECT {USER_COLUMNS} FROM users ORDER BY name"

_CREATE_SESSION = f"""
    INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_GET_SESSION = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?"

# The conditions are the whole claim on the token: the writer runs one
# statement at a time, and the first rotation moves the generation on, so
# a second one with the same token finds no row.
# Numbered in the order of the fields of store.accounts.Rotation.
_ROTATE_SESSION = """
    UPDATE sessions SET generation = generation + 1, token_hash = ?4,
        last_seen_at = ?5, expires_at = ?6, user_agent = ?7, address = ?8
    WHERE id = ?1 AND generation = ?2 AND token_hash = ?3
        AND revoked_at IS NULL AND ?5 < expires_at
"""

# Only sessions still active are ended, so the count is of those, and an
# earlier revocation (or expiry) stays the one on record.
_REVOKE_SESSIONS = """
    UPDATE sessions SET revoked_at = ?1, revoked_reason = ?2
    WHERE {column} = ?3 AND revoked_at IS NULL AND ?1 < expires_at
"""

_SESSIONS = f"""
    SELECT {SESSION_COLUMNS} FROM sessions
    WHERE user_id = ?1 AND revoked_at IS NULL AND ?2 < expires_at
    ORDER BY last_seen_at DESC, id
"""

_TOUCH_SESSION = """
    UPDATE sessions SET last_seen_at = ?1, address = ?2
    WHERE id = ?3 AND last_seen_at <= ?1
"""

_DELETE_ENDED_SESSIONS = f"""
    DELETE FROM sessions WHERE id IN (
        SELECT id FROM sessions WHERE expires_at < ?1 OR revoked_at < ?1
        LIMIT {RETENTION_BATCH})
"""

_CREATE_API_KEY = f"""
    INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_GET_API_KEY = f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ?"

_API_KEYS = f"""
    SELECT {API_KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL
    ORDER BY created_at DESC, id DESC
"""

_USER_API_KEYS = f"""
    SELECT {API_KEY_COLUMNS} FROM api_keys WHERE user_id = ? AND revoked_at IS NULL
    ORDER BY created_at DESC, id DESC
"""

# A key expired already is revoked too, so it leaves the list of keys,
# but it was not usable until now.
_REVOKE_API_KEY = """
    UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL
    RETURNING expires_at IS NULL OR ?2 < expires_at
"""

_TOUCH_API_KEY = """
    UPDATE api_keys SET last_used_at = ?1
    WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)
"""

_ADD_ACTIVITY = (
    f"INSERT INTO activity ({ACTIVITY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
)

_KEEP_SECRET = """
    INSERT INTO gateway_secrets (name, secret, created_at) VALUES (?, ?, ?)
    ON CONFLICT (name) DO NOTHING
"""

_GET_SECRET = "SELECT secret FROM gateway_secrets WHERE name = ?"


def _change_many(
    sql: str, rows: Sequence[Sequence[Any]], connection: sqlite3.Connection
) -> int:
    before = connection.total_changes
    connection.executemany(sql, rows)
    return connection.total_changes - before


def _update_user(row: tuple[Any, ...], connection: sqlite3.Connection) -> bool:
    """Replace an account by id; ValueError when its new name is another's."""
    try:
        cursor = connection.execute(_UPDATE_USER, (*row[1:], row[0]))
    except sqlite3.IntegrityError as exc:
        # The id is the row's own, so only the name can clash.
        if exc.sqlite_errorname != "SQLITE_CONSTRAINT_UNIQUE":
            raise
        raise name_taken(row[1]) from exc
    return cursor.rowcount > 0


def _delete_user(user_id: str, connection: sqlite3.Connection) -> bool:
    """Delete an account's sessions, keys and then the account, in one job."""
    connection.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
    connection.execute("DELETE FROM api_keys WHERE user_id = ?", (user_id,))
    cursor = connection.execute("DELETE FROM users WHERE id = ?", (user_id,))
    return cursor.rowcount > 0


def _revoke_api_key(key_id: str, now: float, connection: sqlite3.Connection) -> bool:
    row = connection.execute(_REVOKE_API_KEY, (key_id, now)).fetchone()
    return row is not None and bool(row[0])


def _gateway_secret(row: tuple[str, str, float], connection: sqlite3.Connection) -> str:
    """Keep the candidate unless a secret is kept already; the one kept.

    Only the writer thread writes, so the read sees the row the insert
    left or found.
    """
    connection.execute(_KEEP_SECRET, row)
    (secret,) = connection.execute(_GET_SECRET, row[:1]).fetchone()
    return str(secret)
