"""The Storage actor: the one writer of results, state changes and events."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from engine.events import Event, StateChange
from engine.result import unpack_results
from store import Store, open_store
from store.base import MonitorRow

logger = logging.getLogger(__name__)

RETENTION_EVERY = 3600.0


class StorageActor:
    """Owns the store; every other actor reads and writes through it.

    Results arrive as msgpack batches and are written idempotently, so a
    batch delivered twice after a retry is stored once. Retention runs in
    the background every hour.

    The store opens when the actor starts, before any call is served, and
    again by itself when Ray restarts the actor after a crash: a write that
    was cut off was never committed, and its sender delivers it again.
    """

    def __init__(self, url: str, retention_days: float) -> None:
        self._url = url
        self._retention_days = retention_days
        self._store: Store | None = None
        self._retention: asyncio.Task[None] | None = None
        self._opening = asyncio.get_running_loop().create_task(self._open())

    async def _open(self) -> Store:
        store = open_store(self._url, progress=_report_migration)
        await store.open()
        self._store = store
        self._retention = asyncio.get_running_loop().create_task(self._keep_tidy())
        return store

    async def _ready(self) -> Store:
        if self._store is not None:
            return self._store
        return await asyncio.shield(self._opening)

    async def start(self) -> int:
        """Wait until the store is open (migrations applied); its schema version."""
        return (await self._ready()).schema_version()

    async def close(self) -> None:
        if self._retention is not None:
            self._retention.cancel()
        store = await self._ready()
        self._store = None
        await store.close()

    async def write_result_batch(self, batch: bytes) -> int:
        store = await self._ready()
        return await store.write_results(unpack_results(batch))

    async def write_changes(
        self, changes: list[dict[str, Any]], events: list[dict[str, Any]]
    ) -> None:
        """Keep state changes and the events that tell of them, in one call."""
        store = await self._ready()
        await asyncio.gather(
            store.write_state_changes([StateChange.from_dict(c) for c in changes]),
            store.write_events([Event.from_dict(event) for event in events]),
        )

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

    async def enforce_retention(self) -> int:
        return await (await self._ready()).enforce_retention(self._retention_days)

    async def _keep_tidy(self) -> None:
        while True:
            try:
                store = await self._ready()
                removed = await store.enforce_retention(self._retention_days)
                if removed:
                    logger.info("retention removed %d rows", removed)
            except Exception:
                logger.exception("enforcing retention failed; trying again later")
            await asyncio.sleep(RETENTION_EVERY)


def _report_migration(step: int, total: int, description: str) -> None:
    # Printed, not logged: a worker's output reaches the terminal of
    # ``upcast serve`` whatever the log level.
    print(f"store migration {step}/{total}: {description}", flush=True)
