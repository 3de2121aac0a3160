"""The Coordinator actor: the monitor catalogue and who runs what."""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import logging
import os
import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import ray

from actors.calls import actor_call
from actors.placement import assign, owner
from actors.platform import MonitorExists, MonitorNotFound, ShardNotFound
from engine.dependencies import dependency_cycle
from engine.errors import FieldError, ValidationError
from engine.events import (
    MONITOR_CREATED,
    MONITOR_DELETED,
    MONITOR_PAUSED,
    MONITOR_RESUMED,
    MONITOR_UPDATED,
    MONITORS_APPLIED,
    Event,
    new_event_id,
)
from engine.model import monitor_from_dict
from store.base import MonitorRow, monitor_row

logger = logging.getLogger(__name__)

# Catalogue rows read from the store per call while the Coordinator loads.
LOAD_PAGE = 20_000

# Monitors moved per call when shards are added or removed.
MOVE_SLICE = 5000

# Work that walks the whole catalogue yields to the loop this often, so the
# Coordinator keeps answering while it loads or rebalances a large fleet.
YIELD_EVERY = 2000

# An apply that changes more monitors than this records one summary event
# instead of one event per monitor, so loading a large fleet does not flood
# the event feed and every live screen with it.
APPLY_EVENTS_EACH = 50

APPLIED = ("created", "updated", "unchanged")

# The summary event of a large apply names at most this many monitors of
# each outcome; its counts cover them all.
APPLY_EVENT_NAMES = 100


Posted = tuple[str, tuple[Any, ...], "asyncio.Future[Any]"]
"""A call waiting in a shard's mailbox: method, arguments, its answer."""


def shard_actor_name(platform_id: str, shard: str) -> str:
    """The Ray name of one platform's shard actor, unique within the namespace."""
    return f"upcast/{platform_id}/{shard}"


