"""Starting, reaching and stopping the platform's actors.

``RayPlatform`` is the ``Platform`` the gateway and commands use: each call
goes to an actor, and an error an actor raises comes back as the same
exception (a ``ValidationError`` with its fields, ``MonitorNotFound``, ...),
not wrapped in Ray's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import msgpack
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.account_calls import StorageAccounts
from actors.alert import AlertActor
from actors.alerting_calls import AlertingCalls
from actors.analytics_calls import AnalyticsCalls
from actors.calls import actor_call as _call
from actors.coordinator import Coordinator, shard_actor_name
from actors.hub import EventHub
from actors.platform import ShardNotFound
from actors.shard import ShardActor, node_address, resident_bytes
from actors.storage import COPY_EVERY, StorageActor
from engine.result import MonitorState
from store.mirror import source_name
from store.spool import DEFAULT_MAX_BYTES as DEFAULT_SPOOL_BYTES

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_SHARDS = 2
DEFAULT_RETENTION_DAYS = 30.0
DEFAULT_DATA_DIR = Path("upcast-data")
"""Where the embedded SQLite store and the spool live unless told otherwise."""
NAMESPACE = "upcast"

# The least time between two reads of the live feed, in seconds.
LIVE_READ_GAP = 0.05
UNWATCHED_READ_GAP = 0.5

# How often ``start`` looks at the shards while they load their monitors.
LOAD_POLL = 0.5

LoadProgress = Callable[[int, int], None]
"""Called as ``progress(loaded, total)`` while the shards load their monitors."""


def init_ray(address: str | None = None) -> bool:
    """Start a local Ray, or join the cluster at ``address``; True if started here."""
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {
        "namespace": NAMESPACE,
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "log_to_driver": True,
    }
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=os.cpu_count() or 1, **options)
    return True


def _remote(cls: type[Any]) -> Any:
    """``cls`` as a Ray actor class that asks for no CPU and comes back if it dies.

    Checks are I/O-bound, and the actors share the machine's cores with the
    gateway, so reserving a core per actor would only limit how many fit.
    Ray restarts a crashed actor as often as it takes, and calls that were
    under way when it died run again on the new one; every actor rebuilds
    its state by itself when it starts, and every call that changes
    something may safely run twice.
    """
    return ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(cls)


def alive_nodes() -> list[str]:
    """The ids of the cluster's live nodes, in order of their addresses."""
    listed: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    nodes = [node for node in listed if node.get("Alive")]
    nodes.sort(key=lambda node: (node["NodeManagerAddress"], node["NodeID"]))
    return [node["NodeID"] for node in nodes]


def shard_placement(index: int, nodes: list[str]) -> dict[str, Any]:
    """Ray options that put shard ``index`` on a node of its own where possible.

    Shards go round the nodes in turn, so a cluster of N nodes runs its
    shards N ways. The affinity is strict: a soft one lets Ray place a shard
    elsewhere whenever its node looks busy, which on a loaded cluster puts
    every shard on one node. The price is that a shard whose node is lost
    is not restarted elsewhere (see the README's limits).
    """
    if len(nodes) < 2:
        return {}
    node = nodes[index % len(nodes)]
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=False)}


@dataclass
class Settings:
    """How to run the platform."""

    data_dir: Path
    shards: int = DEFAULT_SHARDS
    store_url: str | None = None
    retention_days: float = DEFAULT_RETENTION_DAYS
    max_in_flight: int = 1000
    spool_bytes: int = DEFAULT_SPOOL_BYTES
    analytics_url: str | None = None
    """A MySQL store the platform copies rollups and events to, for reports."""
    report_url: str | None = None
    """Where reports read when not from analytics or the store: a replica."""
    copy_every: float = COPY_EVERY
    """Seconds between copies to the analytics store."""
    public_url: str | None = None
    """The address people reach the platform at, for links in notifications."""

    @property
    def url(self) -> str:
        """The store's URL: ``store_url``, else SQLite in the data directory."""
        if self.store_url:
            return self.store_url
        # The resolved path starts with "/", which ends the URL's "sqlite://".
        return f"sqlite://{quote(str(self.data_dir.resolve() / 'upcast.db'))}"


