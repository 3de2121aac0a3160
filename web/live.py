"""Live updates for browsers: the platform's feed pushed over socket.io rooms.

Every client is in room ``all`` unless it connected with ``?monitors=a,b``,
in which case it is only in ``monitor:a`` and ``monitor:b``; the events
``subscribe`` and ``unsubscribe`` with ``{"monitor": id}`` join and leave
such rooms later. Each update is emitted to ``all`` and to its monitor's
room as ``result`` or ``event``; a client in both gets it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

import socketio

from actors.platform import Platform

logger = logging.getLogger(__name__)

ALL_ROOM = "all"
NAMESPACE = "/"

MAX_PENDING_RESULTS = 1000
"""Results waiting to be emitted before new ones are dropped.

The feed runs as fast as the platform produces; this bound keeps a burst
from growing memory without limit when emitting cannot keep up.
"""

MAX_CLIENT_BACKLOG = 256
"""Packets a client may have waiting to be sent before it misses results.

A client on a slow link would otherwise queue every result in server
memory; it misses results instead, and still gets every event.
"""

DROP_LOG_EVERY = 60.0
"""Seconds between two log lines counting dropped results."""

MAX_ROOMS_PER_CLIENT = 1000
"""Monitor rooms one client may be in, so one client cannot cost unbounded memory."""

RESUBSCRIBE_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Pauses before reading the feed again after it failed, one more each time."""

_MONITOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_KINDS = frozenset({"result", "event"})
INCIDENT_EVENT_PREFIX = "incident_"
"""Events about incidents are also emitted as ``incident`` messages."""


def monitor_room(monitor_id: str) -> str:
    """The room whose clients follow one monitor."""
    return f"monitor:{monitor_id}"


