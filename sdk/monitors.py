"""The monitor calls of both clients: definitions, bulk changes, results, events.

The requests are built once, here, as ``Call`` and ``Listing`` values;
``AsyncMonitors`` and ``Monitors`` add them to ``AsyncClient`` and
``Client``. Lists come whole (every page followed) from ``list_monitors``
and ``status``; the histories (``results``, ``events``) come up to
``limit`` items. Each has an ``iter_`` form that reads page by page.
``overview`` answers every monitor at once, in one compact answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sdk.calls import (
    DEFAULT_PAGE,
    AsyncSender,
    Call,
    Item,
    Listing,
    Moment,
    Sender,
    api_path,
    query,
)
from sdk.errors import InvalidMonitor, UpcastError, error_for

BULK_OPERATIONS: Final = ("create", "update", "pause", "resume", "delete")

MAX_BULK: Final = 1000
"""Items the gateway takes in one bulk request; ``bulk`` sends more in parts."""

BulkItem = str | Mapping[str, Any]
"""A monitor id, a definition, or ``{"id": ..., "changes": {...}}``."""


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """What one item of a bulk request came to.

    ``index`` is the item's place in the list given; ``status`` the HTTP
    status it would have had on its own; ``monitor`` the monitor after the
    change (None once deleted, or when it failed); ``error`` the typed
    error it failed with.
    """

    index: int
    id: str | None
    status: int
    monitor: Item | None = None
    error: UpcastError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class BulkReport:
    """What a bulk request did to each item, in the order given."""

    operation: str
    items: list[BulkOutcome] = field(default_factory=list)

    @property
    def succeeded(self) -> int:
        return sum(1 for outcome in self.items if outcome.ok)

    @property
    def failed(self) -> int:
        return len(self.items) - self.succeeded

    @property
    def failures(self) -> list[BulkOutcome]:
        return [outcome for outcome in self.items if not outcome.ok]


def monitor_path(monitor_id: str, action: str = "") -> str:
    return api_path("monitors", monitor_id, *((action,) if action else ()))


def monitor_filters(
    tag: str | None,
    kind: str | None,
    state: str | None,
    enabled: bool | None,
    q: str | None,
    sort: str | None,
) -> dict[str, str | int | float]:
    return query(tag=tag, kind=kind, state=state, enabled=enabled, q=q, sort=sort)


def monitors_listing(
    filters: Mapping[str, str | int | float], limit: int | None, page_size: int
) -> Listing:
    return Listing(api_path("monitors"), "monitors", filters, limit, page_size)


def status_listing(
    filters: Mapping[str, str | int | float], limit: int | None, page_size: int
) -> Listing:
    return Listing(api_path("status"), "status", filters, limit, page_size)


def overview_call(tags: Sequence[str] | None, state: str | None, q: str | None) -> Call:
    return Call("GET", api_path("overview"), params=query(tags=tags, state=state, q=q))


def results_listing(
    monitor_id: str,
    since: Moment | None,
    until: Moment | None,
    limit: int | None,
    page_size: int,
) -> Listing:
    params = query(since=since, until=until)
    return Listing(
        monitor_path(monitor_id, "results"), "results", params, limit, page_size
    )


def events_listing(
    after: str | None, monitor: str | None, limit: int | None, page_size: int
) -> Listing:
    params = query(after=after, monitor=monitor)
    return Listing(api_path("events"), "events", params, limit, page_size)


def bulk_calls(operation: str, items: Sequence[BulkItem]) -> list[tuple[int, Call]]:
    """The requests of a bulk change, each with the index its part starts at."""
    if operation not in BULK_OPERATIONS:
        raise ValueError(
            f"operation: must be one of {', '.join(BULK_OPERATIONS)}, got {operation!r}"
        )
    return [
        (
            start,
            Call(
                "POST",
                api_path("monitors", "bulk"),
                body={
                    "operation": operation,
                    "items": [
                        item if isinstance(item, str) else dict(item)
                        for item in items[start : start + MAX_BULK]
                    ],
                },
            ),
        )
        for start in range(0, len(items), MAX_BULK)
    ]


def bulk_read(report: BulkReport, start: int, document: Any) -> None:
    """Add the outcomes of one bulk answer, its indexes counted from ``start``."""
    for item in document["items"]:
        error = item.get("error")
        report.items.append(
            BulkOutcome(
                index=start + int(item["index"]),
                id=item.get("id"),
                status=int(item["status"]),
                monitor=item.get("monitor"),
                error=None if error is None else _item_error(error, item["status"]),
            )
        )


def _item_error(error: Mapping[str, Any], status: int) -> UpcastError:
    fields = [(str(f["field"]), str(f["problem"])) for f in error.get("fields", [])]
    return error_for(
        int(error.get("status", status)),
        str(error.get("message", "")),
        fields,
        invalid=InvalidMonitor,
    )


def update_items(changes: Mapping[str, Mapping[str, Any]]) -> list[BulkItem]:
    return [
        {"id": monitor_id, "changes": dict(change)}
        for monitor_id, change in changes.items()
    ]


EXPORT_FORMATS: Final = ("yaml", "json")


def export_call(file_format: str, tags: Sequence[str] | None) -> Call:
    """The monitor file of every monitor (with one of ``tags``), as text."""
    if file_format not in EXPORT_FORMATS:
        raise ValueError(f"format: must be yaml or json, got {file_format!r}")
    params = query(format=file_format, tags=tags or None)
    return Call("GET", api_path("monitors", "export"), params=params, answer="text")


class AsyncMonitors(AsyncSender):
    """Monitors, bulk changes, results, status and events, for ``AsyncClient``."""

    async def create_monitor(self, definition: Mapping[str, Any]) -> Item:
        """Create a monitor; returns it as stored (secrets redacted)."""
        return await self._object(Call("POST", api_path("monitors"), body=definition))

    async def get_monitor(self, monitor_id: str) -> Item:
        """A monitor's definition with its current ``status``."""
        return await self._object(Call("GET", monitor_path(monitor_id)))

    async def list_monitors(
        self,
        *,
        tag: str | None = None,
        kind: str | None = None,
        state: str | None = None,
        enabled: bool | None = None,
        q: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
    ) -> list[Item]:
        """Every monitor matching the filters (or the first ``limit``), by ``sort``.

        ``sort`` is ``id`` (the default), ``name``, ``state``, ``kind``,
        ``last_check_at`` or ``last_latency_ms``; ``-name`` reverses.
        """
        filters = monitor_filters(tag, kind, state, enabled, q, sort)
        return await self._every(monitors_listing(filters, limit, self._page_size))

    def iter_monitors(
        self,
        *,
        tag: str | None = None,
        kind: str | None = None,
        state: str | None = None,
        enabled: bool | None = None,
        q: str | None = None,
        sort: str | None = None,
        page_size: int = DEFAULT_PAGE,
    ) -> AsyncIterator[Item]:
        """The monitors of ``list_monitors``, read ``page_size`` at a time."""
        filters = monitor_filters(tag, kind, state, enabled, q, sort)
        return self._items(monitors_listing(filters, None, page_size))

    async def update_monitor(self, monitor_id: str, changes: Mapping[str, Any]) -> Item:
        """Change some fields of a monitor; the others stay."""
        return await self._object(Call("PATCH", monitor_path(monitor_id), body=changes))

    async def replace_monitor(
        self, monitor_id: str, definition: Mapping[str, Any]
    ) -> Item:
        """Replace a monitor's whole definition."""
        return await self._object(
            Call("PUT", monitor_path(monitor_id), body=definition)
        )

    async def delete_monitor(self, monitor_id: str) -> None:
        """Stop and forget a monitor."""
        await self._send(Call("DELETE", monitor_path(monitor_id)))

    async def pause(self, monitor_id: str) -> Item:
        """Stop checking a monitor until it is resumed."""
        return await self._object(Call("POST", monitor_path(monitor_id, "pause")))

    async def resume(self, monitor_id: str) -> Item:
        """Check a paused monitor again."""
        return await self._object(Call("POST", monitor_path(monitor_id, "resume")))

    async def bulk(self, operation: str, items: Sequence[BulkItem]) -> BulkReport:
        """Do ``operation`` to many monitors; what each item came to.

        ``operation`` is ``create`` (items are definitions), ``update``
        (``{"id", "changes"}``), ``pause``, ``resume`` or ``delete`` (monitor
        ids). Each item succeeds or fails on its own; a failure is kept in
        its outcome, not raised. More than ``MAX_BULK`` items go in parts,
        one after another.
        """
        report = BulkReport(operation)
        for start, call in bulk_calls(operation, items):
            bulk_read(report, start, await self._send(call))
        return report

    async def bulk_create(self, definitions: Sequence[Mapping[str, Any]]) -> BulkReport:
        return await self.bulk("create", definitions)

    async def bulk_update(self, changes: Mapping[str, Mapping[str, Any]]) -> BulkReport:
        """Change some fields of many monitors: monitor id to its changes."""
        return await self.bulk("update", update_items(changes))

    async def bulk_pause(self, monitor_ids: Sequence[str]) -> BulkReport:
        return await self.bulk("pause", monitor_ids)

    async def bulk_resume(self, monitor_ids: Sequence[str]) -> BulkReport:
        return await self.bulk("resume", monitor_ids)

    async def bulk_delete(self, monitor_ids: Sequence[str]) -> BulkReport:
        return await self.bulk("delete", monitor_ids)

    async def export_monitors(
        self, format: str = "yaml", *, tags: Sequence[str] | None = None
    ) -> str:
        """Every monitor as a monitor file (``yaml`` or ``json`` text).

        The file ``apply`` and ``upcast apply`` read, secrets shown as
        ``********``: applying it again keeps the stored ones. ``tags``
        keeps monitors with any of them.
        """
        text: str = await self._send(export_call(format, tags))
        return text

    async def results(
        self,
        monitor_id: str,
        since: Moment | None = None,
        until: Moment | None = None,
        limit: int | None = 100,
    ) -> list[Item]:
        """A monitor's stored check results, newest first, at most ``limit``."""
        return await self._every(
            results_listing(monitor_id, since, until, limit, self._page_size)
        )

    def iter_results(
        self,
        monitor_id: str,
        since: Moment | None = None,
        until: Moment | None = None,
        *,
        page_size: int = DEFAULT_PAGE,
    ) -> AsyncIterator[Item]:
        """Every result of ``results``, newest first, read page by page."""
        return self._items(results_listing(monitor_id, since, until, None, page_size))

    async def status(
        self,
        *,
        tag: str | None = None,
        kind: str | None = None,
        state: str | None = None,
        enabled: bool | None = None,
        q: str | None = None,
        sort: str | None = None,
    ) -> list[Item]:
        """The current status of every monitor matching the filters."""
        filters = monitor_filters(tag, kind, state, enabled, q, sort)
        return await self._every(status_listing(filters, None, self._page_size))

    def iter_status(
        self,
        *,
        tag: str | None = None,
        kind: str | None = None,
        state: str | None = None,
        enabled: bool | None = None,
        q: str | None = None,
        sort: str | None = None,
        page_size: int = DEFAULT_PAGE,
    ) -> AsyncIterator[Item]:
        filters = monitor_filters(tag, kind, state, enabled, q, sort)
        return self._items(status_listing(filters, None, page_size))

    async def overview(
        self,
        *,
        tags: Sequence[str] | None = None,
        state: str | None = None,
        q: str | None = None,
    ) -> Item:
        """Every monitor in one compact answer, as the gateway holds it now.

        ``monitors`` holds one list per monitor in the order of ``fields``
        (id, name, type, state, tags, latency_ms, checked_at, reason,
        recent); ``counts`` how many are in each state; ``offset`` where
        live updates follow on (``subscribe``). ``tags`` keeps monitors with
        any of them.
        """
        return await self._object(overview_call(tags, state, q))

    async def events(
        self,
        after: str | None = None,
        monitor: str | None = None,
        limit: int | None = 100,
    ) -> list[Item]:
        """Events oldest first, after the event id ``after``, at most ``limit``."""
        return await self._every(events_listing(after, monitor, limit, self._page_size))

    def iter_events(
        self,
        after: str | None = None,
        monitor: str | None = None,
        *,
        page_size: int = DEFAULT_PAGE,
    ) -> AsyncIterator[Item]:
        """Every event after ``after``, oldest first, read page by page."""
        return self._items(events_listing(after, monitor, None, page_size))


