"""Python clients for the Upcast gateway: ``AsyncClient`` and blocking ``Client``.

Both speak the REST API under ``/api/v1`` with the same methods and errors.
The requests are built once, as ``Call`` values, by the groups of methods
each client is made of (``sdk.monitors``, ``sdk.alerting``,
``sdk.accounts``...); the reading of answers, retries and the renewal of a
session are written once, here, as plain functions. Each client only adds
its way of sending.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from engine.model import slugify
from sdk.accounts import Accounts, AsyncAccounts
from sdk.alerting import Alerting, AsyncAlerting
from sdk.analytics import Analytics, AsyncAnalytics
from sdk.calls import API, MAX_PAGE, Call, checked_page_size
from sdk.credentials import Credentials
from sdk.engine import AsyncEngine, Engine
from sdk.errors import (
    ConnectionFailed,
    InvalidMonitor,
    ServerError,
    Unauthorized,
    UpcastError,
    ValidationFailed,
    error_for,
)
from sdk.gateway import AsyncGateway, Gateway
from sdk.live import Subscription, ThreadedSubscription
from sdk.monitors import AsyncMonitors, Monitors
from sdk.reports import AsyncReports, Reports

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
"""Methods a request can be sent again with, when its answer was lost."""

RETRIED_STATUSES = frozenset({502, 503, 504})
MAX_BACKOFF = 10.0
MAX_RATE_WAIT = 60.0
"""The longest a client waits on ``Retry-After`` before trying again."""

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while ``apply`` works through a list."""


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

    @property
    def total(self) -> int:
        """How many monitors the apply named."""
        return len(self.created) + len(self.updated) + len(self.unchanged)

    def extend(self, other: ApplyReport) -> None:
        """Add what a later ``apply`` did, as if both were one."""
        self.created.extend(other.created)
        self.updated.extend(other.updated)
        self.unchanged.extend(other.unchanged)


def _read(response: httpx.Response, call: Call) -> Any:
    """The decoded answer, or the SDK error its status stands for."""
    if response.is_success:
        if response.status_code == 204 or not response.content:
            return None
        if call.answer == "text":
            return response.text
        try:
            return response.json()
        except ValueError as exc:
            raise ServerError(
                "the gateway answered with something other than JSON",
                status=response.status_code,
            ) from exc

    message, fields = _error_details(response)
    raise error_for(
        response.status_code,
        message,
        fields,
        retry_after=_retry_after(response),
        invalid=InvalidMonitor if _carries_monitors(call) else ValidationFailed,
    )


def _carries_monitors(call: Call) -> bool:
    """Whether a refusal of ``call`` is about monitor definitions."""
    return call.path == f"{API}/apply" or call.path.startswith(f"{API}/monitors")


def retry_delay(
    call: Call, attempt: int, response: httpx.Response | None, retries: int
) -> float | None:
    """How long to wait before sending ``call`` again, or None not to.

    ``response`` is None when the gateway could not be reached. A request
    refused for its rate (429) was not carried out, so any request goes
    again, after ``Retry-After``. Lost answers and a gateway that is not
    ready are retried for idempotent methods only, backing off from 0.25 s
    with jitter: a POST whose answer was lost may have been carried out.
    """
    if attempt >= retries:
        return None
    if response is not None and response.status_code == 429:
        return min(_retry_after(response), MAX_RATE_WAIT)
    idempotent = call.method in IDEMPOTENT
    if not idempotent:
        return None
    if response is not None and response.status_code not in RETRIED_STATUSES:
        return None
    backoff: float = min(MAX_BACKOFF, 0.25 * 2.0**attempt)
    return backoff * (0.5 + random.random() / 2)


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


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
            f"{len(duplicates)} monitor ids are used more than once",
            duplicates,
            status=None,
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


def _file_apply_call(text: str) -> Call:
    """An apply of a YAML monitor file's text, sent as it is."""
    return Call("POST", f"{API}/apply", text=text, text_type="application/yaml")


def _headers_and_content(
    credentials: Credentials, call: Call
) -> tuple[dict[str, str], bytes | None]:
    """The headers a call is sent with, and its body when it goes as text."""
    headers = credentials.headers() if call.authenticated else {}
    if call.text is None:
        return headers, None
    return {**headers, "Content-Type": call.text_type}, call.text.encode()


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