class Coordinator:
    """Owns the catalogue of monitor definitions and places each on a shard.

    Definitions are validated here, written to the store, then handed to the
    owning shard (rendezvous hashing over the shard names). The catalogue is
    kept as each definition's stored text, which is both compact and what
    ``apply`` compares. Every change is also recorded as an event.

    Shards are named Ray actors. After a restart the Coordinator reloads the
    catalogue from the store and finds the live shards by name, so shards
    added or removed while it ran are not forgotten.
    """

    def __init__(
        self,
        platform_id: str,
        shards: Sequence[str],
        storage: Any,
        hub: Any,
        alert: Any = None,
    ) -> None:
        self._platform_id = platform_id
        self._alert = alert
        self._roster = sorted(shards)
        self._handles: dict[str, Any] = {}
        self._incarnations: dict[str, str] = {}
        self._storage = storage
        self._hub = hub
        self._catalogue: dict[str, str] = {}
        # Who depends on whom, so that no change makes a cycle.
        self._parents: dict[str, tuple[str, ...]] = {}
        # Push tokens of push monitors, so a ping reaches the monitor's shard.
        self._tokens: dict[str, str] = {}
        # A booting shard reads its monitors from a list fixed when it began.
        self._boot_lists: dict[str, list[str]] = {}
        # Who owns what, worked out once for all the shards that boot
        # together, until the catalogue or the roster changes.
        self._changes = 0
        self._grouping: tuple[tuple[int, tuple[str, ...]], dict[str, list[str]]]
        self._grouping = ((-1, ()), {})
        self._mailboxes: dict[str, asyncio.Queue[Posted]] = {}
        self._postmen: set[asyncio.Task[None]] = set()
        self._sequence = itertools.count()
        self._origin = os.getpid()
        # Held by every change of the catalogue or of the roster, so a
        # rebalance never interleaves with a monitor moving the other way.
        self._lock = asyncio.Lock()
        self._loaded = asyncio.Event()
        self._load_task = asyncio.get_running_loop().create_task(self._load())

    async def _load(self) -> None:
        """Read the catalogue from the store and find the live shards."""
        discovered = self._discover_shards()
        if discovered:
            self._roster = discovered
        after: str | None = None
        while True:
            page: list[tuple[str, str]] = await self._storage.catalogue.remote(
                after, LOAD_PAGE
            )
            for monitor_id, text in page:
                self._catalogue[monitor_id] = text
                if '"kind":"push"' in text:
                    self._index_token(json.loads(text))
            if len(page) < LOAD_PAGE:
                break
            after = page[-1][0]
        # The catalogue lives as long as the actor; see ShardActor._put_all.
        gc.freeze()
        self._loaded.set()
        logger.info(
            "catalogue loaded monitors=%d shards=%s",
            len(self._catalogue),
            ",".join(self._roster),
        )

    def _discover_shards(self) -> list[str]:
        prefix = shard_actor_name(self._platform_id, "")
        try:
            names = ray.util.list_named_actors()
        except Exception:
            logger.warning("could not list the named shard actors", exc_info=True)
            return []
        return sorted(name[len(prefix) :] for name in names if name.startswith(prefix))

    async def start(self) -> int:
        """Wait until the catalogue is loaded; returns its size."""
        await self._loaded.wait()
        return len(self._catalogue)

    # Shards ---------------------------------------------------------------

    async def join(self, shard: str, handle: Any, incarnation: str) -> None:
        """A shard (new, or restarted by Ray) announces itself."""
        previous = self._incarnations.get(shard)
        self._handles[shard] = handle
        self._incarnations[shard] = incarnation
        if previous is not None and previous != incarnation:
            logger.warning("shard=%s restarted; it reloads its monitors", shard)

    async def assignment(
        self, shard: str, cursor: int, limit: int
    ) -> tuple[list[str], str, int | None, int]:
        """A page of the monitors ``shard`` owns, for it to load.

        Returns ``(ids, definitions, next cursor or None at the end, total)``
        with the definitions as one JSON array (see ``ShardActor.put_many``).
        The list is fixed at the first page; changes after that reach the
        shard directly. A shard not in the roster (one being added) owns
        nothing yet.
        """
        await self._loaded.wait()
        if cursor == 0 or shard not in self._boot_lists:
            self._boot_lists[shard] = await self._owned_by(shard)
        owned = self._boot_lists[shard]
        ids, definitions = self._bundle(owned[cursor : cursor + limit])
        following: int | None = cursor + limit
        if following is not None and following >= len(owned):
            following = None
            del self._boot_lists[shard]
        return ids, definitions, following, len(owned)

    def _bundle(self, monitor_ids: list[str]) -> tuple[list[str], str]:
        """The catalogue's monitors among these, in the form ``put_many`` takes."""
        ids = [i for i in monitor_ids if i in self._catalogue]
        return ids, "[" + ",".join(self._catalogue[i] for i in ids) + "]"

    async def roster(self) -> list[str]:
        return list(self._roster)

    async def add_shard(self, shard: str) -> int:
        """Take ``shard`` (running and booted) into the roster; returns moves.

        Each monitor the new shard now outscores the others for is removed
        from its old shard first and then put on the new one with its state,
        so a monitor runs on at most one shard at any time.
        """
        await self._loaded.wait()
        async with self._lock:
            if shard in self._roster:
                return 0
            roster = sorted([*self._roster, shard])
            moving: dict[str, list[str]] = {}
            for count, monitor_id in enumerate(self._catalogue, 1):
                if owner(monitor_id, roster) == shard:
                    moving.setdefault(owner(monitor_id, self._roster), []).append(
                        monitor_id
                    )
                if count % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            self._roster = roster
            moved = 0
            for source, ids in moving.items():
                moved += await self._move(ids, source, {shard: ids})
        logger.info("shard=%s added; %d monitors moved to it", shard, moved)
        return moved

    async def remove_shard(self, shard: str) -> int:
        """Hand every monitor of ``shard`` to the others; returns moves.

        The caller stops the shard's actor afterwards.
        """
        await self._loaded.wait()
        async with self._lock:
            if shard not in self._roster:
                raise ShardNotFound(shard)
            if len(self._roster) == 1:
                raise ValidationError(
                    [FieldError("shard", "the last shard cannot be removed")]
                )
            roster = [name for name in self._roster if name != shard]
            ids = await self._owned_by(shard)
            self._roster = roster
            moved = await self._move(ids, shard, assign(ids, roster))
            self._handles.pop(shard, None)
            self._incarnations.pop(shard, None)
        logger.info("shard=%s removed; %d monitors moved off it", shard, moved)
        return moved

    async def _move(
        self, ids: list[str], source: str, destinations: Mapping[str, list[str]]
    ) -> int:
        """Move monitors from ``source`` to their new shards, slice by slice."""
        target_of = {i: name for name, group in destinations.items() for i in group}
        moved = 0
        for start in range(0, len(ids), MOVE_SLICE):
            part = ids[start : start + MOVE_SLICE]
            seeds = await self._post(source, "remove_many", part)
            groups: dict[str, list[str]] = {}
            for monitor_id in part:
                groups.setdefault(target_of[monitor_id], []).append(monitor_id)
            for name, group in groups.items():
                ids, definitions = self._bundle(group)
                carried = {i: seeds[i] for i in ids if i in seeds}
                await self._post(name, "put_many", ids, definitions, carried)
                moved += len(ids)
        return moved

    async def _owned_by(self, shard: str) -> list[str]:
        if shard not in self._roster:
            return []
        key = (self._changes, tuple(self._roster))
        if self._grouping[0] != key:
            roster = list(key[1])
            groups: dict[str, list[str]] = {name: [] for name in roster}
            for count, monitor_id in enumerate(list(self._catalogue), 1):
                groups[owner(monitor_id, roster)].append(monitor_id)
                if count % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            self._grouping = (key, groups)
        return list(self._grouping[1].get(shard, []))

    def _post(self, shard: str, method: str, *args: Any) -> asyncio.Future[Any]:
        """Call a method of a shard, in order with every other change posted to it.

        Ray does not keep the calls of an async actor in order, and two
        changes of one monitor must arrive in the order they were made, so
        each shard has a mailbox that one task empties call by call.
        """
        box = self._mailboxes.get(shard)
        if box is None:
            box = self._mailboxes[shard] = asyncio.Queue()
            task = asyncio.get_running_loop().create_task(self._empty(shard, box))
            self._postmen.add(task)
            task.add_done_callback(self._postmen.discard)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        box.put_nowait((method, args, future))
        return future

    async def _empty(self, shard: str, box: asyncio.Queue[Posted]) -> None:
        while True:
            method, args, future = await box.get()
            try:
                answer = await getattr(self._handle(shard), method).remote(*args)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(answer)

    def _owner(self, monitor_id: str) -> str:
        return owner(monitor_id, self._roster)

    def _handle(self, shard: str) -> Any:
        handle = self._handles.get(shard)
        if handle is None:
            handle = ray.get_actor(shard_actor_name(self._platform_id, shard))
            self._handles[shard] = handle
        return handle

    # Monitors -------------------------------------------------------------

    async def create(self, definition: Mapping[str, Any]) -> dict[str, Any]:
        await self._loaded.wait()
        stored = monitor_from_dict(definition).to_dict()
        async with self._lock:
            if stored["id"] in self._catalogue:
                raise MonitorExists(stored["id"])
            self._refuse_cycles([stored])
            await self._commit(stored, MONITOR_CREATED)
        return stored

    async def update(
        self, monitor_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        await self._loaded.wait()
        async with self._lock:
            current = self._existing(monitor_id)
            if "id" in changes and changes["id"] != monitor_id:
                raise ValidationError([FieldError("id", "cannot be changed")])
            merged = {**current, **changes}
            if isinstance(changes.get("options"), Mapping):
                merged["options"] = {
                    **current.get("options", {}),
                    **changes["options"],
                }
            stored = monitor_from_dict(merged).to_dict()
            self._refuse_cycles([stored])
            await self._commit(stored, MONITOR_UPDATED)
        return stored

    async def replace(
        self, monitor_id: str, definition: Mapping[str, Any]
    ) -> dict[str, Any]:
        await self._loaded.wait()
        async with self._lock:
            self._existing(monitor_id)
            if definition.get("id", monitor_id) != monitor_id:
                raise ValidationError([FieldError("id", "cannot be changed")])
            stored = monitor_from_dict({**definition, "id": monitor_id}).to_dict()
            self._refuse_cycles([stored])
            await self._commit(stored, MONITOR_UPDATED)
        return stored

    async def set_enabled(self, monitor_id: str, enabled: bool) -> dict[str, Any]:
        await self._loaded.wait()
        async with self._lock:
            stored = {**self._existing(monitor_id), "enabled": enabled}
            await self._commit(stored, MONITOR_RESUMED if enabled else MONITOR_PAUSED)
        return stored

    async def delete(self, monitor_id: str) -> None:
        await self._loaded.wait()
        async with self._lock:
            current = self._existing(monitor_id)
            await self._storage.delete_monitor.remote(monitor_id)
            del self._catalogue[monitor_id]
            self._parents.pop(monitor_id, None)
            self._changes += 1
            self._unindex_token(current)
            await self._post(self._owner(monitor_id), "remove_many", [monitor_id])
        if self._alert is not None:
            await self._alert.monitor_removed.remote(monitor_id)
        await self._record([(MONITOR_DELETED, monitor_id, {})])

    async def apply(
        self, definitions: Sequence[Mapping[str, Any]] | bytes
    ) -> list[list[str]]:
        """Create or replace many monitors at once; the rest are left alone.

        ``definitions`` is a list, or the JSON text of ``{"monitors": [...]}``
        as a gateway received it, so that it crosses between processes as one
        string instead of thousands of objects.

        1. Validate every definition; if any is bad, raise one error naming
           each problem as ``monitors[i].field`` and change nothing.
        2. Compare each with the catalogue by its stored text: equal ones are
           unchanged.
        3. Store the others in one write, then send each shard its share.

        Returns ``[outcome, id]`` pairs in the order given, the outcome being
        ``created``, ``updated`` or ``unchanged``.
        """
        await self._loaded.wait()
        given: Sequence[Mapping[str, Any]] = (
            json.loads(definitions)["monitors"]
            if isinstance(definitions, bytes)
            else definitions
        )
        valid = self._validate_all(given)
        self._refuse_cycles(valid, place="monitors[{index}].")
        rows = [
            monitor_row(f"monitors[{index}]", definition)
            for index, definition in enumerate(valid)
        ]
        async with self._lock:
            outcomes: list[list[str]] = []
            changed: list[MonitorRow] = []
            for row in rows:
                current = self._catalogue.get(row.id)
                if current == row.definition:
                    outcomes.append(["unchanged", row.id])
                    continue
                outcomes.append(["created" if current is None else "updated", row.id])
                changed.append(row)
            if changed:
                await self._storage.put_monitor_rows.remote(changed)
                for row in changed:
                    self._keep(row)
                await self._tell_alerting([row.id for row in changed])
                sending = self._send_to_shards([row.id for row in changed])
                gc.freeze()
        # The shards take their share after the lock is let go, so the next
        # apply can be stored meanwhile; the mailboxes keep each shard's
        # changes in order.
        if changed:
            await sending
        await self._record_applied(outcomes)
        return outcomes

    def _keep(self, row: MonitorRow) -> None:
        """Put a stored row in the catalogue and the push token index."""
        previous = self._catalogue.get(row.id)
        if previous is not None and '"kind":"push"' in previous:
            self._unindex_token(json.loads(previous))
        self._catalogue[row.id] = row.definition
        self._changes += 1
        # Most monitors depend on nothing; only those are parsed again.
        if '"depends_on":[]' in row.definition:
            self._parents.pop(row.id, None)
        elif '"depends_on"' in row.definition:
            parents = json.loads(row.definition).get("depends_on") or ()
            self._parents[row.id] = tuple(parents)
        if row.kind == "push":
            self._index_token(json.loads(row.definition))

    def _refuse_cycles(
        self, definitions: Sequence[Mapping[str, Any]], *, place: str = ""
    ) -> None:
        """Refuse definitions whose ``depends_on`` would close a cycle."""
        changed = {d["id"]: tuple(d.get("depends_on") or ()) for d in definitions}
        if not any(changed.values()):
            return

        def parents_of(monitor_id: str) -> tuple[str, ...]:
            if monitor_id in changed:
                return changed[monitor_id]
            return self._parents.get(monitor_id, ())

        problems = []
        for index, definition in enumerate(definitions):
            monitor_id = definition["id"]
            parents = changed[monitor_id]
            cycle = dependency_cycle(monitor_id, parents_of) if parents else None
            if cycle is not None:
                problems.append(
                    FieldError(
                        place.format(index=index) + "depends_on",
                        "would make a cycle: " + " -> ".join(cycle),
                    )
                )
        if problems:
            raise ValidationError(problems)

    def _validate_all(
        self, definitions: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        problems: list[FieldError] = []
        normal: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        for index, definition in enumerate(definitions):
            place = f"monitors[{index}]"
            if not isinstance(definition, Mapping):
                problems.append(FieldError(place, "must be a monitor definition"))
                continue
            try:
                stored = monitor_from_dict(definition).to_dict()
            except ValidationError as exc:
                problems.extend(
                    FieldError(f"{place}.{error.field}", error.problem)
                    for error in exc.errors
                )
                continue
            first = seen.setdefault(stored["id"], index)
            if first != index:
                problems.append(
                    FieldError(
                        f"{place}.id",
                        f"{stored['id']!r} is already used by monitors[{first}]",
                    )
                )
                continue
            normal.append(stored)
        if problems:
            raise ValidationError(problems)
        return normal

    def _send_to_shards(self, monitor_ids: list[str]) -> Awaitable[None]:
        """Post each shard its share of these monitors now; await the result
        to know they all have it."""
        groups = assign(monitor_ids, self._roster)
        posted = [
            self._post(name, "put_many", *self._bundle(group))
            for name, group in groups.items()
            if group
        ]
        return self._refusals(posted)

    @staticmethod
    async def _refusals(posted: list[asyncio.Future[Any]]) -> None:
        for refused in await asyncio.gather(*posted):
            for monitor_id in refused:
                logger.error("monitor=%s is stored but cannot run", monitor_id)

    async def get(self, monitor_id: str) -> dict[str, Any]:
        await self._loaded.wait()
        definition = self._existing(monitor_id)
        statuses = await self._shard_of(monitor_id).statuses.remote([monitor_id])
        return {**definition, "status": statuses[0] if statuses else None}

    async def baselines(self, monitor_id: str) -> dict[str, Any]:
        await self._loaded.wait()
        self._existing(monitor_id)
        found: dict[str, Any] = await actor_call(
            self._shard_of(monitor_id).baselines.remote(monitor_id)
        )
        return found

    async def find(
        self,
        tag: str | None = None,
        kind: str | None = None,
        state: str | None = None,
        enabled: bool | None = None,
        search: str | None = None,
    ) -> list[dict[str, Any]]:
        await self._loaded.wait()
        chosen: list[dict[str, Any]] = []
        for count, text in enumerate(self._catalogue.values(), 1):
            definition: dict[str, Any] = json.loads(text)
            if (
                (tag is None or tag in definition["tags"])
                and (kind is None or definition["kind"] == kind)
                and (enabled is None or definition["enabled"] == enabled)
                and (search is None or search.lower() in definition["name"].lower())
            ):
                chosen.append(definition)
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        statuses = await self._statuses([d["id"] for d in chosen])
        listed = [{**d, "status": statuses.get(d["id"])} for d in chosen]
        if state is not None:
            listed = [
                d for d in listed if d["status"] and d["status"]["state"] == state
            ]
        return sorted(listed, key=lambda d: d["id"])

    async def status(self) -> list[dict[str, Any]]:
        await self._loaded.wait()
        statuses = await self._statuses(list(self._catalogue))
        names: list[dict[str, Any]] = []
        for monitor_id in sorted(statuses):
            text = self._catalogue.get(monitor_id)
            if text is not None:
                name = json.loads(text)["name"]
                names.append({**statuses[monitor_id], "name": name})
        return names

    async def shard_stats(self) -> list[dict[str, Any]]:
        stats = await asyncio.gather(
            *(self._handle(name).stats.remote() for name in self._roster)
        )
        return list(stats)

    async def ping(self) -> bool:
        return True

    async def record_ping(
        self, token: str, ok: bool, message: str, duration_ms: float | None
    ) -> bool:
        await self._loaded.wait()
        monitor_id = self._tokens.get(token)
        if monitor_id is None:
            return False
        await self._shard_of(monitor_id).record_ping.remote(
            token, ok, message, duration_ms, monitor_id
        )
        return True

    def _index_token(self, definition: Mapping[str, Any]) -> None:
        if definition["kind"] == "push":
            token = definition["target"].strip() or definition["id"]
            self._tokens[token] = definition["id"]

    def _unindex_token(self, definition: Mapping[str, Any]) -> None:
        if definition["kind"] != "push":
            return
        for token, monitor_id in list(self._tokens.items()):
            if monitor_id == definition["id"]:
                del self._tokens[token]

    async def _statuses(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        groups = assign(ids, self._roster)
        replies = await asyncio.gather(
            *(
                self._handle(name).statuses.remote(group)
                for name, group in groups.items()
                if group
            )
        )
        return {status["id"]: status for reply in replies for status in reply}

    async def _commit(self, stored: dict[str, Any], event_type: str) -> None:
        """Store one definition, put it in the catalogue and on its shard."""
        row = monitor_row("definition", stored)
        await self._storage.put_monitor_rows.remote([row])
        self._keep(row)
        await self._tell_alerting([row.id])
        await self._post(self._owner(row.id), "put_many", *self._bundle([row.id]))
        await self._record([(event_type, row.id, {"name": row.name})])

    async def _tell_alerting(self, monitor_ids: list[str]) -> None:
        """Hand alerting the definitions it routes, groups and holds by."""
        if self._alert is not None:
            await self._alert.monitors_changed.remote(
                [self._existing(monitor_id) for monitor_id in monitor_ids]
            )

    async def _record_applied(self, outcomes: list[list[str]]) -> None:
        changed = [pair for pair in outcomes if pair[0] != "unchanged"]
        if not changed:
            return
        if len(changed) <= APPLY_EVENTS_EACH:
            await self._record(
                [
                    (
                        MONITOR_CREATED if outcome == "created" else MONITOR_UPDATED,
                        monitor_id,
                        {},
                    )
                    for outcome, monitor_id in changed
                ]
            )
            return
        summary = {
            outcome: [m for o, m in outcomes if o == outcome] for outcome in APPLIED
        }
        counts = {f"{outcome}_count": len(ids) for outcome, ids in summary.items()}
        named = {
            outcome: summary[outcome][:APPLY_EVENT_NAMES]
            for outcome in ("created", "updated")
        }
        await self._record([(MONITORS_APPLIED, None, {**counts, **named})])

    async def _record(
        self, changes: list[tuple[str, str | None, dict[str, Any]]]
    ) -> None:
        now = time.time()
        events = [
            Event(
                id=new_event_id(now, next(self._sequence), self._origin),
                at=now,
                type=event_type,
                monitor_id=monitor_id,
                data=data,
            ).to_dict()
            for event_type, monitor_id, data in changes
        ]
        await self._storage.write_events.remote(events)
        await self._hub.publish.remote(None, events)

    def _existing(self, monitor_id: str) -> dict[str, Any]:
        text = self._catalogue.get(monitor_id)
        if text is None:
            raise MonitorNotFound(monitor_id)
        definition: dict[str, Any] = json.loads(text)
        return definition

    def _shard_of(self, monitor_id: str) -> Any:
        return self._handle(owner(monitor_id, self._roster))