class Monitors(Sender):
    """The same calls as ``AsyncMonitors``, for the blocking ``Client``."""

    def create_monitor(self, definition: Mapping[str, Any]) -> Item:
        return self._object(Call("POST", api_path("monitors"), body=definition))

    def get_monitor(self, monitor_id: str) -> Item:
        return self._object(Call("GET", monitor_path(monitor_id)))

    def list_monitors(
        self,
        *,
        tag: str | None = None,
        kind: str | None = None,
        state: str | None = None,
        enabled: bool | None = None,
        q: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
    ) -> list[Item]:
        filters = monitor_filters(tag, kind, state, enabled, q, sort)
        return self._every(monitors_listing(filters, limit, self._page_size))

    def iter_monitors(
        self,
        *,
        tag: str | None = None,
        kind: str | None = None,
        state: str | None = None,
        enabled: bool | None = None,
        q: str | None = None,
        sort: str | None = None,
        page_size: int = DEFAULT_PAGE,
    ) -> Iterator[Item]:
        filters = monitor_filters(tag, kind, state, enabled, q, sort)
        return self._items(monitors_listing(filters, None, page_size))

    def update_monitor(self, monitor_id: str, changes: Mapping[str, Any]) -> Item:
        return self._object(Call("PATCH", monitor_path(monitor_id), body=changes))

    def replace_monitor(self, monitor_id: str, definition: Mapping[str, Any]) -> Item:
        return self._object(Call("PUT", monitor_path(monitor_id), body=definition))

    def delete_monitor(self, monitor_id: str) -> None:
        self._send(Call("DELETE", monitor_path(monitor_id)))

    def pause(self, monitor_id: str) -> Item:
        return self._object(Call("POST", monitor_path(monitor_id, "pause")))

    def resume(self, monitor_id: str) -> Item:
        return self._object(Call("POST", monitor_path(monitor_id, "resume")))

    def bulk(self, operation: str, items: Sequence[BulkItem]) -> BulkReport:
        report = BulkReport(operation)
        for start, call in bulk_calls(operation, items):
            bulk_read(report, start, self._send(call))
        return report

    def bulk_create(self, definitions: Sequence[Mapping[str, Any]]) -> BulkReport:
        return self.bulk("create", definitions)

    def bulk_update(self, changes: Mapping[str, Mapping[str, Any]]) -> BulkReport:
        return self.bulk("update", update_items(changes))

    def bulk_pause(self, monitor_ids: Sequence[str]) -> BulkReport:
        return self.bulk("pause", monitor_ids)

    def bulk_resume(self, monitor_ids: Sequence[str]) -> BulkReport:
        return self.bulk("resume", monitor_ids)

    def bulk_delete(self, monitor_ids: Sequence[str]) -> BulkReport:
        return self.bulk("delete", monitor_ids)

    def export_monitors(
        self, format: str = "yaml", *, tags: Sequence[str] | None = None
    ) -> str:
        text: str = self._send(export_call(format, tags))
        return text

    def results(
        self,
        monitor_id: str,
        since: Moment | None = None,
        until: Moment | None = None,
        limit: int | None = 100,
    ) -> list[Item]:
        return self._every(
            results_listing(monitor_id, since, until, limit, self._page_size)
        )

    def iter_results(
        self,
        monitor_id: str,
        since: Moment | None = None,
        until: Moment | None = None,
        *,
        page_size: int = DEFAULT_PAGE,
    ) -> Iterator[Item]:
        return self._items(results_listing(monitor_id, since, until, None, page_size))

    def status(
        self,
        *,
        tag: str | None = None,
        kind: str | None = None,
        state: str | None = None,
        enabled: bool | None = None,
        q: str | None = None,
        sort: str | None = None,
    ) -> list[Item]:
        filters = monitor_filters(tag, kind, state, enabled, q, sort)
        return self._every(status_listing(filters, None, self._page_size))

    def iter_status(
        self,
        *,
        tag: str | None = None,
        kind: str | None = None,
        state: str | None = None,
        enabled: bool | None = None,
        q: str | None = None,
        sort: str | None = None,
        page_size: int = DEFAULT_PAGE,
    ) -> Iterator[Item]:
        filters = monitor_filters(tag, kind, state, enabled, q, sort)
        return self._items(status_listing(filters, None, page_size))

    def overview(
        self,
        *,
        tags: Sequence[str] | None = None,
        state: str | None = None,
        q: str | None = None,
    ) -> Item:
        return self._object(overview_call(tags, state, q))

    def events(
        self,
        after: str | None = None,
        monitor: str | None = None,
        limit: int | None = 100,
    ) -> list[Item]:
        return self._every(events_listing(after, monitor, limit, self._page_size))

    def iter_events(
        self,
        after: str | None = None,
        monitor: str | None = None,
        *,
        page_size: int = DEFAULT_PAGE,
    ) -> Iterator[Item]:
        return self._items(events_listing(after, monitor, None, page_size))
