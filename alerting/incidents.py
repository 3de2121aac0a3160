"""Incidents: a monitor's problem from the first failure to its resolution."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

OPEN: Final = "open"
ACKNOWLEDGED: Final = "acknowledged"
RESOLVED: Final = "resolved"

MAINTENANCE: Final = "maintenance"
DEPENDENCY: Final = "dependency"
"""Why an incident's alerts are held back: a maintenance window, or a monitor
it depends on being down (then ``cause`` names that monitor)."""

# Entries of an incident's timeline, by kind.
OPENED: Final = "opened"
STATE: Final = "state"
NOTIFIED: Final = "notified"
ESCALATED: Final = "escalated"
ACKNOWLEDGEMENT: Final = "acknowledged"
ACK_EXPIRED: Final = "acknowledgement_expired"
NOTE: Final = "note"
CLOSED: Final = "resolved"
HELD: Final = "held"
RELEASED: Final = "released"
FLAPPING: Final = "flapping"
SETTLED: Final = "settled"


@dataclass(slots=True)
class Incident:
    """One problem of one monitor, as stored and as the API shows it.

    ``state``, ``reason`` and ``message`` follow the monitor while the
    incident is open. ``held`` says why its alerts are held back, if they
    are; ``cause`` is the monitor whose failure explains this one. The
    escalation fields say how far up its policy the incident has gone
    (``level`` levels told, in round ``round`` of climb ``climb``, which
    starts again when an acknowledgement expires) and when the next level
    is due. ``group`` is the notification group it was last sent in, and
    ``notified_at`` when, so that a restart does not tell it again.
    """

    id: str
    monitor_id: str
    status: str
    opened_at: float
    updated_at: float
    resolved_at: float | None = None
    state: str = "down"
    reason: str = ""
    message: str = ""
    severity: str = "critical"
    route: str | None = None
    held: str | None = None
    cause: str | None = None
    flapping: bool = False
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    acknowledgement_ends_at: float | None = None
    resolved_by: str | None = None
    escalation: str | None = None
    level: int = 0
    round: int = 0
    climb: int = 0
    escalation_due_at: float | None = None
    escalated_channels: tuple[str, ...] = ()
    group: str | None = None
    notified_at: float | None = None

    @property
    def resolved(self) -> bool:
        return self.status == RESOLVED

    @property
    def acknowledged(self) -> bool:
        return self.status == ACKNOWLEDGED

    def to_dict(self) -> dict[str, Any]:
        # Every field is a plain value, so a shallow copy is a whole one;
        # ``dataclasses.asdict`` would deep-copy each on every change.
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["escalated_channels"] = list(self.escalated_channels)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Incident:
        values = {key: value for key, value in data.items() if key in _FIELD_NAMES}
        values["escalated_channels"] = tuple(values.get("escalated_channels") or ())
        return cls(**values)


_FIELD_NAMES: Final = tuple(item.name for item in fields(Incident))
