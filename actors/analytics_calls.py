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
from analytics.reports import failing_together, monitor_analysis
from engine.events import StateChange

MAX_CHANGES: Final = 100_000
"""State changes read for one analysis of failures together."""


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
