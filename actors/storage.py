"""The Storage actor: the one writer of results, state changes and events."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import msgpack

from engine.events import Event, StateChange
from engine.result import CheckResult, pack_results, unpack_results
from notify.service import DeliveryService
from store import Store, StoreError, open_store
from store.accounts import ACCOUNT_METHODS
from store.alerting import TimelineEntry
from store.base import MonitorRow
from store.mirror import FEEDS, Mirror, source_name
from store.mysql import MysqlStore
from store.outbox import Outgoing
from store.spool import DEFAULT_MAX_BYTES, PRIORITIES, Spool, SpoolFull

logger = logging.getLogger(__name__)

RETENTION_EVERY = 3600.0

COPY_EVERY = 10.0
"""Seconds between copies to the analytics store: how far reports may lag."""

# Pauses between attempts to write the spool back while the store is away.
REPLAY_DELAYS = (0.5, 1.0, 2.0, 5.0)

RESULTS = "results"
CHANGES = "changes"


class StorageActor:
    """Owns the store; every other actor reads and writes through it.

    Results arrive as msgpack batches and are written idempotently, so a
    batch delivered twice after a retry is stored once. Retention runs in
    the background every hour.

    The store opens when the actor starts, before any call is served, and
    again by itself when Ray restarts the actor after a crash: a write that
    was cut off was never committed, and its sender delivers it again.

    When the store cannot be reached (a database server restarting, a
    network cut), results and state changes go to a spool on disk and the
    call succeeds, so the shards carry on checking; a task writes the spool
    back in order once the store answers. While anything is spooled, new
    batches join the end of the spool, so order is kept.

    With ``analytics_url`` (MySQL), a task copies the store's hourly
    rollups, events and monitors there every ``copy_every`` seconds (see
    ``store.mirror``) and applies the same retention to it. Reports read
    from ``report_url`` when given (a read replica, opened only to read),
    else from the analytics store, else from the store itself.
    """

    def __init__(
        self,
        url: str,
        retention_days: float,
        spool_dir: str | None = None,
        spool_bytes: int = DEFAULT_MAX_BYTES,
        analytics_url: str | None = None,
        report_url: str | None = None,
        copy_every: float = COPY_EVERY,
        deliver: bool = True,
        public_url: str | None = None,
    ) -> None:
        self._url = url
        self._deliver = deliver
        self._public_url = public_url
        self._delivery: DeliveryService | None = None
        self._analytics_url = analytics_url
        self._report_url = report_url
        self._copy_every = copy_every
        self._analytics: MysqlStore | None = None
        self._reports: Store | None = None
        self._copying: asyncio.Task[None] | None = None
        self._copy_stats: dict[str, Any] = {
            "configured": analytics_url is not None,
            "copied": dict.fromkeys(FEEDS, 0),
            "last_copy_at": None,
            "last_error": None,
        }
        self._retention_days = retention_days
        self._store: Store | None = None
        self._retention: asyncio.Task[None] | None = None
        self._spool = None if spool_dir is None else Spool(Path(spool_dir), spool_bytes)
        self._replaying: asyncio.Task[None] | None = None
        self._opening = asyncio.get_running_loop().create_task(self._open())

    async def _open(self) -> Store:
        store = open_store(self._url, progress=_report_migration)
        await store.open()
        self._store = store
        self._retention = asyncio.get_running_loop().create_task(self._keep_tidy())
        if self._analytics_url is not None:
            self._copying = asyncio.get_running_loop().create_task(self._keep_copied())
        if self._spool is not None and len(self._spool):
            self._replay_later()
        if self._deliver:
            self._delivery = DeliveryService(store)
            await self._delivery.start()
        return store

    async def _ready(self) -> Store:
        if self._store is not None:
            return self._store
        return await asyncio.shield(self._opening)

    async def start(self) -> int:
        """Wait until the store is open (migrations applied); its schema version."""
        return (await self._ready()).schema_version()

    async def close(self) -> None:
        """Write back what the spool holds if the store takes it, then close.

        Whatever the store will not take stays in the spool for the next
        start.
        """
        if self._retention is not None:
            self._retention.cancel()
        if self._copying is not None:
            self._copying.cancel()
        if self._delivery is not None:
            await self._delivery.close()
            self._delivery = None
        for other in {id(s): s for s in (self._analytics, self._reports) if s}.values():
            if other is not self._store:
                await other.close()
        self._analytics = self._reports = None
        if self._replaying is not None:
            self._replaying.cancel()
        store = await self._ready()
        if self._spool is not None and len(self._spool):
            await self._replay_once(store)
        self._store = None
        await store.close()

    async def write_result_batch(self, batch: bytes) -> int:
        """Keep one batch of results; how many were new (0 when spooled)."""
        store = await self._ready()
        if self._spool is not None and len(self._spool):
            self._keep_results_for_later(batch)
            return 0
        try:
            return await store.write_results(unpack_results(batch))
        except StoreError as exc:
            if not exc.retryable or self._spool is None:
                raise
            logger.warning("the store is unreachable (%s); spooling results", exc)
            self._keep_results_for_later(batch)
            return 0

    async def write_changes(
        self, changes: list[dict[str, Any]], events: list[dict[str, Any]]
    ) -> None:
        """Keep state changes and the events that tell of them, in one call."""
        store = await self._ready()
        payload: bytes = msgpack.packb([changes, events], use_bin_type=True)
        if self._spool is not None and len(self._spool):
            self._keep_for_later(payload, CHANGES, 0, len(changes))
            return
        try:
            await _write_changes(store, changes, events)
        except StoreError as exc:
            if not exc.retryable or self._spool is None:
                raise
            logger.warning("the store is unreachable (%s); spooling changes", exc)
            self._keep_for_later(payload, CHANGES, 0, len(changes))

    def spool_stats(self) -> dict[str, Any]:
        """What waits in the spool and what it had to give up, by priority."""
        spool = self._spool
        return {
            "enabled": spool is not None,
            "batches": 0 if spool is None else len(spool),
            "records": 0 if spool is None else spool.records,
            "bytes": 0 if spool is None else spool.size,
            "max_bytes": 0 if spool is None else spool.max_bytes,
            "dropped": {
                name: 0 if spool is None else spool.dropped[index]
                for index, name in enumerate(PRIORITIES)
            },
        }

    def _keep_results_for_later(self, batch: bytes) -> None:
        """Spool a batch of results split by priority, so the least needed
        can be given up first when the spool fills."""
        by_priority: dict[int, list[CheckResult]] = {}
        for result in unpack_results(batch):
            rank = (
                PRIORITIES.index(result.priority)
                if result.priority in PRIORITIES
                else 1
            )
            by_priority.setdefault(rank, []).append(result)
        for rank, results in sorted(by_priority.items()):
            self._keep_for_later(pack_results(results), RESULTS, rank, len(results))

    def _keep_for_later(
        self, payload: bytes, kind: str, priority: int, count: int
    ) -> None:
        assert self._spool is not None
        try:
            self._spool.append(payload, kind=kind, priority=priority, count=count)
        except SpoolFull as exc:
            logger.error("%s; %d %s records dropped", exc, count, kind)
        self._replay_later()

    def _replay_later(self) -> None:
        if self._replaying is None or self._replaying.done():
            loop = asyncio.get_running_loop()
            self._replaying = loop.create_task(self._replay())

    async def _replay(self) -> None:
        """Write the spool back, oldest first, waiting while the store is away."""
        failures = 0
        while self._spool is not None and len(self._spool):
            store = await self._ready()
            if await self._replay_once(store):
                failures = 0
                continue
            delay = REPLAY_DELAYS[min(failures, len(REPLAY_DELAYS) - 1)]
            failures += 1
            await asyncio.sleep(delay)
        logger.info("the spool is written back; writing straight to the store again")

    async def _replay_once(self, store: Store) -> bool:
        """Write spooled batches until the spool is empty; False if the store failed."""
        spool = self._spool
        assert spool is not None
        while (oldest := spool.oldest()) is not None:
            spooled, payload = oldest
            try:
                if spooled.kind == RESULTS:
                    await store.write_results(unpack_results(payload))
                else:
                    changes, events = msgpack.unpackb(payload, raw=False)
                    await _write_changes(store, changes, events)
            except StoreError as exc:
                if exc.retryable:
                    return False
                logger.error(
                    "a spooled %s batch cannot be stored: %s", spooled.kind, exc
                )
            except ValueError:
                logger.exception(
                    "a spooled %s batch is not valid; dropped", spooled.kind
                )
            spool.remove(spooled)
        return True

    async def write_events(self, events: list[dict[str, Any]]) -> None:
        store = await self._ready()
        await store.write_events([Event.from_dict(event) for event in events])

    async def put_monitors(self, definitions: list[dict[str, Any]]) -> None:
        await (await self._ready()).put_monitors(definitions)

    async def put_monitor_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Keep definitions already encoded (``store.base.monitor_row``)."""
        await (await self._ready()).put_monitor_rows([MonitorRow(*r) for r in rows])

    async def delete_monitor(self, monitor_id: str) -> bool:
        return await (await self._ready()).delete_monitor(monitor_id)

    async def list_monitors(self) -> list[dict[str, Any]]:
        return await (await self._ready()).list_monitors()

    async def catalogue(self, after: str | None, limit: int) -> list[tuple[str, str]]:
        return await (await self._ready()).catalogue(after=after, limit=limit)

    async def latest_states(self, monitor_ids: list[str]) -> dict[str, tuple[Any, ...]]:
        """Each monitor's newest state as a plain tuple (``LatestState``'s fields)."""
        found = await (await self._ready()).latest_states(monitor_ids)
        return {monitor_id: tuple(state) for monitor_id, state in found.items()}

    async def results(
        self,
        monitor_id: str,
        since: float | None,
        until: float | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        store = await self._ready()
        found = await store.results(monitor_id, since=since, until=until, limit=limit)
        return [result.to_dict() for result in found]

    async def events(
        self, after: str | None, monitor_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        store = await self._ready()
        found = await store.events(after=after, monitor_id=monitor_id, limit=limit)
        return [event.to_dict() for event in found]

    async def rollups(
        self, monitor_id: str, resolution: str, since: float, until: float, limit: int
    ) -> list[dict[str, Any]]:
        """One monitor's rollups, oldest first (``Store.rollups``)."""
        store = await self._ready()
        found = await store.rollups(
            monitor_id, resolution=resolution, since=since, until=until, limit=limit
        )
        return [dataclasses.asdict(rollup) for rollup in found]

    async def state_changes(
        self, since: float | None, limit: int
    ) -> list[dict[str, Any]]:
        """State changes of every monitor, newest first, ``at >= since``."""
        store = await self._ready()
        found = await store.state_changes(since=since, limit=limit)
        return [change.to_dict() for change in found]

    async def enforce_retention(self) -> int:
        return await (await self._ready()).enforce_retention(self._retention_days)

    def analytics_stats(self) -> dict[str, Any]:
        """The copy to the analytics store: rows copied per feed, when, errors."""
        return {**self._copy_stats, "copied": dict(self._copy_stats["copied"])}

    async def uptime_report(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Uptime per period and monitor or tag (``Store.uptime_report``)."""
        rows = await (await self._report_store()).uptime_report(**query)
        return [row._asdict() for row in rows]

    async def rollup_summaries(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Uptime and latency per monitor over a span, from rollups."""
        found = await (await self._report_store()).rollup_summaries(**query)
        return [dataclasses.asdict(summary) for summary in found]

    # Alerting: settings, incidents and their timelines, the outbox.

    async def write_alerting(
        self,
        incidents: list[dict[str, Any]],
        timeline: list[dict[str, Any]],
        events: list[dict[str, Any]],
        outgoing: list[tuple[str, str, dict[str, Any]]],
    ) -> None:
        """Keep what alerting decided: notifications first, then the records.

        Every part is idempotent, so alerting may send the same call again
        after a failure. Notifications are queued before the incidents that
        tell of them are written, so none is lost to a failure in between.
        """
        store = await self._ready()
        now = time.time()
        if outgoing:
            await store.enqueue(
                [
                    Outgoing(channel, key, payload, now)
                    for channel, key, payload in outgoing
                ]
            )
        if incidents:
            await store.put_incidents(list(incidents))
        if timeline:
            await store.add_timeline([TimelineEntry(**entry) for entry in timeline])
        if events:
            await store.write_events([Event.from_dict(event) for event in events])

    async def settings(self, kind: str) -> list[dict[str, Any]]:
        return await (await self._ready()).settings(kind)

    async def get_setting(self, kind: str, setting_id: str) -> dict[str, Any] | None:
        return await (await self._ready()).get_setting(kind, setting_id)

    async def put_setting(self, kind: str, body: dict[str, Any]) -> bool:
        """Keep one setting; True when it is new. Channels take effect at once."""
        store = await self._ready()
        created = await store.put_setting(kind, body["id"], body, at=time.time())
        if kind == "channel" and self._delivery is not None:
            await self._delivery.reload()
        return created

    async def delete_setting(self, kind: str, setting_id: str) -> bool:
        store = await self._ready()
        removed = await store.delete_setting(kind, setting_id)
        if kind == "channel" and self._delivery is not None:
            await self._delivery.reload()
        return removed

    async def unresolved_incidents(self) -> list[dict[str, Any]]:
        return await (await self._ready()).unresolved_incidents()

    async def incidents(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        return await (await self._ready()).incidents(**query)

    async def get_incident(self, incident_id: str) -> dict[str, Any] | None:
        return await (await self._ready()).get_incident(incident_id)

    async def timeline(self, incident_id: str, limit: int) -> list[dict[str, Any]]:
        entries = await (await self._ready()).timeline(incident_id, limit=limit)
        return [entry.to_dict() for entry in entries]

    async def add_timeline(self, entries: list[dict[str, Any]]) -> int:
        store = await self._ready()
        return await store.add_timeline([TimelineEntry(**entry) for entry in entries])

    async def outbox(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        entries = await (await self._ready()).outbox(**query)
        return [dataclasses.asdict(entry) for entry in entries]

    async def delivery_log(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        attempts = await (await self._ready()).delivery_log(**query)
        return [attempt._asdict() for attempt in attempts]

    async def requeue(self, entry_id: int) -> bool:
        return await (await self._ready()).requeue(entry_id, now=time.time())

    async def accounts(
        self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Call one of the store's account methods (``ACCOUNT_METHODS``).

        The gateway's ``actors.account_calls.StorageAccounts`` is the typed
        side of this call.
        """
        if method not in ACCOUNT_METHODS:
            raise ValueError(f"method: not an account method: {method!r}")
        store = await self._ready()
        return await getattr(store, method)(*args, **kwargs)

    async def send_test(self, channel_id: str) -> dict[str, Any]:
        """Send a test notification through a channel now (``DeliveryService``)."""
        await self._ready()
        assert self._delivery is not None
        return await self._delivery.send_test(channel_id, public_url=self._public_url)

    async def _report_store(self) -> Store:
        """Where reports read: the report URL, else analytics, else the store."""
        if self._reports is not None:
            return self._reports
        if self._report_url is not None:
            reports = open_store(self._report_url, reading_only=True)
            await reports.open()
            self._reports = reports
        elif self._analytics_url is not None:
            self._reports = await self._analytics_store()
        else:
            self._reports = await self._ready()
        return self._reports

    async def _analytics_store(self) -> MysqlStore:
        if self._analytics is None:
            assert self._analytics_url is not None
            analytics = open_store(self._analytics_url, progress=_report_migration)
            if not isinstance(analytics, MysqlStore):
                raise StoreError("the analytics store must be MySQL or MariaDB")
            await analytics.open()
            self._analytics = analytics
        return self._analytics

    async def _keep_copied(self) -> None:
        """Copy to the analytics store every ``copy_every`` seconds, for good.

        An analytics store that cannot be reached is tried again next time;
        the feeds keep everything until it is copied.
        """
        while True:
            try:
                mirror = Mirror(
                    await self._ready(),
                    await self._analytics_store(),
                    source=source_name(self._url),
                )
                copied = await mirror.copy()
                for feed, count in copied.items():
                    self._copy_stats["copied"][feed] += count
                self._copy_stats["last_copy_at"] = time.time()
                self._copy_stats["last_error"] = None
            except Exception as exc:
                if self._copy_stats["last_error"] is None:
                    logger.warning("copying to the analytics store failed: %s", exc)
                self._copy_stats["last_error"] = str(exc)
            await asyncio.sleep(self._copy_every)

    async def _keep_tidy(self) -> None:
        while True:
            try:
                store = await self._ready()
                removed = await store.enforce_retention(self._retention_days)
                if removed:
                    logger.info("retention removed %d rows", removed)
                if self._analytics_url is not None:
                    analytics = await self._analytics_store()
                    await analytics.enforce_retention(self._retention_days)
            except Exception:
                logger.exception("enforcing retention failed; trying again later")
            await asyncio.sleep(RETENTION_EVERY)


async def _write_changes(
    store: Store, changes: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    await asyncio.gather(
        store.write_state_changes([StateChange.from_dict(c) for c in changes]),
        store.write_events([Event.from_dict(event) for event in events]),
    )


def _report_migration(step: int, total: int, description: str) -> None:
    # Printed, not logged: a worker's output reaches the terminal of
    # ``upcast serve`` whatever the log level.
    print(f"store migration {step}/{total}: {description}", flush=True)
