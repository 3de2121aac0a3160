"""The alerting calls of both clients: incidents, alert settings, deliveries.

The requests are built once, as ``Call`` and ``Listing`` values;
``AsyncAlerting`` and ``Alerting`` add them to ``AsyncClient`` and
``Client`` by their way of sending. Settings come whole, every page
followed; incidents and the outbox, histories that only grow, come up to
``limit`` items. Each list has an ``iter_`` form that reads page by page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Final

from sdk.calls import (
    API,
    DEFAULT_PAGE,
    AsyncSender,
    Call,
    Item,
    Listing,
    Sender,
    api_path,
    query,
)

__all__ = ["API", "SETTINGS", "Alerting", "AsyncAlerting", "Call"]

SETTINGS: Final = (
    "channels",
    "routes",
    "escalation-policies",
    "maintenance",
    "slos",
    "status-pages",
)
"""The collections of settings, as the API names them."""


def _incident_path(incident_id: str, action: str = "") -> str:
    return api_path("incidents", incident_id, *((action,) if action else ()))


def _setting_path(collection: str, setting_id: str | None = None) -> str:
    if collection not in SETTINGS:
        raise ValueError(
            f"collection: must be one of {', '.join(SETTINGS)}, got {collection!r}"
        )
    return api_path(collection, *(() if setting_id is None else (setting_id,)))


def incidents_listing(
    status: Sequence[str] | None,
    monitor: str | None,
    before: str | None,
    limit: int | None,
    page_size: int,
) -> Listing:
    params = query(status=status or None, monitor=monitor, before=before)
    return Listing(api_path("incidents"), "incidents", params, limit, page_size)


def settings_listing(collection: str, page_size: int) -> Listing:
    key = collection.replace("-", "_")
    return Listing(_setting_path(collection), key, page_size=page_size)


def outbox_listing(
    state: str | None,
    channel: str | None,
    after: int | None,
    limit: int | None,
    page_size: int,
) -> Listing:
    params = query(state=state, channel=channel, after=after)
    return Listing(api_path("outbox"), "entries", params, limit, page_size)


def acknowledge_call(incident_id: str, lasting: str | float | None, note: str) -> Call:
    body: dict[str, Any] = {"note": note}
    if lasting is not None:
        body["for"] = lasting
    return Call("POST", _incident_path(incident_id, "acknowledge"), body=body)


def resolve_call(incident_id: str, note: str) -> Call:
    body: dict[str, Any] = {"note": note}
    return Call("POST", _incident_path(incident_id, "resolve"), body=body)


def note_call(incident_id: str, text: str) -> Call:
    body: dict[str, Any] = {"text": text}
    return Call("POST", _incident_path(incident_id, "notes"), body=body)


def put_setting_call(collection: str, setting: Mapping[str, Any]) -> Call:
    """Create or replace a setting by its id (PUT is both)."""
    setting_id = setting.get("id")
    if not isinstance(setting_id, str):
        raise ValueError("setting: must have an id")
    return Call("PUT", _setting_path(collection, setting_id), body=setting)


def deliveries_call(channel_id: str, limit: int) -> Call:
    path = _setting_path("channels", channel_id) + "/deliveries"
    return Call("GET", path, params={"limit": limit})


def _deliveries(document: Any) -> list[Item]:
    found: list[Item] = document["deliveries"]
    return found


def requeue_call(entry_id: int) -> Call:
    return Call("POST", api_path("outbox", str(entry_id), "requeue"))


def public_status_page_call(page_id: str) -> Call:
    """What anyone may read of a status page; it needs no credentials."""
    return Call("GET", api_path("public", "status-pages", page_id), authenticated=False)


class AsyncAlerting(AsyncSender):
    """Incidents, alert settings and deliveries, for ``AsyncClient``."""

    async def incidents(
        self,
        *,
        status: Sequence[str] | None = None,
        monitor: str | None = None,
        before: str | None = None,
        limit: int | None = 100,
    ) -> list[Item]:
        """Incidents newest first, older than the id ``before``; at most ``limit``."""
        listing = incidents_listing(status, monitor, before, limit, self._page_size)
        return await self._every(listing)

    def iter_incidents(
        self,
        *,
        status: Sequence[str] | None = None,
        monitor: str | None = None,
        before: str | None = None,
        page_size: int = DEFAULT_PAGE,
    ) -> AsyncIterator[Item]:
        """Every incident of ``incidents``, newest first, read page by page."""
        return self._items(incidents_listing(status, monitor, before, None, page_size))

    async def incident(self, incident_id: str) -> Item:
        """One incident with its ``timeline``."""
        return await self._object(Call("GET", _incident_path(incident_id)))

    async def acknowledge(
        self,
        incident_id: str,
        *,
        lasting: str | float | None = None,
        note: str = "",
    ) -> Item:
        """Acknowledge an incident for ``lasting`` (``"30m"``) or its policy's limit."""
        return await self._object(acknowledge_call(incident_id, lasting, note))

    async def resolve_incident(self, incident_id: str, *, note: str = "") -> Item:
        """Resolve an incident by hand."""
        return await self._object(resolve_call(incident_id, note))

    async def add_note(self, incident_id: str, text: str) -> Item:
        """Add a note to an incident's timeline; returns the timeline entry."""
        return await self._object(note_call(incident_id, text))

    async def settings(self, collection: str) -> list[Item]:
        """Every setting of ``channels``, ``routes``, ``escalation-policies``..."""
        return await self._every(settings_listing(collection, self._page_size))

    def iter_settings(
        self, collection: str, *, page_size: int = DEFAULT_PAGE
    ) -> AsyncIterator[Item]:
        return self._items(settings_listing(collection, page_size))

    async def get_setting(self, collection: str, setting_id: str) -> Item:
        """One setting, secrets hidden."""
        return await self._object(Call("GET", _setting_path(collection, setting_id)))

    async def create_setting(self, collection: str, setting: Mapping[str, Any]) -> Item:
        """Create a setting; ``Conflict`` if its id is taken, unlike ``put_setting``."""
        return await self._object(Call("POST", _setting_path(collection), body=setting))

    async def put_setting(self, collection: str, setting: Mapping[str, Any]) -> Item:
        """Create or replace one setting; returns it as stored (secrets hidden)."""
        return await self._object(put_setting_call(collection, setting))

    async def delete_setting(self, collection: str, setting_id: str) -> None:
        await self._send(Call("DELETE", _setting_path(collection, setting_id)))

    async def public_status_page(self, page_id: str) -> Item:
        """A status page as anyone sees it: its monitors' names, states and
        uptime, and its incidents (``status-pages`` settings define pages)."""
        return await self._object(public_status_page_call(page_id))

    async def send_test(self, channel_id: str) -> Item:
        """Send a test notification through a channel now; how it went."""
        path = _setting_path("channels", channel_id) + "/test"
        return await self._object(Call("POST", path))

    async def deliveries(self, channel_id: str, *, limit: int = 100) -> list[Item]:
        """A channel's latest delivery attempts, newest first (not paged)."""
        return _deliveries(await self._send(deliveries_call(channel_id, limit)))

    async def outbox(
        self,
        *,
        state: str | None = None,
        channel: str | None = None,
        after: int | None = None,
        limit: int | None = 100,
    ) -> list[Item]:
        """Notifications waiting, sent or given up on, oldest first."""
        listing = outbox_listing(state, channel, after, limit, self._page_size)
        return await self._every(listing)

    def iter_outbox(
        self,
        *,
        state: str | None = None,
        channel: str | None = None,
        after: int | None = None,
        page_size: int = DEFAULT_PAGE,
    ) -> AsyncIterator[Item]:
        return self._items(outbox_listing(state, channel, after, None, page_size))

    async def dead_letters(self, *, limit: int | None = 100) -> list[Item]:
        """Notifications that ran out of attempts."""
        return await self.outbox(state="dead", limit=limit)

    async def requeue(self, entry_id: int) -> Item:
        """Send a dead letter again; ``Conflict`` if the entry is not dead."""
        return await self._object(requeue_call(entry_id))


