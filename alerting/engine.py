"""The alerting engine: state changes in, incidents and the right few notifications out.

``AlertEngine`` holds no I/O. It is fed state changes (``observe``), the
acts of people (``acknowledge``, ``resolve``) and the passing of time
(``tick``), and each call returns an ``Outcome``: the incidents that changed,
their timeline entries, the notifications to queue and the events to tell.
The caller stores and sends them; because notification keys depend only on
what they say, queueing one twice after a retry or a restart sends it once.

What it decides:

1. A monitor going DOWN (or DEGRADED) opens an incident; recovering, being
   paused or deleted resolves it.
2. An incident is held back while a maintenance window covers its monitor,
   or while a monitor it depends on is down (it is then told as caused by
   the root of that chain). A held incident is told once it is released and
   still open.
3. A monitor that changes state too often is flapping: its incident stays
   open, is told once with the flapping noted, and is settled by the state
   the monitor keeps once it is quiet again.
4. Each told incident goes to the first route that matches its monitor and
   into a group of that route (by the route's ``group_by`` labels), which
   sends one notification for all its members after ``group_wait``, the
   changes at most every ``group_interval``, and a reminder every
   ``repeat_interval`` while an unacknowledged member still fires.
5. With an escalation policy, an unacknowledged incident climbs its levels
   as their delays pass; acknowledging stops it, an acknowledgement may
   expire and start the climb again, and resolving tells every level that
   was reached.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from alerting import incidents as timeline_kinds
from alerting.incidents import (
    ACKNOWLEDGED,
    DEPENDENCY,
    MAINTENANCE,
    OPEN,
    RESOLVED,
    Incident,
)
from alerting.maintenance import MaintenanceWindow
from alerting.rules import EscalationPolicy, Route
from analytics.correlation import likely_root
from engine.events import Event, StateChange, new_event_id
from engine.result import MonitorState
from notify.message import FIRING
from notify.message import RESOLVED as RESOLVED_STATUS
from notify.templates import AlertEvent, MonitorFacts
from store.alerting import TimelineEntry

# Event types the engine tells, beside the monitors' own.
INCIDENT_OPENED: Final = "incident_opened"
INCIDENT_UPDATED: Final = "incident_updated"
INCIDENT_ACKNOWLEDGED: Final = "incident_acknowledged"
INCIDENT_RESOLVED: Final = "incident_resolved"
INCIDENT_ESCALATED: Final = "incident_escalated"
INCIDENT_NOTE: Final = "incident_note"
MAINTENANCE_STARTED: Final = "maintenance_started"
MAINTENANCE_ENDED: Final = "maintenance_ended"
INCIDENT_EVENTS: Final = (
    INCIDENT_OPENED,
    INCIDENT_UPDATED,
    INCIDENT_ACKNOWLEDGED,
    INCIDENT_RESOLVED,
    INCIDENT_ESCALATED,
    INCIDENT_NOTE,
)

FLAP_WINDOW: Final = 600.0
FLAP_CHANGES: Final = 6
"""A monitor that changes state this many times within ``FLAP_WINDOW``
seconds is flapping, and is settled once it has kept one state that long."""

REPEAT_ROUND_GAP: Final = 60.0
"""The least time between the last level of an escalation and the next round."""

# The origin part of the ids of the events and entries the engine makes.
ENGINE_ORIGIN: Final = 0xA1E8

_FAILING: Final = frozenset({MonitorState.DOWN, MonitorState.PENDING})
"""The states of a parent through which a failure may come from further up."""

_PROBLEMS: Final = {
    MonitorState.DOWN: "critical",
    MonitorState.DEGRADED: "warning",
}
"""The states that open an incident, and the severity each gives it."""


class IncidentNotFound(KeyError):
    """No unresolved incident has this id."""

    def __init__(self, incident_id: str) -> None:
        super().__init__(incident_id)
        self.incident_id = incident_id

    def __str__(self) -> str:
        return f"no open incident has the id {self.incident_id!r}"

    def __reduce__(self) -> tuple[type[IncidentNotFound], tuple[str]]:
        return (IncidentNotFound, (self.incident_id,))


@dataclass(frozen=True, slots=True)
class Notice:
    """A notification to make for some channels; each renders it its own way."""

    channels: tuple[str, ...]
    event: AlertEvent


@dataclass(slots=True)
class Outcome:
    """What one call changed: for the caller to store, queue and tell."""

    incidents: dict[str, Incident] = field(default_factory=dict)
    timeline: list[TimelineEntry] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.incidents or self.timeline or self.notices or self.events)


@dataclass(slots=True)
class _Group:
    """The incidents of one route that share its labels, and what was told."""

    id: str
    key: str
    route: Route
    labels: tuple[str, ...]
    created_at: float
    members: set[str] = field(default_factory=set)
    told: set[str] = field(default_factory=set)
    resolved: dict[str, Incident] = field(default_factory=dict)
    last_sent_at: float | None = None
    repeats: int = 0
    changed: bool = True
    """Whether members joined or left since the group last spoke; if not,
    only its repeat interval can make it speak."""


@dataclass(slots=True)
class _Checked:
    state: MonitorState
    reason: str = ""
    message: str = ""


class AlertEngine:
    """Incidents, groups, holds and escalations of one platform; see the module."""

    def __init__(
        self,
        *,
        flap_window: float = FLAP_WINDOW,
        flap_changes: int = FLAP_CHANGES,
    ) -> None:
        self.flap_window = flap_window
        self.flap_changes = flap_changes
        self.monitors: dict[str, Mapping[str, Any]] = {}
        self.routes: list[Route] = []
        self.policies: dict[str, EscalationPolicy] = {}
        self.windows: list[MaintenanceWindow] = []
        self.incidents: dict[str, Incident] = {}
        self._checked: dict[str, _Checked] = {}
        self._open: dict[str, str] = {}
        self._groups: dict[str, _Group] = {}
        # Which group each incident is in, and which monitors depend on each
        # monitor: both are looked up on every change, so neither is a scan.
        self._group_of: dict[str, str] = {}
        self._children: dict[str, set[str]] = {}
        self._changes: dict[str, deque[float]] = {}
        self._flapping: set[str] = set()
        self._seen_until: dict[str, float] = {}
        # Incidents with an escalation or an acknowledgement's end to wait
        # for: only these are looked at on each tick.
        self._timed: set[str] = set()
        self._active_windows: tuple[str, ...] = ()
        # Set when windows or monitors change: who is covered is worked out
        # again on the next tick even if the same windows are in force.
        self._coverage_stale = False
        self._maintained: dict[str, str] = {}
        self._sequence = 0

    # What the engine is told about.

    def configure(
        self,
        *,
        routes: Iterable[Route] | None = None,
        policies: Iterable[EscalationPolicy] | None = None,
        windows: Iterable[MaintenanceWindow] | None = None,
    ) -> None:
        """Replace the routes, policies or windows; the next ``tick`` applies them."""
        if routes is not None:
            self.routes = sorted(routes, key=lambda route: (route.order, route.id))
        if policies is not None:
            self.policies = {policy.id: policy for policy in policies}
        if windows is not None:
            self.windows = list(windows)
            self._coverage_stale = True

    def set_monitors(self, definitions: Iterable[Mapping[str, Any]]) -> None:
        """Add or replace monitor definitions (``Monitor.to_dict`` form).

        Only what alerting reads is kept: the fields notifications show and
        routes match and group by, and the options that are plain values.
        """
        for definition in definitions:
            kept = _alerting_fields(definition)
            self._forget_parents(kept["id"])
            self.monitors[kept["id"]] = kept
            for parent in kept["depends_on"] or ():
                self._children.setdefault(parent, set()).add(kept["id"])
        self._coverage_stale = True

    def _forget_parents(self, monitor_id: str) -> None:
        """Take a monitor out of the children of the monitors it depended on."""
        old = self.monitors.get(monitor_id)
        for parent in (old or {}).get("depends_on") or ():
            children = self._children.get(parent)
            if children is not None:
                children.discard(monitor_id)
                if not children:
                    del self._children[parent]

    def set_states(self, states: Mapping[str, tuple[str, str, str]]) -> None:
        """Seed the checked state of monitors: ``{id: (state, reason, message)}``.

        These are what dependencies and composites read before any change
        arrives. They open and resolve nothing: a change that was under way
        when alerting stopped arrives again and is taken then.
        """
        for monitor_id, (state, reason, message) in states.items():
            self._checked[monitor_id] = _Checked(MonitorState(state), reason, message)

    def restore(self, stored: Iterable[Mapping[str, Any]]) -> None:
        """Take back the unresolved incidents a store kept, groups included."""
        for data in stored:
            incident = Incident.from_dict(data)
            if incident.resolved:
                continue
            self.incidents[incident.id] = incident
            self._open[incident.monitor_id] = incident.id
            self._track(incident)
            if incident.held is None:
                group = self._join(incident, incident.opened_at)
                if group is not None and incident.notified_at is not None:
                    group.told.add(incident.id)
                    group.last_sent_at = max(
                        group.last_sent_at or 0.0, incident.notified_at
                    )

    # What the engine answers.

    def state_of(self, monitor_id: str) -> tuple[str, str, str]:
        """A monitor's state as people see it: ``(state, reason, message)``.

        MAINTENANCE while a window covers it, else the checked state.
        """
        if monitor_id in self._maintained:
            return (str(MonitorState.MAINTENANCE), "", "")
        checked = self._checked.get(monitor_id)
        if checked is None:
            return (str(MonitorState.UNKNOWN), "", "")
        return (str(checked.state), checked.reason, checked.message)

    def maintained(self) -> dict[str, str]:
        """Monitors under maintenance now, each with the id of its window."""
        return dict(self._maintained)

    def alerting_status(self) -> dict[str, dict[str, Any]]:
        """What alerting adds to a monitor's status, for those it adds to.

        ``maintenance`` names the window covering the monitor, ``incident``
        its open incident, ``caused_by`` the monitor whose failure holds
        that incident back.
        """
        shown: dict[str, dict[str, Any]] = {
            monitor_id: {"maintenance": window}
            for monitor_id, window in self._maintained.items()
        }
        for incident in self.incidents.values():
            entry = shown.setdefault(incident.monitor_id, {})
            entry["incident"] = incident.id
            if incident.held == DEPENDENCY and incident.cause:
                entry["caused_by"] = incident.cause
        return shown

    def open_incident_of(self, monitor_id: str) -> Incident | None:
        incident_id = self._open.get(monitor_id)
        return None if incident_id is None else self.incidents[incident_id]

    # Changes of monitors.

    def observe(self, change: StateChange) -> Outcome:
        """Take one state change decided by a shard.

        A change no later than one already taken is a batch delivered again
        after a retry, and changes nothing.
        """
        outcome = Outcome()
        at = change.at
        monitor_id = change.monitor_id
        if at <= self._seen_until.get(monitor_id, float("-inf")):
            return outcome
        self._seen_until[monitor_id] = at
        self._checked[monitor_id] = _Checked(
            change.after,
            "" if change.reason is None else str(change.reason),
            change.message,
        )
        incident = self.open_incident_of(monitor_id)

        if self._count_change(monitor_id, at) and monitor_id not in self._flapping:
            self._flapping.add(monitor_id)
            if incident is None:
                incident = self._open_incident(change, outcome)
            incident.flapping = True
            count = len(self._changes[monitor_id])
            self._entry(
                outcome,
                incident,
                at,
                timeline_kinds.FLAPPING,
                {"changes": count, "window": self.flap_window},
            )
            incident.message = (
                f"flapping: {count} state changes in {int(self.flap_window)}s"
            )
            self._changed(outcome, incident, at, INCIDENT_UPDATED)

        if change.after == MonitorState.PAUSED:
            # A paused monitor is checked no more: nothing of it is open.
            self._flapping.discard(monitor_id)
            self._changes.pop(monitor_id, None)
            if incident is not None:
                self._resolve(incident, at, "paused", outcome)
        elif incident is not None and (incident.flapping or change.after in _PROBLEMS):
            self._follow(incident, change, outcome)
        elif incident is not None and change.after == MonitorState.UP:
            self._resolve(incident, at, "recovery", outcome)
        elif incident is None and change.after in _PROBLEMS:
            self._open_incident(change, outcome)

        if change.after == MonitorState.UP:
            self._release_dependents(monitor_id, at, outcome)
        elif change.after == MonitorState.DOWN:
            self._hold_untold_dependents(monitor_id, at, outcome)
        self._track_all(outcome)
        return outcome

    def remove_monitor(self, monitor_id: str, at: float) -> Outcome:
        """Forget a deleted monitor, resolving its incident."""
        outcome = Outcome()
        incident = self.open_incident_of(monitor_id)
        if incident is not None:
            self._resolve(incident, at, "deleted", outcome)
        self._checked.pop(monitor_id, None)
        self._changes.pop(monitor_id, None)
        self._seen_until.pop(monitor_id, None)
        self._flapping.discard(monitor_id)
        self._release_dependents(monitor_id, at, outcome)
        self._forget_parents(monitor_id)
        self.monitors.pop(monitor_id, None)
        self._track_all(outcome)
        return outcome

    # What people do.

    def acknowledge(
        self,
        incident_id: str,
        *,
        by: str,
        at: float,
        timeout: float | None = None,
        note: str = "",
    ) -> Outcome:
        """Stop an incident's escalation, for ``timeout`` or the policy's limit."""
        incident = self._unresolved(incident_id)
        outcome = Outcome()
        policy = self.policies.get(incident.escalation or "")
        lasts = timeout if timeout is not None else policy and policy.ack_timeout
        incident.status = ACKNOWLEDGED
        incident.acknowledged_by = by
        incident.acknowledged_at = at
        incident.acknowledgement_ends_at = None if not lasts else at + lasts
        incident.escalation_due_at = None
        self._entry(
            outcome,
            incident,
            at,
            timeline_kinds.ACKNOWLEDGEMENT,
            {"by": by, "until": incident.acknowledgement_ends_at, "note": note},
        )
        self._changed(outcome, incident, at, INCIDENT_ACKNOWLEDGED)
        self._track(incident)
        return outcome

    def resolve(
        self, incident_id: str, *, by: str, at: float, note: str = ""
    ) -> Outcome:
        """Close an incident by hand; its monitor opens another when it fails again."""
        incident = self._unresolved(incident_id)
        outcome = Outcome()
        self._resolve(incident, at, by, outcome, note=note)
        return outcome

    def note(self, incident_id: str, *, by: str, text: str, at: float) -> Outcome:
        """Add a team member's note to an unresolved incident's timeline."""
        incident = self._unresolved(incident_id)
        outcome = Outcome()
        self._entry(
            outcome, incident, at, timeline_kinds.NOTE, {"by": by, "text": text}
        )
        self._changed(outcome, incident, at, INCIDENT_NOTE)
        return outcome

    # The passing of time.

    def tick(self, now: float) -> Outcome:
        """Do what is due by ``now``: windows, flaps, expiries, escalations, groups."""
        outcome = Outcome()
        self._apply_windows(now, outcome)
        self._settle_flapping(now, outcome)
        for incident_id in list(self._timed):
            incident = self.incidents[incident_id]
            ends = incident.acknowledgement_ends_at
            if incident.acknowledged and ends is not None and ends <= now:
                self._expire_acknowledgement(incident, now, outcome)
            due = incident.escalation_due_at
            if incident.status == OPEN and due is not None and due <= now:
                self._escalate(incident, now, outcome)
        for group in list(self._groups.values()):
            self._flush(group, now, outcome)
        self._track_all(outcome)
        return outcome

    # Incidents.

    def _open_incident(self, change: StateChange, outcome: Outcome) -> Incident:
        at = change.at
        monitor_id = change.monitor_id
        incident = Incident(
            id=incident_id(monitor_id, at),
            monitor_id=monitor_id,
            status=OPEN,
            opened_at=at,
            updated_at=at,
            state=str(change.after),
            reason="" if change.reason is None else str(change.reason),
            message=change.message,
            severity=_PROBLEMS.get(change.after, "critical"),
        )
        self.incidents[incident.id] = incident
        self._open[monitor_id] = incident.id
        self._entry(
            outcome,
            incident,
            at,
            timeline_kinds.OPENED,
            {"state": incident.state, "reason": incident.reason},
        )
        self._changed(outcome, incident, at, INCIDENT_OPENED)
        self._hold_or_tell(incident, at, outcome)
        return incident

    def _follow(
        self, incident: Incident, change: StateChange, outcome: Outcome
    ) -> None:
        """Keep an open incident up to date with its monitor's new state."""
        at = change.at
        incident.state = str(change.after)
        if change.after in _PROBLEMS:
            incident.reason = "" if change.reason is None else str(change.reason)
            if not incident.flapping:
                incident.message = change.message
            severity = _PROBLEMS[change.after]
            if severity == "critical":
                incident.severity = severity
        self._entry(
            outcome,
            incident,
            at,
            timeline_kinds.STATE,
            {
                "before": str(change.before),
                "after": str(change.after),
                "reason": incident.reason,
                "message": change.message,
            },
        )
        self._changed(outcome, incident, at, INCIDENT_UPDATED)

    def _resolve(
        self,
        incident: Incident,
        at: float,
        by: str,
        outcome: Outcome,
        *,
        note: str = "",
    ) -> None:
        incident.status = RESOLVED
        incident.resolved_at = at
        incident.resolved_by = by
        incident.escalation_due_at = None
        incident.acknowledgement_ends_at = None
        if by == "recovery":
            incident.state = str(MonitorState.UP)
        self.incidents.pop(incident.id, None)
        self._open.pop(incident.monitor_id, None)
        self._timed.discard(incident.id)
        group = self._groups.get(self._group_of.pop(incident.id, ""))
        if group is not None:
            group.members.discard(incident.id)
            group.changed = True
            if incident.id in group.told:
                group.resolved[incident.id] = incident
        if incident.escalated_channels:
            outcome.notices.append(
                Notice(
                    incident.escalated_channels,
                    self._single_event(incident, f"{incident.id}:resolved", at),
                )
            )
        self._entry(
            outcome, incident, at, timeline_kinds.CLOSED, {"by": by, "note": note}
        )
        self._changed(outcome, incident, at, INCIDENT_RESOLVED)

    def _track(self, incident: Incident) -> None:
        """Keep ``_timed`` right for an incident whose timers may have moved."""
        waiting = (
            incident.escalation_due_at is not None
            or incident.acknowledgement_ends_at is not None
        )
        if waiting and not incident.resolved:
            self._timed.add(incident.id)
        else:
            self._timed.discard(incident.id)

    def _track_all(self, outcome: Outcome) -> None:
        for incident in outcome.incidents.values():
            self._track(incident)

    def _unresolved(self, incident_id: str) -> Incident:
        incident = self.incidents.get(incident_id)
        if incident is None:
            raise IncidentNotFound(incident_id)
        return incident

    # Holding back.

    def _hold_or_tell(self, incident: Incident, at: float, outcome: Outcome) -> None:
        """Hold the incident back if it must be, else route and group it."""
        window = self._maintained.get(incident.monitor_id)
        cause = self._root_cause(incident.monitor_id)
        held = MAINTENANCE if window is not None else DEPENDENCY if cause else None
        if held is not None:
            if incident.held != held or incident.cause != cause:
                incident.held = held
                incident.cause = cause
                self._leave_groups(incident)
                self._entry(
                    outcome,
                    incident,
                    at,
                    timeline_kinds.HELD,
                    {"why": held, "cause": cause, "window": window},
                )
                self._changed(outcome, incident, at, INCIDENT_UPDATED)
            return
        if incident.held is not None:
            self._entry(
                outcome, incident, at, timeline_kinds.RELEASED, {"was": incident.held}
            )
            incident.held = None
            incident.cause = None
            self._changed(outcome, incident, at, INCIDENT_UPDATED)
        self._join(incident, at)
        self._start_escalation(incident, at)

    def _root_cause(self, monitor_id: str) -> str | None:
        """The deepest DOWN monitor among the failing ancestors of ``monitor_id``.

        The walk goes up through parents that are DOWN or PENDING (failing,
        not yet confirmed), so a child is held even while the parent between
        it and a DOWN router is still retrying.
        """
        seen = {monitor_id}
        cause: str | None = None
        frontier = [monitor_id]
        while frontier:
            current = frontier.pop()
            definition = self.monitors.get(current) or {}
            for parent in definition.get("depends_on") or ():
                if parent in seen:
                    continue
                seen.add(parent)
                checked = self._checked.get(parent)
                if checked is None or checked.state not in _FAILING:
                    continue
                if checked.state == MonitorState.DOWN:
                    cause = parent
                frontier.append(parent)
        return cause

    def _dependents_incidents(self, monitor_id: str) -> list[Incident]:
        """The open incidents of the monitors that depend on ``monitor_id``,
        directly or through others."""
        found: list[Incident] = []
        seen = {monitor_id}
        frontier = [monitor_id]
        while frontier:
            for child in self._children.get(frontier.pop(), ()):
                if child in seen:
                    continue
                seen.add(child)
                frontier.append(child)
                incident = self.open_incident_of(child)
                if incident is not None:
                    found.append(incident)
        return found

    def _hold_untold_dependents(
        self, monitor_id: str, at: float, outcome: Outcome
    ) -> None:
        """Hold the dependents' incidents not told yet: their cause is now DOWN."""
        for incident in self._dependents_incidents(monitor_id):
            if incident.held is None and incident.notified_at is None:
                self._hold_or_tell(incident, at, outcome)

    def _release_dependents(self, monitor_id: str, at: float, outcome: Outcome) -> None:
        """Look again at dependents' incidents held because of a monitor now back."""
        for incident in self._dependents_incidents(monitor_id):
            if incident.held == DEPENDENCY:
                self._hold_or_tell(incident, at, outcome)

    def _apply_windows(self, now: float, outcome: Outcome) -> None:
        active = tuple(sorted(w.id for w in self.windows if w.span_at(now) is not None))
        if active == self._active_windows and not self._coverage_stale:
            return
        before = set(self._active_windows)
        self._active_windows = active
        self._coverage_stale = False
        windows = {w.id: w for w in self.windows if w.id in active}
        maintained: dict[str, str] = {}
        for monitor_id, definition in self.monitors.items() if windows else ():
            tags = definition.get("tags") or ()
            for window in windows.values():
                if window.covers(monitor_id, tags):
                    maintained[monitor_id] = window.id
                    break
        changed = set(maintained) ^ set(self._maintained)
        self._maintained = maintained
        for window_id in sorted(set(active) - before):
            outcome.events.append(
                self._event(now, MAINTENANCE_STARTED, None, {"window": window_id})
            )
        for window_id in sorted(before - set(active)):
            outcome.events.append(
                self._event(now, MAINTENANCE_ENDED, None, {"window": window_id})
            )
        for monitor_id in sorted(changed):
            incident = self.open_incident_of(monitor_id)
            if incident is not None:
                self._hold_or_tell(incident, now, outcome)

    # Flapping.

    def _count_change(self, monitor_id: str, at: float) -> bool:
        """Note a change; whether the monitor now changes often enough to flap."""
        changes = self._changes.get(monitor_id)
        if changes is None:
            changes = self._changes[monitor_id] = deque(maxlen=self.flap_changes)
        changes.append(at)
        return len(changes) >= self.flap_changes and at - changes[0] <= self.flap_window

    def _settle_flapping(self, now: float, outcome: Outcome) -> None:
        for monitor_id in list(self._flapping):
            changes = self._changes.get(monitor_id)
            if changes and now - changes[-1] < self.flap_window:
                continue
            self._flapping.discard(monitor_id)
            incident = self.open_incident_of(monitor_id)
            if incident is None:
                continue
            incident.flapping = False
            checked = self._checked.get(monitor_id)
            state = MonitorState.UNKNOWN if checked is None else checked.state
            self._entry(
                outcome, incident, now, timeline_kinds.SETTLED, {"state": str(state)}
            )
            if state in _PROBLEMS:
                incident.message = "" if checked is None else checked.message
                self._changed(outcome, incident, now, INCIDENT_UPDATED)
            else:
                self._resolve(incident, now, "recovery", outcome)

    # Escalation.

    def _start_escalation(self, incident: Incident, at: float) -> None:
        route = self._route_for(incident.monitor_id)
        if route is None or route.escalation is None or incident.acknowledged:
            return
        policy = self.policies.get(route.escalation)
        if policy is None or incident.escalation_due_at is not None:
            return
        if incident.escalation == policy.id and incident.level > 0:
            return
        incident.escalation = policy.id
        incident.level = 0
        incident.round = 0
        incident.escalation_due_at = at + policy.levels[0].delay
        self._track(incident)

    def _escalate(self, incident: Incident, now: float, outcome: Outcome) -> None:
        """Tell the level that is due, and say when the next one is."""
        policy = self.policies.get(incident.escalation or "")
        if policy is None:
            incident.escalation_due_at = None
            return
        if incident.held is not None:
            # Paused while held; the level is told once the hold is over.
            return
        level = policy.levels[min(incident.level, len(policy.levels) - 1)]
        key = (
            f"{incident.id}:escalation:{incident.climb}:{incident.round}:"
            f"{incident.level}"
        )
        outcome.notices.append(
            Notice(level.channels, self._single_event(incident, key, now))
        )
        told = [c for c in level.channels if c not in incident.escalated_channels]
        incident.escalated_channels = (*incident.escalated_channels, *told)
        self._entry(
            outcome,
            incident,
            now,
            timeline_kinds.ESCALATED,
            {
                "policy": policy.id,
                "level": incident.level,
                "round": incident.round,
                "channels": list(level.channels),
            },
        )
        incident.level += 1
        if incident.level < len(policy.levels):
            incident.escalation_due_at = now + policy.levels[incident.level].delay
        elif incident.round < policy.repeat:
            incident.round += 1
            incident.level = 0
            gap = max(policy.levels[0].delay, REPEAT_ROUND_GAP)
            incident.escalation_due_at = now + gap
        else:
            incident.escalation_due_at = None
        self._changed(outcome, incident, now, INCIDENT_ESCALATED)

    def _expire_acknowledgement(
        self, incident: Incident, now: float, outcome: Outcome
    ) -> None:
        incident.status = OPEN
        incident.acknowledgement_ends_at = None
        incident.level = 0
        incident.round = 0
        incident.climb += 1
        self._entry(
            outcome,
            incident,
            now,
            timeline_kinds.ACK_EXPIRED,
            {"by": incident.acknowledged_by},
        )
        policy = self.policies.get(incident.escalation or "")
        if policy is not None and incident.held is None:
            incident.escalation_due_at = now
        self._changed(outcome, incident, now, INCIDENT_UPDATED)

    # Groups.

    def _route_for(self, monitor_id: str) -> Route | None:
        definition = self.monitors.get(monitor_id)
        if definition is None:
            return None
        for route in self.routes:
            if route.matches(definition):
                return route
        return None

    def _join(self, incident: Incident, at: float) -> _Group | None:
        route = self._route_for(incident.monitor_id)
        if route is None:
            return None
        incident.route = route.id
        labels = route.labels(self.monitors[incident.monitor_id])
        key = route.id + "\x1f" + "\x1f".join(labels)
        previous = self._group_of.get(incident.id)
        if previous is not None and previous != key:
            self._leave_groups(incident)
        self._group_of[incident.id] = key
        group = self._groups.get(key)
        if group is None:
            group_id = incident.group or "group-" + _digest(key, incident.id)[:20]
            group = self._groups[key] = _Group(group_id, key, route, labels, at)
        group.members.add(incident.id)
        group.changed = True
        return group

    def _leave_groups(self, incident: Incident) -> None:
        group = self._groups.get(self._group_of.pop(incident.id, ""))
        if group is not None:
            group.members.discard(incident.id)
            group.changed = True

    def _flush(self, group: _Group, now: float, outcome: Outcome) -> None:
        """Send what a group has to say now, if anything."""
        route = group.route
        if group.last_sent_at is None and now < group.created_at + route.group_wait:
            return
        if (
            not group.changed
            and group.last_sent_at is not None
            and now < group.last_sent_at + route.repeat_interval
        ):
            return
        firing = [
            self.incidents[member]
            for member in sorted(group.members)
            if member in self.incidents and self.incidents[member].held is None
        ]
        firing_ids = {incident.id for incident in firing}
        resolved = list(group.resolved.values())
        repeat = False
        if group.last_sent_at is None:
            due = bool(firing) and now >= group.created_at + route.group_wait
        elif now >= group.last_sent_at + route.group_interval and (
            resolved or firing_ids - group.told
        ):
            due = True
        else:
            due = (
                bool(firing)
                and now >= group.last_sent_at + route.repeat_interval
                and any(not incident.acknowledged for incident in firing)
            )
            repeat = due
        if due:
            if repeat:
                group.repeats += 1
            self._send_group(group, firing, resolved, now, outcome)
        if not firing and not group.resolved and not group.members:
            del self._groups[group.key]

    def _send_group(
        self,
        group: _Group,
        firing: list[Incident],
        resolved: list[Incident],
        now: float,
        outcome: Outcome,
    ) -> None:
        status = FIRING if firing else RESOLVED_STATUS
        told = firing or resolved
        key = "notify-" + _digest(
            group.id,
            status,
            ",".join(i.id for i in firing),
            ",".join(sorted(i.id for i in resolved)),
            str(group.repeats),
        )
        members = tuple(self._facts(i) for i in (*firing, *resolved))
        if len(members) == 1:
            event = self._single_event(told[0], key, now, group_id=group.id)
        else:
            first = min(told, key=lambda incident: incident.opened_at)
            event = AlertEvent(
                key=key,
                incident=group.id,
                status=status,
                monitor=self._group_facts(group, len(firing), len(members)),
                at=now,
                state=str(MonitorState.DOWN if firing else MonitorState.UP),
                message=self._root_of(firing),
                started_at=first.opened_at,
                members=members,
                severity=_worst(firing or resolved),
            )
        if group.route.channels:
            outcome.notices.append(Notice(group.route.channels, event))
        group.told = {incident.id for incident in firing}
        group.resolved.clear()
        group.last_sent_at = now
        group.changed = False
        for incident in told:
            incident.group = group.id
            if incident in firing:
                incident.notified_at = now
            self._entry(
                outcome,
                incident,
                now,
                timeline_kinds.NOTIFIED,
                {
                    "status": status,
                    "channels": list(group.route.channels),
                    "key": key,
                    "group": group.id,
                    "members": len(members),
                },
            )
            outcome.incidents[incident.id] = incident

    # Notifications.

    def _root_of(self, firing: list[Incident]) -> str:
        """Which of several failing monitors is the likely root, in words."""
        if len(firing) < 2:
            return ""
        root = likely_root(
            [incident.monitor_id for incident in firing],
            first_failed={i.monitor_id: i.opened_at for i in firing},
            depends_on={
                i.monitor_id: tuple(
                    (self.monitors.get(i.monitor_id) or {}).get("depends_on") or ()
                )
                for i in firing
            },
        )
        return "Likely root: " + root.explanation

    def _facts(self, incident: Incident) -> MonitorFacts:
        definition = self.monitors.get(incident.monitor_id) or {}
        return MonitorFacts(
            id=incident.monitor_id,
            name=str(definition.get("name") or incident.monitor_id),
            kind=str(definition.get("kind") or ""),
            target=str(definition.get("target") or ""),
            tags=tuple(definition.get("tags") or ()),
            state=incident.state,
            reason=incident.reason,
            message=_explained(incident),
        )

    def _group_facts(self, group: _Group, firing: int, total: int) -> MonitorFacts:
        named = [
            f"{name}={value}"
            for name, value in zip(group.route.group_by, group.labels, strict=True)
            if value
        ]
        what = ", ".join(named) if named else group.route.name or group.route.id
        return MonitorFacts(
            id=group.id,
            name=f"{what} ({firing} of {total} failing)" if firing else what,
            kind="group",
            state=str(MonitorState.DOWN if firing else MonitorState.UP),
        )

    def _single_event(
        self, incident: Incident, key: str, at: float, *, group_id: str | None = None
    ) -> AlertEvent:
        facts = self._facts(incident)
        return AlertEvent(
            key=key,
            incident=group_id or incident.id,
            status=RESOLVED_STATUS if incident.resolved else FIRING,
            monitor=facts,
            at=at,
            state=incident.state,
            previous_state=str(MonitorState.UP) if not incident.resolved else "down",
            reason=incident.reason,
            message=facts.message,
            started_at=incident.opened_at,
            severity=incident.severity,
        )

    # Records.

    def _entry(
        self,
        outcome: Outcome,
        incident: Incident,
        at: float,
        kind: str,
        data: Mapping[str, Any],
    ) -> None:
        self._sequence += 1
        outcome.timeline.append(
            TimelineEntry(
                incident_id=incident.id,
                entry_id=new_event_id(at, self._sequence, ENGINE_ORIGIN),
                at=at,
                kind=kind,
                data=dict(data),
            )
        )

    def _changed(
        self, outcome: Outcome, incident: Incident, at: float, event_type: str
    ) -> None:
        incident.updated_at = max(incident.updated_at, at)
        outcome.incidents[incident.id] = incident
        outcome.events.append(
            self._event(at, event_type, incident.monitor_id, incident.to_dict())
        )

    def _event(
        self, at: float, event_type: str, monitor_id: str | None, data: dict[str, Any]
    ) -> Event:
        self._sequence += 1
        return Event(
            id=new_event_id(at, self._sequence, ENGINE_ORIGIN),
            at=at,
            type=event_type,
            monitor_id=monitor_id,
            data=data,
        )


def incident_id(monitor_id: str, at: float) -> str:
    """The id of the incident a monitor opens at ``at``: sortable, and the
    same however often the change that opened it is delivered."""
    return "inc-" + new_event_id(at, zlib.crc32(monitor_id.encode()), ENGINE_ORIGIN)


_KEPT_FIELDS: Final = ("id", "name", "kind", "target", "tags", "priority", "depends_on")


def _alerting_fields(definition: Mapping[str, Any]) -> dict[str, Any]:
    kept = {name: definition.get(name) for name in _KEPT_FIELDS}
    options = definition.get("options") or {}
    kept["options"] = {
        key: value
        for key, value in options.items()
        if isinstance(value, str | int | float | bool) and len(str(value)) <= 200
    }
    return kept


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()[:32]


def _worst(incidents: Iterable[Incident]) -> str:
    severities = {incident.severity for incident in incidents}
    return "critical" if "critical" in severities or not severities else "warning"


def _explained(incident: Incident) -> str:
    """The incident's message, with the monitor it is caused by if any."""
    if incident.cause:
        return f"{incident.message} (caused by {incident.cause})".strip()
    return incident.message
