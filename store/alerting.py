"""What alerting keeps in the store: its settings, incidents and their timelines.

Settings are the documents alerting is configured with (channels, routes,
escalation policies, maintenance windows, SLOs), kept whole as JSON by kind
and id; status pages and each user's preferences are kept the same way.
An incident is kept whole too, as the mapping alerting gave, with the few
fields the store sorts and filters on copied into columns beside it. A
timeline entry records one thing that happened to an incident; it
is written once, so a retried write adds nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

SETTING_KINDS = (
    "channel",
    "route",
    "escalation",
    "maintenance",
    "slo",
    "status_page",
    "preference",
)
"""The kinds of settings document the store keeps.

A ``preference`` document holds one user's dashboard preferences under the
user's id; it is reached through the account methods, never listed as a
setting.
"""

PREFERENCE = "preference"
"""The kind of the settings documents that hold users' preferences."""

OPEN = "open"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
INCIDENT_STATUSES = (OPEN, ACKNOWLEDGED, RESOLVED)
"""Where an incident stands; every status but ``resolved`` still needs someone."""

MAX_KEY_LENGTH = 200
"""The most characters of an id or a timeline entry's kind.

Ids are keys of the alerting tables; MySQL keeps them as bytes of UTF-8,
four a character at most, and an index key must stay within its limit.
"""


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One thing that happened to an incident: opened, notified, acknowledged...

    ``entry_id`` tells the entries of one incident apart: an entry written
    again under the same pair of ids is left as it was, so whoever writes
    the timeline can retry without adding an entry twice. ``data`` holds
    whatever the ``kind`` of entry needs to be shown (who acknowledged, the
    channel notified), as JSON.
    """

    incident_id: str
    entry_id: str
    at: float
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The entry as plain JSON-ready data, for an API or a log line."""
        return {
            "incident_id": self.incident_id,
            "entry_id": self.entry_id,
            "at": self.at,
            "kind": self.kind,
            "data": dict(self.data),
        }


class IncidentRow(NamedTuple):
    """An incident checked for storing: the columns beside it, and its JSON text."""

    id: str
    monitor_id: str
    status: str
    opened_at: float
    updated_at: float
    resolved_at: float | None
    body: str


TIMELINE_COLUMNS = "incident_id, entry_id, at, kind, data"
"""The columns of ``incident_timeline``, in the order of ``TimelineEntry``."""


def timeline_from_row(row: Sequence[Any]) -> TimelineEntry:
    """An entry from a row of TIMELINE_COLUMNS, its ids as text, data as JSON."""
    return TimelineEntry(_text(row[0]), _text(row[1]), row[2], row[3], _object(row[4]))


def body_from_text(text: str) -> dict[str, Any]:
    """A setting's or incident's stored JSON text, as the mapping it was."""
    return _object(text)


def _object(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text)
    return value


def _text(value: str | bytes) -> str:
    # MySQL hands back the ids of its binary columns as bytes.
    return value.decode() if isinstance(value, bytes) else value
