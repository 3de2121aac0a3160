"""Live updates for browsers: the platform's feed pushed over socket.io rooms.

A client authenticates when it connects, with ``auth={"token": ...}`` (an
access token or an API key) or an ``Authorization`` header, and needs the
``monitors:read`` scope.

Rooms. Every client is in room ``all`` unless it connected with
``?monitors=a,b``, ``?tags=db,eu``, ``?teams=ops`` or ``?events=1``, in
which case it is only in ``monitor:a``, ``tag:db``, ``team:ops`` and the
like, and ``events``. The events ``subscribe`` and ``unsubscribe`` with
``{"monitor": id}``, ``{"tag": t}``, ``{"team": name}`` or ``{"events":
true}`` join and leave such rooms later. A team's room carries the monitors
tagged ``team:<name>``; only the team's members, admins and owners may join
it. Room ``events`` carries every event and no result: an overview of every
monitor keeps states and counts current from it, and asks for the results of
the monitors it shows through their rooms. Each update is emitted to every
room it concerns as ``result`` or ``event`` (incident events again as
``incident``); a client in several of them gets it once. Its data carries
``offset``, a number that grows with every update.

Recovery. A client that reconnects with ``auth={"token": ..., "offset": n}``
first gets what its rooms missed after ``n``, then a ``recovery`` message:
``{"status": "recovered", ...}``, or ``{"status": "reload", "reason": ...}``
when too much was missed (``LiveSettings``), in which case it must reload
what it shows. Every ``offset_every`` seconds, clients are sent ``offset``
with the last offset delivered, so a client whose rooms were quiet still
knows how far it is up to date.

Presence. ``who`` answers with who is watching (user, name, connected since,
connections); rooms ``all`` and ``events`` are sent ``presence`` when people
come and go.

Several gateways share live updates through Redis (``LiveSettings.
redis_url``) so that each update reaches each client exactly once, whichever
gateway it is connected to:

1. One gateway at a time, the leader, reads the platform's feed. It holds a
   lease in Redis and renews it; another gateway takes over when it lapses.
2. The leader works out each update's rooms and appends it to a capped Redis
   stream, the shared log. The script that appends gives the update the next
   offset, and appends nothing unless the lease is still the leader's, so a
   leader that lost its lease without noticing cannot add updates twice.
3. Every gateway, the leader included, follows the log and emits each update
   only to its own clients (``ignore_queue``), never through the socket.io
   manager, so no update is delivered by two gateways.

The leader emitting through the manager to every gateway's clients would be
exactly once as well, but a reconnecting client must get its missed updates
and the new ones in order, without gaps or repeats, and only the gateway it
is connected to can hold new updates back while it replays; so each gateway
delivers to its own clients and the log is also what recovery replays. The
manager (python-socketio's ``AsyncRedisManager``) carries what is not in the
log: presence messages to every gateway's clients. Without Redis the gateway
is its own leader and keeps the log in memory.

A leader that crashes leaves no reader until its lease lapses
(``leader_lease``); updates of that gap reach no client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import secrets
import socket
import time
from collections import OrderedDict, deque
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import orjson
import socketio
from redis.asyncio import Redis

from actors.platform import MonitorNotFound, Platform
from engine.events import (
    MONITOR_CREATED,
    MONITOR_DELETED,
    MONITOR_UPDATED,
    MONITORS_APPLIED,
)
from web.access import Principal
from web.params import FALSE_WORDS, TRUE_WORDS

logger = logging.getLogger(__name__)

ALL_ROOM = "all"
EVENTS_ROOM = "events"
"""The room of every event (incident events included) and no result."""
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
"""Rooms one client may be in, so one client cannot cost unbounded memory."""

RESUBSCRIBE_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Pauses before reading the feed or the log again after it failed."""

APPEND_BATCH = 500
"""Updates the leader appends to the shared log in one round trip."""

FOLLOW_BATCH = 500
"""Updates a gateway reads from the shared log in one round trip."""

FOLLOW_WAIT = 1.0
"""Seconds one read of the shared log waits for new updates."""

REDIS_TIMEOUT = 5.0
"""Seconds a Redis command may take; longer than ``FOLLOW_WAIT``."""

PRESENCE_PAUSE = 0.25
"""Seconds between two presence messages: comings and goings in between are
told together, so a crowd reconnecting at once costs one message each."""

WATCHERS_REFRESH = 1.0
"""Seconds between two counts of other gateways' clients by the leader."""

TAG_RETRY = 5.0
"""Seconds before the tags of a monitor that could not be read are asked again."""

FAILURE_LOG_EVERY = 60.0
"""Seconds between two warnings about the same failing dependency."""

INCIDENT_EVENT_PREFIX = "incident_"
"""Events about incidents are also emitted as ``incident`` messages."""

TEAM_TAG_PREFIX = "team:"
"""A monitor tagged ``team:ops`` belongs to team ``ops``."""

ROLES_SEEING_EVERY_TEAM = frozenset({"admin", "owner"})

_MONITOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_KINDS = frozenset({"result", "event"})
_TOO_MANY_HELD = "too many updates came while the missed ones were sent"
_REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})
_MAX_NAME = 64
_NAME_A_ROOM = 'send {"monitor": id}, {"tag": tag}, {"team": name} or {"events": true}'

