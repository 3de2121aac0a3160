"""The storage interface every backend implements, and the checks they share.

``Store`` is what the actors code against: the monitor catalogue, check
results, state changes and events, with retention. A backend (SQLite,
PostgreSQL, MySQL) subclasses it and keeps its contract: the same
ordering, the same idempotency and the same ``ValueError`` for bad input,
which is why the argument checks live here and not in each backend.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import math
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, NamedTuple, Self, TypeVar, cast

from engine.events import Event, StateChange
from engine.result import CheckResult
from store.accounts import Activity, ApiKey, Session, User
from store.alerting import (
    INCIDENT_STATUSES,
    MAX_KEY_LENGTH,
    PREFERENCE,
    RESOLVED,
    SETTING_KINDS,
    IncidentRow,
    TimelineEntry,
)
from store.outbox import (
    DEAD,
    MAX_RESPONSE,
    PENDING,
    SENT,
    STATES,
    Attempt,
    OutboxEntry,
    Outgoing,
)
from store.rollups import Rollup, Summary, UptimeRow

MigrationProgress = Callable[[int, int, str], None]
"""Called as ``progress(step, total, description)`` before each migration runs.

``step`` counts from 1 up to ``total``, the number of migrations this open
applies; a database already up to date calls it never.
"""

MAX_LIMIT = 100_000
"""The most rows one read returns.

A week of one-minute results is about 10,000 rows; the cap is ten times that,
so no single call can pull a whole table into memory by mistake.
"""

SECONDS_PER_DAY = 86_400.0

HOURLY_ROLLUP_DAYS = 400.0
"""Days hourly rollups are kept at least, for uptime over a year; minute
rollups go with the results."""


_MIGRATION_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered step of a backend's schema: its SQL text.

    How the text runs (one transaction, or statement by statement where
    the database commits schema changes on its own) is the backend's.
    """

    version: int
    description: str
    sql: str


def load_migrations(backend: str) -> list[Migration]:
    """The migrations shipped in ``store/migrations/<backend>``, in order.

    Files are named ``NNNN_words.sql`` and numbered 1, 2, 3 without gaps: a
    database records only the last step applied, so a gap would be a step
    that never runs.
    """
    folder = importlib.resources.files("store") / "migrations" / backend
    by_version: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.fullmatch(entry.name)
        if match is None:
            continue
        version = int(match[1])
        if version in by_version:
            raise StoreError(f"two {backend} migrations are numbered {version}")
        text = entry.read_text(encoding="utf-8")
        by_version[version] = Migration(version, match[2].replace("_", " "), text)
    versions = sorted(by_version)
    if versions != list(range(1, len(versions) + 1)):
        raise StoreError(
            f"{backend} migrations must be numbered 1 to N, got {versions}"
        )
    return [by_version[version] for version in versions]


class AppliedMigration(NamedTuple):
    """A migration a database records as applied."""

    version: int
    description: str
    applied_at: float | None
    """Unix seconds; None where the backend keeps only the version (SQLite)."""


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where a database's schema stands against the migrations of this version.

    ``store.schema_status`` reads it without changing the database, so an
    operator sees what ``open`` would do before anything is done, and a
    database from a newer version is described here instead of refused.
    """

    backend: str
    """``sqlite``, ``postgresql`` or ``mysql``."""
    location: str
    """The database in words, never with the password."""
    found: int
    """The schema version the database records; 0 when it records none."""
    known: int
    """The last schema version this version of Upcast ships."""
    pending: tuple[tuple[int, str], ...]
    """``(version, description)`` of each migration ``open`` would apply."""
    applied: tuple[AppliedMigration, ...]
    """The migrations the database records, oldest first."""
    exists: bool
    """Whether the SQLite file or PostgreSQL schema is there; ``open`` makes it.

    A MySQL database always exists once connected to: the store never
    creates one.
    """
    empty: bool
    """Whether it holds no tables at all, Upcast's or anything else's."""

    @classmethod
    def compare(
        cls,
        backend: str,
        location: str,
        migrations: list[Migration],
        *,
        found: int,
        applied: tuple[AppliedMigration, ...] = (),
        exists: bool = True,
        empty: bool = False,
    ) -> SchemaStatus:
        """The status of a database at version ``found`` against ``migrations``."""
        return cls(
            backend=backend,
            location=location,
            found=found,
            known=migrations[-1].version if migrations else 0,
            pending=tuple(
                (step.version, step.description)
                for step in migrations
                if step.version > found
            ),
            applied=applied,
            exists=exists,
            empty=empty,
        )

    @property
    def state(self) -> str:
        """``current``, ``pending`` (migrations to apply) or ``too_new``."""
        if self.found > self.known:
            return "too_new"
        return "pending" if self.pending else "current"


class StoreError(Exception):
    """The store could not do what was asked.

    ``retryable`` says whether the same call can succeed later unchanged: a
    database locked by another process or a full disk can clear up, a
    database from a newer version cannot.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class SchemaTooNewError(StoreError):
    """The database was written by a newer version of Upcast.

    Opening it would risk writing rows the newer schema does not expect, so
    the store refuses and leaves the file untouched.
    """

    def __init__(self, location: str, found: int, known: int) -> None:
        super().__init__(
            f"{location} has schema version {found}, but this version of Upcast "
            f"knows versions up to {known}; upgrade Upcast or open a backup "
            "made by this version"
        )
        self.location = location
        self.found = found
        self.known = known


