"""The Alert actor: turns result batches into state changes and events."""

from __future__ import annotations

import itertools
import logging
import os
import time
from typing import Any

from engine.events import RECOVERED, STATE_CHANGED, Event, StateChange, new_event_id
from engine.result import MonitorState, unpack_results

logger = logging.getLogger(__name__)


class AlertActor:
    """Watches every monitor's state as results arrive and records each change.

    The shards' schedulers already decide a monitor's state (UP, PENDING,
    DOWN); this actor keeps the last state it saw per monitor, so a change is
    recorded once even when a batch is delivered twice, and forwards results
    and events to the Event hub for live screens.
    """

    def __init__(self, storage: Any, hub: Any) -> None:
        self._storage = storage
        self._hub = hub
        self._states: dict[str, tuple[float, MonitorState]] = {}
        self._sequence = itertools.count()
        self._origin = os.getpid()

    async def start(self) -> None:
        """Pick up each monitor's last known state, so a restart repeats nothing."""
        latest: dict[str, dict[str, Any]] = await self._storage.latest_results.remote()
        for monitor_id, result in latest.items():
            self._states[monitor_id] = (
                result["started_at"],
                MonitorState(result["state"]),
            )

    async def observe(self, batch: bytes) -> int:
        """Take one batch of results; returns how many state changes it held."""
        results = unpack_results(batch)
        changes: list[StateChange] = []
        events: list[Event] = []
        for result in results:
            seen = self._states.get(result.monitor_id)
            if seen is not None and seen[0] >= result.started_at:
                continue
            before = seen[1] if seen is not None else MonitorState.UNKNOWN
            self._states[result.monitor_id] = (result.started_at, result.state)
            if result.state == before:
                continue
            change = StateChange(
                monitor_id=result.monitor_id,
                at=result.started_at,
                before=before,
                after=result.state,
                reason=result.reason,
                message=result.message,
            )
            changes.append(change)
            recovered = before == MonitorState.DOWN and result.state == MonitorState.UP
            events.append(
                Event(
                    id=new_event_id(time.time(), next(self._sequence), self._origin),
                    at=result.started_at,
                    type=RECOVERED if recovered else STATE_CHANGED,
                    monitor_id=result.monitor_id,
                    data=change.to_dict(),
                )
            )
            if result.state in (MonitorState.DOWN, MonitorState.UP):
                logger.info(
                    "state monitor=%s before=%s after=%s reason=%s",
                    result.monitor_id,
                    before,
                    result.state,
                    result.reason,
                )
        if changes:
            await self._storage.write_state_changes.remote(
                [change.to_dict() for change in changes]
            )
            await self._storage.write_events.remote([e.to_dict() for e in events])
        updates = [{"type": "result", "data": r.to_dict()} for r in results]
        updates.extend({"type": "event", "data": e.to_dict()} for e in events)
        await self._hub.publish.remote(updates)
        return len(changes)

    async def forget(self, monitor_id: str) -> None:
        self._states.pop(monitor_id, None)
