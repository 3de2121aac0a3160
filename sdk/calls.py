"""Requests as values, lists read page by page, and what both clients build on.

Every method of the SDK builds its request once, as a ``Call``; a list the
gateway answers in pages is a ``Listing``, which says how to ask for each
page and when to stop. ``AsyncSender`` and ``Sender`` follow the pages with
their client's own way of sending, so the groups of methods built on them
(monitors, alerting, accounts...) hold no logic of their own twice.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import quote

API: Final = "/api/v1"

MAX_PAGE: Final = 1000
"""The most items the gateway puts in one page."""

DEFAULT_PAGE: Final = 100
"""The items per page the iterators ask for unless told otherwise."""

Item = dict[str, Any]
Params = dict[str, str | int | float]

Moment = float | datetime.datetime
"""Unix seconds, or an aware datetime."""


@dataclass(frozen=True, slots=True)
class Call:
    """One API request, ready for either client to send.

    ``answer`` says what a successful answer holds: JSON (decoded), or text
    (the reference page and its style sheet, an export). ``authenticated`` is False
    for the calls that carry their own credentials in the body (signing in,
    renewing a session): the gateway refuses any call whose header holds
    an expired token, even those.
    """

    method: str
    path: str
    params: Mapping[str, str | int | float] | None = None
    body: Mapping[str, Any] | None = None
    answer: Literal["json", "text"] = "json"
    authenticated: bool = True
    text: str | None = None
    """A body sent as it is, as ``text_type``, instead of ``body`` as JSON."""
    text_type: str = "application/yaml"


def api_path(*parts: str) -> str:
    """The path under ``/api/v1`` of ``parts``, each quoted as one segment."""
    return "/".join([API, *(quote(part, safe="") for part in parts)])


def query(**values: Any) -> Params:
    """Query parameters from keyword arguments, as the gateway reads them.

    None leaves a parameter out; booleans are ``true`` or ``false``;
    sequences are joined by commas; datetimes become unix seconds.
    """
    params: Params = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            params[name] = "true" if value else "false"
        elif isinstance(value, datetime.datetime):
            params[name] = seconds(value)
        elif isinstance(value, str | int | float):
            params[name] = value
        else:
            params[name] = ",".join(str(part) for part in value)
    return params


def seconds(moment: Moment) -> float:
    """A moment as unix seconds; a datetime must carry its time zone."""
    if isinstance(moment, datetime.datetime):
        if moment.tzinfo is None:
            raise ValueError(f"a datetime needs a time zone, got {moment!r}")
        return moment.timestamp()
    return float(moment)


def checked_page_size(page_size: int) -> int:
    """``page_size``, if the gateway can answer pages of that many items."""
    if not 1 <= page_size <= MAX_PAGE:
        raise ValueError(
            f"page_size: must be between 1 and {MAX_PAGE}, got {page_size}"
        )
    return page_size


@dataclass(frozen=True, slots=True)
class Page:
    """The items of one page, and the call for the next one (None: no more)."""

    items: list[Item]
    following: Call | None


@dataclass(frozen=True, slots=True)
class Listing:
    """A list the gateway answers in pages, and how much of it is wanted.

    ``key`` names the items in each answer. ``limit`` is the most items
    wanted in all (None: every one); ``page_size`` is how many each request
    asks for, never more than are still wanted.
    """

    path: str
    key: str
    params: Mapping[str, str | int | float] = field(default_factory=dict)
    limit: int | None = None
    page_size: int = MAX_PAGE

    def __post_init__(self) -> None:
        checked_page_size(self.page_size)
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit: must not be negative, got {self.limit}")

    def first(self) -> Call | None:
        """The call for the first page, or None when nothing is wanted."""
        return None if self.limit == 0 else self._call(None, 0)

    def read(self, document: Any, taken: int) -> Page:
        """The page ``document`` holds, ``taken`` items having come before it.

        The list ends at a page without a ``next_cursor``, once ``limit``
        items have come, or at an empty page: what was left of the list
        was removed while it was read.
        """
        items: list[Item] = list(document[self.key])
        if self.limit is not None:
            items = items[: self.limit - taken]
        taken += len(items)
        cursor = document.get("next_cursor")
        wanted = self.limit is None or taken < self.limit
        more = isinstance(cursor, str) and bool(items) and wanted
        return Page(items, self._call(cursor, taken) if more else None)

    def _call(self, cursor: str | None, taken: int) -> Call:
        size = self.page_size
        if self.limit is not None:
            size = min(size, self.limit - taken)
        params: Params = {**self.params, "limit": size}
        if cursor is not None:
            params["cursor"] = cursor
        return Call("GET", self.path, params=params)


class AsyncSender:
    """Sending calls and following pages, for the groups of ``AsyncClient``.

    ``_page_size`` is how many items each request asks for when a whole
    list is read.
    """

    _send: Callable[[Call], Awaitable[Any]]
    _page_size: int

    async def _object(self, call: Call) -> Item:
        found: Item = await self._send(call)
        return found

    async def _pages(self, listing: Listing) -> AsyncIterator[list[Item]]:
        call, taken = listing.first(), 0
        while call is not None:
            page = listing.read(await self._send(call), taken)
            taken += len(page.items)
            if page.items:
                yield page.items
            call = page.following

    async def _items(self, listing: Listing) -> AsyncIterator[Item]:
        async for items in self._pages(listing):
            for item in items:
                yield item

    async def _every(self, listing: Listing) -> list[Item]:
        return [item async for items in self._pages(listing) for item in items]


class Sender:
    """Sending calls and following pages, for the groups of the blocking ``Client``."""

    _send: Callable[[Call], Any]
    _page_size: int

    def _object(self, call: Call) -> Item:
        found: Item = self._send(call)
        return found

    def _pages(self, listing: Listing) -> Iterator[list[Item]]:
        call, taken = listing.first(), 0
        while call is not None:
            page = listing.read(self._send(call), taken)
            taken += len(page.items)
            if page.items:
                yield page.items
            call = page.following

    def _items(self, listing: Listing) -> Iterator[Item]:
        for items in self._pages(listing):
            yield from items

    def _every(self, listing: Listing) -> list[Item]:
        return [item for items in self._pages(listing) for item in items]
