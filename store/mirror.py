"""The analytics copy: a primary store's rollups, events and monitors in MySQL.

Reports over months of a large fleet belong on their own database, so they
never slow the writes of the primary. ``Mirror`` copies what the primary's
feeds say changed since the last copy (hourly rollups, events, monitor
rows) into a MySQL store, with one multi-row statement per page, and
``verify`` compares the two hour by hour, names what differs and can repair
it. Minute rollups, results and state changes stay on the primary.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from engine.events import Event
from store.base import FeedPage, HourTotal, Store, check_span
from store.mysql import MysqlStore
from store.rollups import HOUR, Rollup

logger = logging.getLogger(__name__)

FEEDS = ("monitors", "rollups", "events")
"""What is copied, in the order each copy takes it."""

PAGE_ROWS = 5000
"""Rows read from a feed and written to MySQL in one statement."""

VERIFY_DAYS = 7.0
"""Days back ``verify`` compares when not told where to start."""

_LATENCY_TOLERANCE = 1e-9
"""How far sums of latencies may differ, relative, and still match.

Two databases add the same doubles in different orders, so a sum can
differ in its last bits while every row is identical.
"""


def source_name(url: str) -> str:
    """A primary's URL as a copy names it: without password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    # The schema names a PostgreSQL store as much as its database does.
    schema = parse_qs(parts.query).get("schema")
    name = urlunsplit((parts.scheme, host, parts.path, "", ""))
    return f"{name}?schema={schema[-1]}" if schema else name


@dataclass(frozen=True, slots=True)
class Difference:
    """One row that is not the same in the primary and the copy."""

    feed: str
    hour: float
    key: str
    problem: str
    """``missing`` from the copy, ``extra`` in it, or ``differs``."""
    detail: str = ""

    def describe(self) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(self.hour))
        what = "rollup of" if self.feed == "rollups" else "event"
        text = f"{stamp}: {what} {self.key} {self.problem}"
        if self.problem == "missing":
            text += " from the copy"
        elif self.problem == "extra":
            text += " in the copy"
        return f"{text} ({self.detail})" if self.detail else text


@dataclass(slots=True)
class Verification:
    """What ``verify`` compared and found."""

    since: float
    until: float
    hours: int = 0
    rows: int = 0
    """Rollups and events of the primary in the span."""
    differences: list[Difference] = field(default_factory=list)
    repaired: int = 0

    @property
    def consistent(self) -> bool:
        return not self.differences

    @property
    def matching_share(self) -> float:
        """The share of the primary's rows found the same in the copy, 0 to 1."""
        wrong = sum(1 for d in self.differences if d.problem != "extra")
        if self.rows == 0:
            return 0.0 if self.differences else 1.0
        return max(0.0, (self.rows - wrong) / self.rows)


