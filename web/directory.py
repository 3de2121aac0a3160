"""The gateway's own copy of every monitor and its status, for lists.

Listing monitors through the actors costs a scan of the catalogue and a
call to every shard, far too much for a dashboard polling a fleet of
100,000. ``MonitorDirectory`` keeps, in the gateway, each monitor's
definition (secrets already redacted) and its latest status, in id order
and in name order, so a page costs a binary search and ``limit`` look-ups.

How it stays current:

1. At start it loads every monitor with its status from the platform.
2. It then takes every update of the gateway's live feed (``observe``,
   called by ``web.live.LiveHub``, which reads the feed once for both):
   each result updates its monitor's status; each event about a monitor
   (created, updated, paused, resumed, deleted) has that monitor read
   again; an apply too large to name its monitors has everything read
   again. Everything is read again every ``FULL_RELOAD_EVERY`` seconds too,
   in case updates were lost while the feed was away.
3. What this gateway changes itself is put in at once, so a client that
   creates a monitor sees it in the next list it asks this gateway for.
4. What alerting adds to a status (maintenance, the open incident, the
   monitor causing it) is read every ``overlay_every`` seconds.

Another gateway's changes arrive through the feed within about a second;
a large apply through another gateway shows once its parts pause, up to
``MIN_RELOAD_GAP`` seconds later.
Until the first load is done, lists are read from the platform itself.

For the overview (``overview``), the directory also keeps each monitor's
last ``RECENT_CHECKS`` check results as one letter each (``RECENT_LETTERS``),
taken from the results it observes: they are not read from the store, so
after a gateway starts they begin empty and fill as results arrive.

It also knows how far into the live feed its copy goes (``offset``): the
offset of the last update it took, so that a client reading a snapshot can
follow live updates from exactly there. The offset holds back to the update
before the first one not yet put in (a monitor changed by another gateway,
read again a moment later), and a full reload puts in again what the feed
told while the platform was being read. It is None when unknown: before
the first load, and with gateways sharing live updates through Redis until
a load begins after the first update came (one is asked for then), since
updates logged before this gateway followed the log never reach it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import gc
import logging
import math
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import orjson

from actors.coordinator import APPLY_EVENT_NAMES
from actors.platform import MonitorNotFound, Platform
from engine.events import (
    MONITOR_CREATED,
    MONITOR_DELETED,
    MONITOR_PAUSED,
    MONITOR_RESUMED,
    MONITOR_UPDATED,
    MONITORS_APPLIED,
    STATE_CHANGED,
)
from engine.result import MonitorState
from web.redact import redact_monitor

logger = logging.getLogger(__name__)

CHANGED_EVENTS: Final = frozenset(
    {MONITOR_CREATED, MONITOR_UPDATED, MONITOR_PAUSED, MONITOR_RESUMED}
)
RELOAD_PAUSE: Final = 2.0
"""Seconds a full reload waits for changes to pause before it runs."""
MIN_RELOAD_GAP: Final = 10.0
"""The fewest seconds between two full reloads."""

FOLLOW_RETRY: Final = (0.5, 1.0, 2.0, 5.0)
FULL_RELOAD_EVERY: Final = 600.0
OWN_APPLIES_KEPT: Final = 100
"""Applies of this gateway remembered until their events come."""
APPLY_ANSWER_GRACE: Final = 5.0
"""Seconds an apply's event waits for this gateway to say the apply was its."""
RESORT_FROM: Final = 200
"""Monitors put at once from which sorting everything beats inserting each."""
SORT_SNAPSHOT_SECONDS: Final = 1.0
"""How long a computed order (by state, latency...) is reused."""

SORTS: Final = (
    "id",
    "name",
    "state",
    "kind",
    "last_check_at",
    "last_latency_ms",
)
"""The orders lists can be read in; each ends with the id, so it is total."""

_MAINTENANCE: Final = str(MonitorState.MAINTENANCE)
_PAUSED: Final = str(MonitorState.PAUSED)

RECENT_CHECKS: Final = 30
"""Check results kept per monitor for the overview, one letter each."""

