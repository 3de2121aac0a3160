"""The report calls of both clients: uptime per period, and summaries of a span.

Reports come whole, every page followed; the ``iter_`` forms read them
page by page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence

from sdk.calls import (
    DEFAULT_PAGE,
    AsyncSender,
    Item,
    Listing,
    Moment,
    Sender,
    api_path,
    query,
)


def uptime_listing(
    period: str,
    by: str,
    since: Moment | None,
    until: Moment | None,
    monitors: Sequence[str] | None,
    tags: Sequence[str] | None,
    page_size: int,
) -> Listing:
    params = query(
        period=period, by=by, since=since, until=until, monitors=monitors, tags=tags
    )
    return Listing(api_path("reports", "uptime"), "rows", params, page_size=page_size)


def summary_listing(
    since: Moment | None,
    until: Moment | None,
    monitors: Sequence[str] | None,
    page_size: int,
) -> Listing:
    params = query(since=since, until=until, monitors=monitors)
    return Listing(
        api_path("reports", "summary"), "monitors", params, page_size=page_size
    )


class AsyncReports(AsyncSender):
    """Uptime and summary reports, for ``AsyncClient``."""

    async def uptime_report(
        self,
        period: str = "day",
        *,
        by: str = "monitor",
        since: Moment | None = None,
        until: Moment | None = None,
        monitors: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> list[Item]:
        """Uptime per ``period`` (day, week, month; UTC) and monitor or tag."""
        listing = uptime_listing(
            period, by, since, until, monitors, tags, self._page_size
        )
        return await self._every(listing)

    def iter_uptime_report(
        self,
        period: str = "day",
        *,
        by: str = "monitor",
        since: Moment | None = None,
        until: Moment | None = None,
        monitors: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE,
    ) -> AsyncIterator[Item]:
        listing = uptime_listing(period, by, since, until, monitors, tags, page_size)
        return self._items(listing)

    async def summary(
        self,
        *,
        since: Moment | None = None,
        until: Moment | None = None,
        monitors: Sequence[str] | None = None,
    ) -> list[Item]:
        """Each monitor's uptime and latency percentiles over a span (24 h)."""
        return await self._every(
            summary_listing(since, until, monitors, self._page_size)
        )

    def iter_summary(
        self,
        *,
        since: Moment | None = None,
        until: Moment | None = None,
        monitors: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE,
    ) -> AsyncIterator[Item]:
        return self._items(summary_listing(since, until, monitors, page_size))


class Reports(Sender):
    """The same calls as ``AsyncReports``, for the blocking ``Client``."""

    def uptime_report(
        self,
        period: str = "day",
        *,
        by: str = "monitor",
        since: Moment | None = None,
        until: Moment | None = None,
        monitors: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> list[Item]:
        listing = uptime_listing(
            period, by, since, until, monitors, tags, self._page_size
        )
        return self._every(listing)

    def iter_uptime_report(
        self,
        period: str = "day",
        *,
        by: str = "monitor",
        since: Moment | None = None,
        until: Moment | None = None,
        monitors: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE,
    ) -> Iterator[Item]:
        listing = uptime_listing(period, by, since, until, monitors, tags, page_size)
        return self._items(listing)

    def summary(
        self,
        *,
        since: Moment | None = None,
        until: Moment | None = None,
        monitors: Sequence[str] | None = None,
    ) -> list[Item]:
        return self._every(summary_listing(since, until, monitors, self._page_size))

    def iter_summary(
        self,
        *,
        since: Moment | None = None,
        until: Moment | None = None,
        monitors: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE,
    ) -> Iterator[Item]:
        return self._items(summary_listing(since, until, monitors, page_size))
