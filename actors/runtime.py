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
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import ray
from ray.exceptions import RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.alert import AlertActor
from actors.coordinator import Coordinator
from actors.hub import EventHub
from actors.shard import ShardActor
from actors.storage import StorageActor

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_SHARDS = 2
DEFAULT_RETENTION_DAYS = 30.0
NAMESPACE = "upcast"


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
    """``cls`` as a Ray actor class that asks for no CPU of its own.

    Checks are I/O-bound, and the actors share the machine's cores with the
    gateway, so reserving a core per actor would only limit how many fit.
    """
    return ray.remote(num_cpus=0)(cls)


def alive_nodes() -> list[str]:
    """The ids of the cluster's live nodes, in order of their addresses."""
    listed: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    nodes = [node for node in listed if node.get("Alive")]
    nodes.sort(key=lambda node: (node["NodeManagerAddress"], node["NodeID"]))
    return [node["NodeID"] for node in nodes]


def shard_placement(index: int, nodes: list[str]) -> dict[str, Any]:
    """Ray options that put shard ``index`` on a node of its own where possible.

    Shards go round the nodes in turn, so a cluster of N nodes runs its
    shards N ways. The affinity is soft: a shard whose node is gone is
    restarted wherever Ray finds room.
    """
    if len(nodes) < 2:
        return {}
    node = nodes[index % len(nodes)]
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=True)}


async def _call(ref: Awaitable[T]) -> T:
    """Await an actor call, raising what the actor raised rather than Ray's wrapper."""
    try:
        return await ref
    except RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, Exception):
            raise cause from None
        raise


@dataclass
class Settings:
    """How to run the platform."""

    data_dir: Path
    shards: int = DEFAULT_SHARDS
    store_url: str | None = None
    retention_days: float = DEFAULT_RETENTION_DAYS
    max_in_flight: int = 1000

    @property
    def url(self) -> str:
        return self.store_url or f"sqlite:///{self.data_dir.resolve() / 'upcast.db'}"


class RayPlatform:
    """The actors of one running platform, behind the ``Platform`` interface."""

    def __init__(
        self,
        coordinator: Any,
        storage: Any,
        hub: Any,
        alert: Any,
        shards: Mapping[str, Any],
    ) -> None:
        self._coordinator = coordinator
        self._storage = storage
        self._hub = hub
        self._alert = alert
        self._shards = dict(shards)

    @classmethod
    async def start(cls, settings: Settings) -> RayPlatform:
        """Create and start every actor; Ray must be running (``init_ray``).

        1. Storage first: it opens the store and applies migrations.
        2. The Event hub and the Alert actor, which picks up the last states.
        3. The shards, each starting its scheduler.
        4. The Coordinator, which loads the catalogue and places it.
        """
        if settings.shards < 1:
            raise ValueError(f"shards: must be at least 1, got {settings.shards}")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        storage = _remote(StorageActor).remote(settings.url, settings.retention_days)
        version = await _call(storage.start.remote())
        logger.info("store ready url=%s schema=%s", settings.url, version)
        hub = _remote(EventHub).remote()
        alert = _remote(AlertActor).remote(storage, hub)
        await _call(alert.start.remote())
        nodes = alive_nodes()
        shards = {
            f"shard-{index}": _remote(ShardActor)
            .options(**shard_placement(index, nodes))
            .remote(f"shard-{index}", storage, alert, settings.max_in_flight)
            for index in range(settings.shards)
        }
        await asyncio.gather(*(_call(s.start.remote()) for s in shards.values()))
        coordinator = _remote(Coordinator).remote(shards, storage, hub)
        loaded = await _call(coordinator.start.remote())
        logger.info("platform started shards=%d monitors=%d", len(shards), loaded)
        return cls(coordinator, storage, hub, alert, shards)

    async def close(self) -> None:
        """Stop checking, deliver every pending result, close the store."""
        await asyncio.gather(
            *(_call(shard.close.remote()) for shard in self._shards.values()),
            return_exceptions=True,
        )
        await _call(self._storage.close.remote())
        for handle in (
            self._coordinator,
            *self._shards.values(),
            self._alert,
            self._hub,
            self._storage,
        ):
            ray.kill(handle)

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
        return await _call(self._coordinator.get.remote(monitor_id))

    async def list_monitors(
        self,
        *,
        tag: str | None = None,
        kind: str | None = None,
        state: str | None = None,
        enabled: bool | None = None,
        search: str | None = None,
    ) -> list[dict[str, Any]]:
        return await _call(
            self._coordinator.find.remote(tag, kind, state, enabled, search)
        )

    async def status(self) -> list[dict[str, Any]]:
        return await _call(self._coordinator.status.remote())

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

    async def live(self) -> AsyncIterator[dict[str, Any]]:
        last = await _call(self._hub.last.remote())
        while True:
            last, updates = await _call(self._hub.since.remote(last, 1.0))
            for update in updates:
                yield update

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

    async def ready(self) -> bool:
        try:
            await asyncio.wait_for(_call(self._coordinator.ping.remote()), 5)
        except Exception:
            return False
        return True

    async def engine_stats(self) -> list[dict[str, Any]]:
        return await _call(self._coordinator.shard_stats.remote())
