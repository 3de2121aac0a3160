"""What happens to monitors, as records: state changes and events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.result import MonitorState, Reason

# Event types. A state change is also an event, so one feed tells the story.
STATE_CHANGED = "state_changed"
RECOVERED = "recovered"
MONITOR_CREATED = "monitor_created"
MONITOR_UPDATED = "monitor_updated"
MONITOR_DELETED = "monitor_deleted"
MONITOR_PAUSED = "monitor_paused"
MONITOR_RESUMED = "monitor_resumed"
# Many monitors created or updated by one apply, told in one event.
MONITORS_APPLIED = "monitors_applied"


@dataclass(frozen=True, slots=True)
class StateChange:
    """A monitor moved from one state to another because of one check result."""

    monitor_id: str
    at: float
    before: MonitorState
    after: MonitorState
    reason: Reason | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitor_id": self.monitor_id,
            "at": self.at,
            "before": str(self.before),
            "after": str(self.after),
            "reason": None if self.reason is None else str(self.reason),
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StateChange:
        reason = data.get("reason")
        return cls(
            monitor_id=data["monitor_id"],
            at=data["at"],
            before=MonitorState(data["before"]),
            after=MonitorState(data["after"]),
            reason=None if reason is None else Reason(reason),
            message=data.get("message", ""),
        )


@dataclass(frozen=True, slots=True)
class Event:
    """Something worth telling people about, in time order.

    ``id`` is unique and sortable in time order (see ``new_event_id``), so a
    client that missed events can ask for everything after the last it saw.
    """

    id: str
    at: float
    type: str
    monitor_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "type": self.type,
            "monitor_id": self.monitor_id,
            "data": dict(self.data),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        return cls(
            id=data["id"],
            at=data["at"],
            type=data["type"],
            monitor_id=data.get("monitor_id"),
            data=dict(data.get("data") or {}),
        )


def new_event_id(at: float, sequence: int, origin: int = 0) -> str:
    """An id that sorts by time: microseconds, then origin and sequence, in hex.

    ``origin`` tells apart the processes that make events at the same
    microsecond; ``sequence`` counts within one process.
    """
    return (
        f"{int(at * 1_000_000):014x}-{origin & 0xFFFF:04x}-{sequence & 0xFFFFFFFF:08x}"
    )
