"""The Storage actor: the one writer of results, state changes and events."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from engine.events import Event, StateChange
from engine.result import unpack_results
from store import Store, open_store

logger = logging.getLogger(__name__)

RETENTION_EVERY = 3600.0


class StorageActor:
    """Owns the store; every other actor reads and writes through it.

    Results arrive as msgpack batches and are written idempotently, so a
    batch delivered twice after a retry is stored once. Retention runs in
    the background every hour.
    """

    def __init__(self, url: str, retention_days: float) -> None:
        self._url = url
        self._retention_days = retention_days
        self._store: Store | None = None
        self._retention: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Open the store (applying migrations); returns its schema version."""
        self._store = open_store(self._url, progress=_report_migration)
        await self._store.open()
        self._retention = asyncio.get_running_loop().create_task(self._keep_tidy())
        return self._store.schema_version()

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the storage actor has not been started")
        return self._store

    async def close(self) -> None:
        if self._retention is not None:
            self._retention.cancel()
        if self._store is not None:
            await self._store.close()
            self._store = None

    async def write_result_batch(self, batch: bytes) -> int:
        return await self.store.write_results(unpack_results(batch))

    async def write_state_changes(self, changes: list[dict[str, Any]]) -> None:
        await self.store.write_state_changes(
            [StateChange.from_dict(change) for change in changes]
        )

    async def write_events(self, events: list[dict[str, Any]]) -> None:
        await self.store.write_events([Event.from_dict(event) for event in events])

    async def put_monitors(self, definitions: list[dict[str, Any]]) -> None:
        await self.store.put_monitors(definitions)

    async def delete_monitor(self, monitor_id: str) -> bool:
        return await self.store.delete_monitor(monitor_id)

    async def list_monitors(self) -> list[dict[str, Any]]:
        return await self.store.list_monitors()

    async def results(
        self,
        monitor_id: str,
        since: float | None,
        until: float | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        found = await self.store.results(
            monitor_id, since=since, until=until, limit=limit
        )
        return [result.to_dict() for result in found]

    async def events(
        self, after: str | None, monitor_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        found = await self.store.events(after=after, monitor_id=monitor_id, limit=limit)
        return [event.to_dict() for event in found]

    async def latest_results(self) -> dict[str, dict[str, Any]]:
        latest = await self.store.latest_results()
        return {monitor_id: result.to_dict() for monitor_id, result in latest.items()}

    async def enforce_retention(self) -> int:
        return await self.store.enforce_retention(self._retention_days)

    async def _keep_tidy(self) -> None:
        while True:
            try:
                removed = await self.store.enforce_retention(self._retention_days)
                if removed:
                    logger.info("retention removed %d rows", removed)
            except Exception:
                logger.exception("enforcing retention failed; trying again later")
            await asyncio.sleep(RETENTION_EVERY)


def _report_migration(step: int, total: int, description: str) -> None:
    # Printed, not logged: a worker's output reaches the terminal of
    # ``upcast serve`` whatever the log level.
    print(f"store migration {step}/{total}: {description}", flush=True)
