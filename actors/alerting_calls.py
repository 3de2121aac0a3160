"""The alerting part of the running platform: incidents, settings, deliveries.

``AlertingCalls`` is mixed into ``RayPlatform``: each call goes to the
Alert actor (what changes incidents or how alerts are decided) or to the
Storage actor (what is only read, and the outbox).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

from actors.calls import actor_call as _call
from alerting.engine import IncidentNotFound
from alerting.incidents import NOTE
from alerting.settings import SettingNotFound, check_setting, referenced
from engine.errors import FieldError, ValidationError
from engine.events import new_event_id
from engine.result import MonitorState

NOTE_ORIGIN: Final = 0xA1E9
"""The origin part of the ids of notes added to resolved incidents."""


class AlertingCalls:
    """Incidents, alert settings and deliveries, behind the ``Platform`` interface."""

    _alert: Any
    _storage: Any

    # Incidents.

    async def incidents(self, query: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Incidents newest first (``Store.incidents`` arguments)."""
        found: list[dict[str, Any]] = await _call(
            self._storage.incidents.remote(dict(query))
        )
        return found

    async def incident(self, incident_id: str, *, limit: int = 1000) -> dict[str, Any]:
        """One incident with its ``timeline``, oldest entry first."""
        found = await _call(self._storage.get_incident.remote(incident_id))
        if found is None:
            raise IncidentNotFound(incident_id)
        timeline = await _call(self._storage.timeline.remote(incident_id, limit))
        return {**found, "timeline": timeline}

    async def acknowledge_incident(
        self,
        incident_id: str,
        *,
        by: str,
        lasting: float | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        found: dict[str, Any] = await _call(
            self._alert.acknowledge.remote(incident_id, by, lasting, note)
        )
        return found

    async def resolve_incident(
        self, incident_id: str, *, by: str, note: str = ""
    ) -> dict[str, Any]:
        found: dict[str, Any] = await _call(
            self._alert.resolve.remote(incident_id, by, note)
        )
        return found

    async def note_incident(
        self, incident_id: str, *, by: str, text: str
    ) -> dict[str, Any]:
        """Add a note; a resolved incident takes notes too, straight into the store."""
        try:
            entry: dict[str, Any] = await _call(
                self._alert.note.remote(incident_id, by, text)
            )
            return entry
        except IncidentNotFound:
            if await _call(self._storage.get_incident.remote(incident_id)) is None:
                raise
        now = time.time()
        entry = {
            "incident_id": incident_id,
            "entry_id": new_event_id(now, time.monotonic_ns(), NOTE_ORIGIN),
            "at": now,
            "kind": NOTE,
            "data": {"by": by, "text": text},
        }
        await _call(self._storage.add_timeline.remote([entry]))
        return entry

    # Settings.

    async def list_settings(self, kind: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await _call(self._storage.settings.remote(kind))
        return found

    async def get_setting(self, kind: str, setting_id: str) -> dict[str, Any]:
        found = await _call(self._storage.get_setting.remote(kind, setting_id))
        if found is None:
            raise SettingNotFound(kind, setting_id)
        setting: dict[str, Any] = found
        return setting

    async def put_setting(
        self, kind: str, body: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Check and keep a setting; the setting as kept, and whether it is new.

        Channels and policies that a route or policy names must exist.
        """
        setting = check_setting(kind, body)
        errors: list[FieldError] = []
        for field, wanted_kind, wanted_id in referenced(kind, setting):
            stored = await _call(
                self._storage.get_setting.remote(wanted_kind, wanted_id)
            )
            if stored is None:
                errors.append(
                    FieldError(field, f"no {wanted_kind} has the id {wanted_id!r}")
                )
        if errors:
            raise ValidationError(errors)
        created: bool = await _call(self._storage.put_setting.remote(kind, setting))
        await _call(self._alert.reload_settings.remote())
        return setting, created

    async def delete_setting(self, kind: str, setting_id: str) -> None:
        if not await _call(self._storage.delete_setting.remote(kind, setting_id)):
            raise SettingNotFound(kind, setting_id)
        await _call(self._alert.reload_settings.remote())

    # Deliveries.

    async def send_test(self, channel_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await _call(self._storage.send_test.remote(channel_id))
        return found

    async def deliveries(
        self, *, channel_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Delivery attempts, newest first, of one channel or of all."""
        found: list[dict[str, Any]] = await _call(
            self._storage.delivery_log.remote(
                {"channel_id": channel_id, "limit": limit}
            )
        )
        return found

    async def outbox(self, query: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Outbox entries (``Store.outbox`` arguments): dead letters and the rest."""
        found: list[dict[str, Any]] = await _call(
            self._storage.outbox.remote(dict(query))
        )
        return found

    async def requeue(self, entry_id: int) -> bool:
        requeued: bool = await _call(self._storage.requeue.remote(entry_id))
        return requeued

    async def alerting_overlay(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = await _call(
            self._alert.alerting_status.remote()
        )
        return found

    async def _shown_states(self, statuses: list[dict[str, Any]]) -> None:
        """Add what alerting knows to monitors' statuses.

        A monitor under maintenance shows MAINTENANCE over its checked state
        (kept as ``checked_state``) and the window's id; one with an open
        incident shows its id, and the monitor causing it when it is held.
        """
        shown: dict[str, dict[str, Any]] = await _call(
            self._alert.alerting_status.remote()
        )
        if not shown:
            return
        for status in statuses:
            extra = shown.get(status.get("id", ""))
            if extra is None:
                continue
            if "maintenance" in extra:
                status["checked_state"] = status.get("state")
                status["state"] = str(MonitorState.MAINTENANCE)
            status.update(extra)