RECENT_LETTERS: Final = MappingProxyType(
    {
        str(MonitorState.UP): "u",
        str(MonitorState.DOWN): "d",
        str(MonitorState.DEGRADED): "g",
        str(MonitorState.PENDING): "p",
        str(MonitorState.MAINTENANCE): "m",
    }
)
"""The letter of a check result, by the state it left its monitor in."""

OTHER_LETTER: Final = "?"
"""The letter of a result whose state has no letter of its own."""

OVERVIEW_FIELDS: Final = (
    "id",
    "name",
    "type",
    "state",
    "tags",
    "latency_ms",
    "checked_at",
    "reason",
    "recent",
)
"""What each row of ``overview`` holds, in order."""

REPLAY_KEPT: Final = 200_000
"""Updates a full reload keeps to put in again after it; beyond that, the
reload leaves the offset where it was when it began."""


@dataclass(frozen=True, slots=True)
class MonitorQuery:
    """Which monitors, in which order, from where."""

    tag: str | None = None
    kind: str | None = None
    state: str | None = None
    enabled: bool | None = None
    search: str | None = None
    sort: str = "id"
    descending: bool = False
    after: tuple[Any, ...] | None = None
    """The sort key of the last item of the page before."""
    limit: int = 100


class MonitorDirectory:
    """Every monitor and its status, kept current in the gateway's memory."""

    def __init__(
        self,
        platform: Platform,
        *,
        overlay_every: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._platform = platform
        self._overlay_every = overlay_every
        self._clock = clock
        self._monitors: dict[str, dict[str, Any]] = {}
        self._statuses: dict[str, dict[str, Any]] = {}
        # Each monitor as JSON, without the closing brace: pages are joined
        # from these rather than encoded whole for every request.
        self._definition_json: dict[str, bytes] = {}
        self._head_json: dict[str, bytes] = {}
        self._status_json: dict[str, bytes] = {}
        # Each monitor's overview row as JSON, with the state it shows.
        self._row_json: dict[str, tuple[str, bytes]] = {}
        self._overlay: dict[str, dict[str, Any]] = {}
        self._by_id: list[tuple[str]] = []
        self._by_name: list[tuple[str, str]] = []
        self._snapshots: dict[str, tuple[float, list[tuple[Any, ...]]]] = {}
        self._stale: set[str] = set()
        self._reload_wanted = False
        self._own_applies: list[tuple[Any, ...]] = []
        self._foreign_applies: list[tuple[Any, ...]] = []
        self._last_change = -math.inf
        self._last_reload = -math.inf
        self._wake = asyncio.Event()
        self.loaded = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

        self._recent: dict[str, str] = {}
        self.version = 0
        """Counts changes: whatever is made from the directory is good as
        long as this has not moved."""
        # How far into the live feed the copy goes; see the module docstring.
        self._offset: int | None = None
        self._based = False
        self._behind = False
        self._behind_after: int | None = None
        self._reading = False
        self._replay: list[tuple[str, Mapping[str, Any]]] | None = None
        self._replay_overflowed = False

    # Running.

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._run(), name="upcast-directory"),
            loop.create_task(self._refresh_overlay(), name="upcast-directory-overlay"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            await self._load()
            group.create_task(self._catch_up())
            group.create_task(self._reload_now_and_then())

    async def _load(self) -> None:
        failures = 0
        while True:
            try:
                await self._replace_from_platform()
                break
            except Exception:
                delay = FOLLOW_RETRY[min(failures, len(FOLLOW_RETRY) - 1)]
                failures += 1
                logger.warning("loading the monitor directory failed", exc_info=True)
                await asyncio.sleep(delay)
        self.loaded.set()
        logger.info("the monitor directory holds %d monitors", len(self._monitors))

    async def _reload_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(FULL_RELOAD_EVERY)
            self._ask_reload()

    async def _catch_up(self) -> None:
        """Read again the monitors that events named, or everything."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._reading = True
            try:
                if self._reload_wanted:
                    await self._reload_when_quiet()
                    continue
                stale, self._stale = self._stale, set()
                for monitor_id in stale:
                    await self._read_again(monitor_id)
            except Exception:
                logger.exception("bringing the monitor directory up to date failed")
                self._ask_reload()
                await asyncio.sleep(RELOAD_PAUSE)
            finally:
                self._reading = False
                self._settle_if_caught_up()

    async def _reload_when_quiet(self) -> None:
        """Read everything again, once changes have paused, at most so often.

        A large apply comes as one event per part; reading 100,000 monitors
        after each part would cost more than the apply itself.
        """
        while True:
            quiet = self._clock() - self._last_change
            since_reload = self._clock() - self._last_reload
            wait = max(RELOAD_PAUSE - quiet, MIN_RELOAD_GAP - since_reload)
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        self._reload_wanted = False
        self._stale.clear()
        self._last_reload = self._clock()
        await self._replace_from_platform()

    async def _replace_from_platform(self) -> None:
        """Replace everything by what the platform lists now.

        The platform reads each monitor at its own moment while the feed
        goes on, so what the feed tells meanwhile (results, state changes,
        deletions) is kept and put in again once the listing is in: the copy
        then goes as far into the feed as the directory has taken. A listing
        begun before any offset was known cannot say where it stands in the
        feed; one is asked for again once an offset is known.
        """
        based = self._offset is not None
        self._replay, self._replay_overflowed = [], False
        try:
            monitors = await self._platform.list_monitors()
        finally:
            replay, self._replay = self._replay, None
        self._replace_all(monitors)
        for kind, data in replay:
            self._take(kind, data, again=True)
        if self._replay_overflowed:
            logger.warning(
                "more than %d live updates came while every monitor was read; "
                "overviews carry no offset until the next reload",
                REPLAY_KEPT,
            )
        self._based = based and not self._replay_overflowed
        if not based and self._offset is not None:
            self._ask_reload()

    async def _read_again(self, monitor_id: str) -> None:
        try:
            monitor = await self._platform.get_monitor(monitor_id)
        except MonitorNotFound:
            self.remove(monitor_id)
            return
        self.put(monitor)

    async def _refresh_overlay(self) -> None:
        while True:
            try:
                overlay = await self._platform.alerting_overlay()
                if overlay != self._overlay:
                    self._overlay = overlay
                    self.version += 1
            except Exception:
                logger.warning(
                    "reading alerting's view of states failed", exc_info=True
                )
            await asyncio.sleep(self._overlay_every)

    def _reload_if_foreign(self, told: tuple[Any, ...]) -> None:
        if told in self._foreign_applies:
            self._foreign_applies.remove(told)
            self._ask_reload()

    def _ask_reload(self) -> None:
        self._reload_wanted = True
        self._last_change = self._clock()
        self._wake.set()

    def _fall_behind(self) -> None:
        """Hold the offset where it is: an update was taken but not put in yet."""
        if not self._behind:
            self._behind = True
            self._behind_after = self._offset

    def _settle_if_caught_up(self) -> None:
        """Let the offset move on again once nothing told is waiting."""
        waiting = (
            self._stale or self._reload_wanted or self._foreign_applies or self._reading
        )
        if self._behind and not waiting:
            self._behind = False
            self._behind_after = None
            self.version += 1

    # Changes.

    def follow_feed_from(self, offset: int | None) -> None:
        """Say, before starting, after which offset the live feed's updates
        will come, when that is known; see the module docstring."""
        if offset is not None:
            self._offset = offset

    def observe(self, item: Mapping[str, Any]) -> None:
        """Take one update of the live feed."""
        kind, data = item.get("type"), item.get("data")
        if not isinstance(data, Mapping) or not isinstance(kind, str):
            return
        offset = data.get("offset")
        if not isinstance(offset, int) or isinstance(offset, bool):
            offset = None
        if offset is not None and self._offset is None:
            # Updates follow each other by one.
            self._offset = offset - 1
            if self.loaded.is_set() and not self._based:
                self._ask_reload()
        self._take(kind, data, again=False)
        if self._replay is not None:
            if len(self._replay) < REPLAY_KEPT:
                self._replay.append((kind, data))
            else:
                self._replay_overflowed = True
        if offset is not None:
            self._offset = offset
        self.version += 1

    def _take(self, kind: str, data: Mapping[str, Any], *, again: bool) -> None:
        """Put in one update; ``again`` when a reload puts it in a second time,
        which only results, state changes and deletions need."""
        if kind == "result":
            self._take_result(data, again=again)
        elif not again or data.get("type") in (STATE_CHANGED, MONITOR_DELETED):
            self._take_event(data)

    def _take_result(self, result: Mapping[str, Any], *, again: bool) -> None:
        monitor_id = str(result.get("monitor_id"))
        status = self._statuses.get(monitor_id)
        monitor = self._monitors.get(monitor_id)
        # A check running when its monitor was paused reports afterwards;
        # the monitor stays PAUSED.
        if status is None or monitor is None or not monitor.get("enabled", True):
            return
        if not again:
            letter = RECENT_LETTERS.get(str(result.get("state")), OTHER_LETTER)
            recent = self._recent.get(monitor_id, "") + letter
            self._recent[monitor_id] = recent[-RECENT_CHECKS:]
        status["state"] = result.get("state", status.get("state"))
        status["last_check_at"] = result.get("started_at")
        status["last_ok"] = result.get("ok")
        status["last_latency_ms"] = result.get("latency_ms")
        status["last_reason"] = result.get("reason")
        status["last_message"] = result.get("message", "")
        self._status_json.pop(monitor_id, None)
        self._row_json.pop(monitor_id, None)

    def applied_here(self, outcomes: Iterable[Sequence[str]]) -> None:
        """Note an apply this gateway made and put in already.

        Its event, when it comes, is then known for what it is, and does not
        have everything read again.
        """
        signature = _apply_signature(outcomes)
        if signature in self._foreign_applies:
            # Its event came first.
            self._foreign_applies.remove(signature)
            self._settle_if_caught_up()
            return
        self._own_applies.append(signature)
        del self._own_applies[:-OWN_APPLIES_KEPT]

    def _take_event(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        monitor_id = event.get("monitor_id")
        if kind == MONITORS_APPLIED:
            told = _told_signature(event.get("data") or {})
            if told in self._own_applies:
                self._own_applies.remove(told)
            else:
                # Perhaps this gateway's own, whose answer is still on its way.
                self._fall_behind()
                self._foreign_applies.append(told)
                asyncio.get_running_loop().call_later(
                    APPLY_ANSWER_GRACE, self._reload_if_foreign, told
                )
        elif kind == MONITOR_DELETED and isinstance(monitor_id, str):
            self.remove(monitor_id)
        elif kind in CHANGED_EVENTS and isinstance(monitor_id, str):
            self._fall_behind()
            self._stale.add(monitor_id)
            self._wake.set()
        elif kind == STATE_CHANGED and isinstance(monitor_id, str):
            status = self._statuses.get(monitor_id)
            after = (event.get("data") or {}).get("after")
            if status is not None and isinstance(after, str):
                status["state"] = after
                self._status_json.pop(monitor_id, None)
                self._row_json.pop(monitor_id, None)

    def put_many(self, monitors: Iterable[Mapping[str, Any]]) -> None:
        """``put`` each monitor; many at once re-sort the orders once instead."""
        listed = list(monitors)
        self.version += 1
        if len(listed) < RESORT_FROM:
            for monitor in listed:
                self.put(monitor)
            return
        for monitor in listed:
            self._keep(monitor)
        self._sort()

    def put(self, monitor: Mapping[str, Any]) -> None:
        """Keep (or replace) one monitor as the platform shows it, with status."""
        monitor_id = str(monitor["id"])
        old = self._monitors.get(monitor_id)
        shown = self._keep(monitor)
        self.version += 1
        if old is None:
            bisect.insort(self._by_id, (monitor_id,))
        elif old["name"] != shown["name"]:
            self._by_name.remove((old["name"].casefold(), monitor_id))
        if old is None or old["name"] != shown["name"]:
            bisect.insort(self._by_name, (shown["name"].casefold(), monitor_id))
        self._snapshots.clear()

    def _keep(self, monitor: Mapping[str, Any]) -> dict[str, Any]:
        """Hold one monitor, redacted, with its status and its JSON."""
        shown = redact_monitor(monitor)
        status = shown.pop("status", None)
        monitor_id = str(shown["id"])
        self._monitors[monitor_id] = shown
        self._statuses[monitor_id] = _status_after_change(
            shown, status, self._statuses.get(monitor_id)
        )
        self._encode(monitor_id, shown)
        return shown

    def remove(self, monitor_id: str) -> None:
        old = self._monitors.pop(monitor_id, None)
        if old is None:
            return
        self.version += 1
        self._statuses.pop(monitor_id, None)
        self._recent.pop(monitor_id, None)
        self._definition_json.pop(monitor_id, None)
        self._head_json.pop(monitor_id, None)
        self._status_json.pop(monitor_id, None)
        self._row_json.pop(monitor_id, None)
        self._by_id.pop(bisect.bisect_left(self._by_id, (monitor_id,)))
        self._by_name.remove((old["name"].casefold(), monitor_id))
        self._snapshots.clear()

    def _replace_all(self, monitors: Iterable[Mapping[str, Any]]) -> None:
        self._monitors.clear()
        self._statuses.clear()
        self._definition_json.clear()
        self._head_json.clear()
        self._status_json.clear()
        self._row_json.clear()
        for monitor in monitors:
            self._keep(monitor)
        self._recent = {
            monitor_id: recent
            for monitor_id, recent in self._recent.items()
            if monitor_id in self._monitors
        }
        self.version += 1
        self._sort()
        # Hundreds of thousands of objects that live as long as the process:
        # frozen, the collector's full passes skip them instead of pausing
        # every request for a tenth of a second each time.
        gc.collect()
        gc.freeze()

    def _sort(self) -> None:
        self._by_id = sorted((monitor_id,) for monitor_id in self._monitors)
        self._by_name = sorted(
            (monitor["name"].casefold(), monitor_id)
            for monitor_id, monitor in self._monitors.items()
        )
        self._snapshots.clear()

    # Reading.

    def __len__(self) -> int:
        return len(self._monitors)

    def tags_of(self, monitor_id: str) -> tuple[str, ...] | None:
        """A monitor's tags, None when it is not known (or not loaded yet)."""
        monitor = self._monitors.get(monitor_id)
        return None if monitor is None else tuple(monitor["tags"])

    def status_of(self, monitor_id: str) -> Mapping[str, Any]:
        """A monitor's status with alerting's additions, not to be changed.

        Most monitors have no additions; theirs is the kept status itself,
        so a page of them copies nothing.
        """
        status = self._statuses.get(monitor_id) or {}
        extra = self._overlay.get(monitor_id)
        if not extra:
            return status
        shown = dict(status)
        if "maintenance" in extra:
            shown["checked_state"] = shown.get("state")
            shown["state"] = _MAINTENANCE
        shown.update(extra)
        return shown

    @property
    def offset(self) -> int | None:
        """The offset of the last live update the directory holds, if known.

        Every update up to it is in, so a client given what the directory
        holds follows live updates from the next one. While the offset is
        held back some later updates are in too, and such a client gets
        them again. None before the first load and whenever it is not known
        (see the module docstring).
        """
        if not self._based or not self.loaded.is_set():
            return None
        return self._behind_after if self._behind else self._offset

    def overview(
        self,
        *,
        tags: Collection[str] = (),
        state: str | None = None,
        search: str | None = None,
    ) -> tuple[list[bytes], dict[str, int]]:
        """Every monitor as a row of ``OVERVIEW_FIELDS`` (a JSON array), and
        how many are in each state.

        Rows come in name order (case left aside), then id order. ``tags``
        keeps the monitors with any of them, ``state`` those in it, and
        ``search`` those whose name holds it; the counts are of the rows
        kept. A paused monitor shows ``paused`` whatever its last check
        said. Each row is kept encoded until its monitor changes, so the
        whole fleet costs about a look-up per monitor.
        """
        wanted_tags = frozenset(tags)
        folded = search.casefold() if search else None
        monitors, overlay, kept = self._monitors, self._overlay, self._row_json
        rows: list[bytes] = []
        counts: dict[str, int] = {}
        for name, monitor_id in self._by_name:
            if folded is not None and folded not in name:
                continue
            if wanted_tags and wanted_tags.isdisjoint(monitors[monitor_id]["tags"]):
                continue
            entry = None if monitor_id in overlay else kept.get(monitor_id)
            if entry is None:
                entry = self._row_entry(monitor_id)
            shown, row = entry
            if state is not None and shown != state:
                continue
            counts[shown] = counts.get(shown, 0) + 1
            rows.append(row)
        return rows, counts

    def _row_entry(self, monitor_id: str) -> tuple[str, bytes]:
        """A monitor's overview row, kept unless alerting adds to its status."""
        monitor = self._monitors[monitor_id]
        status = self.status_of(monitor_id)
        shown = overview_state(monitor, status)
        row = orjson.dumps(
            overview_row(monitor, shown, status, self._recent.get(monitor_id))
        )
        if monitor_id not in self._overlay:
            self._row_json[monitor_id] = (shown, row)
        return shown, row

    def monitor(self, monitor_id: str) -> dict[str, Any]:
        return {**self._monitors[monitor_id], "status": self.status_of(monitor_id)}

    def status_json(self, monitor_id: str) -> bytes:
        """``status_of`` as JSON, kept until the status changes."""
        if monitor_id in self._overlay:
            return orjson.dumps(self.status_of(monitor_id))
        encoded = self._status_json.get(monitor_id)
        if encoded is None:
            encoded = orjson.dumps(self._statuses.get(monitor_id) or {})
            self._status_json[monitor_id] = encoded
        return encoded

    def monitor_json(self, monitor_id: str) -> bytes:
        """``monitor`` as JSON."""
        return b"".join(
            (
                self._definition_json[monitor_id],
                b',"status":',
                self.status_json(monitor_id),
                b"}",
            )
        )

    def status_entry_json(self, monitor_id: str) -> bytes:
        """The monitor's id and name with its status, as JSON: a status entry."""
        status = self.status_json(monitor_id)
        if status == b"{}":
            return self._head_json[monitor_id] + b"}"
        return self._head_json[monitor_id] + b"," + status[1:]

    def _encode(self, monitor_id: str, shown: Mapping[str, Any]) -> None:
        self._definition_json[monitor_id] = orjson.dumps(shown)[:-1]
        self._head_json[monitor_id] = orjson.dumps(
            {"id": monitor_id, "name": shown["name"]}
        )[:-1]
        self._status_json.pop(monitor_id, None)
        self._row_json.pop(monitor_id, None)

    def page(self, query: MonitorQuery) -> tuple[list[str], tuple[Any, ...] | None]:
        """The ids of one page, and the sort key of its last item if more follow."""
        keys = self._order(query.sort)
        if query.descending:
            position = (
                len(keys)
                if query.after is None
                else bisect.bisect_left(keys, query.after)
            )
            candidates = (keys[index] for index in range(position - 1, -1, -1))
        else:
            position = (
                0 if query.after is None else bisect.bisect_right(keys, query.after)
            )
            candidates = (keys[index] for index in range(position, len(keys)))
        chosen: list[tuple[Any, ...]] = []
        for key in candidates:
            if self._matches(key[-1], query):
                chosen.append(key)
                if len(chosen) > query.limit:
                    break
        more = len(chosen) > query.limit
        chosen = chosen[: query.limit]
        return [key[-1] for key in chosen], (chosen[-1] if more and chosen else None)

    def _matches(self, monitor_id: str, query: MonitorQuery) -> bool:
        if (
            query.tag is None
            and query.kind is None
            and query.enabled is None
            and query.search is None
            and query.state is None
        ):
            return monitor_id in self._monitors
        monitor = self._monitors.get(monitor_id)
        if monitor is None:
            return False
        if query.tag is not None and query.tag not in monitor["tags"]:
            return False
        if query.kind is not None and monitor["kind"] != query.kind:
            return False
        if query.enabled is not None and monitor["enabled"] != query.enabled:
            return False
        if query.search is not None and (
            query.search.casefold() not in monitor["name"].casefold()
        ):
            return False
        return query.state is None or self.status_of(monitor_id).get("state") == (
            query.state
        )

    def _order(self, sort: str) -> list[tuple[Any, ...]]:
        """Every monitor's sort key, in order; keys end with the id.

        The id and name orders are kept as monitors change; the others are
        computed when asked for and reused for ``SORT_SNAPSHOT_SECONDS``.
        """
        if sort == "id":
            return self._by_id
        if sort == "name":
            return self._by_name
        now = self._clock()
        cached = self._snapshots.get(sort)
        if cached is not None and now - cached[0] < SORT_SNAPSHOT_SECONDS:
            return cached[1]
        keys = sorted(self._sort_key(sort, key[0]) for key in self._by_id)
        self._snapshots[sort] = (now, keys)
        return keys

    def _sort_key(self, sort: str, monitor_id: str) -> tuple[Any, ...]:
        if sort == "kind":
            return (self._monitors[monitor_id]["kind"], monitor_id)
        value = self.status_of(monitor_id).get(sort)
        # Monitors not checked yet sort first, so keys stay comparable.
        return (value is not None, value if value is not None else 0, monitor_id)

    def sort_key(self, sort: str, monitor_id: str) -> tuple[Any, ...]:
        """The key ``monitor_id`` has in ``sort`` order, for a cursor."""
        if sort == "id":
            return (monitor_id,)
        if sort == "name":
            return (self._monitors[monitor_id]["name"].casefold(), monitor_id)
        return self._sort_key(sort, monitor_id)


def overview_state(monitor: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    """The state the overview shows: paused for a paused monitor, whatever
    its last check said."""
    if not monitor.get("enabled", True):
        return _PAUSED
    state = status.get("state")
    return state if isinstance(state, str) and state else str(MonitorState.UNKNOWN)


def overview_row(
    monitor: Mapping[str, Any],
    state: str,
    status: Mapping[str, Any],
    recent: str | None,
) -> list[Any]:
    """One monitor as the overview shows it, in ``OVERVIEW_FIELDS`` order.

    Latencies are rounded to a tenth of a millisecond and times to the
    millisecond: the overview is read by people, and its size counts.
    """
    latency = status.get("last_latency_ms")
    checked = status.get("last_check_at")
    return [
        monitor["id"],
        monitor["name"],
        monitor["kind"],
        state,
        monitor["tags"],
        round(latency, 1) if isinstance(latency, float) else latency,
        round(checked, 3) if isinstance(checked, float) else checked,
        status.get("last_reason"),
        recent or "",
    ]


def _status_after_change(
    monitor: Mapping[str, Any], given: Any, before: dict[str, Any] | None
) -> dict[str, Any]:
    """A changed monitor's status: the one it came with, else what it must be.

    A write answers with the definition alone: a paused monitor is PAUSED at
    once, a resumed or new one PENDING until its shard reports a check, and
    any other keeps the status it had.
    """
    if isinstance(given, Mapping):
        # A status carries neither id nor name: entries add them once.
        return {k: v for k, v in given.items() if k not in ("id", "name")}
    if not monitor.get("enabled", True):
        return {**(before or {}), "state": str(MonitorState.PAUSED)}
    if before is None or before.get("state") == str(MonitorState.PAUSED):
        return {**(before or {}), "state": str(MonitorState.PENDING)}
    return before


def _apply_signature(outcomes: Iterable[Sequence[str]]) -> tuple[Any, ...]:
    """What the event of an apply with these ``[outcome, id]`` pairs tells."""
    named: dict[str, list[str]] = {"created": [], "updated": []}
    for outcome, monitor_id in outcomes:
        if outcome in named:
            named[outcome].append(monitor_id)
    return (
        len(named["created"]),
        len(named["updated"]),
        tuple(named["created"][:APPLY_EVENT_NAMES]),
        tuple(named["updated"][:APPLY_EVENT_NAMES]),
    )


def _told_signature(data: Mapping[str, Any]) -> tuple[Any, ...]:
    """``_apply_signature`` as read back from an apply's event."""
    return (
        data.get("created_count"),
        data.get("updated_count"),
        tuple(data.get("created") or ()),
        tuple(data.get("updated") or ()),
    )