class Alerting(Sender):
    """The same calls as ``AsyncAlerting``, for the blocking ``Client``."""

    def incidents(
        self,
        *,
        status: Sequence[str] | None = None,
        monitor: str | None = None,
        before: str | None = None,
        limit: int | None = 100,
    ) -> list[Item]:
        return self._every(
            incidents_listing(status, monitor, before, limit, self._page_size)
        )

    def iter_incidents(
        self,
        *,
        status: Sequence[str] | None = None,
        monitor: str | None = None,
        before: str | None = None,
        page_size: int = DEFAULT_PAGE,
    ) -> Iterator[Item]:
        return self._items(incidents_listing(status, monitor, before, None, page_size))

    def incident(self, incident_id: str) -> Item:
        return self._object(Call("GET", _incident_path(incident_id)))

    def acknowledge(
        self,
        incident_id: str,
        *,
        lasting: str | float | None = None,
        note: str = "",
    ) -> Item:
        return self._object(acknowledge_call(incident_id, lasting, note))

    def resolve_incident(self, incident_id: str, *, note: str = "") -> Item:
        return self._object(resolve_call(incident_id, note))

    def add_note(self, incident_id: str, text: str) -> Item:
        return self._object(note_call(incident_id, text))

    def settings(self, collection: str) -> list[Item]:
        return self._every(settings_listing(collection, self._page_size))

    def iter_settings(
        self, collection: str, *, page_size: int = DEFAULT_PAGE
    ) -> Iterator[Item]:
        return self._items(settings_listing(collection, page_size))

    def get_setting(self, collection: str, setting_id: str) -> Item:
        return self._object(Call("GET", _setting_path(collection, setting_id)))

    def create_setting(self, collection: str, setting: Mapping[str, Any]) -> Item:
        return self._object(Call("POST", _setting_path(collection), body=setting))

    def put_setting(self, collection: str, setting: Mapping[str, Any]) -> Item:
        return self._object(put_setting_call(collection, setting))

    def delete_setting(self, collection: str, setting_id: str) -> None:
        self._send(Call("DELETE", _setting_path(collection, setting_id)))

    def public_status_page(self, page_id: str) -> Item:
        return self._object(public_status_page_call(page_id))

    def send_test(self, channel_id: str) -> Item:
        path = _setting_path("channels", channel_id) + "/test"
        return self._object(Call("POST", path))

    def deliveries(self, channel_id: str, *, limit: int = 100) -> list[Item]:
        return _deliveries(self._send(deliveries_call(channel_id, limit)))

    def outbox(
        self,
        *,
        state: str | None = None,
        channel: str | None = None,
        after: int | None = None,
        limit: int | None = 100,
    ) -> list[Item]:
        return self._every(
            outbox_listing(state, channel, after, limit, self._page_size)
        )

    def iter_outbox(
        self,
        *,
        state: str | None = None,
        channel: str | None = None,
        after: int | None = None,
        page_size: int = DEFAULT_PAGE,
    ) -> Iterator[Item]:
        return self._items(outbox_listing(state, channel, after, None, page_size))

    def dead_letters(self, *, limit: int | None = 100) -> list[Item]:
        return self.outbox(state="dead", limit=limit)

    def requeue(self, entry_id: int) -> Item:
        return self._object(requeue_call(entry_id))