class RayPlatform(AlertingCalls, AnalyticsCalls):
    """The actors of one running platform, behind the ``Platform`` interface."""

    def __init__(
        self,
        platform_id: str,
        settings: Settings,
        coordinator: Any,
        storage: Any,
        hub: Any,
        alert: Any,
        shards: Mapping[str, Any],
    ) -> None:
        self.platform_id = platform_id
        self._settings = settings
        self._coordinator = coordinator
        self._storage = storage
        self._hub = hub
        self._alert = alert
        self._shards = dict(shards)
        self._shard_numbers = len(self._shards)
        self._resizing = asyncio.Lock()

    @classmethod
    async def start(
        cls, settings: Settings, *, progress: LoadProgress | None = None
    ) -> RayPlatform:
        """Create and start every actor; Ray must be running (``init_ray``).

        1. Storage first: it opens the store and applies migrations.
        2. The Event hub and the Alert actor.
        3. The Coordinator, which loads the catalogue from the store.
        4. The shards, spread over the cluster's nodes, each loading the
           monitors it owns; ``start`` returns once all of them have, telling
           ``progress`` how far they are meanwhile.
        """
        if settings.shards < 1:
            raise ValueError(f"shards: must be at least 1, got {settings.shards}")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        platform_id = secrets.token_hex(4)
        storage = _remote(StorageActor).remote(
            settings.url,
            settings.retention_days,
            str(settings.data_dir.resolve() / "spool"),
            settings.spool_bytes,
            settings.analytics_url,
            settings.report_url,
            settings.copy_every,
            True,
            settings.public_url,
        )
        version = await _call(storage.start.remote())
        logger.info("store ready at %s, schema %s", source_name(settings.url), version)
        hub = _remote(EventHub).remote()
        alert = _remote(AlertActor).remote(storage, hub, settings.public_url)
        await _call(alert.ready.remote())
        names = [f"shard-{index}" for index in range(settings.shards)]
        coordinator = _remote(Coordinator).remote(
            platform_id, names, storage, hub, alert
        )
        loaded = await _call(coordinator.start.remote())
        logger.info("catalogue of %d monitors loaded", loaded)
        nodes = alive_nodes()
        shards = {
            name: _shard(
                platform_id,
                name,
                index,
                nodes,
                (coordinator, storage, alert),
                settings.max_in_flight,
            )
            for index, name in enumerate(names)
        }
        platform = cls(platform_id, settings, coordinator, storage, hub, alert, shards)
        await platform._wait_for_shards(progress)
        logger.info("platform started shards=%d monitors=%d", len(shards), loaded)
        return platform

    async def _wait_for_shards(self, progress: LoadProgress | None) -> None:
        waits = [
            asyncio.ensure_future(_call(s.ready.remote()))
            for s in self._shards.values()
        ]
        try:
            while True:
                done, _ = await asyncio.wait(waits, timeout=LOAD_POLL)
                for finished in done:
                    finished.result()
                if progress is not None:
                    loading = await self.loading()
                    progress(loading["loaded"], loading["assigned"])
                if len(done) == len(waits):
                    return
        finally:
            for wait in waits:
                wait.cancel()

    async def loading(self) -> dict[str, int]:
        """How far the shards are in loading their monitors."""
        stats = await self.engine_stats()
        return {
            "loaded": sum(s["loaded"] for s in stats),
            "assigned": sum(s["assigned"] for s in stats),
            "booted": sum(1 for s in stats if s["booted"]),
            "shards": len(stats),
        }

    async def close(self) -> None:
        """Stop checking, deliver every pending result, close the store."""
        await asyncio.gather(
            *(_call(shard.close.remote()) for shard in self._shards.values()),
            return_exceptions=True,
        )
        await _call(self._alert.close.remote())
        await _call(self._storage.close.remote())
        for handle in (
            self._coordinator,
            *self._shards.values(),
            self._alert,
            self._hub,
            self._storage,
        ):
            ray.kill(handle, no_restart=True)

    async def add_shard(self) -> dict[str, Any]:
        """Start one more shard and move its share of the monitors to it."""
        async with self._resizing:
            name = f"shard-{self._shard_numbers}"
            self._shard_numbers += 1
            handle = _shard(
                self.platform_id,
                name,
                len(self._shards),
                alive_nodes(),
                (self._coordinator, self._storage, self._alert),
                self._settings.max_in_flight,
            )
            await _call(handle.ready.remote())
            self._shards[name] = handle
            moved = await _call(self._coordinator.add_shard.remote(name))
        return {"shard": name, "moved": moved}

    async def remove_shard(self, name: str) -> dict[str, Any]:
        """Move a shard's monitors to the others, then stop it."""
        async with self._resizing:
            handle = self._shards.get(name)
            if handle is None:
                raise ShardNotFound(name)
            moved = await _call(self._coordinator.remove_shard.remote(name))
            del self._shards[name]
            await _call(handle.close.remote())
            ray.kill(handle, no_restart=True)
        return {"shard": name, "moved": moved}

    # The Platform interface -------------------------------------------------

    async def create_monitor(self, definition: Mapping[str, Any]) -> dict[str, Any]:
        return await _call(self._coordinator.create.remote(dict(definition)))

    async def update_monitor(
        self, monitor_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        return await _call(self._coordinator.update.remote(monitor_id, dict(changes)))

    async def replace_monitor(
        self, monitor_id: str, definition: Mapping[str, Any]
    ) -> dict[str, Any]:
        return await _call(
            self._coordinator.replace.remote(monitor_id, dict(definition))
        )

    async def delete_monitor(self, monitor_id: str) -> None:
        await _call(self._coordinator.delete.remote(monitor_id))

    async def pause_monitor(self, monitor_id: str) -> dict[str, Any]:
        return await _call(self._coordinator.set_enabled.remote(monitor_id, False))

    async def resume_monitor(self, monitor_id: str) -> dict[str, Any]:
        return await _call(self._coordinator.set_enabled.remote(monitor_id, True))

    async def get_monitor(self, monitor_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await _call(self._coordinator.get.remote(monitor_id))
        status = found.get("status")
        if isinstance(status, dict):
            shown = [{**status, "id": monitor_id}]
            await self._shown_states(shown)
            shown[0].pop("id")
            found["status"] = shown[0]
        return found

    async def list_monitors(
        self,
        *,
        tag: str | None = None,
        kind: str | None = None,
        state: str | None = None,
        enabled: bool | None = None,
        search: str | None = None,
    ) -> list[dict[str, Any]]:
        maintenance = str(MonitorState.MAINTENANCE)
        found: list[dict[str, Any]] = await _call(
            self._coordinator.find.remote(
                tag, kind, None if state == maintenance else state, enabled, search
            )
        )
        statuses = [
            {**monitor["status"], "id": monitor["id"]}
            for monitor in found
            if isinstance(monitor.get("status"), dict)
        ]
        await self._shown_states(statuses)
        shown = {status.pop("id"): status for status in statuses}
        for monitor in found:
            if monitor["id"] in shown:
                monitor["status"] = shown[monitor["id"]]
        if state is not None:
            found = [m for m in found if (m.get("status") or {}).get("state") == state]
        return found

    async def status(self) -> list[dict[str, Any]]:
        statuses: list[dict[str, Any]] = await _call(self._coordinator.status.remote())
        await self._shown_states(statuses)
        return statuses

    async def results(
        self,
        monitor_id: str,
        *,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        await self.get_monitor(monitor_id)
        return await _call(
            self._storage.results.remote(monitor_id, since, until, limit)
        )

    async def events(
        self,
        *,
        after: str | None = None,
        monitor_id: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        return await _call(self._storage.events.remote(after, monitor_id, limit))

    async def live(
        self, results: Callable[[], bool] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        epoch, last = await _call(self._hub.last.remote())
        while True:
            wanted = results is None or results()
            found_epoch, found_last, entries = await _call(
                self._hub.since.remote(last, 1.0, wanted)
            )
            if found_epoch != epoch:
                # The hub restarted: its numbers start again from nothing.
                epoch, last = found_epoch, 0
                continue
            last = found_last
            for batch, events in entries:
                if batch is not None:
                    for data in msgpack.unpackb(batch, raw=False):
                        yield {"type": "result", "data": data}
                for event in events:
                    yield {"type": "event", "data": event}
            if entries:
                # Batches arrive from every shard in turn; a short pause
                # collects several per read instead of one read each. With
                # nobody watching, only events are read, and they can wait.
                await asyncio.sleep(LIVE_READ_GAP if wanted else UNWATCHED_READ_GAP)

    async def record_ping(
        self,
        token: str,
        *,
        ok: bool = True,
        message: str = "",
        duration_ms: float | None = None,
    ) -> bool:
        return await _call(
            self._coordinator.record_ping.remote(token, ok, message, duration_ms)
        )

    def account_backend(self) -> StorageAccounts:
        return StorageAccounts(self._storage)

    async def ready(self) -> bool:
        try:
            await asyncio.wait_for(_call(self._coordinator.ping.remote()), 5)
        except Exception:
            return False
        return True

    async def engine_stats(self) -> list[dict[str, Any]]:
        return await _call(self._coordinator.shard_stats.remote())

    async def shard_monitors(self, name: str) -> list[str]:
        """The ids of the monitors one shard runs now."""
        handle = self._shards.get(name)
        if handle is None:
            raise ShardNotFound(name)
        found: list[str] = await _call(handle.monitor_ids.remote())
        return found

    async def storage_stats(self) -> dict[str, Any]:
        """The spool (what waits in it, what it gave up) and the analytics copy."""
        spool, analytics = await asyncio.gather(
            _call(self._storage.spool_stats.remote()),
            _call(self._storage.analytics_stats.remote()),
        )
        return {"spool": spool, "analytics": analytics}

    async def uptime_report(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Uptime per period and monitor or tag, from the report store."""
        rows: list[dict[str, Any]] = await _call(
            self._storage.uptime_report.remote(query)
        )
        return rows

    async def rollup_summaries(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Uptime and latency per monitor over a span, from the report store."""
        rows: list[dict[str, Any]] = await _call(
            self._storage.rollup_summaries.remote(query)
        )
        return rows

    async def actors(self) -> list[dict[str, Any]]:
        """Every actor of the platform: its role, node, process and memory."""
        roles = {
            "coordinator": self._coordinator,
            "storage": self._storage,
            "alert": self._alert,
            "hub": self._hub,
            **self._shards,
        }
        found = await asyncio.gather(
            *(_call(handle.__ray_call__.remote(_about)) for handle in roles.values())
        )
        return [
            {"role": role, **about} for role, about in zip(roles, found, strict=True)
        ]

    async def apply_monitors(
        self, definitions: Sequence[Mapping[str, Any]] | bytes
    ) -> list[list[str]]:
        sent = definitions if isinstance(definitions, bytes) else list(definitions)
        return await _call(self._coordinator.apply.remote(sent))


def _about(actor: object) -> dict[str, Any]:
    """Where an actor runs; called inside the actor's own process."""
    return {
        "kind": type(actor).__name__,
        "node": node_address(),
        "pid": os.getpid(),
        "memory_bytes": resident_bytes(),
    }


def _shard(
    platform_id: str,
    name: str,
    index: int,
    nodes: list[str],
    peers: tuple[Any, Any, Any],
    max_in_flight: int,
) -> Any:
    """Start a named shard actor; it loads its monitors by itself.

    ``peers`` are the handles of the Coordinator, Storage and Alert actors.
    """
    coordinator, storage, alert = peers
    return (
        _remote(ShardActor)
        .options(
            name=shard_actor_name(platform_id, name), **shard_placement(index, nodes)
        )
        .remote(name, coordinator, storage, alert, max_in_flight)
    )