Authenticator = Callable[[str | None, str], Awaitable[Principal | None]]
"""Reads ``(Authorization header, client address)`` into the caller, None
when there are no credentials; raises when they are refused."""


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """How a gateway delivers live updates; the defaults suit one gateway.

    ``redis_url`` shares live updates between gateways (see the module's
    docstring); ``channel`` names what they share: the socket.io channel and
    the prefix of every Redis key, so that the gateways of several platforms
    can use one Redis server with different channels.

    Heartbeats: engine.io pings every client each ``ping_interval`` seconds
    and drops one that has not answered within ``ping_timeout`` seconds. The
    defaults (25 and 20, engine.io's own) notice a client that vanished
    without closing (a laptop closed, a network lost) within 45 seconds;
    lower values notice sooner for more traffic, and drop clients on slow
    links when too low. ``ping_interval`` is at least one second: engine.io
    tells clients the interval in whole seconds, and a client told 0 gives
    up on the server at once.

    Recovery: the last ``history_size`` updates are kept, in Redis when
    shared. A client that reconnects with the offset it saw last gets what
    its rooms missed, unless that is more than ``max_replay`` updates, the
    first missed update is older than ``recovery_window`` seconds, or some
    are no longer kept: then it is told to reload instead. ``offset_every``
    is the pause between two ``offset`` messages.

    Presence: with Redis, each gateway writes who it serves every
    ``presence_heartbeat`` seconds (and at each change); an entry not written
    again for three heartbeats is ignored and removed, so a gateway that
    crashed stops counting within 30 seconds by default. Entries expire by
    the writers' clocks, which must agree to within a heartbeat or so.

    ``leader_lease``: seconds the leader's claim lasts unless renewed (it is
    renewed three times as often); a crashed leader is replaced within that.

    Tags: the rooms of an update depend on its monitor's tags, which results
    and events do not carry. The gateway that reads the feed keeps the tags
    of up to ``tag_cache_size`` monitors, read in one listing of every
    monitor at most once per ``tag_cache_ttl`` seconds (and one monitor at a
    time for those the listing missed), and forgets a monitor's tags as soon
    as the feed says it was created, changed or deleted. A change the feed
    did not tell (its event was lost) shows after ``tag_cache_ttl`` at worst;
    beyond ``tag_cache_size`` monitors, tags are read one monitor at a time
    more often.
    """

    redis_url: str | None = None
    channel: str = "upcast-live"
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    history_size: int = 1000
    max_replay: int = 1000
    recovery_window: float = 120.0
    offset_every: float = 5.0
    presence_heartbeat: float = 10.0
    leader_lease: float = 10.0
    tag_cache_size: int = 10_000
    tag_cache_ttl: float = 300.0

    def __post_init__(self) -> None:
        if self.redis_url is not None:
            scheme = urlsplit(self.redis_url).scheme
            if scheme not in _REDIS_SCHEMES:
                raise ValueError(
                    f"redis_url: must be a redis://, rediss:// or unix:// URL, "
                    f"got {_without_password(self.redis_url)!r}"
                )
        if not self.channel or any(c in self.channel for c in "{}* "):
            raise ValueError(
                f"channel: must be a name without spaces, braces or '*', "
                f"got {self.channel!r}"
            )
        for name in (
            "ping_interval",
            "ping_timeout",
            "recovery_window",
            "offset_every",
            "presence_heartbeat",
            "leader_lease",
            "tag_cache_ttl",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(f"{name}: must be a number, got {value!r}")
            if value <= 0:
                raise ValueError(f"{name}: must be more than 0, got {value!r}")
        if self.ping_interval < 1:
            raise ValueError(
                "ping_interval: must be at least 1 second (clients are told it "
                f"in whole seconds), got {self.ping_interval!r}"
            )
        for name in ("history_size", "max_replay", "tag_cache_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be a whole number of 1 or more")


def server_options(settings: LiveSettings) -> dict[str, Any]:
    """Keyword arguments for ``socketio.AsyncServer`` under ``settings``.

    With a Redis URL the server gets python-socketio's Redis manager on
    ``settings.channel``, so that a message emitted by one gateway reaches
    the clients of every gateway.
    """
    options: dict[str, Any] = {
        "ping_interval": settings.ping_interval,
        "ping_timeout": settings.ping_timeout,
        "json": OrjsonCodec,
    }
    if settings.redis_url:
        options["client_manager"] = _RedisManager(
            settings.redis_url, channel=settings.channel
        )
    return options


class OrjsonCodec:
    """The ``json`` module socket.io encodes packets with, made of orjson.

    A result is encoded once per emit; orjson takes a tenth of the standard
    library's time. python-socketio sets its codec for every server and
    client of the process.
    """

    @staticmethod
    def dumps(value: Any, **_: Any) -> str:
        encoded: bytes = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
        return encoded.decode()

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        return orjson.loads(text)


class _RedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager, with a way to let go of Redis.

    The manager starts a task listening to its channel when the first client
    connects and never ends it; a gateway that stops must, or the task and
    its connections outlive the gateway.
    """

    async def close(self) -> None:
        listening = getattr(self, "thread", None)
        if isinstance(listening, asyncio.Task):
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
        for name in ("pubsub", "redis"):
            connection = getattr(self, name, None)
            if connection is not None:
                await connection.aclose()
            setattr(self, name, None)
        self.connected = False


class LiveUnavailable(Exception):
    """The state gateways share could not be read; a retry may help."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One update as the log keeps it: what it is, its offset and its rooms.

    ``data`` carries ``offset`` too, as clients receive it; ``at`` is when
    it was logged (seconds since the epoch).
    """

    offset: int
    kind: str
    data: dict[str, Any]
    rooms: tuple[str, ...]
    at: float


def monitor_room(monitor_id: str) -> str:
    """The room whose clients follow one monitor."""
    return f"monitor:{monitor_id}"


def tag_room(tag: str) -> str:
    """The room whose clients follow the monitors with one tag."""
    return f"tag:{tag}"


def team_room(team: str) -> str:
    """The room whose clients follow one team's monitors (tagged ``team:<name>``)."""
    return f"team:{team}"


class LiveHub:
    """Pushes the platform's live feed to socket.io clients, room by room.

    The loops that run while the gateway serves:

    1. The reader (on the leader only, see the module's docstring) takes each
       update from ``platform.live()`` as soon as it comes and queues it.
       Events are always kept; a result is dropped (and counted) when
       ``max_pending_results`` are already waiting.
    2. The emitter gives queued updates, in order, their rooms and an offset
       in the log. Alone, it then delivers each; with Redis it appends them
       to the shared log, and the follower of every gateway delivers them.
    3. Delivering sends an update to this gateway's clients in its rooms. A
       result skips clients with more than ``max_client_backlog`` packets
       waiting (counted as drops); events go to every client in their rooms.
    4. Presence and ``offset`` messages go out from loops of their own.

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
        authenticate: Authenticator | None = None,
        settings: LiveSettings | None = None,
        observer: Callable[[Mapping[str, Any]], None] | None = None,
        tags_of: Callable[[str], tuple[str, ...] | None] | None = None,
    ) -> None:
        """``observer`` is given every update this gateway delivers, whether
        anyone watches or not (results are then always read); ``tags_of``
        answers a monitor's tags when it knows them, before the tag cache is
        asked."""
        self._sio = sio
        self._observer = observer
        self._tags_of = tags_of
        self._authenticate = authenticate
        self._platform = platform
        self._settings = settings or LiveSettings()
        self._max_pending_results = max_pending_results
        self._max_client_backlog = max_client_backlog
        self._drop_log_every = drop_log_every
        self._clock = clock

        self.instance = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        """This gateway among those sharing the channel."""
        self._shared = (
            _RedisLog(self._settings, self.instance)
            if self._settings.redis_url
            else None
        )
        self._memory = _MemoryLog(self._settings.history_size)
        self._tags = _TagCache(
            platform,
            self._settings.tag_cache_size,
            self._settings.tag_cache_ttl,
        )

        self._pending: deque[tuple[str, dict[str, Any], bool]] = deque()
        self._pending_results = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._helpers: set[asyncio.Task[None]] = set()
        self._closing = False
        self._stopped = False

        # The offset of the last update whose recipients are fixed; see _deliver.
        self._delivered = 0 if self._shared else self._memory.newest
        self._ready = asyncio.Event()
        self._recovering: dict[str, _Recovery] = {}

        self.dropped = 0
        """Result deliveries dropped since the hub was made."""
        self._unreported = 0
        self._last_report = -math.inf
        self._warned_at = -math.inf

        self._clients = 0
        self._remote_clients = 0
        self._watchers: dict[str, _Watcher] = {}
        self._joined: list[dict[str, str]] = []
        self._left: list[dict[str, str]] = []
        self._presence_changed = asyncio.Event()

        sio.on("connect", self._on_connect)
        sio.on("disconnect", self._on_disconnect)
        sio.on("subscribe", self._on_subscribe)
        sio.on("unsubscribe", self._on_unsubscribe)
        sio.on("who", self._on_who)

    @property
    def feed_starts_after(self) -> int | None:
        """The offset every update this gateway delivers comes after, when it
        is known before the feed is read.

        Alone, it is where the log in memory starts. With Redis it is None:
        the log is followed from where it stands once the gateway reaches
        it, and updates logged before then are never delivered here.
        """
        return None if self._shared is not None else self._memory.newest

    def start(self) -> None:
        """Start reading the feed and emitting, on the running loop."""
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._ready = asyncio.Event()
            self._presence_changed = asyncio.Event()
            self._presence_changed.set()
            self._closing = self._stopped = False
            self._task = asyncio.create_task(self._run(), name="upcast-live-hub")

    async def stop(self) -> None:
        """Stop every loop and let go of Redis; safe to call twice.

        Clients stay connected until the server closes their connections, and
        then reconnect (to another gateway, behind a load balancer) and
        recover what they missed; telling them to disconnect would stop
        socket.io clients from reconnecting at all.
        """
        if self._stopped:
            return
        self._closing = True
        task, self._task = self._task, None
        helpers, self._helpers = self._helpers, set()
        for running in [task, *helpers]:
            if running is not None:
                running.cancel()
        for running in [task, *helpers]:
            if running is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await running
        self._report_drops(force=True)

        if self._shared is not None:
            await self._leave_shared()
        await self._sio.shutdown()
        manager = getattr(self._sio, "manager", None)
        if isinstance(manager, _RedisManager):
            await manager.close()
        self._stopped = True

    async def publish(self, kind: str, data: Mapping[str, Any]) -> None:
        """Send an update of the gateway's own to the clients it concerns.

        It is logged and delivered like the platform's updates, to every
        gateway sharing the channel, and never dropped. Without Redis it is
        queued behind the updates waiting to be emitted.
        """
        if kind not in _KINDS:
            raise ValueError(f"kind: must be result or event, got {kind!r}")
        if self._shared is None:
            self._pending.append((kind, dict(data), False))
            self._wake.set()
            return
        update = dict(data)
        rooms = await self._rooms_of(kind, update)
        try:
            await self._shared.append([(kind, update, rooms)], fenced=False)
        except Exception as exc:
            raise LiveUnavailable(f"the live log could not be written: {exc}") from exc

    async def who(self) -> list[dict[str, Any]]:
        """Who is watching, on every gateway: one entry per user.

        Each entry: ``user_id``, ``name``, ``since`` (when their first
        connection still open began, seconds since the epoch) and
        ``connections``. Raises ``LiveUnavailable`` when Redis fails.
        """
        mine = self._presence_record()
        if self._shared is None:
            return _merge_watchers([mine["users"]])
        try:
            records = await self._shared.presence()
        except Exception as exc:
            raise LiveUnavailable(f"presence could not be read: {exc}") from exc
        records[self.instance] = mine
        self._remote_clients = sum(
            int(record.get("clients", 0))
            for instance, record in records.items()
            if instance != self.instance
        )
        return _merge_watchers(record.get("users", []) for record in records.values())

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._presence_forever())
            group.create_task(self._offsets_forever())
            if self._shared is None:
                self._ready.set()
                group.create_task(self._read_forever())
                group.create_task(self._emit_forever())
            else:
                group.create_task(self._campaign_forever())
                group.create_task(self._follow_forever())

    # -- reading the feed and logging it ------------------------------------

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
        """Whether results are wanted: for a client, or for the observer."""
        return (
            self._observer is not None or self._clients > 0 or self._remote_clients > 0
        )

    def _offer(self, item: Any) -> None:
        """Queue one update from the feed, or drop it if it is a result too many."""
        if not isinstance(item, Mapping):
            logger.warning("skipped a live update that is not a mapping: %r", item)
            return
        kind, data = item.get("type"), item.get("data")
        if kind not in _KINDS or not isinstance(data, Mapping):
            logger.warning("skipped a live update of unknown shape: %r", item)
            return
        counted = kind == "result"
        if counted:
            if self._pending_results >= self._max_pending_results:
                self._count_drops(1)
                return
            self._pending_results += 1
        self._pending.append((kind, dict(data), counted))
        self._wake.set()

    async def _emit_forever(self) -> None:
        batch_size = 1 if self._shared is None else APPEND_BATCH
        while True:
            if not self._pending:
                self._wake.clear()
                await _wait(self._wake, self._drop_log_every)
                self._report_drops()
                continue
            batch: list[tuple[str, dict[str, Any]]] = []
            while self._pending and len(batch) < batch_size:
                kind, data, counted = self._pending.popleft()
                if counted:
                    self._pending_results -= 1
                batch.append((kind, data))
            try:
                await self._pass_on(batch)
            except _NotLeader:
                raise
            except Exception:
                logger.exception("failed to emit %d live updates", len(batch))
            _stop_if_cancelled()
            self._report_drops()

    async def _pass_on(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        """Log a batch of updates: deliver each when alone, else append them."""
        if self._shared is None:
            for kind, data in batch:
                rooms = await self._rooms_of(kind, data)
                await self._deliver(self._memory.append(kind, data, rooms))
            return
        logged = [
            (kind, data, await self._rooms_of(kind, data)) for kind, data in batch
        ]
        if await self._shared.append(logged, fenced=True) is None:
            raise _NotLeader

    async def _rooms_of(self, kind: str, data: Mapping[str, Any]) -> tuple[str, ...]:
        """The rooms of one update: ``all``, ``events`` for an event, its
        monitor's, its tags' and teams'.

        Events that change a monitor also refresh the tags kept for it: after
        a change the new tags decide; a deleted monitor's last event still
        reaches the rooms of the tags it had.
        """
        event_type = data.get("type") if kind == "event" else None
        if event_type == MONITORS_APPLIED:
            self._tags.clear()
        common = (ALL_ROOM, EVENTS_ROOM) if kind == "event" else (ALL_ROOM,)
        monitor_id = data.get("monitor_id")
        if not isinstance(monitor_id, str):
            return common
        if event_type in (MONITOR_CREATED, MONITOR_UPDATED):
            self._tags.forget(monitor_id)

        tags = await self._tags_for(monitor_id, event_type)
        if event_type == MONITOR_DELETED:
            self._tags.forget(monitor_id)
        rooms = [*common, monitor_room(monitor_id)]
        for tag in tags:
            rooms.append(tag_room(tag))
            if tag.startswith(TEAM_TAG_PREFIX) and len(tag) > len(TEAM_TAG_PREFIX):
                rooms.append(team_room(tag[len(TEAM_TAG_PREFIX) :]))
        return tuple(rooms)

    async def _tags_for(self, monitor_id: str, event_type: Any) -> tuple[str, ...]:
        """A monitor's tags: read afresh after a change, else as known.

        With ``tags_of`` (the gateway's directory of monitors) a monitor's
        tags are known without asking; a monitor just changed is read from
        the platform, since the directory learns of the change only now.
        """
        if self._tags_of is None:
            return await self._tags.get(monitor_id)
        if event_type in (MONITOR_CREATED, MONITOR_UPDATED):
            return await self._tags.read(monitor_id)
        known = self._tags.peek(monitor_id)
        if known is None:
            known = self._tags_of(monitor_id)
        if known is None:
            known = await self._tags.read(monitor_id)
        return known

    # -- leading and following, with Redis ----------------------------------

    async def _campaign_forever(self) -> None:
        """Claim or renew the lead every third of a lease; read the feed while held."""
        assert self._shared is not None
        leading: asyncio.Task[None] | None = None
        try:
            while True:
                try:
                    won = await self._shared.lead()
                except Exception as exc:
                    self._failed("claiming the lead", exc)
                    won = False
                _stop_if_cancelled()
                if won and (leading is None or leading.done()):
                    leading = asyncio.create_task(self._lead(), name="upcast-live-lead")
                elif not won and leading is not None and not leading.done():
                    leading.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await leading
                    logger.info("gateway %s no longer reads the live feed", self)
                await asyncio.sleep(self._settings.leader_lease / 3)
        finally:
            if leading is not None:
                leading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await leading

    async def _lead(self) -> None:
        logger.info("gateway %s now reads the live feed", self)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._read_forever())
                group.create_task(self._emit_forever())
                group.create_task(self._count_watchers_forever())
        except* _NotLeader:
            logger.warning("gateway %s lost its lease on the live feed", self)
        finally:
            self._pending.clear()
            self._pending_results = 0

    async def _count_watchers_forever(self) -> None:
        """Keep count of other gateways' clients, so results are read for them."""
        while True:
            with contextlib.suppress(LiveUnavailable):
                await self.who()
            _stop_if_cancelled()
            await asyncio.sleep(WATCHERS_REFRESH)

    async def _follow_forever(self) -> None:
        """Deliver every update of the shared log to this gateway's clients."""
        assert self._shared is not None
        position: int | None = None
        failures = 0
        while True:
            try:
                if position is None:
                    position = await self._shared.newest()
                    self._delivered = max(self._delivered, position)
                    self._ready.set()
                entries = await self._shared.follow(position)
            except Exception as exc:
                self._failed("reading the shared log", exc)
                delay = RESUBSCRIBE_DELAYS[min(failures, len(RESUBSCRIBE_DELAYS) - 1)]
                failures += 1
                await asyncio.sleep(delay)
                continue
            _stop_if_cancelled()
            failures = 0
            for entry in entries:
                position = entry.offset
                try:
                    await self._deliver(entry)
                except Exception:
                    logger.exception("failed to emit live update %d", entry.offset)

    async def _leave_shared(self) -> None:
        """Give up the lead and this gateway's presence, then close Redis."""
        assert self._shared is not None
        leaving = [
            {"user_id": w.user_id, "name": w.name} for w in self._watchers.values()
        ]
        try:
            await self._shared.resign()
            await self._shared.drop_presence()
            if leaving:
                self._watchers.clear()
                await self._tell_presence([], leaving)
        except Exception as exc:
            self._failed("leaving the shared state", exc)
        await self._shared.close()

    # -- delivering ---------------------------------------------------------

    async def _deliver(self, entry: Entry) -> None:
        """Send one logged update to this gateway's clients in its rooms.

        ``_delivered`` moves to the update's offset before it is emitted: the
        emit picks its recipients before it first waits, so from then on a
        client that joins is not among them, and the history it recovers from
        must hold this update (see ``_recover``).
        """
        if self._observer is not None:
            try:
                self._observer({"type": entry.kind, "data": entry.data})
            except Exception:
                logger.exception("the observer of live update %d failed", entry.offset)
        rooms = list(entry.rooms)
        skip = self._slow_clients(rooms) if entry.kind == "result" else []
        if skip:
            self._count_drops(len(skip))
        for sid, recovery in self._recovering.items():
            if self._in_rooms(sid, entry.rooms):
                recovery.hold(entry, self._settings.max_replay)
                skip.append(sid)
        self._delivered = entry.offset
        await self._send(entry, to=rooms, skip=skip)

    async def _send(
        self, entry: Entry, *, to: str | list[str], skip: list[str] | None = None
    ) -> None:
        await self._sio.emit(
            entry.kind, entry.data, to=to, skip_sid=skip or None, ignore_queue=True
        )
        event_type = entry.data.get("type")
        if (
            entry.kind == "event"
            and isinstance(event_type, str)
            and event_type.startswith(INCIDENT_EVENT_PREFIX)
        ):
            # Screens that show incidents can listen for them alone.
            await self._sio.emit(
                "incident", entry.data, to=to, skip_sid=skip or None, ignore_queue=True
            )

    def _in_rooms(self, sid: str, rooms: Iterable[str]) -> bool:
        return not set(rooms).isdisjoint(self._sio.rooms(sid, namespace=NAMESPACE))

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

    async def _offsets_forever(self) -> None:
        """Tell clients the last offset delivered, when it moved."""
        told = self._delivered
        while True:
            await asyncio.sleep(self._settings.offset_every)
            offset = self._delivered
            if offset <= told or not self._clients:
                continue
            told = offset
            try:
                await self._sio.emit(
                    "offset",
                    {"offset": offset},
                    skip_sid=list(self._recovering) or None,
                    ignore_queue=True,
                )
            except Exception:
                logger.exception("failed to send the live offset")

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

    def _failed(self, doing: str, exc: BaseException) -> None:
        """Log a failure of Redis or of an emit, warning at most once a minute."""
        now = time.monotonic()
        if now - self._warned_at < FAILURE_LOG_EVERY:
            logger.debug("live updates: %s failed again: %s", doing, exc)
            return
        self._warned_at = now
        logger.warning("live updates: %s failed: %s", doing, exc)

    # -- recovery -----------------------------------------------------------

    async def _recover(self, sid: str, recovery: _Recovery) -> None:
        """Replay what a reconnected client missed, then let it follow live.

        1. Wait for the log's position to be known, and take the offset
           delivered so far, ``upto``. Updates delivered since the client
           joined its rooms were held back for it and have larger offsets.
        2. Read the history after the client's offset. If some of it is no
           longer kept, is too old, or is more than ``max_replay`` updates for
           the client's rooms, it is told to reload; else it gets those up to
           ``upto``.
        3. Send ``recovery``, then the updates held back that it has not had,
           and take it off the recovering list (with no wait in between, so
           no update can be held back after the last look). If more were
           held than ``max_replay``, those held go and it is told to reload.
        """
        await asyncio.sleep(0)
        replay: list[Entry] = []
        problem: str | None = None
        upto = self._delivered
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                await self._ready.wait()
            upto = self._delivered
            entries, newest = await self._history_after(recovery.after)
        except Exception as exc:
            logger.warning("could not read the live history for %s: %s", sid, exc)
            problem = "the missed updates could not be read"
        else:
            problem = self._gap(recovery.after, entries, newest)
            if problem is None:
                rooms = set(self._sio.rooms(sid, namespace=NAMESPACE))
                replay = [
                    entry
                    for entry in entries
                    if entry.offset <= upto and not rooms.isdisjoint(entry.rooms)
                ]
                if len(replay) > self._settings.max_replay:
                    problem = (
                        f"more than {self._settings.max_replay} updates were missed"
                    )
                    replay = []

        for entry in replay:
            await self._send(entry, to=sid)
        sent = max(recovery.after, upto) if problem is None else upto
        if recovery.overflowed:
            problem = _TOO_MANY_HELD
            sent = self._delivered
            recovery.overflowed = False
            recovery.held.clear()
        if problem is None:
            answer: dict[str, Any] = {
                "status": "recovered",
                "replayed": len(replay),
                "offset": sent,
            }
        else:
            answer = {"status": "reload", "reason": problem, "offset": sent}
        await self._sio.emit("recovery", answer, to=sid, ignore_queue=True)
        logger.debug(
            "live client %s reconnected after offset %d: %s",
            sid,
            recovery.after,
            problem or f"{len(replay)} updates replayed",
        )

        while True:
            while recovery.held:
                entry = recovery.held.popleft()
                if entry.offset > sent:
                    await self._send(entry, to=sid)
                    sent = entry.offset
            if not recovery.overflowed:
                break
            # More came while sending than may be held: what was held goes.
            recovery.overflowed = False
            recovery.held.clear()
            sent = self._delivered
            await self._sio.emit(
                "recovery",
                {"status": "reload", "reason": _TOO_MANY_HELD, "offset": sent},
                to=sid,
                ignore_queue=True,
            )
        self._recovering.pop(sid, None)

    async def _history_after(self, offset: int) -> tuple[list[Entry], int | None]:
        if self._shared is None:
            return self._memory.after(offset), self._memory.newest
        return await self._shared.after(offset)

    def _gap(self, after: int, entries: list[Entry], newest: int | None) -> str | None:
        """Why the updates after offset ``after`` cannot be replayed, if they cannot."""
        if newest is None or after > newest:
            return "the offset is not one of the kept updates"
        if after == newest:
            return None
        if not entries or entries[0].offset != after + 1:
            return "some of the missed updates are no longer kept"
        if time.time() - entries[0].at > self._settings.recovery_window:
            window = self._settings.recovery_window
            return f"updates were missed for more than {window:g}s"
        return None

    # -- presence -----------------------------------------------------------

    def _presence_record(self) -> dict[str, Any]:
        """What this gateway tells others about its clients."""
        return {
            "expires": time.time() + 3 * self._settings.presence_heartbeat,
            "clients": self._clients,
            "users": _merge_watchers(
                [[watcher.as_dict() for watcher in self._watchers.values()]]
            ),
        }

    async def _presence_forever(self) -> None:
        """Write this gateway's presence and tell clients who came and went.

        Changes are gathered for ``PRESENCE_PAUSE`` seconds at least; with
        Redis the record is written at least once per heartbeat, so that it
        does not expire while the gateway lives.
        """
        heartbeat = self._settings.presence_heartbeat if self._shared else None
        while True:
            await _wait(self._presence_changed, heartbeat)
            self._presence_changed.clear()
            joined, self._joined = self._joined, []
            left, self._left = self._left, []
            try:
                if self._shared is not None:
                    await self._shared.put_presence(self._presence_record())
                if joined or left:
                    await self._tell_presence(joined, left)
            except Exception as exc:
                self._failed("updating presence", exc)
            _stop_if_cancelled()
            await asyncio.sleep(PRESENCE_PAUSE)

    async def _tell_presence(
        self, joined: list[dict[str, str]], left: list[dict[str, str]]
    ) -> None:
        """Send rooms ``all`` and ``events`` of every gateway who came, who
        went, who is here."""
        watching = await self.who()
        await self._sio.emit(
            "presence",
            {"joined": joined, "left": left, "watching": watching},
            to=[ALL_ROOM, EVENTS_ROOM],
        )

    # -- socket.io events ---------------------------------------------------

    async def _on_connect(
        self, sid: str, environ: Mapping[str, Any], auth: Any = None
    ) -> None:
        principal: Principal | None = None
        if self._authenticate is not None:
            principal = await self._caller(environ, auth)
            await self._sio.save_session(sid, {"principal": principal})
        rooms = _asked_rooms(environ, principal)
        after = _offset_in(auth)

        # Held back from here on, before the rooms are joined; see _recover.
        recovery = None if after is None else _Recovery(after)
        if recovery is not None:
            self._recovering[sid] = recovery
        for room in rooms:
            await self._sio.enter_room(sid, room)
        self._clients += 1
        if principal is not None:
            watcher = _Watcher(principal.user_id, principal.name, time.time())
            self._watchers[sid] = watcher
            self._joined.append(watcher.who())
            self._presence_changed.set()
        if recovery is not None:
            self._spawn(self._recover(sid, recovery))
        logger.debug("live client %s joined %s", sid, ", ".join(rooms))

    async def _caller(self, environ: Mapping[str, Any], auth: Any) -> Principal:
        """Who connects, or ``ConnectionRefusedError`` saying what is missing."""
        assert self._authenticate is not None
        token = auth.get("token") if isinstance(auth, Mapping) else None
        header = (
            f"Bearer {token}"
            if isinstance(token, str) and token
            else environ.get("HTTP_AUTHORIZATION")
        )
        address = str(environ.get("REMOTE_ADDR", ""))
        try:
            principal = await self._authenticate(header, address)
        except Exception as exc:
            message = getattr(exc, "message", None) or "the credentials were refused"
            raise socketio.exceptions.ConnectionRefusedError(message) from None
        if principal is None:
            raise socketio.exceptions.ConnectionRefusedError(
                "send an access token or API key as auth={'token': ...}"
            )
        if not principal.allows("monitors:read"):
            raise socketio.exceptions.ConnectionRefusedError(
                "live updates need the scope monitors:read"
            )
        return principal

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        self._clients = max(0, self._clients - 1)
        self._recovering.pop(sid, None)
        watcher = self._watchers.pop(sid, None)
        if watcher is not None and not self._closing:
            self._left.append(watcher.who())
            self._presence_changed.set()

    async def _on_subscribe(self, sid: str, data: Any) -> dict[str, Any]:
        room, problem = await self._room_asked(sid, data)
        if problem is not None:
            return {"error": problem}
        assert room is not None
        current = self._sio.rooms(sid, namespace=NAMESPACE)
        if len(current) > MAX_ROOMS_PER_CLIENT:
            kind = room.split(":", 1)[0]
            return {"error": f"{kind}: at most {MAX_ROOMS_PER_CLIENT} rooms"}
        await self._sio.enter_room(sid, room)
        return {"room": room}

    async def _on_unsubscribe(self, sid: str, data: Any) -> dict[str, Any]:
        room, problem = _room_named(data)
        if problem is not None:
            return {"error": problem}
        assert room is not None
        await self._sio.leave_room(sid, room)
        return {"room": room}

    async def _on_who(self, sid: str, data: Any = None) -> Any:
        try:
            return await self.who()
        except LiveUnavailable as exc:
            logger.warning("could not say who is watching: %s", exc)
            return {"error": "presence is not available right now"}

    async def _room_asked(self, sid: str, data: Any) -> tuple[str | None, str | None]:
        """The room a ``subscribe`` asks for, or why the client may not join it."""
        room, problem = _room_named(data)
        if problem is not None or room is None:
            return None, problem
        team = _team_of_room(room)
        if team is not None:
            session = await self._sio.get_session(sid)
            principal = session.get("principal") if self._authenticate else None
            if not _may_follow_team(principal, team):
                return None, f"team: not a member of team {team!r}"
        return room, None

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    def __str__(self) -> str:
        return self.instance


async def _wait(event: asyncio.Event, seconds: float | None) -> None:
    """Wait until ``event`` is set or ``seconds`` passed (None: no limit).

    ``asyncio.wait_for`` on Python 3.11 loses a cancellation that comes just
    as the event is set, and a loop waiting that way then never stops; a
    timeout scope around the wait cannot lose it.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


def _stop_if_cancelled() -> None:
    """Raise ``CancelledError`` if the running task was asked to stop.

    A library may swallow a cancellation that arrives while it waits (the
    Redis client's pipelines did); the task's request count still says so,
    and a loop that checks it stops anyway instead of running on forever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class _NotLeader(Exception):
    """The leader's lease lapsed: another gateway may be reading the feed."""


@dataclass(slots=True)
class _Recovery:
    """A reconnected client's replay in progress, and what is held back for it."""

    after: int
    held: deque[Entry] = field(default_factory=deque)
    overflowed: bool = False

    def hold(self, entry: Entry, limit: int) -> None:
        if len(self.held) >= limit:
            self.overflowed = True
            return
        self.held.append(entry)


@dataclass(frozen=True, slots=True)
class _Watcher:
    """One connection of a signed-in person, for presence."""

    user_id: str
    name: str
    since: float

    def who(self) -> dict[str, str]:
        return {"user_id": self.user_id, "name": self.name}

    def as_dict(self) -> dict[str, Any]:
        return {**self.who(), "since": self.since, "connections": 1}


def _merge_watchers(groups: Iterable[Iterable[Any]]) -> list[dict[str, Any]]:
    """One entry per user out of several lists: earliest ``since``, summed
    ``connections``; entries of another shape (a newer gateway's) are skipped."""
    merged: dict[str, dict[str, Any]] = {}
    for group in groups:
        for entry in group:
            if not isinstance(entry, Mapping) or not isinstance(
                entry.get("user_id"), str
            ):
                continue
            user_id = entry["user_id"]
            known = merged.get(user_id)
            if known is None:
                merged[user_id] = {
                    "user_id": user_id,
                    "name": str(entry.get("name", "")),
                    "since": float(entry.get("since", 0.0)),
                    "connections": int(entry.get("connections", 1)),
                }
                continue
            known["since"] = min(known["since"], float(entry.get("since", 0.0)))
            known["connections"] += int(entry.get("connections", 1))
    return sorted(merged.values(), key=lambda e: (e["since"], e["user_id"]))


class _MemoryLog:
    """The recent updates of a gateway that shares nothing, in memory.

    Offsets count on from the microseconds since the epoch when the gateway
    started, so a gateway that restarted gives larger offsets than before
    and a client's offset from before the restart is seen as not kept.
    """

    def __init__(self, size: int) -> None:
        self._entries: deque[Entry] = deque(maxlen=size)
        self.newest = time.time_ns() // 1000

    def append(self, kind: str, data: dict[str, Any], rooms: tuple[str, ...]) -> Entry:
        self.newest += 1
        data["offset"] = self.newest
        entry = Entry(self.newest, kind, data, rooms, time.time())
        self._entries.append(entry)
        return entry

    def after(self, offset: int) -> list[Entry]:
        return [entry for entry in self._entries if entry.offset > offset]


# Append updates to the log, each with the next offset, if the caller still
# holds the lease (ARGV[1], or anyone when empty). The offset counter starts
# from the server's clock in microseconds, or past the log's last entry.
_APPEND_SCRIPT = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local now = redis.call('TIME')
  local start = tonumber(now[1]) * 1000000 + tonumber(now[2])
  local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  if last[1] then
    local newest = tonumber(string.match(last[1][1], '^%d+'))
    if newest >= start then start = newest + 1 end
  end
  redis.call('SET', KEYS[2], string.format('%.0f', start - 1))
end
local count = #ARGV - 3
local first = redis.call('INCRBY', KEYS[2], count) - count + 1
for i = 4, #ARGV do
  local id = string.format('%.0f-0', first + i - 4)
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], id, 'u', ARGV[i])
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return first
"""

# Take the lease if nobody holds it, or renew it if the caller does.
_LEAD_SCRIPT = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RESIGN_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# The last offset given, and the kept updates from ARGV[1] on.
_AFTER_SCRIPT = """
return {redis.call('GET', KEYS[1]), redis.call('XRANGE', KEYS[2], ARGV[1], '+')}
"""

_PRESENCE_SCRIPT = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
"""


class _RedisLog:
    """What gateways sharing a channel keep in Redis, under ``{channel}:``.

    ``history`` is a stream of the recent updates whose entry ids are the
    offsets (``<offset>-0``), capped near ``history_size`` entries;
    ``offset`` is the last offset given; both expire when no update came for
    twice the recovery window (at least a minute). ``leader`` names the
    gateway holding the lease on the feed. ``presence`` is a hash of each
    gateway's record of who it serves. The braces keep every key of a
    channel in one Redis Cluster slot, as the scripts need.
    """

    def __init__(self, settings: LiveSettings, instance: str) -> None:
        assert settings.redis_url is not None
        self._settings = settings
        self._instance = instance
        base = "{" + settings.channel + "}"
        self._history = f"{base}:history"
        self._offset = f"{base}:offset"
        self._leader = f"{base}:leader"
        self._presence = f"{base}:presence"
        self._client = Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_connect_timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
        )
        self._append = self._client.register_script(_APPEND_SCRIPT)
        self._lead = self._client.register_script(_LEAD_SCRIPT)
        self._resign = self._client.register_script(_RESIGN_SCRIPT)
        self._read_after = self._client.register_script(_AFTER_SCRIPT)
        self._put_presence = self._client.register_script(_PRESENCE_SCRIPT)
        self._history_ms = int(max(2 * settings.recovery_window, 60.0) * 1000)
        self._presence_ms = int(3 * settings.presence_heartbeat * 1000)

    async def append(
        self,
        updates: Sequence[tuple[str, dict[str, Any], tuple[str, ...]]],
        *,
        fenced: bool,
    ) -> int | None:
        """Log updates in order: the first one's offset, or None when
        ``fenced`` and this gateway no longer holds the lease."""
        if not updates:
            return 0
        now = time.time()
        items = [
            json.dumps(
                {"k": kind, "d": data, "r": list(rooms), "t": now},
                separators=(",", ":"),
            )
            for kind, data, rooms in updates
        ]
        first = int(
            await self._append(
                keys=[self._leader, self._offset, self._history],
                args=[
                    self._instance if fenced else "",
                    self._settings.history_size,
                    self._history_ms,
                    *items,
                ],
            )
        )
        return None if first < 0 else first

    async def after(self, offset: int) -> tuple[list[Entry], int | None]:
        """The kept updates after ``offset``, and the last offset given."""
        # One script rather than a pipeline: the client's pipelines can lose
        # a cancellation, and a script reads both at one moment too.
        newest, rows = await self._read_after(
            keys=[self._offset, self._history], args=[f"{offset + 1}-0"]
        )
        entries = [_entry(row[0], _fields(row[1])) for row in rows]
        return entries, None if newest is None else int(newest)

    async def newest(self) -> int:
        """The offset of the last logged update, 0 if none is kept."""
        # Replies are text (decode_responses), though typed for bytes too.
        rows: Any = await self._client.xrevrange(self._history, count=1)
        return _offset_of_id(rows[0][0]) if rows else 0

    async def follow(self, after: int) -> list[Entry]:
        """The next updates after ``after``, waiting ``FOLLOW_WAIT`` at most."""
        reply: Any = await self._client.xread(
            {self._history: f"{after}-0"},
            count=FOLLOW_BATCH,
            block=int(FOLLOW_WAIT * 1000),
        )
        # RESP2 answers [[stream, rows]], RESP3 {stream: rows}.
        streams = reply.values() if isinstance(reply, dict) else [r for _, r in reply]
        return [_entry(row[0], row[1]) for rows in streams for row in rows]

    async def lead(self) -> bool:
        lease_ms = int(self._settings.leader_lease * 1000)
        return bool(
            await self._lead(keys=[self._leader], args=[self._instance, lease_ms])
        )

    async def resign(self) -> None:
        await self._resign(keys=[self._leader], args=[self._instance])

    async def put_presence(self, record: Mapping[str, Any]) -> None:
        await self._put_presence(
            keys=[self._presence],
            args=[self._instance, json.dumps(record), self._presence_ms],
        )

    async def presence(self) -> dict[str, dict[str, Any]]:
        """Every live gateway's record; expired ones are removed on the way."""
        stored: Any = await self._client.hgetall(self._presence)
        now = time.time()
        alive: dict[str, dict[str, Any]] = {}
        stale: list[str] = []
        for instance, text in stored.items():
            try:
                record = json.loads(text)
            except ValueError:
                record = None
            if isinstance(record, dict) and float(record.get("expires", 0)) >= now:
                alive[instance] = record
            else:
                stale.append(instance)
        if stale:
            await self._client.hdel(self._presence, *stale)
        return alive

    async def drop_presence(self) -> None:
        await self._client.hdel(self._presence, self._instance)

    async def close(self) -> None:
        await self._client.aclose()


