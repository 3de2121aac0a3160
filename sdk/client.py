"""Python clients for the Upcast gateway: ``AsyncClient`` and blocking ``Client``.

Both speak the REST API under ``/api/v1`` with the same methods and errors.
The requests themselves and the reading of answers are written once, here,
as plain functions; each client only adds its way of sending.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from engine.model import slugify
from sdk.alerting import Alerting, AsyncAlerting, Call
from sdk.analytics import Analytics, AsyncAnalytics
from sdk.errors import (
    BadRequest,
    Conflict,
    ConnectionFailed,
    InvalidMonitor,
    NotFound,
    ServerError,
    UpcastError,
)
from sdk.live import Subscription, ThreadedSubscription

logger = logging.getLogger(__name__)

API = "/api/v1"
DEFAULT_TIMEOUT = 10.0

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while ``apply`` works through a list."""

Moment = float | datetime.datetime
"""Unix seconds, or an aware datetime."""


@dataclass(slots=True)
class ApplyReport:
    """What ``apply`` did to each monitor, by id, in the order given."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything was created or updated."""
        return bool(self.created or self.updated)

    def extend(self, other: ApplyReport) -> None:
        """Add what a later ``apply`` did, as if both were one."""
        self.created.extend(other.created)
        self.updated.extend(other.updated)
        self.unchanged.extend(other.unchanged)


def _monitor_path(monitor_id: str, action: str = "") -> str:
    path = f"{API}/monitors/{quote(monitor_id, safe='')}"
    return f"{path}/{action}" if action else path


def _list_call(filters: Mapping[str, Any]) -> Call:
    params: dict[str, str | int | float] = {}
    for name, value in filters.items():
        if value is None:
            continue
        key = "q" if name == "search" else name
        params[key] = (
            ("true" if value else "false") if isinstance(value, bool) else value
        )
    return Call("GET", f"{API}/monitors", params=params)


def _results_call(
    monitor_id: str, since: Moment | None, until: Moment | None, limit: int
) -> Call:
    params = _span_params(since, until)
    params["limit"] = limit
    return Call("GET", _monitor_path(monitor_id, "results"), params=params)


def _events_call(after: str | None, monitor: str | None, limit: int) -> Call:
    params: dict[str, str | int | float] = {"limit": limit}
    if after is not None:
        params["after"] = after
    if monitor is not None:
        params["monitor"] = monitor
    return Call("GET", f"{API}/events", params=params)


def _uptime_call(
    period: str,
    by: str,
    since: Moment | None,
    until: Moment | None,
    monitors: Sequence[str] | None,
    tags: Sequence[str] | None,
) -> Call:
    params = _span_params(since, until)
    params.update(period=period, by=by)
    if monitors is not None:
        params["monitors"] = ",".join(monitors)
    if tags is not None:
        params["tags"] = ",".join(tags)
    return Call("GET", f"{API}/reports/uptime", params=params)


def _summary_call(
    since: Moment | None, until: Moment | None, monitors: Sequence[str] | None
) -> Call:
    params = _span_params(since, until)
    if monitors is not None:
        params["monitors"] = ",".join(monitors)
    return Call("GET", f"{API}/reports/summary", params=params)


def _span_params(
    since: Moment | None, until: Moment | None
) -> dict[str, str | int | float]:
    params: dict[str, str | int | float] = {}
    if since is not None:
        params["since"] = _seconds(since)
    if until is not None:
        params["until"] = _seconds(until)
    return params


def _seconds(moment: Moment) -> float:
    if isinstance(moment, datetime.datetime):
        if moment.tzinfo is None:
            raise ValueError(f"a datetime needs a time zone, got {moment!r}")
        return moment.timestamp()
    return float(moment)


def _read(response: httpx.Response) -> Any:
    """The decoded answer, or the SDK error its status stands for."""
    if response.is_success:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ServerError(
                "the gateway answered with something other than JSON",
                status=response.status_code,
            ) from exc

    status = response.status_code
    message, fields = _error_details(response)
    if status == 422:
        raise InvalidMonitor(message, fields, status=status)
    if status == 404:
        raise NotFound(message, status=status)
    if status == 409:
        raise Conflict(message, status=status)
    if status == 400:
        raise BadRequest(message, status=status)
    if status >= 500:
        raise ServerError(message, status=status)
    raise UpcastError(message, status=status)


def _error_details(response: httpx.Response) -> tuple[str, list[tuple[str, str]]]:
    """The message and named fields of an error answer, whatever its shape."""
    fallback = f"the gateway answered {response.status_code} {response.reason_phrase}"
    try:
        error = response.json()["error"]
        message = str(error.get("message") or fallback)
        fields = [(str(f["field"]), str(f["problem"])) for f in error.get("fields", [])]
    except (ValueError, KeyError, TypeError, AttributeError):
        return fallback, []
    return message, fields