class LiveHub:
    """Pushes the platform's live feed to socket.io clients, room by room.

    Two loops run while the gateway serves:

    1. The reader takes each update from ``platform.live()`` as soon as it
       comes and queues it. Events are always kept; a result is dropped (and
       counted) when ``max_pending_results`` are already waiting.
    2. The emitter sends queued updates in order. A result skips clients
       with more than ``max_client_backlog`` packets waiting (and counts them
       as drops); events go to every client in their rooms.

    Drops are logged at most once per ``drop_log_every`` seconds, with the
    count since the last line.
    """

    def __init__(
        self,
        sio: Any,
        platform: Platform,
        *,
        max_pending_results: int = MAX_PENDING_RESULTS,
        max_client_backlog: int = MAX_CLIENT_BACKLOG,
        drop_log_every: float = DROP_LOG_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sio = sio
        self._platform = platform
        self._max_pending_results = max_pending_results
        self._max_client_backlog = max_client_backlog
        self._drop_log_every = drop_log_every
        self._clock = clock

        self._pending: deque[tuple[str, dict[str, Any]]] = deque()
        self._pending_results = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

        self.dropped = 0
        """Result deliveries dropped since the hub was made."""
        self._unreported = 0
        self._last_report = -math.inf

        self._clients = 0
        sio.on("connect", self._on_connect)
        sio.on("disconnect", self._on_disconnect)
        sio.on("subscribe", self._on_subscribe)
        sio.on("unsubscribe", self._on_unsubscribe)

    def start(self) -> None:
        """Start reading the feed and emitting, on the running loop."""
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="upcast-live-hub")

    async def stop(self) -> None:
        """Stop both loops and disconnect every client; safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._report_drops(force=True)
        await self._sio.shutdown()

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._read_forever())
            group.create_task(self._emit_forever())

    async def _read_forever(self) -> None:
        failures = 0
        while True:
            try:
                async for item in self._platform.live(self._watched):
                    failures = 0
                    self._offer(item)
            except Exception:
                logger.exception("the live feed failed")
            else:
                logger.warning("the live feed ended")
            delay = RESUBSCRIBE_DELAYS[min(failures, len(RESUBSCRIBE_DELAYS) - 1)]
            failures += 1
            logger.info("reading the live feed again in %.1fs", delay)
            await asyncio.sleep(delay)

    def _watched(self) -> bool:
        """Whether any client is connected: results are read only if so."""
        return self._clients > 0

    def _offer(self, item: Any) -> None:
        """Queue one update from the feed, or drop it if it is a result too many."""
        if not isinstance(item, Mapping):
            logger.warning("skipped a live update that is not a mapping: %r", item)
            return
        kind, data = item.get("type"), item.get("data")
        if kind not in _KINDS or not isinstance(data, Mapping):
            logger.warning("skipped a live update of unknown shape: %r", item)
            return
        if kind == "result":
            if self._pending_results >= self._max_pending_results:
                self._count_drops(1)
                return
            self._pending_results += 1
        self._pending.append((kind, dict(data)))
        self._wake.set()

    async def _emit_forever(self) -> None:
        while True:
            if not self._pending:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._drop_log_every)
                self._report_drops()
                continue
            kind, data = self._pending.popleft()
            if kind == "result":
                self._pending_results -= 1
            try:
                await self._emit(kind, data)
            except Exception:
                logger.exception("failed to emit a live %s", kind)
            self._report_drops()

    async def _emit(self, kind: str, data: dict[str, Any]) -> None:
        rooms = [ALL_ROOM]
        monitor_id = data.get("monitor_id")
        if isinstance(monitor_id, str):
            rooms.append(monitor_room(monitor_id))
        slow = self._slow_clients(rooms) if kind == "result" else []
        if slow:
            self._count_drops(len(slow))
        await self._sio.emit(kind, data, to=rooms, skip_sid=slow or None)
        event_type = data.get("type")
        if (
            kind == "event"
            and isinstance(event_type, str)
            and event_type.startswith(INCIDENT_EVENT_PREFIX)
        ):
            # Screens that show incidents can listen for them alone.
            await self._sio.emit("incident", data, to=rooms)

    def _slow_clients(self, rooms: list[str]) -> list[str]:
        """Clients in ``rooms`` with more packets waiting than allowed.

        The engine.io layer keeps one outgoing queue per connection; its size
        is the backlog. Reading it relies on that layer's attributes, so when
        they are missing nobody counts as slow rather than the feed failing.
        """
        sockets = getattr(getattr(self._sio, "eio", None), "sockets", None)
        if not isinstance(sockets, Mapping):
            return []
        slow: list[str] = []
        for sid, eio_sid in self._sio.manager.get_participants(NAMESPACE, rooms):
            queue = getattr(sockets.get(eio_sid), "queue", None)
            if queue is not None and queue.qsize() > self._max_client_backlog:
                slow.append(sid)
        return slow

    def _count_drops(self, count: int) -> None:
        self.dropped += count
        self._unreported += count
        self._report_drops()

    def _report_drops(self, *, force: bool = False) -> None:
        if not self._unreported:
            return
        now = self._clock()
        if not force and now - self._last_report < self._drop_log_every:
            return
        logger.warning(
            "dropped %d live results because clients could not keep up "
            "(%d since the gateway started)",
            self._unreported,
            self.dropped,
        )
        self._unreported = 0
        self._last_report = now

    async def _on_connect(
        self, sid: str, environ: Mapping[str, Any], auth: Any = None
    ) -> None:
        query = parse_qs(str(environ.get("QUERY_STRING", "")))
        wanted = [
            part.strip()
            for value in query.get("monitors", [])
            for part in value.split(",")
            if part.strip()
        ]
        problem = _rooms_problem(wanted)
        if problem is not None:
            raise socketio.exceptions.ConnectionRefusedError(f"monitors: {problem}")
        rooms = [monitor_room(m) for m in wanted] if wanted else [ALL_ROOM]
        for room in rooms:
            await self._sio.enter_room(sid, room)
        self._clients += 1
        logger.debug("live client %s joined %s", sid, ", ".join(rooms))

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        self._clients = max(0, self._clients - 1)

    async def _on_subscribe(self, sid: str, data: Any) -> dict[str, Any]:
        monitor_id = _monitor_of(data)
        if monitor_id is None:
            return {"error": "monitor: must be a monitor id"}
        current = self._sio.rooms(sid, namespace=NAMESPACE)
        if len(current) > MAX_ROOMS_PER_CLIENT:
            return {"error": f"monitor: at most {MAX_ROOMS_PER_CLIENT} rooms"}
        await self._sio.enter_room(sid, monitor_room(monitor_id))
        return {"room": monitor_room(monitor_id)}

    async def _on_unsubscribe(self, sid: str, data: Any) -> dict[str, Any]:
        monitor_id = _monitor_of(data)
        if monitor_id is None:
            return {"error": "monitor: must be a monitor id"}
        await self._sio.leave_room(sid, monitor_room(monitor_id))
        return {"room": monitor_room(monitor_id)}


def _monitor_of(data: Any) -> str | None:
    monitor_id = data.get("monitor") if isinstance(data, Mapping) else None
    if isinstance(monitor_id, str) and _MONITOR_ID.fullmatch(monitor_id):
        return monitor_id
    return None


def _rooms_problem(monitor_ids: list[str]) -> str | None:
    if len(monitor_ids) > MAX_ROOMS_PER_CLIENT:
        return f"at most {MAX_ROOMS_PER_CLIENT} monitors"
    for monitor_id in monitor_ids:
        if not _MONITOR_ID.fullmatch(monitor_id):
            return f"{monitor_id!r} is not a monitor id"
    return None