def _fields(flat: Any) -> dict[str, str]:
    """A stream entry's fields as a script returns them: name, value, ..."""
    if isinstance(flat, dict):
        return flat
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _offset_of_id(row_id: str) -> int:
    return int(row_id.split("-", 1)[0])


def _entry(row_id: str, fields: Mapping[str, str]) -> Entry:
    offset = _offset_of_id(row_id)
    stored = json.loads(fields["u"])
    data = dict(stored["d"])
    data["offset"] = offset
    return Entry(offset, stored["k"], data, tuple(stored["r"]), float(stored["t"]))


class _TagCache:
    """Monitors' tags, for the rooms of their updates, kept a while in memory.

    1. Once per ``ttl`` seconds, when a monitor is asked for that is not
       kept, every monitor's tags are read in one listing of the platform's
       monitors (the first ``size`` of them), so a gateway that starts does
       not ask for each monitor one by one before it can emit.
    2. A monitor still not kept is asked for alone. One that does not exist
       has no tags; one whose tags could not be read counts as having none
       for ``TAG_RETRY`` seconds.

    At most ``size`` monitors are kept, the least recently used leaving
    first; each is kept ``ttl`` seconds at most, and forgotten at once when
    told to.
    """

    def __init__(self, platform: Platform, size: int, ttl: float) -> None:
        self._platform = platform
        self._size = size
        self._ttl = ttl
        self._kept: OrderedDict[str, tuple[tuple[str, ...], float]] = OrderedDict()
        self._list_after = -math.inf
        self._warned = -math.inf

    async def get(self, monitor_id: str) -> tuple[str, ...]:
        now = time.monotonic()
        if self._fresh(monitor_id, now) is None and now >= self._list_after:
            await self._list_all(now)
        kept = self._fresh(monitor_id, now)
        if kept is not None:
            return kept
        return await self.read(monitor_id)

    def peek(self, monitor_id: str) -> tuple[str, ...] | None:
        """The tags kept for a monitor, None when none are."""
        return self._fresh(monitor_id, time.monotonic())

    async def read(self, monitor_id: str) -> tuple[str, ...]:
        """A monitor's tags read from the platform now, and kept."""
        now = time.monotonic()
        expires = now + self._ttl
        try:
            definition = await self._platform.get_monitor(monitor_id)
        except MonitorNotFound:
            tags: tuple[str, ...] = ()
        except Exception as exc:
            tags = ()
            expires = now + TAG_RETRY
            self._failed(now, f"monitor {monitor_id}", exc)
        else:
            tags = _tags_of(definition)
        self._keep(monitor_id, tags, expires)
        return tags

    def forget(self, monitor_id: str) -> None:
        self._kept.pop(monitor_id, None)

    def clear(self) -> None:
        """Forget every monitor's tags; the next miss lists them all again."""
        self._kept.clear()
        self._list_after = -math.inf

    def _fresh(self, monitor_id: str, now: float) -> tuple[str, ...] | None:
        kept = self._kept.get(monitor_id)
        if kept is None or kept[1] <= now:
            return None
        self._kept.move_to_end(monitor_id)
        return kept[0]

    async def _list_all(self, now: float) -> None:
        self._list_after = now + self._ttl
        try:
            monitors = await self._platform.list_monitors()
        except Exception as exc:
            self._list_after = now + TAG_RETRY
            self._failed(now, "every monitor", exc)
            return
        for definition in monitors[: self._size]:
            monitor_id = definition.get("id")
            if isinstance(monitor_id, str):
                self._keep(monitor_id, _tags_of(definition), now + self._ttl)

    def _keep(self, monitor_id: str, tags: tuple[str, ...], expires: float) -> None:
        self._kept[monitor_id] = (tags, expires)
        self._kept.move_to_end(monitor_id)
        while len(self._kept) > self._size:
            self._kept.popitem(last=False)

    def _failed(self, now: float, what: str, exc: BaseException) -> None:
        if now - self._warned < FAILURE_LOG_EVERY:
            return
        self._warned = now
        logger.warning(
            "live updates reach no tag rooms for now: the tags of %s could not "
            "be read: %s",
            what,
            exc,
        )


