"""The Shard actor: one engine scheduler running a share of the monitors."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import ray

from actors.batching import ResultBatcher
from engine import heartbeats
from engine.errors import ValidationError
from engine.model import monitor_from_dict
from engine.scheduler import MonitorStatus, Scheduler

logger = logging.getLogger(__name__)


def status_dict(status: MonitorStatus) -> dict[str, Any]:
    return {
        "id": status.monitor_id,
        "state": str(status.state),
        "last_check_at": status.last_check_at,
        "last_ok": status.last_ok,
        "last_latency_ms": status.last_latency_ms,
        "last_reason": None if status.last_reason is None else str(status.last_reason),
        "last_message": status.last_message,
        "consecutive_failures": status.consecutive_failures,
    }


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes() -> int:
    """This process's resident memory, from ``/proc`` (0 where there is none)."""
    try:
        fields = Path("/proc/self/statm").read_text(encoding="ascii").split()
    except OSError:
        return 0
    return int(fields[1]) * _PAGE_SIZE


class ShardActor:
    """Runs the checks of the monitors the Coordinator places here.

    Ray runs async actors on uvloop when it is installed, the loop the engine
    is built for. Results leave in msgpack batches for the Storage and Alert
    actors; while those are backed up, the scheduler holds.
    """

    def __init__(
        self, name: str, storage: Any, alert: Any, max_in_flight: int = 1000
    ) -> None:
        self._name = name
        self._storage = storage
        self._alert = alert
        self._batcher = ResultBatcher(
            self._deliver, on_pressure=self._pressure, name=f"shard {name}"
        )
        self._scheduler = Scheduler(
            max_in_flight=max_in_flight,
            on_result=self._batcher.add,
            shard=name,
        )

    async def start(self) -> str:
        await self._scheduler.start()
        return self._name

    async def close(self) -> None:
        """Stop checking, then deliver every result still held."""
        await self._scheduler.close()
        await self._batcher.flush()

    async def put_many(self, definitions: list[dict[str, Any]]) -> list[str]:
        """Add or update monitors; returns the ids that could not be run.

        Definitions come validated from the Coordinator; one that no longer
        validates here (a check kind missing on this node) is skipped and
        logged rather than failing the rest.
        """
        refused: list[str] = []
        for definition in definitions:
            try:
                self._put(definition)
            except ValidationError as exc:
                logger.error(
                    "cannot run monitor=%s shard=%s: %s",
                    definition.get("id"),
                    self._name,
                    exc,
                )
                refused.append(str(definition.get("id")))
            await asyncio.sleep(0)
        return refused

    async def put(self, definition: dict[str, Any]) -> None:
        self._put(definition)

    async def record_ping(
        self, token: str, ok: bool, message: str, duration_ms: float | None
    ) -> None:
        """Keep a push monitor's ping where its check looks for it."""
        heartbeats.default.record(
            token, ok=ok, message=message, duration_ms=duration_ms
        )

    async def remove(self, monitor_id: str) -> bool:
        if monitor_id not in self._scheduler:
            return False
        self._scheduler.remove(monitor_id)
        return True

    async def statuses(
        self, monitor_ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        ids = monitor_ids if monitor_ids is not None else self._scheduler.monitor_ids()
        return [
            status_dict(self._scheduler.status(monitor_id))
            for monitor_id in ids
            if monitor_id in self._scheduler
        ]

    async def stats(self) -> dict[str, Any]:
        stats = self._scheduler.stats()
        return {
            "shard": self._name,
            "monitors": stats.monitors,
            "in_flight": stats.in_flight,
            "checks_done": stats.checks_done,
            "checks_per_second": stats.checks_per_second,
            "lateness_p50_ms": stats.lateness_p50_ms,
            "lateness_p99_ms": stats.lateness_p99_ms,
            "held": self._scheduler.held,
            "undelivered": len(self._batcher),
            "node": ray.util.get_node_ip_address(),  # type: ignore[no-untyped-call]
            "pid": os.getpid(),
            "memory_bytes": resident_bytes(),
        }

    def _put(self, definition: dict[str, Any]) -> None:
        monitor = monitor_from_dict(definition)
        if monitor.id in self._scheduler:
            self._scheduler.update(monitor)
        else:
            self._scheduler.add(monitor)

    async def _deliver(self, batch: bytes) -> None:
        await asyncio.gather(
            self._storage.write_result_batch.remote(batch),
            self._alert.observe.remote(batch),
        )

    def _pressure(self, on: bool) -> None:
        if on:
            logger.warning(
                "results are backing up; holding checks shard=%s", self._name
            )
            self._scheduler.hold()
        else:
            self._scheduler.release()
