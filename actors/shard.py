"""The Shard actor: one engine scheduler running a share of the monitors."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np
import ray

from actors.batching import ResultBatcher
from actors.platform import MonitorNotFound
from analytics.pace import PaceJudge
from analytics.rolling import RollingStats, baseline_report, season_name
from analytics.streaming import StreamingScores
from engine import heartbeats
from engine.checks.composite import MemberState, set_state_reader
from engine.errors import ValidationError
from engine.model import monitor_from_dict
from engine.result import CheckResult, MonitorState, Reason
from engine.scheduler import LATENESS_BUCKETS, MonitorSeed, MonitorStatus, Scheduler
from store.base import LatestState

logger = logging.getLogger(__name__)

JUDGE_EVERY = 1.0
"""Seconds between two looks at the pace of monitors (``analytics.pace``)."""

# Monitors a booting shard asks for at a time: large enough that a million
# load in a few hundred calls, small enough that each answer stays a few MB.
BOOT_PAGE = 5000

# Work that walks many monitors yields to the event loop this often, so the
# checks already running keep their schedule while a shard loads or lists.
YIELD_EVERY = 500

BOOT_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# A monitor's state as it travels between actors: what ``MonitorSeed`` holds,
# as a plain tuple (state, failures, last check, last ok, latency, reason,
# message) that pickles small.
SeedWire = tuple[str, int, float | None, bool | None, float | None, str | None, str]


def seed_to_wire(seed: MonitorSeed) -> SeedWire:
    return (
        str(seed.state),
        seed.failures,
        seed.last_check_at,
        seed.last_ok,
        seed.last_latency_ms,
        None if seed.last_reason is None else str(seed.last_reason),
        seed.last_message,
    )


def seed_from_wire(wire: SeedWire) -> MonitorSeed:
    state, failures, checked, ok, latency, reason, message = wire
    return MonitorSeed(
        state=MonitorState(state),
        failures=failures,
        last_check_at=checked,
        last_ok=ok,
        last_latency_ms=latency,
        last_reason=None if reason is None else Reason(reason),
        last_message=message,
    )


def seed_from_latest(latest: LatestState) -> MonitorSeed:
    """Carry a monitor on from its newest stored result."""
    return MonitorSeed(
        state=MonitorState(latest.state),
        failures=0 if latest.ok else latest.attempt + 1,
        last_check_at=latest.started_at,
        last_ok=latest.ok,
        last_latency_ms=latest.latency_ms,
        last_reason=None if latest.reason is None else Reason(latest.reason),
        last_message=latest.message,
    )


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


def node_address() -> str:
    """The address of the Ray node this process runs on."""
    return str(ray.util.get_node_ip_address())  # type: ignore[no-untyped-call]


def resident_bytes() -> int:
    """This process's resident memory, from ``/proc`` (0 where there is none)."""
    try:
        fields = Path("/proc/self/statm").read_text(encoding="ascii").split()
    except OSError:
        return 0
    return int(fields[1]) * _PAGE_SIZE


