"""The Alert actor: turns result batches into state changes, incidents and alerts."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import zlib
from collections import deque
from typing import Any

import msgpack

from actors.analytics_calls import measure_slo
from alerting.engine import AlertEngine, Outcome
from alerting.maintenance import maintenance_from_dict
from alerting.rules import policy_from_dict, route_from_dict
from analytics.slo import Slo, slo_from_dict
from engine.events import RECOVERED, STATE_CHANGED, Event, StateChange, new_event_id
from engine.result import CheckResult, MonitorState
from notify.channels import Channel
from notify.settings import channel_of_setting
from notify.templates import render_notification

logger = logging.getLogger(__name__)

Saving = tuple[
    list[dict[str, Any]],
    list[dict[str, Any]],
    list[dict[str, Any]],
    list[tuple[str, str, dict[str, Any]]],
]
"""What one outcome writes: incidents, timeline entries, events, notifications."""

# The origin part of the ids of state-change events (see ``new_event_id``).
STATE_EVENT_ORIGIN = 0xA1E7

TICK_EVERY = 1.0
"""Seconds between two looks at what time has made due (groups, escalations)."""

SLO_EVERY = 10.0
"""Seconds between two looks at how fast each SLO burns its error budget."""

SLO_PREFIX = "slo:"
"""The id of the stand-in monitor an SLO's burn alerts are incidents of:
``slo:<id>``, of kind ``slo``, with the SLO's tags, so routes take it by
kind (``kinds: [slo]``) or by tag."""

MAX_UNSAVED = 10_000
"""Outcomes kept in memory while the store refuses them, before the oldest go."""


def state_event_id(monitor_id: str, at: float) -> str:
    """The id of the event that tells of a monitor's state change at ``at``.

    It depends only on the monitor and the moment, so a batch delivered
    twice after a retry yields the same event, which the store keeps once.
    """
    return new_event_id(at, zlib.crc32(monitor_id.encode()), STATE_EVENT_ORIGIN)


class AlertActor:
    """Records every change of state, and alerts on it through ``AlertEngine``.

    The shards decide each monitor's checked state (UP, PENDING, DOWN) and
    mark the results that changed it; this actor writes each change as a
    state change and an event, hands it to the engine, and stores and
    queues what the engine decides: incidents, their timelines and the
    notifications, rendered per channel and written to the outbox, which
    the Storage actor delivers. Results and events go on to the Event hub.

    Everything the engine needs is in the store (monitors, their latest
    states, unresolved incidents, the alert settings), so a restarted actor
    takes up where it was. Writes happen in the order the engine decided
    them, one outcome at a time.
    """

    def __init__(self, storage: Any, hub: Any, public_url: str | None = None) -> None:
        self._storage = storage
        self._hub = hub
        self._public_url = public_url
        self._engine = AlertEngine()
        self._channels: dict[str, Channel] = {}
        self._writing = asyncio.Lock()
        self._slos: list[Slo] = []
        self._slo_states: dict[str, MonitorState] = {}
        self._watching: asyncio.Task[None] | None = None
        self._unsaved: deque[Saving] = deque()
        self._ticking: asyncio.Task[None] | None = None
        self._starting = asyncio.get_running_loop().create_task(self._start())

    async def _start(self) -> None:
        """Load what the engine needs, then begin the clock."""
        definitions = await self._storage.list_monitors.remote()
        self._engine.set_monitors(definitions)
        ids = [definition["id"] for definition in definitions]
        latest = await self._storage.latest_states.remote(ids) if ids else {}
        self._engine.set_states(
            {
                monitor_id: (row[0], row[4] or "", row[5] or "")
                for monitor_id, row in latest.items()
            }
        )
        await self._load_settings()
        unresolved = await self._storage.unresolved_incidents.remote()
        self._engine.restore(unresolved)
        for incident in unresolved:
            if incident["monitor_id"].startswith(SLO_PREFIX):
                self._slo_states[incident["monitor_id"]] = MonitorState(
                    incident["state"]
                )
        loop = asyncio.get_running_loop()
        self._ticking = loop.create_task(self._tick_forever())
        self._watching = loop.create_task(self._watch_slos_forever())

    async def ready(self) -> bool:
        await asyncio.shield(self._starting)
        return True

    async def observe(self, batch: bytes) -> int:
        """Take one batch of results; returns how many state changes it held.

        Only the results that changed a state are looked at closely: the
        batch is read as plain mappings, not turned into result objects.
        """
        changes: list[StateChange] = []
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
            changes.append(change)
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
            await self._storage.write_changes.remote(
                [change.to_dict() for change in changes], events
            )
            await asyncio.shield(self._starting)
            outcome = Outcome()
            for change in changes:
                _merge(outcome, self._engine.observe(change))
            await self._settle(outcome)
        await self._hub.publish.remote(batch, events)
        return len(changes)

    # What the rest of the platform tells and asks.

    async def monitors_changed(self, definitions: list[dict[str, Any]]) -> None:
        await asyncio.shield(self._starting)
        self._engine.set_monitors(definitions)

    async def monitor_removed(self, monitor_id: str) -> None:
        await asyncio.shield(self._starting)
        await self._settle(self._engine.remove_monitor(monitor_id, time.time()))

    async def reload_settings(self) -> None:
        """Read the routes, policies, windows and channels again after a change."""
        await asyncio.shield(self._starting)
        await self._load_settings()
        now = time.time()
        kept = {SLO_PREFIX + slo.id for slo in self._slos}
        gone = [
            monitor_id
            for monitor_id in self._engine.monitors
            if monitor_id.startswith(SLO_PREFIX) and monitor_id not in kept
        ]
        for monitor_id in gone:
            # A deleted SLO's incident is over with it.
            self._slo_states.pop(monitor_id, None)
            await self._settle(self._engine.remove_monitor(monitor_id, now))
        await self._settle(self._engine.tick(now))

    async def states(self, monitor_ids: list[str]) -> dict[str, tuple[str, str, str]]:
        """``(state, reason, message)`` of each monitor as people see it."""
        await asyncio.shield(self._starting)
        return {
            monitor_id: self._engine.state_of(monitor_id) for monitor_id in monitor_ids
        }

    async def alerting_status(self) -> dict[str, dict[str, Any]]:
        """``AlertEngine.alerting_status``: windows, incidents and causes."""
        await asyncio.shield(self._starting)
        return self._engine.alerting_status()

    async def acknowledge(
        self,
        incident_id: str,
        by: str,
        lasting: float | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        """Acknowledge an incident, for ``lasting`` seconds or its policy's limit."""
        await asyncio.shield(self._starting)
        outcome = self._engine.acknowledge(
            incident_id, by=by, at=time.time(), timeout=lasting, note=note
        )
        await self._settle(outcome)
        return outcome.incidents[incident_id].to_dict()

    async def resolve(
        self, incident_id: str, by: str, note: str = ""
    ) -> dict[str, Any]:
        await asyncio.shield(self._starting)
        outcome = self._engine.resolve(incident_id, by=by, at=time.time(), note=note)
        await self._settle(outcome)
        return outcome.incidents[incident_id].to_dict()

    async def note(self, incident_id: str, by: str, text: str) -> dict[str, Any]:
        await asyncio.shield(self._starting)
        outcome = self._engine.note(incident_id, by=by, text=text, at=time.time())
        await self._settle(outcome)
        return outcome.timeline[-1].to_dict()

    async def close(self) -> None:
        for task in (self._ticking, self._watching):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for channel in self._channels.values():
            await channel.close()

    # Inside.

    async def _load_settings(self) -> None:
        routes = await self._storage.settings.remote("route")
        policies = await self._storage.settings.remote("escalation")
        windows = await self._storage.settings.remote("maintenance")
        channels = await self._storage.settings.remote("channel")
        self._slos = [
            slo_from_dict(body) for body in await self._storage.settings.remote("slo")
        ]
        self._engine.set_monitors(
            {
                "id": SLO_PREFIX + slo.id,
                "name": f"SLO {slo.name}",
                "kind": "slo",
                "target": "",
                "tags": list(slo.tags),
            }
            for slo in self._slos
        )
        self._engine.configure(
            routes=[route_from_dict(body) for body in routes],
            policies=[policy_from_dict(body) for body in policies],
            windows=[maintenance_from_dict(body) for body in windows],
        )
        built: dict[str, Channel] = {}
        for body in channels:
            channel = channel_of_setting(body)
            if channel is not None:
                built[str(body["id"])] = channel
        self._channels = built

    async def _tick_forever(self) -> None:
        """Let time do its work every ``TICK_EVERY`` seconds, surviving its bugs."""
        while True:
            await asyncio.sleep(TICK_EVERY)
            try:
                await self._settle(self._engine.tick(time.time()))
                if self._unsaved:
                    async with self._writing:
                        await self._save_unsaved()
            except Exception:
                logger.exception("alerting failed to act on time; trying again")

    async def _watch_slos_forever(self) -> None:
        """Every ``SLO_EVERY`` seconds, turn SLOs' burn alerts into incidents."""
        while True:
            await asyncio.sleep(SLO_EVERY)
            try:
                await self._watch_slos()
            except Exception:
                logger.exception("watching SLOs failed; trying again")

    async def _watch_slos(self) -> None:
        """An SLO whose page rules fire is DOWN, one whose ticket rule fires is
        DEGRADED, and one with none firing is UP; a change is told like any
        monitor's."""
        for slo in list(self._slos):
            now = time.time()
            monitors = self._engine.monitors
            # Only an SLO chosen by tag needs a look at every monitor.
            covered = (
                [
                    monitor_id
                    for monitor_id, definition in monitors.items()
                    if not monitor_id.startswith(SLO_PREFIX)
                    and slo.covers(monitor_id, definition.get("tags") or ())
                ]
                if slo.tags
                else [m for m in slo.monitors if m in monitors]
            )
            status = await measure_slo(self._storage, slo, covered, now)
            alerts = status["alerts"]
            severities = {alert["severity"] for alert in alerts}
            state = (
                MonitorState.DOWN
                if "page" in severities
                else MonitorState.DEGRADED
                if severities
                else MonitorState.UP
            )
            monitor_id = SLO_PREFIX + slo.id
            before = self._slo_states.get(monitor_id, MonitorState.UP)
            if state == before:
                continue
            self._slo_states[monitor_id] = state
            message = (
                alerts[0]["reason"] if alerts else "the error budget burns slowly again"
            )
            change = StateChange(monitor_id, now, before, state, None, message)
            logger.info("slo=%s before=%s after=%s", slo.id, before, state)
            await self._settle(self._engine.observe(change))

    async def _settle(self, outcome: Outcome) -> None:
        """Store and queue what the engine decided, in the order it decided."""
        if not outcome:
            return
        outgoing = []
        for notice in outcome.notices:
            for channel_id in notice.channels:
                channel = self._channels.get(channel_id)
                if channel is None:
                    logger.warning(
                        "a notification names channel %s, which does not exist "
                        "or is disabled",
                        channel_id,
                    )
                    continue
                notification = render_notification(
                    notice.event, channel.templates, public_url=self._public_url
                )
                outgoing.append(
                    (channel_id, notification.key, dataclasses.asdict(notification))
                )
        saving: Saving = (
            [incident.to_dict() for incident in outcome.incidents.values()],
            [entry.to_dict() for entry in outcome.timeline],
            [event.to_dict() for event in outcome.events],
            outgoing,
        )
        # In the order decided: what could not be written before goes first.
        async with self._writing:
            self._unsaved.append(saving)
            await self._save_unsaved()

    async def _save_unsaved(self) -> None:
        """Write what waits, oldest first; keep the rest when the store fails.

        Every write is idempotent, so one that failed halfway is sent whole
        again.
        """
        while self._unsaved:
            incidents, timeline, events, outgoing = self._unsaved[0]
            try:
                await self._storage.write_alerting.remote(
                    incidents, timeline, events, outgoing
                )
            except Exception as exc:
                logger.warning(
                    "alerting could not write %d outcomes (%s); trying again",
                    len(self._unsaved),
                    exc,
                )
                while len(self._unsaved) > MAX_UNSAVED:
                    self._unsaved.popleft()
                    logger.error("alerting gave up an outcome it could not write")
                return
            self._unsaved.popleft()
            if events:
                await self._hub.publish.remote(None, events)


def _merge(into: Outcome, outcome: Outcome) -> None:
    into.incidents.update(outcome.incidents)
    into.timeline.extend(outcome.timeline)
    into.notices.extend(outcome.notices)
    into.events.extend(outcome.events)
