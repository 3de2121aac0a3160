"""The alerting calls of both clients: incidents, alert settings, deliveries.

The requests are built once, as ``Call`` values; ``AsyncAlerting`` and
``Alerting`` add them to ``AsyncClient`` and ``Client`` by their way of
sending.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

API: Final = "/api/v1"

SETTINGS: Final = ("channels", "routes", "escalation-policies", "maintenance", "slos")
"""The collections of alert settings, as the API names them."""


@dataclass(frozen=True, slots=True)
class Call:
    """One API request, ready for either client to send."""

    method: str
    path: str
    params: Mapping[str, str | int | float] | None = None
    body: Mapping[str, Any] | None = None


def _incident_path(incident_id: str, action: str = "") -> str:
    path = f"{API}/incidents/{quote(incident_id, safe='')}"
    return f"{path}/{action}" if action else path


def _setting_path(collection: str, setting_id: str | None = None) -> str:
    if collection not in SETTINGS:
        raise ValueError(
            f"collection: must be one of {', '.join(SETTINGS)}, got {collection!r}"
        )
    path = f"{API}/{collection}"
    return path if setting_id is None else f"{path}/{quote(setting_id, safe='')}"


def incidents_call(
    status: Sequence[str] | None, monitor: str | None, before: str | None, limit: int
) -> Call:
    params: dict[str, str | int | float] = {"limit": limit}
    if status:
        params["status"] = ",".join(status)
    if monitor is not None:
        params["monitor"] = monitor
    if before is not None:
        params["before"] = before
    return Call("GET", f"{API}/incidents", params=params)


def acknowledge_call(
    incident_id: str, by: str | None, lasting: str | float | None, note: str
) -> Call:
    body: dict[str, Any] = {"note": note}
    if by is not None:
        body["by"] = by
    if lasting is not None:
        body["for"] = lasting
    return Call("POST", _incident_path(incident_id, "acknowledge"), body=body)


def resolve_call(incident_id: str, by: str | None, note: str) -> Call:
    body: dict[str, Any] = {"note": note}
    if by is not None:
        body["by"] = by
    return Call("POST", _incident_path(incident_id, "resolve"), body=body)


def note_call(incident_id: str, text: str, by: str | None) -> Call:
    body: dict[str, Any] = {"text": text}
    if by is not None:
        body["by"] = by
    return Call("POST", _incident_path(incident_id, "notes"), body=body)


def put_setting_call(collection: str, setting: Mapping[str, Any]) -> Call:
    """Create or replace a setting by its id (PUT is both)."""
    setting_id = setting.get("id")
    if not isinstance(setting_id, str):
        raise ValueError("setting: must have an id")
    return Call("PUT", _setting_path(collection, setting_id), body=setting)


class AsyncAlerting:
    """Incidents, alert settings and deliveries, for ``AsyncClient``."""

    _send: Callable[[Call], Awaitable[Any]]

    async def incidents(
        self,
        *,
        status: Sequence[str] | None = None,
        monitor: str | None = None,
        before: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Incidents newest first; ``before`` is the last id of the page before."""
        found = await self._send(incidents_call(status, monitor, before, limit))
        listed: list[dict[str, Any]] = found["incidents"]
        return listed

    async def incident(self, incident_id: str) -> dict[str, Any]:
        """One incident with its ``timeline``."""
        found: dict[str, Any] = await self._send(
            Call("GET", _incident_path(incident_id))
        )
        return found

    async def acknowledge(
        self,
        incident_id: str,
        *,
        by: str | None = None,
        lasting: str | float | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        """Acknowledge an incident for ``lasting`` (``"30m"``) or its policy's limit."""
        done: dict[str, Any] = await self._send(
            acknowledge_call(incident_id, by, lasting, note)
        )
        return done

    async def resolve_incident(
        self, incident_id: str, *, by: str | None = None, note: str = ""
    ) -> dict[str, Any]:
        done: dict[str, Any] = await self._send(resolve_call(incident_id, by, note))
        return done

    async def add_note(
        self, incident_id: str, text: str, *, by: str | None = None
    ) -> dict[str, Any]:
        entry: dict[str, Any] = await self._send(note_call(incident_id, text, by))
        return entry

    async def settings(self, collection: str) -> list[dict[str, Any]]:
        """Every setting of ``channels``, ``routes``, ``escalation-policies``..."""
        found = await self._send(Call("GET", _setting_path(collection)))
        listed: list[dict[str, Any]] = found[collection.replace("-", "_")]
        return listed

    async def put_setting(
        self, collection: str, setting: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Create or replace one setting; returns it as stored (secrets hidden)."""
        kept: dict[str, Any] = await self._send(put_setting_call(collection, setting))
        return kept

    async def delete_setting(self, collection: str, setting_id: str) -> None:
        await self._send(Call("DELETE", _setting_path(collection, setting_id)))

    async def send_test(self, channel_id: str) -> dict[str, Any]:
        """Send a test notification through a channel now; how it went."""
        path = _setting_path("channels", channel_id) + "/test"
        outcome: dict[str, Any] = await self._send(Call("POST", path))
        return outcome

    async def dead_letters(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """Notifications that ran out of attempts."""
        params: dict[str, str | int | float] = {"state": "dead", "limit": limit}
        found = await self._send(Call("GET", f"{API}/outbox", params=params))
        entries: list[dict[str, Any]] = found["entries"]
        return entries


class Alerting:
    """Incidents, alert settings and deliveries, for the blocking ``Client``."""

    _send: Callable[[Call], Any]

    def incidents(
        self,
        *,
        status: Sequence[str] | None = None,
        monitor: str | None = None,
        before: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self._send(
            incidents_call(status, monitor, before, limit)
        )["incidents"]
        return listed

    def incident(self, incident_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._send(Call("GET", _incident_path(incident_id)))
        return found

    def acknowledge(
        self,
        incident_id: str,
        *,
        by: str | None = None,
        lasting: str | float | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        done: dict[str, Any] = self._send(
            acknowledge_call(incident_id, by, lasting, note)
        )
        return done

    def resolve_incident(
        self, incident_id: str, *, by: str | None = None, note: str = ""
    ) -> dict[str, Any]:
        done: dict[str, Any] = self._send(resolve_call(incident_id, by, note))
        return done

    def add_note(
        self, incident_id: str, text: str, *, by: str | None = None
    ) -> dict[str, Any]:
        entry: dict[str, Any] = self._send(note_call(incident_id, text, by))
        return entry

    def settings(self, collection: str) -> list[dict[str, Any]]:
        found = self._send(Call("GET", _setting_path(collection)))
        listed: list[dict[str, Any]] = found[collection.replace("-", "_")]
        return listed

    def put_setting(
        self, collection: str, setting: Mapping[str, Any]
    ) -> dict[str, Any]:
        kept: dict[str, Any] = self._send(put_setting_call(collection, setting))
        return kept

    def delete_setting(self, collection: str, setting_id: str) -> None:
        self._send(Call("DELETE", _setting_path(collection, setting_id)))

    def send_test(self, channel_id: str) -> dict[str, Any]:
        path = _setting_path("channels", channel_id) + "/test"
        outcome: dict[str, Any] = self._send(Call("POST", path))
        return outcome

    def dead_letters(self, *, limit: int = 100) -> list[dict[str, Any]]:
        params: dict[str, str | int | float] = {"state": "dead", "limit": limit}
        entries: list[dict[str, Any]] = self._send(
            Call("GET", f"{API}/outbox", params=params)
        )["entries"]
        return entries