class ShardActor:
    """Runs the checks of the monitors the Coordinator assigns to this shard.

    Ray runs async actors on uvloop when it is installed, the loop the engine
    is built for. Results leave in msgpack batches for the Storage and Alert
    actors; while those are backed up, the scheduler holds.

    A shard boots itself, whether it is new or Ray has just restarted it
    after a crash:

    1. Join the Coordinator, which records this incarnation.
    2. Read the monitors assigned to this shard page by page, each with its
       newest stored state, and start them.
    3. Changes the Coordinator sends meanwhile win over the pages: a monitor
       put or removed during the boot is skipped when its page arrives.
    """

    def __init__(
        self,
        name: str,
        coordinator: Any,
        storage: Any,
        alert: Any,
        max_in_flight: int = 1000,
    ) -> None:
        self._name = name
        self._coordinator = coordinator
        self._storage = storage
        self._alert = alert
        self._incarnation = secrets.token_hex(8)
        self._started_at = time.time()
        self._node = node_address()
        self._batcher = ResultBatcher(
            self._deliver,
            on_pressure=self._pressure,
            prepare=self._score,
            name=f"shard {name}",
        )
        self._scores = StreamingScores(1)
        self._rolling = RollingStats(1)
        self._scheduler = Scheduler(
            max_in_flight=max_in_flight,
            on_result=self._take_result,
            shard=name,
        )
        # Monitors with passing checks since the last look at their pace.
        self._passed: list[str] = []
        self._pace = PaceJudge(1)
        self._judging = asyncio.get_running_loop().create_task(self._judge_forever())
        # Composite monitors read the states of their members from alerting,
        # which sees every shard's changes.
        set_state_reader(self._member_states)
        self._touched: set[str] | None = set()
        self._assigned = 0
        self._loaded = 0
        self._booted = asyncio.Event()
        self._boot_task = asyncio.get_running_loop().create_task(self._boot())

    def _score(self, batch: list[CheckResult]) -> None:
        """Fold a batch into the rolling statistics, and score its passing results.

        The score is ``analytics.streaming``'s, kept in the result's details
        as ``anomaly_score``. Latencies of monitors marked degraded do not
        move their hour-of-week baselines, so a slow or fast spell never
        becomes usual.
        """
        slots = self._scheduler.slots_of(result.monitor_id for result in batch)
        known = slots >= 0
        if not known.any():
            return
        owned = [result for result, k in zip(batch, known.tolist(), strict=True) if k]
        mine = slots[known]
        count = len(owned)
        latencies = np.fromiter((r.latency_ms for r in owned), np.float64, count)
        ok = np.fromiter((r.ok for r in owned), np.bool_, count)
        self._rolling_room(int(mine.max()))
        self._rolling.update(
            mine,
            latencies.astype(np.float32),
            ok,
            np.fromiter((r.started_at for r in owned), np.float64, count),
            learn=~self._scheduler.degraded(mine),
        )

        if not ok.any():
            return
        scores = self._scores.update(mine[ok], latencies[ok])
        passed = [
            result for result, good in zip(owned, ok.tolist(), strict=True) if good
        ]
        for result, score in zip(passed, scores.tolist(), strict=True):
            result.details["anomaly_score"] = round(score, 4)

    def _rolling_room(self, slot: int) -> None:
        """Room in the rolling statistics for ``slot``, doubling as slots grow."""
        capacity = self._rolling.capacity
        if slot >= capacity:
            self._rolling.grow(max(slot + 1, 2 * capacity))

    def _take_result(self, result: CheckResult) -> None:
        if result.ok:
            self._passed.append(result.monitor_id)
        self._batcher.add(result)

    async def _judge_forever(self) -> None:
        """Every ``JUDGE_EVERY`` seconds, mark the slow and fast monitors DEGRADED.

        A bug here must not stop the shard's checks: it is logged, and the
        next look goes on.
        """
        while True:
            await asyncio.sleep(JUDGE_EVERY)
            try:
                self._judge()
            except Exception:
                logger.exception("judging the pace of shard=%s failed", self._name)

    def _judge(self) -> None:
        passed, self._passed = self._passed, []
        if not passed:
            return
        slots = self._scheduler.slots_of(dict.fromkeys(passed))
        slots = slots[slots >= 0]
        if not len(slots):
            return
        self._rolling_room(int(slots.max()))
        now = time.time()
        rings = self._scheduler.latency_ring()
        verdicts = self._pace.judge(
            slots,
            rings.samples,
            rings.positions,
            self._scheduler.degraded(slots),
            self._rolling.trusted_usual(slots, now),
            season_name(now),
        )
        if len(verdicts.slots):
            self._scheduler.mark_degraded(verdicts.slots, verdicts.messages)

    async def _member_states(self, monitor_ids: list[str]) -> dict[str, MemberState]:
        found = await self._alert.states.remote(monitor_ids)
        return {
            monitor_id: MemberState(state, reason, message)
            for monitor_id, (state, reason, message) in found.items()
        }

    async def _boot(self) -> None:
        await self._scheduler.start()
        failures = 0
        while True:
            try:
                await self._load_assignment()
                break
            except Exception:
                delay = BOOT_RETRY_DELAYS[min(failures, len(BOOT_RETRY_DELAYS) - 1)]
                failures += 1
                logger.warning(
                    "loading the monitors of shard=%s failed; again in %.1fs",
                    self._name,
                    delay,
                    exc_info=True,
                )
                await asyncio.sleep(delay)
        self._touched = None
        self._booted.set()
        logger.info(
            "shard=%s incarnation=%s runs %d monitors",
            self._name,
            self._incarnation,
            len(self._scheduler),
        )

    async def _load_assignment(self) -> None:
        handle = ray.get_runtime_context().current_actor
        await self._coordinator.join.remote(self._name, handle, self._incarnation)
        cursor: int | None = 0
        while cursor is not None:
            ids, texts, cursor, total = await self._coordinator.assignment.remote(
                self._name, cursor, BOOT_PAGE
            )
            self._assigned = total
            latest = await self._storage.latest_states.remote(ids)
            seeds = {
                monitor_id: seed_from_latest(LatestState(*state))
                for monitor_id, state in latest.items()
            }
            await self._put_all(ids, texts, seeds, during_boot=True)
            self._loaded += len(ids)

    async def ready(self) -> bool:
        """Wait until the shard has loaded its monitors; True once it has."""
        await self._booted.wait()
        return True

    async def close(self) -> int:
        """Stop checking, then deliver every result still held.

        Returns how many results this shard delivered since it started.
        """
        self._boot_task.cancel()
        self._judging.cancel()
        await self._scheduler.close()
        await self._batcher.flush()
        return self._batcher.delivered

    async def put_many(
        self,
        monitor_ids: list[str],
        definitions: str,
        seeds: dict[str, SeedWire] | None = None,
    ) -> list[str]:
        """Add or update monitors: their ids, and their definitions as one
        JSON array in the same order (one string crosses between processes
        much faster than thousands).

        ``seeds`` carries on monitors that ran elsewhere. Returns the ids that
        could not be run: definitions come validated from the Coordinator, so
        one that no longer validates here (a check kind missing on this node)
        is logged and skipped rather than failing the rest.
        """
        carried = {i: seed_from_wire(wire) for i, wire in (seeds or {}).items()}
        return await self._put_all(monitor_ids, definitions, carried, during_boot=False)

    async def remove_many(self, monitor_ids: list[str]) -> dict[str, SeedWire]:
        """Stop running these monitors; returns where each removed one stood."""
        removed: dict[str, SeedWire] = {}
        for count, monitor_id in enumerate(monitor_ids, 1):
            if self._touched is not None:
                self._touched.add(monitor_id)
            if monitor_id in self._scheduler:
                removed[monitor_id] = seed_to_wire(self._scheduler.snapshot(monitor_id))
                self._scheduler.remove(monitor_id)
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        return removed

    async def record_ping(
        self,
        token: str,
        ok: bool,
        message: str,
        duration_ms: float | None,
        monitor_id: str | None = None,
    ) -> None:
        """Keep a push monitor's ping where its check looks for it, and have
        the monitor's check judge it now."""
        heartbeats.default.record(
            token, ok=ok, message=message, duration_ms=duration_ms
        )
        if monitor_id is not None and monitor_id in self._scheduler:
            self._scheduler.check_now(monitor_id)

    async def monitor_ids(self) -> list[str]:
        return self._scheduler.monitor_ids()

    async def baselines(self, monitor_id: str) -> dict[str, Any]:
        """What the shard knows of a monitor's usual behaviour (``baseline_report``)."""
        slot = int(self._scheduler.slots_of([monitor_id])[0])
        if slot < 0:
            raise MonitorNotFound(monitor_id)
        self._rolling_room(slot)
        report = baseline_report(
            self._rolling, slot, self._scheduler.latencies(monitor_id), time.time()
        )
        reason = self._scheduler.degraded_message(slot)
        return {
            "monitor_id": monitor_id,
            "degraded": reason is not None,
            "degraded_reason": reason,
            **report,
        }

    async def statuses(
        self, monitor_ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        ids = monitor_ids if monitor_ids is not None else self._scheduler.monitor_ids()
        found: list[dict[str, Any]] = []
        for count, monitor_id in enumerate(ids, 1):
            if monitor_id in self._scheduler:
                found.append(status_dict(self._scheduler.status(monitor_id)))
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        return found

    async def stats(self) -> dict[str, Any]:
        stats = self._scheduler.stats()
        return {
            "shard": self._name,
            "incarnation": self._incarnation,
            "started_at": self._started_at,
            "node": self._node,
            "pid": os.getpid(),
            "memory_bytes": resident_bytes(),
            "booted": self._booted.is_set(),
            "assigned": self._assigned,
            "loaded": self._loaded,
            "monitors": stats.monitors,
            "in_flight": stats.in_flight,
            "max_in_flight": stats.max_in_flight,
            "ready": stats.ready,
            "checks_done": stats.checks_done,
            "checks_failed": stats.checks_failed,
            "checks_per_second": stats.checks_per_second,
            "lateness_p50_ms": stats.lateness_p50_ms,
            "lateness_p99_ms": stats.lateness_p99_ms,
            "lateness_buckets": list(LATENESS_BUCKETS),
            "lateness_counts": list(stats.lateness_counts),
            "lateness_sum": stats.lateness_sum,
            "overruns": stats.overruns,
            "abandoned": stats.abandoned,
            "held": self._scheduler.held,
            "undelivered": len(self._batcher),
            "delivered": self._batcher.delivered,
            "delivery_retries": self._batcher.retries,
        }

    async def _put_all(
        self,
        monitor_ids: list[str],
        definitions: str,
        seeds: dict[str, MonitorSeed],
        *,
        during_boot: bool,
    ) -> list[str]:
        refused: list[str] = []
        touched = self._touched
        decoded: list[dict[str, Any]] = json.loads(definitions)
        pairs = zip(monitor_ids, decoded, strict=True)
        for count, (monitor_id, definition) in enumerate(pairs, 1):
            if touched is not None:
                if during_boot and monitor_id in touched:
                    continue
                if not during_boot:
                    touched.add(monitor_id)
            try:
                self._put(definition, seeds.get(monitor_id))
            except ValidationError as exc:
                logger.error(
                    "cannot run monitor=%s shard=%s: %s", monitor_id, self._name, exc
                )
                refused.append(monitor_id)
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        # Monitors live long, so the collector need not look at them again:
        # with a million of them, every full collection would walk them all,
        # costing the shard time while its checks wait.
        gc.freeze()
        return refused

    def _put(self, definition: dict[str, Any], seed: MonitorSeed | None) -> None:
        monitor = monitor_from_dict(definition)
        if monitor.id in self._scheduler:
            self._scheduler.update(monitor)
        else:
            self._scheduler.add(monitor, seed)
            slots = self._scheduler.slots_of([monitor.id])
            self._scores.reset(slots)
            self._rolling_room(int(slots.max()))
            self._rolling.reset(slots)

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