class AsyncClient(
    AsyncMonitors,
    AsyncReports,
    AsyncEngine,
    AsyncAlerting,
    AsyncAnalytics,
    AsyncAccounts,
    AsyncGateway,
):
    """The Upcast API for asyncio code.

    ``base_url`` is the gateway's address, e.g. ``http://127.0.0.1:8080``;
    ``api_key`` authenticates every request (default: ``$UPCAST_API_KEY``),
    or ``login`` signs in with a name and password. ``timeout`` bounds each
    request in seconds; ``retries`` is how many times a request goes again
    (see ``retry_delay``); ``page_size`` is how many items each request asks
    for while a whole list is read. Use ``async with`` or call ``close``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        page_size: int = MAX_PAGE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._retries = retries
        self._page_size = checked_page_size(page_size)
        self._credentials = Credentials.given(api_key)
        self._renewing = asyncio.Lock()
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def _request(self, call: Call) -> httpx.Response:
        """Send ``call``, again while ``retry_delay`` says it may help."""
        attempt = 0
        while True:
            try:
                response: httpx.Response | None = await self._send_once(call)
            except ConnectionFailed:
                response = None
                delay = retry_delay(call, attempt, None, self._retries)
                if delay is None:
                    raise
            else:
                delay = retry_delay(call, attempt, response, self._retries)
                if delay is None:
                    assert response is not None
                    return response
            logger.debug("%s %s again in %.2fs", call.method, call.path, delay)
            await asyncio.sleep(delay)
            attempt += 1

    async def _send_once(self, call: Call) -> httpx.Response:
        headers, content = _headers_and_content(self._credentials, call)
        try:
            return await self._http.request(
                call.method,
                call.path,
                params=call.params,
                json=call.body,
                content=content,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise _transport_error(self.base_url, exc) from exc

    async def _send(self, call: Call) -> Any:
        sent_with = self._credentials.bearer()
        response = await self._request(call)
        if response.status_code == 401 and self._credentials.renewable(call):
            async with self._renewing:
                renewal = self._credentials.renewal(sent_with)
                if renewal is not None:
                    await self._renew(renewal)
            response = await self._request(call)
        return _read(response, call)

    async def _renew(self, renewal: Call) -> None:
        try:
            document = _read(await self._request(renewal), renewal)
        except Unauthorized:
            self._credentials.signed_out()
            raise
        self._credentials.signed_in(document)
        logger.debug("renewed the session's tokens")

    async def apply(
        self,
        definitions: Sequence[Mapping[str, Any]] | str,
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

        ``definitions`` may also be the text of a YAML monitor file (as
        ``export_monitors`` gives): it goes in one request, all or nothing,
        up to 10,000 monitors, and problems name their place in the file
        (``monitors[i].field``, or the line of text that is not YAML).
        """
        if isinstance(definitions, str):
            report = ApplyReport()
            _applied(report, await self._send(_file_apply_call(definitions)))
            if progress is not None:
                progress(report.total, report.total)
            return report
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

    def subscribe(
        self,
        monitors: Sequence[str] | None = None,
        *,
        tags: Sequence[str] | None = None,
        teams: Sequence[str] | None = None,
    ) -> Subscription:
        """Live updates: ``async with client.subscribe() as updates``.

        Each update is ``{"type": "result" | "event", "data": {...}}``;
        ``monitors``, ``tags`` and ``teams`` limit them to those monitors.
        """
        return Subscription(
            self.base_url,
            monitors,
            timeout=self._timeout,
            token=self._credentials.bearer(),
            tags=tags,
            teams=teams,
        )

    async def close(self) -> None:
        """Close the connections to the gateway."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class Client(Monitors, Reports, Engine, Alerting, Analytics, Accounts, Gateway):
    """The Upcast API for blocking code; the same methods as ``AsyncClient``.

    A client may be shared by threads: renewing a session's tokens is done
    by one of them at a time.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        page_size: int = MAX_PAGE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._retries = retries
        self._page_size = checked_page_size(page_size)
        self._credentials = Credentials.given(api_key)
        self._renewing = threading.Lock()
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def _request(self, call: Call) -> httpx.Response:
        """Send ``call``, again while ``retry_delay`` says it may help."""
        attempt = 0
        while True:
            try:
                response: httpx.Response | None = self._send_once(call)
            except ConnectionFailed:
                response = None
                delay = retry_delay(call, attempt, None, self._retries)
                if delay is None:
                    raise
            else:
                delay = retry_delay(call, attempt, response, self._retries)
                if delay is None:
                    assert response is not None
                    return response
            logger.debug("%s %s again in %.2fs", call.method, call.path, delay)
            time.sleep(delay)
            attempt += 1

    def _send_once(self, call: Call) -> httpx.Response:
        headers, content = _headers_and_content(self._credentials, call)
        try:
            return self._http.request(
                call.method,
                call.path,
                params=call.params,
                json=call.body,
                content=content,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise _transport_error(self.base_url, exc) from exc

    def _send(self, call: Call) -> Any:
        sent_with = self._credentials.bearer()
        response = self._request(call)
        if response.status_code == 401 and self._credentials.renewable(call):
            with self._renewing:
                renewal = self._credentials.renewal(sent_with)
                if renewal is not None:
                    self._renew(renewal)
            response = self._request(call)
        return _read(response, call)

    def _renew(self, renewal: Call) -> None:
        try:
            document = _read(self._request(renewal), renewal)
        except Unauthorized:
            self._credentials.signed_out()
            raise
        self._credentials.signed_in(document)
        logger.debug("renewed the session's tokens")

    def apply(
        self,
        definitions: Sequence[Mapping[str, Any]] | str,
        *,
        progress: Progress | None = None,
    ) -> ApplyReport:
        """Make the gateway hold these definitions, one part at a time.

        The same contract as ``AsyncClient.apply``, one request in flight.
        """
        report = ApplyReport()
        if isinstance(definitions, str):
            _applied(report, self._send(_file_apply_call(definitions)))
            if progress is not None:
                progress(report.total, report.total)
            return report
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

    def subscribe(
        self,
        monitors: Sequence[str] | None = None,
        *,
        tags: Sequence[str] | None = None,
        teams: Sequence[str] | None = None,
    ) -> ThreadedSubscription:
        """Live updates: ``with client.subscribe() as updates: for u in updates``.

        The updates are received on a background thread with its own event
        loop, so blocking code needs no extra dependencies to follow them.
        """
        return ThreadedSubscription(
            self.base_url,
            monitors,
            timeout=self._timeout,
            token=self._credentials.bearer(),
            tags=tags,
            teams=teams,
        )

    def close(self) -> None:
        """Close the connections to the gateway."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