def _tags_of(definition: Mapping[str, Any]) -> tuple[str, ...]:
    found = definition.get("tags")
    if not isinstance(found, list | tuple):
        return ()
    return tuple(tag for tag in found if isinstance(tag, str))


def _listed(query: Mapping[str, list[str]], name: str) -> list[str]:
    return [
        part.strip()
        for value in query.get(name, [])
        for part in value.split(",")
        if part.strip()
    ]


def _asked_rooms(environ: Mapping[str, Any], principal: Principal | None) -> list[str]:
    """The rooms a connecting client asks for in its query; ``all`` if none.

    Raises ``ConnectionRefusedError`` naming the parameter at fault.
    """
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    monitors, tags, teams = (_listed(query, n) for n in ("monitors", "tags", "teams"))
    refused = socketio.exceptions.ConnectionRefusedError
    events = _flag(query, "events")

    problem = _rooms_problem(monitors)
    if problem is not None:
        raise refused(f"monitors: {problem}")
    if len(monitors) + len(tags) + len(teams) > MAX_ROOMS_PER_CLIENT:
        raise refused(f"monitors, tags, teams: at most {MAX_ROOMS_PER_CLIENT} in all")
    for tag in tags:
        if not _is_name(tag):
            raise refused(f"tags: {tag!r} is not a tag")
    for name in teams:
        if not _is_name(name):
            raise refused(f"teams: {name!r} is not a team name")

    rooms = [
        *(monitor_room(m) for m in monitors),
        *(tag_room(t) for t in tags),
        *(team_room(t) for t in teams),
        *((EVENTS_ROOM,) if events else ()),
    ]
    for room in rooms:
        team = _team_of_room(room)
        if team is not None and not _may_follow_team(principal, team):
            parameter = "teams" if room.startswith("team:") else "tags"
            raise refused(f"{parameter}: not a member of team {team!r}")
    return rooms or [ALL_ROOM]