def behind_error(location: str, found: int, known: int) -> StoreError:
    """The error of opening, only to read, a database not at this version's schema."""
    return StoreError(
        f"{location} is at schema version {found}, but this version of Upcast "
        f"reads version {known}; it is opened only to read, so migrate the "
        "database it copies (upcast storage migrate) and open it again"
    )


class StoreClosedError(StoreError):
    """The store is not open: ``open`` was not awaited yet, or ``close`` was."""


class Store(ABC):
    """Where monitors, results, state changes and events are kept.

    Every method is a coroutine except ``schema_version``. A write returns
    once its rows are committed, so a read that starts afterwards sees them.
    Times are Unix seconds. Use the store as ``async with store:`` to open
    and close it around a block.
    """

    backend = "this store"
    """The backend's name, for messages."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date.

        Raises ``SchemaTooNewError`` for a database from a newer version and
        ``StoreError`` when the database cannot be opened or migrated.
        """

    @abstractmethod
    async def close(self) -> None:
        """Finish every write already queued, then release the database.

        Calls made after ``close`` starts raise ``StoreClosedError``. Closing
        twice is harmless, and cancelling the wait does not stop the flush.
        """

    @abstractmethod
    def schema_version(self) -> int:
        """The schema version the open database is at."""

    @abstractmethod
    async def put_monitors(self, definitions: list[dict[str, Any]]) -> None:
        """Insert or replace definitions (``Monitor.to_dict`` schema) by id.

        The whole list is written in one transaction; when an id appears
        twice, the later definition wins.
        """

    @abstractmethod
    async def put_monitor_rows(self, rows: list[MonitorRow]) -> None:
        """Insert or replace definitions already encoded by ``monitor_row``.

        For callers that hold each definition's text anyway: the store does
        not encode it a second time. One transaction, as ``put_monitors``.
        """

    @abstractmethod
    async def delete_monitor(self, monitor_id: str) -> bool:
        """Forget one definition; whether it existed.

        Its results, state changes and events stay until retention removes
        them, so history remains readable after a monitor is gone.
        """

    @abstractmethod
    async def get_monitor(self, monitor_id: str) -> dict[str, Any] | None:
        """One definition as it was put, or None."""

    @abstractmethod
    async def list_monitors(
        self,
        *,
        kind: str | None = None,
        tag: str | None = None,
        enabled: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Every definition, ordered by id, optionally only those matching."""

    @abstractmethod
    async def catalogue(
        self, *, after: str | None = None, limit: int = 10_000
    ) -> list[tuple[str, str]]:
        """A page of ``(id, definition text)`` ordered by id, ids above ``after``.

        The text is the definition as ``definition_text`` wrote it. Reading a
        large catalogue page by page keeps each answer small.
        """

    @abstractmethod
    async def write_results(self, results: list[CheckResult]) -> int:
        """Keep results; how many were new.

        A result is identified by its monitor and ``started_at``: writing it
        again changes nothing, so a batch can be retried safely.
        """

    @abstractmethod
    async def results(
        self,
        monitor_id: str,
        *,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
    ) -> list[CheckResult]:
        """A monitor's results, newest first, ``since <= started_at < until``."""

    @abstractmethod
    async def latest_results(self, monitor_ids: list[str]) -> dict[str, CheckResult]:
        """The newest result of each of these monitors that has one, by id."""

    @abstractmethod
    async def latest_states(self, monitor_ids: list[str]) -> dict[str, LatestState]:
        """Where each of these monitors stood at its newest result, by id.

        Monitors without a result are left out. This is what a shard needs to
        carry a monitor on after a restart, without the result's details.
        """

    @abstractmethod
    async def rollups(
        self,
        monitor_id: str,
        *,
        resolution: str = "hour",
        since: float,
        until: float,
        limit: int = 1000,
    ) -> list[Rollup]:
        """One monitor's rollups, oldest first, ``since <= start < until``.

        ``resolution`` is ``minute`` or ``hour``. Rollups are kept up to date
        by ``write_results``, counting each stored result once, however many
        times its batch is written.
        """

    @abstractmethod
    async def rollup_summaries(
        self,
        *,
        since: float,
        until: float,
        resolution: str = "hour",
        monitor_ids: list[str] | None = None,
    ) -> list[Summary]:
        """How each monitor did over the buckets starting in ``[since, until)``.

        One ``Summary`` per monitor with rollups there (only those in
        ``monitor_ids`` when given), ordered by id, summed from rollups.
        """

    @abstractmethod
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
        """Uptime per day, week or month and per monitor or tag, for SLA reports.

        The database sums the hourly rollups of each bucket, so a month of a
        large fleet is one grouped query instead of its results. Buckets are
        in UTC only: ``period`` is ``day`` (from midnight), ``week`` (ISO
        weeks, from Monday 00:00) or ``month`` (calendar months). A bucket
        sums the hourly rollups with ``since <= start < until``, so at the
        ends of the range it counts only the hours inside; its row still
        starts where the bucket does.

        ``by="monitor"`` gives a row per bucket and monitor id, monitors
        deleted since included. ``by="tag"`` gives a row per bucket and tag
        of the monitors in the catalogue: a monitor counts in each of its
        tags, and one without tags, or no longer there, in none.
        ``monitor_ids`` counts only those monitors; ``tags`` only those with
        any of these tags, and by tag reports only these tags. Rows are
        ordered by ``period_start``, then key. Rollups outside the years 1 to
        9999 have no calendar bucket and are left out.
        """

    @abstractmethod
    async def write_state_changes(self, changes: list[StateChange]) -> None:
        """Keep state changes; writing the same change again changes nothing."""

    @abstractmethod
    async def state_changes(
        self,
        monitor_id: str | None = None,
        *,
        since: float | None = None,
        limit: int = 100,
    ) -> list[StateChange]:
        """State changes, newest first, of one monitor or all, ``at >= since``."""

    @abstractmethod
    async def write_events(self, events: list[Event]) -> None:
        """Keep events; an id already stored is left as it is."""

    @abstractmethod
    async def events(
        self,
        *,
        after: str | None = None,
        monitor_id: str | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """Events with an id above ``after``, oldest first.

        Event ids sort in time order, so a client passes the last id it saw
        to get everything it missed.
        """

    async def monitor_feed(
        self, *, after: int = 0, limit: int = 1000
    ) -> FeedPage[MonitorRow]:
        """Monitor rows written after position ``after``, in the order written.

        A feed is how a copy elsewhere (``store.mirror``) keeps up: it passes
        back the page's ``position`` to read on. A row written again moves to
        the end of the feed; a deleted monitor leaves no mark in it. Only
        backends that can be a copy's source have feeds.
        """
        raise StoreError(f"{self.backend} cannot be the source of a copy")

    async def rollup_feed(
        self, *, after: int = 0, limit: int = 1000
    ) -> FeedPage[Rollup]:
        """Hourly rollups changed after position ``after``, as ``monitor_feed``."""
        raise StoreError(f"{self.backend} cannot be the source of a copy")

    async def event_feed(self, *, after: int = 0, limit: int = 1000) -> FeedPage[Event]:
        """Events stored after position ``after``, as ``monitor_feed``."""
        raise StoreError(f"{self.backend} cannot be the source of a copy")

    @abstractmethod
    async def hourly_totals(self, *, since: float, until: float) -> list[HourTotal]:
        """The hourly rollups of every monitor summed per hour, oldest first.

        Two stores that hold the same rollups give the same totals, so
        comparing them finds the hours where a copy differs.
        """

    @abstractmethod
    async def event_totals(self, *, since: float, until: float) -> list[EventTotal]:
        """How many events each hour holds (by ``at``), oldest first."""

    @abstractmethod
    async def hour_rollups(
        self, start: float, *, after: str | None = None, limit: int = 1000
    ) -> list[Rollup]:
        """The rollups of the hour at ``start``, by monitor id above ``after``."""

    @abstractmethod
    async def events_between(
        self,
        *,
        since: float,
        until: float,
        after: str | None = None,
        limit: int = 1000,
    ) -> list[Event]:
        """Events with ``since <= at < until`` and an id above ``after``, by id."""

    @abstractmethod
    async def enqueue(self, outgoing: list[Outgoing]) -> int:
        """Put notifications in the outbox; how many were new.

        One entry per channel and key: a notification queued again is left
        as it is, so a retried caller never sends twice.
        """

    @abstractmethod
    async def claim_due(
        self, *, now: float, limit: int = 100, lease: float = 60.0
    ) -> list[OutboxEntry]:
        """Hand out up to ``limit`` entries due by ``now``, oldest first.

        Each claimed entry is ``sending`` for ``lease`` seconds: no other
        claim takes it meanwhile, and one whose sender never reported back
        is due again when the lease ends. Two senders claiming at once never
        get the same entry.
        """

    @abstractmethod
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
        """Log one attempt at an entry as ``claim_due`` gave it, and settle it.

        A delivered entry is ``sent``; a failed one is due again at
        ``retry_at``, or ``dead`` when there is none. Returns False, and
        changes nothing, when this claim is over: its lease ran out and
        another sender claimed the entry, or it is settled already.
        """

    @abstractmethod
    async def outbox(
        self,
        *,
        state: str | None = None,
        channel_id: str | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> list[OutboxEntry]:
        """Outbox entries by id above ``after``, optionally of one state or channel."""

    @abstractmethod
    async def delivery_log(
        self,
        *,
        channel_id: str | None = None,
        entry_id: int | None = None,
        limit: int = 100,
    ) -> list[Attempt]:
        """Attempts, newest first, of one channel or entry or of all."""

    @abstractmethod
    async def requeue(self, entry_id: int, *, now: float) -> bool:
        """Make a dead entry due again at ``now``; whether it was dead."""

    @abstractmethod
    async def put_setting(
        self, kind: str, setting_id: str, body: Mapping[str, Any], *, at: float
    ) -> bool:
        """Keep one alerting settings document, replacing the one of its id; if new.

        ``kind`` is one of ``store.alerting.SETTING_KINDS``; ids are unique
        within a kind, so a channel and a route may share one. ``body`` is
        kept whole as JSON and ``at`` records when it was last changed.
        """

    @abstractmethod
    async def get_setting(self, kind: str, setting_id: str) -> dict[str, Any] | None:
        """One settings document as it was put, or None."""

    @abstractmethod
    async def settings(self, kind: str) -> list[dict[str, Any]]:
        """Every settings document of one kind, ordered by id.

        Settings are few (tens of channels and routes, not thousands), so
        they are read whole, without paging.
        """

    @abstractmethod
    async def delete_setting(self, kind: str, setting_id: str) -> bool:
        """Forget one settings document; whether it existed."""

    @abstractmethod
    async def put_incidents(self, incidents: list[Mapping[str, Any]]) -> None:
        """Insert or replace incidents by their ``id``, in one transaction.

        Each is a mapping with ``id`` and ``monitor_id`` (text), ``status``
        (one of ``store.alerting.INCIDENT_STATUSES``), ``opened_at`` and
        ``updated_at`` (times) and ``resolved_at`` (a time, or None until it
        is resolved). The whole mapping is kept, other JSON fields too, and
        read back as it was put. Every incident is checked before any is
        written, so a bad one writes nothing; when an id appears twice, the
        later incident wins.
        """

    @abstractmethod
    async def get_incident(self, incident_id: str) -> dict[str, Any] | None:
        """One incident as it was last put, or None."""

    @abstractmethod
    async def incidents(
        self,
        *,
        status: Sequence[str] | None = None,
        monitor_id: str | None = None,
        before: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Incidents newest first, by ``opened_at`` then id, both descending.

        ``status`` keeps those with any of these statuses, ``monitor_id``
        those of one monitor. ``before`` is the id of the last incident of
        the previous page: only incidents after it in this order (older)
        are read, so paging sees each incident once while new ones open.
        An id no incident has is refused with ValueError.
        """

    @abstractmethod
    async def unresolved_incidents(self) -> list[dict[str, Any]]:
        """Every incident not resolved, oldest first, by ``opened_at`` then id.

        What alerting loads when it starts, to carry on the incidents that
        still need someone; there are few, so there is no limit.
        """

    @abstractmethod
    async def add_timeline(self, entries: list[TimelineEntry]) -> int:
        """Add entries to incidents' timelines; how many were new.

        An entry whose incident and entry id are stored already is left as
        it is, so a retried write adds nothing. The incident need not be
        stored yet.
        """

    @abstractmethod
    async def timeline(
        self, incident_id: str, *, limit: int = 1000
    ) -> list[TimelineEntry]:
        """An incident's timeline, oldest first, by ``at`` then entry id."""

    # Accounts (``store.accounts``).

    @abstractmethod
    async def create_user(self, user: User) -> bool:
        """Keep a new account; False when its id or name (in lower case) is taken."""

    @abstractmethod
    async def update_user(self, user: User) -> bool:
        """Replace the account of ``user.id``; False when there is none.

        Its name may change, but not to one another account has
        (``ValueError``).
        """

    @abstractmethod
    async def get_user(self, user_id: str) -> User | None:
        """One account by id, or None."""

    @abstractmethod
    async def user_named(self, name: str) -> User | None:
        """One account by its login name, in any case, or None."""

    @abstractmethod
    async def users(self) -> list[User]:
        """Every account, ordered by name."""

    @abstractmethod
    async def delete_user(self, user_id: str) -> bool:
        """Forget an account with its sessions and keys; whether it existed.

        Its activity entries stay.
        """

    @abstractmethod
    async def create_session(self, session: Session) -> None:
        """Keep a new session (a session id is never reused)."""

    @abstractmethod
    async def get_session(self, session_id: str) -> Session | None:
        """One session, ended or not, or None."""

    @abstractmethod
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
        """Give a session its next refresh token, if it still holds this one.

        In one conditional update: only when the session is at
        ``generation`` with ``token_hash``, not revoked and not expired at
        ``now``, it moves to ``generation + 1`` with ``new_token_hash``,
        is seen at ``now`` from ``address`` and ``user_agent``, and expires
        at ``expires_at``. Of two rotations racing with one token, exactly
        one succeeds.
        """

    @abstractmethod
    async def revoke_sessions(
        self,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        reason: str,
        now: float,
    ) -> int:
        """End one session, or every session of a user; how many were active.

        Exactly one of ``session_id`` and ``user_id`` is given. Sessions
        already revoked keep their first revocation.
        """

    @abstractmethod
    async def sessions(self, user_id: str, *, now: float) -> list[Session]:
        """A user's sessions active at ``now``, the latest seen first."""

    @abstractmethod
    async def touch_sessions(self, seen: list[tuple[str, float, str]]) -> None:
        """Record ``(session_id, at, address)`` sightings, in one transaction.

        A session's ``last_seen_at`` only moves forward; its address is the
        one seen last.
        """

    @abstractmethod
    async def create_api_key(self, key: ApiKey) -> None:
        """Keep a new API key (a key id is never reused)."""

    @abstractmethod
    async def get_api_key(self, key_id: str) -> ApiKey | None:
        """One key, revoked or not, or None."""

    @abstractmethod
    async def api_keys(self, user_id: str | None = None) -> list[ApiKey]:
        """Keys not revoked, of one user or of everyone, newest first."""

    @abstractmethod
    async def revoke_api_key(self, key_id: str, *, now: float) -> bool:
        """Revoke a key; whether it was usable until now."""

    @abstractmethod
    async def touch_api_keys(self, used: list[tuple[str, float]]) -> None:
        """Record ``(key_id, at)`` uses; ``last_used_at`` only moves forward."""

    @abstractmethod
    async def add_activity(self, entries: list[Activity]) -> None:
        """Append entries to the activity log, in order, in one transaction."""

    @abstractmethod
    async def activity(
        self,
        *,
        before: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
    ) -> list[Activity]:
        """Activity entries newest first, by id, with ids below ``before``.

        ``actor`` keeps one actor's entries; ``action`` keeps one action, or
        a family of them when it ends in ``.`` (``monitor.`` for every
        change to monitors).
        """

    @abstractmethod
    async def gateway_secret(self, name: str, candidate: str, *, at: float) -> str:
        """The secret kept under ``name``, keeping ``candidate`` if there is none.

        Gateways call this when they start, each with a fresh random
        candidate; whichever is kept first is the one all of them get.
        """

    async def preferences(self, user_id: str) -> dict[str, Any] | None:
        """A user's saved preferences (a dashboard's layout, theme...), or None.

        They are kept as a settings document of kind ``preference`` under
        the user's id, so every backend keeps them without a table of its own.
        """
        found = await self.get_setting(PREFERENCE, user_id)
        if found is None:
            return None
        kept = found.get("preferences")
        return dict(kept) if isinstance(kept, Mapping) else {}

    async def put_preferences(
        self, user_id: str, preferences: Mapping[str, Any], *, at: float
    ) -> None:
        """Keep a user's preferences, replacing those saved before."""
        document = {"id": user_id, "preferences": dict(preferences)}
        await self.put_setting(PREFERENCE, user_id, document, at=at)

    async def forget_preferences(self, user_id: str) -> bool:
        """Forget a user's preferences, as their account goes; whether any were kept."""
        return await self.delete_setting(PREFERENCE, user_id)

    @abstractmethod
    async def enforce_retention(self, days: float, *, now: float | None = None) -> int:
        """Delete results, state changes and events older than ``days``.

        Minute rollups go with them; hourly rollups are kept at least
        ``HOURLY_ROLLUP_DAYS``. Resolved incidents go with their timelines
        once they were resolved before the same cutoff as results; an
        incident not resolved stays, however old. Rows go in batches (or
        whole partitions) so queued writes get in between. Sessions that
        ended (expired or revoked) before the cutoff are deleted too.
        Returns how many results, state changes and events were deleted.
        """


FeedRow = TypeVar("FeedRow")


@dataclass(frozen=True, slots=True)
class FeedPage(Generic[FeedRow]):
    """Rows changed after a feed position, and the position to read on from.

    ``position`` stays where it was when nothing changed; a full page means
    more may be waiting.
    """

    rows: list[FeedRow]
    position: int


class HourTotal(NamedTuple):
    """The hourly rollups of one hour, summed over every monitor."""

    start: float
    rollups: int
    checks: int
    ok: int
    latency_sum: float


class EventTotal(NamedTuple):
    """How many events one hour holds."""

    start: float
    events: int


def check_feed(after: object, limit: object) -> tuple[int, int]:
    """The position and page size of a feed read, or ValueError."""
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise ValueError(f"after: must be a feed position (0 or more), got {after!r}")
    return after, check_limit(limit)


def check_span(since: object, until: object) -> tuple[float, float]:
    """A ``[since, until)`` span of unix seconds, or ValueError naming the field."""
    start = check_time("since", since)
    end = check_time("until", until)
    if end < start:
        raise ValueError(f"until: must not be before since, got {until!r} < {since!r}")
    return start, end


class LatestState(NamedTuple):
    """The fields of a monitor's newest result that say where it stands."""

    state: str
    started_at: float
    ok: bool
    latency_ms: float
    reason: str | None
    message: str
    attempt: int


class MonitorRow(NamedTuple):
    """A definition with the columns kept beside it for filtering."""

    id: str
    name: str
    kind: str
    enabled: bool
    tags: str
    definition: str


def check_limit(limit: object) -> int:
    """The ``limit`` of a read, or ValueError when it is not 1 to MAX_LIMIT."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise ValueError(f"limit: must be a whole number, got {limit!r}")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def check_time(name: str, value: object) -> float:
    """A finite time or duration as a float, or ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be a finite number, got {value!r}")
    return float(value)


def check_optional_time(name: str, value: object) -> float | None:
    return None if value is None else check_time(name, value)


def check_text(name: str, value: object) -> str:
    """Non-empty text, or ValueError naming ``name``."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: must be non-empty text, got {value!r}")
    return value


def check_filters(
    kind: object, tag: object, enabled: object
) -> tuple[str | None, str | None, bool | None]:
    """The filters of ``list_monitors``: text or None, and a bool or None."""
    checked_kind = None if kind is None else check_text("kind", kind)
    checked_tag = None if tag is None else check_text("tag", tag)
    if enabled is not None and not isinstance(enabled, bool):
        raise ValueError(f"enabled: must be true, false or None, got {enabled!r}")
    return checked_kind, checked_tag, enabled


def check_cursor(after: object, what: str) -> str | None:
    """A paging cursor: the last ``what`` (an id) seen, or None for the start."""
    if after is not None and not isinstance(after, str):
        raise ValueError(f"after: must be {what} or None, got {after!r}")
    return after


class Cutoffs(NamedTuple):
    """Before when each kind of row goes, in unix seconds."""

    rows: float
    """Results, state changes, events and minute rollups."""
    hourly: float
    """Hourly rollups, kept at least ``HOURLY_ROLLUP_DAYS``."""


def retention_cutoffs(days: object, now: object | None) -> Cutoffs:
    """The cutoffs of ``enforce_retention(days, now=now)``, checked."""
    window = check_days(days)
    moment = time.time() if now is None else check_time("now", now)
    return Cutoffs(
        moment - window * SECONDS_PER_DAY,
        moment - max(window, HOURLY_ROLLUP_DAYS) * SECONDS_PER_DAY,
    )


def check_days(days: object) -> float:
    """A retention window in days: finite and above zero."""
    value = check_time("days", days)
    if value <= 0:
        raise ValueError(f"days: must be above 0, got {days!r}")
    return value


def check_list(name: str, value: object, item_type: type | None = None) -> None:
    """ValueError unless ``value`` is a list (of ``item_type``, when given)."""
    if not isinstance(value, list):
        raise ValueError(f"{name}: must be a list, got {type(value).__name__}")
    if item_type is None:
        return
    for index, item in enumerate(value):
        if not isinstance(item, item_type):
            raise ValueError(
                f"{name}[{index}]: must be a {item_type.__name__}, "
                f"got {type(item).__name__}"
            )


# One encoder for every row: ``json.dumps`` with options builds a new one
# per call, which costs more than encoding a small value.
_COMPACT = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def to_json(place: str, value: Any) -> str:
    """Compact JSON text, or ValueError naming ``place`` when it has none.

    NaN and infinity are refused: they are not JSON, and other databases'
    JSON columns would reject them later.
    """
    try:
        return _COMPACT.encode(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{place}: cannot be stored as JSON: {exc}") from exc


def definition_text(definition: Mapping[str, Any]) -> str:
    """A definition as the store keeps it: compact JSON, keys in their order.

    Definitions normalised by the monitor model (``Monitor.to_dict``) list
    their fields in one order, so two equal ones have the same text and the
    catalogue can compare definitions as text.
    """
    return _COMPACT.encode(definition)


def monitor_row(place: str, definition: object) -> MonitorRow:
    """Check the fields the store indexes and encode the definition.

    The store does not validate definitions against the monitor model: that
    happens before a definition reaches it. It checks only what it relies on
    for its own columns, so a bad row can never be stored. A catalogue of a
    million goes through here, so the usual shape is tested first and the
    place of a problem is only spelled out when there is one.
    """
    if type(definition) is not dict and not isinstance(definition, Mapping):
        raise ValueError(f"{place}: must be a mapping, got {type(definition).__name__}")
    monitor_id, name, kind = (definition.get(f) for f in ("id", "name", "kind"))
    if not (
        type(monitor_id) is str
        and type(name) is str
        and type(kind) is str
        and monitor_id
        and name
        and kind
    ):
        monitor_id = check_text(f"{place}.id", monitor_id)
        name = check_text(f"{place}.name", name)
        kind = check_text(f"{place}.kind", kind)
    enabled = definition.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValueError(f"{place}.enabled: must be true or false, got {enabled!r}")
    tags = definition.get("tags", [])
    if not isinstance(tags, list | tuple) or not all(
        type(tag) is str or isinstance(tag, str) for tag in tags
    ):
        raise ValueError(f"{place}.tags: must be a list of text, got {tags!r}")
    return MonitorRow(
        monitor_id,
        name,
        kind,
        enabled,
        _tags_text(tuple(tags)),
        _definition_text(place, definition),
    )


@functools.lru_cache(maxsize=4096)
def _tags_text(tags: tuple[str, ...]) -> str:
    # Fleets share a few tag lists, so their text is made once each.
    return _COMPACT.encode(list(tags))


def _definition_text(place: str, definition: Mapping[str, Any]) -> str:
    try:
        return definition_text(definition)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{place}: cannot be stored as JSON: {exc}") from exc


def check_monitor_row(place: str, row: object) -> MonitorRow:
    """A ``MonitorRow`` (or a tuple of its fields), or ValueError naming ``place``."""
    if not isinstance(row, tuple) or len(row) != len(MonitorRow._fields):
        raise ValueError(f"{place}: must be a monitor row of {len(MonitorRow._fields)}")
    checked = MonitorRow(*row)
    for field in ("id", "name", "kind", "tags", "definition"):
        check_text(f"{place}.{field}", getattr(checked, field))
    if not isinstance(checked.enabled, bool):
        raise ValueError(f"{place}.enabled: must be true or false")
    return checked


def check_result(place: str, result: CheckResult) -> None:
    """ValueError when a result has fields the store cannot keep faithfully."""
    check_text(f"{place}.monitor_id", result.monitor_id)
    check_time(f"{place}.started_at", result.started_at)
    check_time(f"{place}.latency_ms", result.latency_ms)
    check_time(f"{place}.lateness_ms", result.lateness_ms)


def check_state_change(place: str, change: StateChange) -> None:
    check_text(f"{place}.monitor_id", change.monitor_id)
    check_time(f"{place}.at", change.at)


def check_event(place: str, event: Event) -> None:
    check_text(f"{place}.id", event.id)
    check_time(f"{place}.at", event.at)
    check_text(f"{place}.type", event.type)
    if event.monitor_id is not None:
        check_text(f"{place}.monitor_id", event.monitor_id)


PERIODS = ("day", "week", "month")
"""The buckets of an uptime report: UTC days, ISO weeks and calendar months."""

REPORT_KEYS = ("monitor", "tag")
"""What the rows of an uptime report are about."""

CALENDAR_START = -62_135_596_800.0
"""0001-01-01 00:00 UTC, a Monday: where the calendar of uptime reports starts."""

CALENDAR_END = 253_402_300_800.0
"""10000-01-01 00:00 UTC, the end of the last month every backend can name."""


class UptimeQuery(NamedTuple):
    """The arguments of ``Store.uptime_report``, checked."""

    period: str
    by: str
    since: float
    """At least CALENDAR_START."""
    until: float
    """At most CALENDAR_END."""
    monitor_ids: list[str] | None
    tags: list[str] | None

    @property
    def matches_nothing(self) -> bool:
        """Whether no rollup can count: an empty range or an empty filter.

        A backend answers such a query without asking the database.
        """
        return self.since >= self.until or self.monitor_ids == [] or self.tags == []


def check_uptime_query(
    period: object,
    by: object,
    since: object,
    until: object,
    monitor_ids: object,
    tags: object,
) -> UptimeQuery:
    """The arguments of ``uptime_report``, or ValueError naming the bad one.

    The range is narrowed to the years 1 to 9999, where every backend's
    date functions agree; the backends rely on it, SQLite to round days
    down without ``floor``.
    """
    if not isinstance(period, str) or period not in PERIODS:
        raise ValueError(f"period: must be one of {', '.join(PERIODS)}, got {period!r}")
    if not isinstance(by, str) or by not in REPORT_KEYS:
        raise ValueError(f"by: must be {' or '.join(REPORT_KEYS)}, got {by!r}")
    start = check_time("since", since)
    end = check_time("until", until)
    return UptimeQuery(
        period,
        by,
        max(start, CALENDAR_START),
        min(end, CALENDAR_END),
        _optional_texts("monitor_ids", monitor_ids),
        _optional_texts("tags", tags),
    )


def _optional_texts(name: str, value: object) -> list[str] | None:
    """None, or a list of text checked by ``check_list``."""
    if value is None:
        return None
    check_list(name, value, str)
    return cast("list[str]", value)


def check_outgoing(outgoing: object) -> list[Outgoing]:
    """A list of ``Outgoing``, each with text ids, or ValueError naming the item."""
    check_list("outgoing", outgoing, Outgoing)
    assert isinstance(outgoing, list)
    for index, item in enumerate(outgoing):
        check_text(f"outgoing[{index}].channel_id", item.channel_id)
        check_text(f"outgoing[{index}].key", item.key)
        check_time(f"outgoing[{index}].at", item.at)
        if not isinstance(item.payload, Mapping):
            raise ValueError(f"outgoing[{index}].payload: must be a mapping")
    return outgoing


def check_claim(now: object, limit: object, lease: object) -> tuple[float, int, float]:
    """The arguments of ``claim_due``: a time, a page size, a lease above 0."""
    lease_seconds = check_time("lease", lease)
    if lease_seconds <= 0:
        raise ValueError(f"lease: must be above 0 seconds, got {lease!r}")
    return check_time("now", now), check_limit(limit), lease_seconds


def check_entry_id(entry_id: object) -> int:
    if isinstance(entry_id, bool) or not isinstance(entry_id, int) or entry_id < 1:
        raise ValueError(f"entry_id: must be an outbox entry id, got {entry_id!r}")
    return entry_id


def check_outbox_filters(
    state: object, channel_id: object, after: object
) -> tuple[str | None, str | None, int]:
    """The filters of ``outbox``: a state, a channel, the last id seen (0: none)."""
    if state is not None and (not isinstance(state, str) or state not in STATES):
        raise ValueError(f"state: must be one of {', '.join(STATES)}, got {state!r}")
    checked_channel = (
        None if channel_id is None else check_text("channel_id", channel_id)
    )
    position = 0 if after is None else check_entry_id(after)
    return state, checked_channel, position


def attempt_row(
    entry: OutboxEntry,
    at: object,
    ok: object,
    status: object,
    detail: object,
    response: object,
    retry_at: object,
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """What ``record_attempt`` writes: the entry's new standing, and the log row.

    The first is (state, next_at, last_status, last_detail, at), the second
    (at, ok, status, detail, response), the response cut to MAX_RESPONSE.
    """
    if not isinstance(entry, OutboxEntry):
        raise ValueError("entry: must be an entry claim_due gave")
    moment = check_time("at", at)
    if not isinstance(ok, bool):
        raise ValueError(f"ok: must be true or false, got {ok!r}")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
        raise ValueError(f"status: must be a whole number or None, got {status!r}")
    if not isinstance(detail, str) or not isinstance(response, str):
        raise ValueError("detail, response: must be text")
    retry = check_optional_time("retry_at", retry_at)
    if ok:
        state, next_at = SENT, moment
    elif retry is None:
        state, next_at = DEAD, moment
    else:
        state, next_at = PENDING, retry
    kept = response[:MAX_RESPONSE]
    return (state, next_at, status, detail, moment), (moment, ok, status, detail, kept)


def where_clause(
    clauses: Iterable[tuple[str, object]], placeholder: Callable[[int], str]
) -> tuple[str, list[object]]:
    """A WHERE clause of the conditions whose value is not None, and the values.

    Each condition holds ``{}`` where its placeholder goes; ``placeholder``
    writes the n-th one (from 1) in the backend's style. Leaving a filter
    out of the text, instead of writing ``? IS NULL OR ...``, lets the
    planner use the index for the filters given.
    """
    conditions: list[str] = []
    parameters: list[object] = []
    for condition, value in clauses:
        if value is not None:
            parameters.append(value)
            conditions.append(condition.format(placeholder(len(parameters))))
    if not conditions:
        return "", parameters
    return "WHERE " + " AND ".join(conditions), parameters


def attempt_filters(
    channel_id: object, entry_id: object
) -> tuple[tuple[str, object], tuple[str, object]]:
    """The conditions of ``delivery_log`` for ``where_clause``, checked."""
    channel = None if channel_id is None else check_text("channel_id", channel_id)
    entry = None if entry_id is None else check_entry_id(entry_id)
    return ("channel_id = {}", channel), ("entry_id = {}", entry)


def check_key_text(name: str, value: object) -> str:
    """An id of the alerting tables: non-empty text of MAX_KEY_LENGTH at most."""
    text = check_text(name, value)
    if len(text) > MAX_KEY_LENGTH:
        raise ValueError(
            f"{name}: must be at most {MAX_KEY_LENGTH} characters, got {len(text)}"
        )
    return text


def check_setting_kind(kind: object) -> str:
    """A kind of settings document, one of SETTING_KINDS, or ValueError."""
    if not isinstance(kind, str) or kind not in SETTING_KINDS:
        raise ValueError(
            f"kind: must be one of {', '.join(SETTING_KINDS)}, got {kind!r}"
        )
    return kind


def check_setting_key(kind: object, setting_id: object) -> tuple[str, str]:
    """The kind and id of a settings document, or ValueError naming the bad one."""
    return check_setting_kind(kind), check_key_text("setting_id", setting_id)


def setting_row(
    kind: object, setting_id: object, body: object, at: object
) -> tuple[str, str, str, float]:
    """What ``put_setting`` writes: kind, id, the body as JSON text, and when."""
    key = check_setting_key(kind, setting_id)
    if not isinstance(body, Mapping):
        raise ValueError(f"body: must be a mapping, got {type(body).__name__}")
    return (*key, to_json("body", dict(body)), check_time("at", at))


def incident_rows(incidents: object) -> list[IncidentRow]:
    """Each incident of ``put_incidents`` checked, or ValueError naming its place.

    The rows keep the order given, duplicates too: each backend makes the
    later of two with one id win in its own way.
    """
    check_list("incidents", incidents, Mapping)
    assert isinstance(incidents, list)
    return [
        _incident_row(f"incidents[{index}]", incident)
        for index, incident in enumerate(incidents)
    ]


def _incident_row(place: str, incident: Mapping[str, Any]) -> IncidentRow:
    incident_id = check_key_text(f"{place}.id", incident.get("id"))
    monitor_id = check_key_text(f"{place}.monitor_id", incident.get("monitor_id"))
    status = incident.get("status")
    if not isinstance(status, str) or status not in INCIDENT_STATUSES:
        raise ValueError(
            f"{place}.status: must be one of {', '.join(INCIDENT_STATUSES)}, "
            f"got {status!r}"
        )
    opened_at = check_time(f"{place}.opened_at", incident.get("opened_at"))
    updated_at = check_time(f"{place}.updated_at", incident.get("updated_at"))
    if "resolved_at" not in incident:
        raise ValueError(f"{place}.resolved_at: must be given, a time or None")
    resolved_at = check_optional_time(f"{place}.resolved_at", incident["resolved_at"])
    # Retention goes by resolved_at, so a resolved incident without one
    # would be kept for ever.
    if status == RESOLVED and resolved_at is None:
        raise ValueError(
            f"{place}.resolved_at: must be a time when the status is resolved"
        )
    body = to_json(place, dict(incident))
    return IncidentRow(
        incident_id, monitor_id, status, opened_at, updated_at, resolved_at, body
    )


class IncidentQuery(NamedTuple):
    """The arguments of ``Store.incidents``, checked."""

    statuses: tuple[str, ...] | None
    """Each status asked for once; None for every status."""
    monitor_id: str | None
    before: str | None
    limit: int

    @property
    def matches_nothing(self) -> bool:
        """Whether an empty list of statuses was asked for: no incident has none."""
        return self.statuses == ()


def check_incident_query(
    status: object, monitor_id: object, before: object, limit: object
) -> IncidentQuery:
    """The filters and page of ``incidents``, or ValueError naming the bad one.

    A single status given as text is refused rather than read as a list of
    its letters.
    """
    statuses: tuple[str, ...] | None = None
    if status is not None:
        if isinstance(status, str) or not isinstance(status, Sequence):
            raise ValueError(f"status: must be a list of statuses, got {status!r}")
        for index, item in enumerate(status):
            if not isinstance(item, str) or item not in INCIDENT_STATUSES:
                raise ValueError(
                    f"status[{index}]: must be one of "
                    f"{', '.join(INCIDENT_STATUSES)}, got {item!r}"
                )
        statuses = tuple(dict.fromkeys(status))
    return IncidentQuery(
        statuses,
        None if monitor_id is None else check_key_text("monitor_id", monitor_id),
        None if before is None else check_key_text("before", before),
        check_limit(limit),
    )


def unknown_cursor(before: str) -> ValueError:
    """The error of paging ``incidents`` from an id no incident has."""
    return ValueError(f"before: no incident has the id {before!r}")


TimelineRow = tuple[str, str, float, str, str]
"""A timeline entry as ``add_timeline`` writes it, its data as JSON text."""


def timeline_rows(entries: object) -> list[TimelineRow]:
    """Each entry of ``add_timeline`` checked, or ValueError naming its place."""
    check_list("entries", entries, TimelineEntry)
    assert isinstance(entries, list)
    rows: list[TimelineRow] = []
    for index, entry in enumerate(entries):
        place = f"entries[{index}]"
        if not isinstance(entry.data, Mapping):
            raise ValueError(f"{place}.data: must be a mapping")
        rows.append(
            (
                check_key_text(f"{place}.incident_id", entry.incident_id),
                check_key_text(f"{place}.entry_id", entry.entry_id),
                check_time(f"{place}.at", entry.at),
                check_key_text(f"{place}.kind", entry.kind),
                to_json(f"{place}.data", dict(entry.data)),
            )
        )
    return rows
