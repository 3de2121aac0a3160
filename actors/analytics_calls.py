"""The analytics part of the running platform: analyses of stored data.

``AnalyticsCalls`` is mixed into ``RayPlatform``. The data comes from the
Storage actor and the Coordinator; the numbers are worked out here, in the
gateway's process, over bounded reads.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

from actors.calls import actor_call as _call
from alerting.settings import SettingNotFound
from analytics.reports import (
    burn_span,
    failing_together,
    monitor_analysis,
    slo_status,
    summed_rollups,
)
from analytics.slo import Slo, slo_from_dict
from engine.events import StateChange

MAX_CHANGES: Final = 100_000
"""State changes read for one analysis of failures together."""

MAX_ROLLUPS: Final = 100_000
"""Rollups read per monitor for an SLO: 90 days of hours, or 69 days of minutes."""


class AnalyticsCalls:
    """Analyses of monitors and their failures, behind the ``Platform`` interface."""

    _storage: Any
    _coordinator: Any

    async def monitor_analysis(
        self, monitor_id: str, *, limit: int = 2000, threshold_ms: float | None = None
    ) -> dict[str, Any]:
        """``analytics.reports.monitor_analysis`` over a monitor's latest results."""
        await _call(self._coordinator.get.remote(monitor_id))
        results = await _call(
            self._storage.results.remote(monitor_id, None, None, limit)
        )
        analysis = await asyncio.to_thread(
            monitor_analysis, results, now=time.time(), threshold_ms=threshold_ms
        )
        return {"monitor_id": monitor_id, **analysis}

    async def monitor_baselines(self, monitor_id: str) -> dict[str, Any]:
        """A monitor's rolling figures and hour-of-week baselines, from its shard."""
        found: dict[str, Any] = await _call(
            self._coordinator.baselines.remote(monitor_id)
        )
        return found

    async def failing_together(
        self, *, since: float, until: float, bucket: float = 60.0
    ) -> list[dict[str, Any]]:
        """Groups of monitors that failed together, each with its likely root."""
        found = await _call(self._storage.state_changes.remote(since, MAX_CHANGES))
        changes = [StateChange.from_dict(c) for c in found if c["at"] < until]
        failed = sorted({c.monitor_id for c in changes})
        depends_on: dict[str, list[str]] = {}
        for monitor_id in failed:
            try:
                definition = await _call(self._coordinator.get.remote(monitor_id))
            except KeyError:
                continue
            depends_on[monitor_id] = list(definition.get("depends_on") or ())
        groups: list[dict[str, Any]] = await asyncio.to_thread(
            failing_together,
            changes,
            since=since,
            until=until,
            depends_on=depends_on,
            bucket=bucket,
        )
        return groups

    async def slo_status(self, slo_id: str) -> dict[str, Any]:
        """An SLO's budget and burn alerts, from its monitors' rollups."""
        body = await _call(self._storage.get_setting.remote("slo", slo_id))
        if body is None:
            raise SettingNotFound("slo", slo_id)
        slo = slo_from_dict(body)
        monitors = set(slo.monitors)
        for tag in slo.tags:
            found = await _call(
                self._coordinator.find.remote(tag, None, None, None, None)
            )
            monitors.update(monitor["id"] for monitor in found)
        status = await measure_slo(self._storage, slo, sorted(monitors), time.time())
        return {**status, "monitors": sorted(monitors)}


async def measure_slo(
    storage: Any, slo: Slo, monitor_ids: list[str], now: float
) -> dict[str, Any]:
    """``analytics.reports.slo_status`` of ``slo`` over these monitors' rollups:
    hourly ones for the budget, minute ones for the burn alerts' spans."""
    hourly: list[dict[str, Any]] = []
    minutely: list[dict[str, Any]] = []
    for monitor_id in monitor_ids:
        hourly += await _call(
            storage.rollups.remote(
                monitor_id, "hour", now - slo.window, now + 1, MAX_ROLLUPS
            )
        )
        minutely += await _call(
            storage.rollups.remote(
                monitor_id, "minute", now - burn_span(slo), now + 1, MAX_ROLLUPS
            )
        )
    status: dict[str, Any] = await asyncio.to_thread(
        slo_status, slo, summed_rollups(hourly), summed_rollups(minutely), now=now
    )
    return status