def _monitors(document: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = document["monitors"]
    return found


APPLY_CHUNK = 2000
"""Definitions ``apply`` sends per request: about half a megabyte of JSON."""

_SERVER_PLACE = re.compile(r"monitors\[(\d+)\]")


def _apply_chunks(
    definitions: Sequence[Mapping[str, Any]],
) -> list[tuple[int, list[dict[str, Any]]]]:
    """The definitions in request-sized parts, each with the index it starts at.

    Ids must be unique within the whole list, not only within a part, so
    every duplicate is reported at once, before anything is sent. A
    definition without an id gets the one the platform will make from its
    name.
    """
    seen: dict[str, int] = {}
    duplicates: list[tuple[str, str]] = []
    for index, definition in enumerate(definitions):
        given = definition.get("id")
        monitor_id = str(given) if given else slugify(str(definition.get("name", "")))
        first = seen.setdefault(monitor_id, index)
        if first != index:
            duplicates.append(
                (
                    f"definitions[{index}].id",
                    f"{monitor_id!r} is already used by definitions[{first}]",
                )
            )
    if duplicates:
        raise InvalidMonitor(
            f"{len(duplicates)} monitor ids are used more than once", duplicates
        )
    return [
        (start, [_definition(d) for d in definitions[start : start + APPLY_CHUNK]])
        for start in range(0, len(definitions), APPLY_CHUNK)
    ]


def _definition(monitor: Mapping[str, Any]) -> dict[str, Any]:
    """A definition to send: a monitor read from the gateway, without its status."""
    return {key: value for key, value in monitor.items() if key != "status"}


def _apply_call(part: list[dict[str, Any]]) -> Call:
    return Call("POST", f"{API}/apply", body={"monitors": part})


def _applied(report: ApplyReport, document: Any) -> None:
    for item in document["monitors"]:
        getattr(report, item["outcome"]).append(item["id"])


def _shifted(error: InvalidMonitor, start: int) -> InvalidMonitor:
    """A part's refusal with its places counted in the whole list."""

    def place(match: re.Match[str]) -> str:
        return f"definitions[{int(match.group(1)) + start}]"

    fields = [(_SERVER_PLACE.sub(place, f, count=1), p) for f, p in error.fields]
    return InvalidMonitor(error.message, fields, status=error.status)


def _transport_error(base_url: str, exc: httpx.HTTPError) -> UpcastError:
    if isinstance(exc, httpx.TimeoutException):
        return ConnectionFailed(f"the gateway at {base_url} did not answer in time")
    if isinstance(exc, httpx.TransportError):
        return ConnectionFailed(f"could not reach the gateway at {base_url}: {exc}")
    return UpcastError(f"the request to {base_url} failed: {exc}")


class AsyncClient(AsyncAlerting, AsyncAnalytics):
    """The Upcast API for asyncio code.

    ``base_url`` is the gateway's address, e.g. ``http://127.0.0.1:8080``;
    ``timeout`` bounds each request in seconds. Use ``async with`` or call
    ``close``.
    """

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def _send(self, call: Call) -> Any:
        try:
            response = await self._http.request(
                call.method,
                call.path,
                params=call.params,
                json=call.body,
            )
        except httpx.HTTPError as exc:
            raise _transport_error(self.base_url, exc) from exc
        return _read(response)

    async def create_monitor(self, definition: Mapping[str, Any]) -> dict[str, Any]:
        """Create a monitor; returns it as stored (secrets redacted)."""
        created: dict[str, Any] = await self._send(
            Call("POST", f"{API}/monitors", body=definition)
        )
        return created

    async def get_monitor(self, monitor_id: str) -> dict[str, Any]:
        """A monitor's definition with its current ``status``."""
        found: dict[str, Any] = await self._send(Call("GET", _monitor_path(monitor_id)))
        return found

    async def list_monitors(self, **filters: Any) -> list[dict[str, Any]]:
        """Monitors matching ``tag``, ``kind``, ``state``, ``enabled``, ``q``."""
        return _monitors(await self._send(_list_call(filters)))

    async def update_monitor(
        self, monitor_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Change some fields of a monitor; the others stay."""
        updated: dict[str, Any] = await self._send(
            Call("PATCH", _monitor_path(monitor_id), body=changes)
        )
        return updated

    async def replace_monitor(
        self, monitor_id: str, definition: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Replace a monitor's whole definition."""
        replaced: dict[str, Any] = await self._send(
            Call("PUT", _monitor_path(monitor_id), body=definition)
        )
        return replaced

    async def delete_monitor(self, monitor_id: str) -> None:
        """Stop and forget a monitor."""
        await self._send(Call("DELETE", _monitor_path(monitor_id)))

    async def pause(self, monitor_id: str) -> dict[str, Any]:
        """Stop checking a monitor until it is resumed."""
        paused: dict[str, Any] = await self._send(
            Call("POST", _monitor_path(monitor_id, "pause"))
        )
        return paused

    async def resume(self, monitor_id: str) -> dict[str, Any]:
        """Check a paused monitor again."""
        resumed: dict[str, Any] = await self._send(
            Call("POST", _monitor_path(monitor_id, "resume"))
        )
        return resumed

    async def results(
        self,
        monitor_id: str,
        since: Moment | None = None,
        until: Moment | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """A monitor's stored check results, newest first."""
        document = await self._send(_results_call(monitor_id, since, until, limit))
        found: list[dict[str, Any]] = document["results"]
        return found

    async def status(self) -> list[dict[str, Any]]:
        """The current status of every monitor."""
        document = await self._send(Call("GET", f"{API}/status"))
        found: list[dict[str, Any]] = document["status"]
        return found

    async def engine(self) -> list[dict[str, Any]]:
        """Each shard's figures: monitors, checks done and per second, lateness."""
        document = await self._send(Call("GET", f"{API}/engine"))
        found: list[dict[str, Any]] = document["shards"]
        return found

    async def events(
        self, after: str | None = None, monitor: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Events oldest first, after the event id ``after``."""
        document = await self._send(_events_call(after, monitor, limit))
        found: list[dict[str, Any]] = document["events"]
        return found

    async def uptime_report(
        self,
        period: str = "day",
        *,
        by: str = "monitor",
        since: Moment | None = None,
        until: Moment | None = None,
        monitors: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Uptime per ``period`` (day, week, month; UTC) and monitor or tag."""
        call = _uptime_call(period, by, since, until, monitors, tags)
        found: list[dict[str, Any]] = (await self._send(call))["rows"]
        return found

    async def summary(
        self,
        *,
        since: Moment | None = None,
        until: Moment | None = None,
        monitors: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Each monitor's uptime and latency percentiles over a span (24 h)."""
        call = _summary_call(since, until, monitors)
        found: list[dict[str, Any]] = (await self._send(call))["monitors"]
        return found

    async def apply(
        self,
        definitions: Sequence[Mapping[str, Any]],
        *,
        progress: Progress | None = None,
    ) -> ApplyReport:
        """Make the gateway hold these definitions; safe to run again and again.

        Missing monitors are created, changed ones replaced, equal ones left
        alone; monitors not in the list are not touched. The gateway compares
        each definition with the stored one, secrets included, and the list
        goes in parts of ``APPLY_CHUNK``, two requests in flight. A part with
        a bad definition is refused whole, naming every problem
        (``definitions[i].field``); the parts before it stay applied, so
        running ``apply`` again after fixing the cause finishes the job.
        """
        chunks = _apply_chunks(definitions)
        total = len(definitions)
        report = ApplyReport()
        if progress is not None:
            progress(0, total)
        gate = asyncio.Semaphore(2)

        async def send(start: int, part: list[dict[str, Any]]) -> Any:
            async with gate:
                try:
                    return await self._send(_apply_call(part))
                except InvalidMonitor as exc:
                    raise _shifted(exc, start) from None

        sending = [asyncio.ensure_future(send(start, part)) for start, part in chunks]
        done = 0
        try:
            for (_, part), answer in zip(chunks, sending, strict=True):
                _applied(report, await answer)
                done += len(part)
                if progress is not None:
                    progress(done, total)
        finally:
            for task in sending:
                task.cancel()
        return report

    def subscribe(self, monitors: Sequence[str] | None = None) -> Subscription:
        """Live updates: ``async with client.subscribe() as updates``.

        Each update is ``{"type": "result" | "event", "data": {...}}``;
        ``monitors`` limits them to those monitors.
        """
        return Subscription(self.base_url, monitors, timeout=self._timeout)

    async def close(self) -> None:
        """Close the connections to the gateway."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class Client(Alerting, Analytics):
    """The Upcast API for blocking code; the same methods as ``AsyncClient``."""

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def _send(self, call: Call) -> Any:
        try:
            response = self._http.request(
                call.method,
                call.path,
                params=call.params,
                json=call.body,
            )
        except httpx.HTTPError as exc:
            raise _transport_error(self.base_url, exc) from exc
        return _read(response)

    def create_monitor(self, definition: Mapping[str, Any]) -> dict[str, Any]:
        """Create a monitor; returns it as stored (secrets redacted)."""
        created: dict[str, Any] = self._send(
            Call("POST", f"{API}/monitors", body=definition)
        )
        return created

    def get_monitor(self, monitor_id: str) -> dict[str, Any]:
        """A monitor's definition with its current ``status``."""
        found: dict[str, Any] = self._send(Call("GET", _monitor_path(monitor_id)))
        return found

    def list_monitors(self, **filters: Any) -> list[dict[str, Any]]:
        """Monitors matching ``tag``, ``kind``, ``state``, ``enabled``, ``q``."""
        return _monitors(self._send(_list_call(filters)))

    def update_monitor(
        self, monitor_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Change some fields of a monitor; the others stay."""
        updated: dict[str, Any] = self._send(
            Call("PATCH", _monitor_path(monitor_id), body=changes)
        )
        return updated

    def replace_monitor(
        self, monitor_id: str, definition: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Replace a monitor's whole definition."""
        replaced: dict[str, Any] = self._send(
            Call("PUT", _monitor_path(monitor_id), body=definition)
        )
        return replaced

    def delete_monitor(self, monitor_id: str) -> None:
        """Stop and forget a monitor."""
        self._send(Call("DELETE", _monitor_path(monitor_id)))

    def pause(self, monitor_id: str) -> dict[str, Any]:
        """Stop checking a monitor until it is resumed."""
        paused: dict[str, Any] = self._send(
            Call("POST", _monitor_path(monitor_id, "pause"))
        )
        return paused

    def resume(self, monitor_id: str) -> dict[str, Any]:
        """Check a paused monitor again."""
        resumed: dict[str, Any] = self._send(
            Call("POST", _monitor_path(monitor_id, "resume"))
        )
        return resumed

    def results(
        self,
        monitor_id: str,
        since: Moment | None = None,
        until: Moment | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """A monitor's stored check results, newest first."""
        document = self._send(_results_call(monitor_id, since, until, limit))
        found: list[dict[str, Any]] = document["results"]
        return found

    def status(self) -> list[dict[str, Any]]:
        """The current status of every monitor."""
        document = self._send(Call("GET", f"{API}/status"))
        found: list[dict[str, Any]] = document["status"]
        return found

    def engine(self) -> list[dict[str, Any]]:
        """Each shard's figures: monitors, checks done and per second, lateness."""
        document = self._send(Call("GET", f"{API}/engine"))
        found: list[dict[str, Any]] = document["shards"]
        return found

    def events(
        self, after: str | None = None, monitor: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Events oldest first, after the event id ``after``."""
        document = self._send(_events_call(after, monitor, limit))
        found: list[dict[str, Any]] = document["events"]
        return found

    def uptime_report(
        self,
        period: str = "day",
        *,
        by: str = "monitor",
        since: Moment | None = None,
        until: Moment | None = None,
        monitors: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Uptime per ``period`` (day, week, month; UTC) and monitor or tag."""
        call = _uptime_call(period, by, since, until, monitors, tags)
        found: list[dict[str, Any]] = self._send(call)["rows"]
        return found

    def summary(
        self,
        *,
        since: Moment | None = None,
        until: Moment | None = None,
        monitors: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Each monitor's uptime and latency percentiles over a span (24 h)."""
        call = _summary_call(since, until, monitors)
        found: list[dict[str, Any]] = self._send(call)["monitors"]
        return found

    def apply(
        self,
        definitions: Sequence[Mapping[str, Any]],
        *,
        progress: Progress | None = None,
    ) -> ApplyReport:
        """Make the gateway hold these definitions, one part at a time.

        The same contract as ``AsyncClient.apply``, one request in flight.
        """
        report = ApplyReport()
        total = len(definitions)
        if progress is not None:
            progress(0, total)
        done = 0
        for start, part in _apply_chunks(definitions):
            try:
                _applied(report, self._send(_apply_call(part)))
            except InvalidMonitor as exc:
                raise _shifted(exc, start) from None
            done += len(part)
            if progress is not None:
                progress(done, total)
        return report

    def subscribe(self, monitors: Sequence[str] | None = None) -> ThreadedSubscription:
        """Live updates: ``with client.subscribe() as updates: for u in updates``.

        The updates are received on a background thread with its own event
        loop, so blocking code needs no extra dependencies to follow them.
        """
        return ThreadedSubscription(self.base_url, monitors, timeout=self._timeout)

    def close(self) -> None:
        """Close the connections to the gateway."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
