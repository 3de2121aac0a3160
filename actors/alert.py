"""The Alert actor: turns result batches into state changes and events."""

from __future__ import annotations

import logging
import zlib
from typing import Any

import msgpack

from engine.events import RECOVERED, STATE_CHANGED, Event, StateChange, new_event_id
from engine.result import CheckResult, MonitorState

logger = logging.getLogger(__name__)

# The origin part of the ids of state-change events (see ``new_event_id``).
STATE_EVENT_ORIGIN = 0xA1E7


def state_event_id(monitor_id: str, at: float) -> str:
    """The id of the event that tells of a monitor's state change at ``at``.

    It depends only on the monitor and the moment, so a batch delivered
    twice after a retry yields the same event, which the store keeps once.
    """
    return new_event_id(at, zlib.crc32(monitor_id.encode()), STATE_EVENT_ORIGIN)


class AlertActor:
    """Records every change of state that arrives in the shards' result batches.

    The shards decide each monitor's state (UP, PENDING, DOWN) and mark the
    results that changed it, so this actor keeps no state per monitor: it
    costs the same for ten monitors as for a million, and a restart loses
    nothing. Every change is written as a state change and an event; results
    and events go on to the Event hub for live screens. Writes are
    idempotent, so a retried batch changes nothing the second time.
    """

    def __init__(self, storage: Any, hub: Any) -> None:
        self._storage = storage
        self._hub = hub

    async def observe(self, batch: bytes) -> int:
        """Take one batch of results; returns how many state changes it held.

        Only the results that changed a state are looked at closely: the
        batch is read as plain mappings, not turned into result objects.
        """
        changes: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for data in msgpack.unpackb(batch, raw=False):
            if data.get("previous_state") is None:
                continue
            result = CheckResult.from_dict(data)
            before = MonitorState(data["previous_state"])
            change = StateChange(
                monitor_id=result.monitor_id,
                at=result.started_at,
                before=before,
                after=result.state,
                reason=result.reason,
                message=result.message,
            )
            changes.append(change.to_dict())
            recovered = before == MonitorState.DOWN and result.state == MonitorState.UP
            event = Event(
                id=state_event_id(result.monitor_id, result.started_at),
                at=result.started_at,
                type=RECOVERED if recovered else STATE_CHANGED,
                monitor_id=result.monitor_id,
                data=change.to_dict(),
            )
            events.append(event.to_dict())
            if result.state in (MonitorState.DOWN, MonitorState.UP):
                logger.info(
                    "state monitor=%s before=%s after=%s reason=%s",
                    result.monitor_id,
                    before,
                    result.state,
                    result.reason,
                )
        if changes:
            await self._storage.write_changes.remote(changes, events)
        await self._hub.publish.remote(batch, events)
        return len(changes)