def _flag(query: Mapping[str, list[str]], name: str) -> bool:
    """A yes-or-no query parameter: 1, true, yes or on; 0, false, no or off.

    Raises ``ConnectionRefusedError`` naming it when it is anything else.
    """
    values = [value.strip().lower() for value in query.get(name, [])]
    if not values:
        return False
    if all(value in TRUE_WORDS for value in values):
        return True
    if all(value in FALSE_WORDS or not value for value in values):
        return False
    raise socketio.exceptions.ConnectionRefusedError(f"{name}: must be 1 or 0")


def _room_named(data: Any) -> tuple[str | None, str | None]:
    """The room ``{"monitor": id}``, ``{"tag": t}``, ``{"team": n}`` or
    ``{"events": true}`` names, or what is wrong with it."""
    if not isinstance(data, Mapping):
        return None, _NAME_A_ROOM
    if "monitor" in data:
        monitor_id = data["monitor"]
        if isinstance(monitor_id, str) and _MONITOR_ID.fullmatch(monitor_id):
            return monitor_room(monitor_id), None
        return None, "monitor: must be a monitor id"
    if "tag" in data:
        if _is_name(data["tag"]):
            return tag_room(data["tag"]), None
        return None, "tag: must be text of 1-64 characters"
    if "team" in data:
        if _is_name(data["team"]):
            return team_room(data["team"]), None
        return None, "team: must be text of 1-64 characters"
    if "events" in data:
        if data["events"] is True:
            return EVENTS_ROOM, None
        return None, "events: must be true"
    return None, _NAME_A_ROOM


