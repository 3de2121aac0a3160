"""The Coordinator actor: the monitor catalogue and who runs what."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from actors.placement import assign, owner
from actors.platform import MonitorExists, MonitorNotFound
from engine.errors import FieldError, ValidationError
from engine.events import (
    MONITOR_CREATED,
    MONITOR_DELETED,
    MONITOR_PAUSED,
    MONITOR_RESUMED,
    MONITOR_UPDATED,
    Event,
    new_event_id,
)
from engine.model import monitor_from_dict

logger = logging.getLogger(__name__)

# Monitors go to shards in slices of this many, so a shard stays responsive
# while a large catalogue loads.
LOAD_SLICE = 5000


class Coordinator:
    """Owns the catalogue of monitor definitions and places each on a shard.

    Definitions are validated here, written to the store, then handed to the
    owning shard (rendezvous hashing over the shard names). Every change is
    also recorded as an event.
    """

    def __init__(self, shards: Mapping[str, Any], storage: Any, hub: Any) -> None:
        self._shards = dict(shards)
        self._names = sorted(self._shards)
        self._storage = storage
        self._hub = hub
        self._catalogue: dict[str, dict[str, Any]] = {}
        # Push tokens of push monitors, so a ping reaches the monitor's shard.
        self._tokens: dict[str, str] = {}
        self._sequence = itertools.count()
        self._origin = os.getpid()

    async def start(self) -> int:
        """Load the catalogue from the store and place it; returns its size."""
        definitions: list[dict[str, Any]] = await self._storage.list_monitors.remote()
        for definition in definitions:
            self._catalogue[definition["id"]] = definition
            self._index_token(definition)
        groups = assign(self._catalogue, self._names)
        await asyncio.gather(*(self._load(name, ids) for name, ids in groups.items()))
        logger.info("catalogue loaded monitors=%d", len(self._catalogue))
        return len(self._catalogue)

    async def _load(self, shard: str, ids: list[str]) -> None:
        handle = self._shards[shard]
        for start in range(0, len(ids), LOAD_SLICE):
            part = [self._catalogue[i] for i in ids[start : start + LOAD_SLICE]]
            refused = await handle.put_many.remote(part)
            for monitor_id in refused:
                logger.error("monitor=%s is stored but cannot run", monitor_id)

    async def create(self, definition: Mapping[str, Any]) -> dict[str, Any]:
        monitor = monitor_from_dict(definition)
        if monitor.id in self._catalogue:
            raise MonitorExists(monitor.id)
        stored = monitor.to_dict()
        await self._commit(stored, MONITOR_CREATED)
        return stored

    async def update(
        self, monitor_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        current = self._existing(monitor_id)
        if "id" in changes and changes["id"] != monitor_id:
            raise ValidationError([FieldError("id", "cannot be changed")])
        merged = {**current, **changes}
        if isinstance(changes.get("options"), Mapping):
            merged["options"] = {**current.get("options", {}), **changes["options"]}
        stored = monitor_from_dict(merged).to_dict()
        await self._commit(stored, MONITOR_UPDATED)
        return stored

    async def replace(
        self, monitor_id: str, definition: Mapping[str, Any]
    ) -> dict[str, Any]:
        self._existing(monitor_id)
        if definition.get("id", monitor_id) != monitor_id:
            raise ValidationError([FieldError("id", "cannot be changed")])
        stored = monitor_from_dict({**definition, "id": monitor_id}).to_dict()
        await self._commit(stored, MONITOR_UPDATED)
        return stored

    async def set_enabled(self, monitor_id: str, enabled: bool) -> dict[str, Any]:
        current = self._existing(monitor_id)
        stored = {**current, "enabled": enabled}
        await self._commit(stored, MONITOR_RESUMED if enabled else MONITOR_PAUSED)
        return stored

    async def delete(self, monitor_id: str) -> None:
        self._existing(monitor_id)
        await self._storage.delete_monitor.remote(monitor_id)
        self._unindex_token(self._catalogue.pop(monitor_id))
        await self._shard_of(monitor_id).remove.remote(monitor_id)
        await self._record(MONITOR_DELETED, monitor_id, {})

    async def get(self, monitor_id: str) -> dict[str, Any]:
        definition = self._existing(monitor_id)
        statuses = await self._shard_of(monitor_id).statuses.remote([monitor_id])
        return {**definition, "status": statuses[0] if statuses else None}

    async def find(
        self,
        tag: str | None = None,
        kind: str | None = None,
        state: str | None = None,
        enabled: bool | None = None,
        search: str | None = None,
    ) -> list[dict[str, Any]]:
        chosen = [
            definition
            for definition in self._catalogue.values()
            if (tag is None or tag in definition["tags"])
            and (kind is None or definition["kind"] == kind)
            and (enabled is None or definition["enabled"] == enabled)
            and (search is None or search.lower() in definition["name"].lower())
        ]
        statuses = await self._statuses([d["id"] for d in chosen])
        listed = [{**d, "status": statuses.get(d["id"])} for d in chosen]
        if state is not None:
            listed = [
                d for d in listed if d["status"] and d["status"]["state"] == state
            ]
        return sorted(listed, key=lambda d: d["id"])

    async def status(self) -> list[dict[str, Any]]:
        statuses = await self._statuses(list(self._catalogue))
        return [
            {**statuses[i], "name": self._catalogue[i]["name"]}
            for i in sorted(statuses)
            if i in self._catalogue
        ]

    async def shard_stats(self) -> list[dict[str, Any]]:
        return list(
            await asyncio.gather(*(h.stats.remote() for h in self._shards.values()))
        )

    async def ping(self) -> bool:
        return True

    async def record_ping(
        self, token: str, ok: bool, message: str, duration_ms: float | None
    ) -> bool:
        monitor_id = self._tokens.get(token)
        if monitor_id is None:
            return False
        await self._shard_of(monitor_id).record_ping.remote(
            token, ok, message, duration_ms
        )
        return True

    def _index_token(self, definition: Mapping[str, Any]) -> None:
        if definition["kind"] == "push":
            token = definition["target"].strip() or definition["id"]
            self._tokens[token] = definition["id"]

    def _unindex_token(self, definition: Mapping[str, Any]) -> None:
        for token, monitor_id in list(self._tokens.items()):
            if monitor_id == definition["id"]:
                del self._tokens[token]

    async def _statuses(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        groups = assign(ids, self._names)
        replies = await asyncio.gather(
            *(
                self._shards[name].statuses.remote(group)
                for name, group in groups.items()
                if group
            )
        )
        return {status["id"]: status for reply in replies for status in reply}

    async def _commit(self, stored: dict[str, Any], event_type: str) -> None:
        await self._storage.put_monitors.remote([stored])
        previous = self._catalogue.get(stored["id"])
        if previous is not None:
            self._unindex_token(previous)
        self._catalogue[stored["id"]] = stored
        self._index_token(stored)
        await self._shard_of(stored["id"]).put.remote(stored)
        await self._record(event_type, stored["id"], {"name": stored["name"]})

    async def _record(
        self, event_type: str, monitor_id: str, data: dict[str, Any]
    ) -> None:
        now = time.time()
        event = Event(
            id=new_event_id(now, next(self._sequence), self._origin),
            at=now,
            type=event_type,
            monitor_id=monitor_id,
            data=data,
        ).to_dict()
        await self._storage.write_events.remote([event])
        await self._hub.publish.remote([{"type": "event", "data": event}])

    def _existing(self, monitor_id: str) -> dict[str, Any]:
        definition = self._catalogue.get(monitor_id)
        if definition is None:
            raise MonitorNotFound(monitor_id)
        return definition

    def _shard_of(self, monitor_id: str) -> Any:
        return self._shards[owner(monitor_id, self._names)]