class Mirror:
    """Copies a primary store's feeds into a MySQL store and checks the copy.

    ``source`` names the primary in the copy's table of positions (see
    ``source_name``), so one analytics database can hold copies of several
    primaries, each read on from where it stopped. Both stores are opened
    and closed by the caller.
    """

    def __init__(
        self,
        primary: Store,
        analytics: MysqlStore,
        *,
        source: str,
        page_rows: int = PAGE_ROWS,
    ) -> None:
        self.primary = primary
        self.analytics = analytics
        self.source = source
        self.page_rows = page_rows

    async def copy(self) -> dict[str, int]:
        """Copy everything the feeds hold past the saved positions.

        Returns the rows copied per feed. Each page is written, then its
        position saved: a copy cut off between the two reads that page
        again next time, and its rows replace themselves.
        """
        copied = {}
        for feed in FEEDS:
            copied[feed] = await self._copy_feed(feed)
        if any(copied.values()):
            logger.debug("copied %s from %s", copied, self.source)
        return copied

    async def _copy_feed(self, feed: str) -> int:
        read, write = self._feed(feed)
        position = await self.analytics.copy_position(self.source, feed)
        copied = 0
        while True:
            page = await read(position)
            if page.rows:
                await write(page.rows)
                copied += len(page.rows)
            if page.position != position:
                await self.analytics.set_copy_position(self.source, feed, page.position)
                position = page.position
            if len(page.rows) < self.page_rows:
                return copied

    def _feed(
        self, feed: str
    ) -> tuple[
        Callable[[int], Awaitable[FeedPage[Any]]],
        Callable[[list[Any]], Awaitable[None]],
    ]:
        primary, analytics, limit = self.primary, self.analytics, self.page_rows
        if feed == "monitors":
            return (
                lambda after: primary.monitor_feed(after=after, limit=limit),
                analytics.put_monitor_rows,
            )
        if feed == "rollups":
            return (
                lambda after: primary.rollup_feed(after=after, limit=limit),
                lambda rows: analytics.put_rollups("hour", rows),
            )
        return (
            lambda after: primary.event_feed(after=after, limit=limit),
            analytics.write_events,
        )

    async def verify(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        repair: bool = False,
    ) -> Verification:
        """Compare the copy with the primary over ``[since, until)``, hour by hour.

        1. Sum each hour's rollups on both sides (rows, checks, passed
           checks, latency) and count each hour's events.
        2. For every hour whose figures differ, compare its rows one by one
           and name each that is missing from the copy, extra in it or
           different.
        3. With ``repair``, write the primary's version of each such row
           into the copy and remove the extra ones.

        Hours still being written can differ until the next copy; run
        ``copy`` first for an answer about everything written so far.
        """
        now = time.time()
        start = now - VERIFY_DAYS * 86_400 if since is None else since
        end = now + HOUR if until is None else until
        start, end = check_span(start, end)
        found = Verification(start, end)

        primary_hours = {
            t.start: t for t in await self.primary.hourly_totals(since=start, until=end)
        }
        copied_hours = {
            t.start: t
            for t in await self.analytics.hourly_totals(since=start, until=end)
        }
        primary_events = {
            t.start: t.events
            for t in await self.primary.event_totals(since=start, until=end)
        }
        copied_events = {
            t.start: t.events
            for t in await self.analytics.event_totals(since=start, until=end)
        }
        found.hours = len(set(primary_hours) | set(primary_events))
        found.rows = sum(t.rollups for t in primary_hours.values()) + sum(
            primary_events.values()
        )

        for hour in sorted(set(primary_hours) | set(copied_hours)):
            ours, theirs = primary_hours.get(hour), copied_hours.get(hour)
            if ours is None or theirs is None or not _same_totals(ours, theirs):
                await self._compare_rollups(hour, found, repair)
        for hour in sorted(set(primary_events) | set(copied_events)):
            if primary_events.get(hour) != copied_events.get(hour):
                await self._compare_events(hour, found, repair)
        return found

    async def _compare_rollups(
        self, hour: float, found: Verification, repair: bool
    ) -> None:
        ours = {r.monitor_id: r async for r in self._hour(self.primary, hour)}
        theirs = {r.monitor_id: r async for r in self._hour(self.analytics, hour)}
        fixes: list[Rollup] = []
        for monitor_id in sorted(set(ours) | set(theirs)):
            mine, copied = ours.get(monitor_id), theirs.get(monitor_id)
            if mine is None:
                found.differences.append(
                    Difference("rollups", hour, monitor_id, "extra")
                )
            elif copied is None:
                found.differences.append(
                    Difference("rollups", hour, monitor_id, "missing")
                )
                fixes.append(mine)
            elif (detail := _rollup_difference(mine, copied)) is not None:
                found.differences.append(
                    Difference("rollups", hour, monitor_id, "differs", detail)
                )
                fixes.append(mine)
        if not repair:
            return
        if fixes:
            await self.analytics.put_rollups("hour", fixes)
        surplus = [(key, hour) for key in theirs if key not in ours]
        if surplus:
            await self.analytics.delete_rollups("hour", surplus)
        found.repaired += len(fixes) + len(surplus)

    async def _compare_events(
        self, hour: float, found: Verification, repair: bool
    ) -> None:
        ours = {e.id: e async for e in self._events(self.primary, hour)}
        theirs = {e.id async for e in self._events(self.analytics, hour)}
        missing = [ours[key] for key in sorted(ours) if key not in theirs]
        surplus = sorted(theirs - set(ours))
        for event in missing:
            found.differences.append(Difference("events", hour, event.id, "missing"))
        for key in surplus:
            found.differences.append(Difference("events", hour, key, "extra"))
        if not repair:
            return
        if missing:
            await self.analytics.write_events(missing)
        if surplus:
            await self.analytics.delete_events(surplus)
        found.repaired += len(missing) + len(surplus)

    async def _hour(self, store: Store, hour: float) -> AsyncIterator[Rollup]:
        after: str | None = None
        while True:
            page = await store.hour_rollups(hour, after=after, limit=self.page_rows)
            for rollup in page:
                yield rollup
            if len(page) < self.page_rows:
                return
            after = page[-1].monitor_id

    async def _events(self, store: Store, hour: float) -> AsyncIterator[Event]:
        after: str | None = None
        while True:
            page = await store.events_between(
                since=hour, until=hour + HOUR, after=after, limit=self.page_rows
            )
            for event in page:
                yield event
            if len(page) < self.page_rows:
                return
            after = page[-1].id


def _same_totals(ours: HourTotal, theirs: HourTotal) -> bool:
    return (ours.rollups, ours.checks, ours.ok) == (
        theirs.rollups,
        theirs.checks,
        theirs.ok,
    ) and _close(ours.latency_sum, theirs.latency_sum)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=_LATENCY_TOLERANCE, abs_tol=1e-9)


def _rollup_difference(mine: Rollup, copied: Rollup) -> str | None:
    """What differs between two rollups of one monitor and hour, or None."""
    changed = [
        f"{name} {getattr(mine, name)} in the primary, {getattr(copied, name)} here"
        for name in ("count", "ok")
        if getattr(mine, name) != getattr(copied, name)
    ]
    for name in ("latency_min", "latency_max", "latency_sum"):
        if not _close(getattr(mine, name), getattr(copied, name)):
            changed.append(
                f"{name} {getattr(mine, name)} in the primary, "
                f"{getattr(copied, name)} here"
            )
    if list(mine.histogram) != list(copied.histogram):
        changed.append("latency histogram")
    return "; ".join(changed) or None