def _team_of_room(room: str) -> str | None:
    """The team whose monitors a room carries: a team room, or a team's tag room."""
    if room.startswith("team:"):
        return room[len("team:") :]
    if room.startswith("tag:" + TEAM_TAG_PREFIX):
        return room[len("tag:" + TEAM_TAG_PREFIX) :]
    return None


def _may_follow_team(principal: Principal | None, team: str) -> bool:
    """Members follow their teams; admins and owners every team.

    A hub made without authentication lets everyone follow every team.
    """
    if principal is None:
        return True
    return principal.role in ROLES_SEEING_EVERY_TEAM or team in principal.teams


def _is_name(value: Any) -> bool:
    return (
        isinstance(value, str) and 0 < len(value) <= _MAX_NAME and not value.isspace()
    )


def _offset_in(auth: Any) -> int | None:
    """The offset a reconnecting client saw last, if it sent one."""
    offset = auth.get("offset") if isinstance(auth, Mapping) else None
    if offset is None:
        return None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise socketio.exceptions.ConnectionRefusedError(
            "offset: must be the offset of the last update seen, a whole number"
        )
    return offset


def _rooms_problem(monitor_ids: list[str]) -> str | None:
    if len(monitor_ids) > MAX_ROOMS_PER_CLIENT:
        return f"at most {MAX_ROOMS_PER_CLIENT} monitors"
    for monitor_id in monitor_ids:
        if not _MONITOR_ID.fullmatch(monitor_id):
            return f"{monitor_id!r} is not a monitor id"
    return None


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
