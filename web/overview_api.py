"""The overview: every monitor in one compact answer, for a dashboard.

``GET /api/v1/overview`` answers from the gateway's directory of monitors
(``web.directory``), so it costs no store query and no call to a shard:

    {"at": 1767225600.123, "offset": 1767225512000042,
     "counts": {"up": 9990, "down": 10},
     "fields": ["id", "name", "type", "state", "tags", "latency_ms",
                "checked_at", "reason", "recent"],
     "monitors": [["api", "API", "http", "up", ["prod"], 12.3,
                   1767225599.5, null, "uuuuduu"], ...]}

Each monitor is one array in the order of ``fields``, by name then id.
``recent`` has a letter per recent check, oldest first (``RECENT_LETTERS``).
``offset`` is that of the last live update the answer holds: a client
connecting to live updates with ``auth={"token": ..., "offset": offset}``
gets exactly what happened after it (null when it is not known).

The encoded answer is kept until the directory changes (its ``version``),
so clients asking at the same time share one encoding; it carries a strong
``ETag``, and a client sending it back in ``If-None-Match`` is answered 304
while nothing changed.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any, Final

import orjson
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import raw

from actors.platform import Platform
from engine.result import MonitorState
from web.access import requires
from web.conditional import not_modified, strong_etag, tag_held
from web.directory import (
    OTHER_LETTER,
    OVERVIEW_FIELDS,
    RECENT_CHECKS,
    RECENT_LETTERS,
    MonitorDirectory,
    overview_row,
    overview_state,
)
from web.openapi import Operation, Param, documented
from web.params import Query
from web.redact import redact_monitor

logger = logging.getLogger(__name__)

PREFIX: Final = "/api/v1"
MONITORS: Final = "monitors"

SNAPSHOTS_KEPT: Final = 16
"""Encoded answers kept at once: the whole fleet, and a few filtered views."""

CACHE_CONTROL: Final = "private, no-cache"

_STATES: Final = tuple(str(state) for state in MonitorState)
_PARAMS: Final = ("tags", "state", "q")

_LETTERS_TEXT: Final = ", ".join(
    f"`{letter}` {state}" for state, letter in RECENT_LETTERS.items()
)

OVERVIEW_ANSWER: Final = {
    "type": "object",
    "required": ["at", "offset", "counts", "fields", "monitors"],
    "properties": {
        "at": {"type": "number", "description": "when it was made (unix seconds)"},
        "offset": {
            "type": ["integer", "null"],
            "description": "the offset of the last live update it holds",
        },
        "counts": {
            "type": "object",
            "additionalProperties": {"type": "integer", "minimum": 1},
            "description": "how many monitors are in each state present",
        },
        "fields": {
            "type": "array",
            "items": {"type": "string"},
            "description": "what each monitor's array holds, in order",
        },
        "monitors": {
            "type": "array",
            "items": {
                "type": "array",
                "description": "one monitor: the values of `fields`, in order",
                "items": {
                    "anyOf": [
                        {"type": "string"},
                        {"type": "number"},
                        {"type": "null"},
                        {"type": "array", "items": {"type": "string"}},
                    ]
                },
                "minItems": len(OVERVIEW_FIELDS),
                "maxItems": len(OVERVIEW_FIELDS),
            },
        },
    },
}

OVERVIEW_DESCRIPTION: Final = f"""\
Every monitor in one answer, read from the gateway's memory: no store query.
`monitors` holds one array per monitor, by name then id, in the order of
`fields`: {", ".join(f"`{name}`" for name in OVERVIEW_FIELDS)}. `type` is the
check kind; `latency_ms`, `checked_at` and `reason` are those of the last
check. `recent` has one letter per recent check result, oldest first, at most
{RECENT_CHECKS}: {_LETTERS_TEXT}, `{OTHER_LETTER}` otherwise. The gateway
collects these letters from the results it sees, so after it starts they
begin empty.

`offset` is the offset of the last live update the answer holds: connect to
live updates with `auth={{"token": ..., "offset": offset}}` to get exactly
what happened after it. It is null while unknown: before the gateway's first
load of the monitors, and, with gateways sharing live updates through Redis,
until a load began after the first update reached the gateway.

The answer carries a strong `ETag`; send it back in `If-None-Match` to be
answered 304 while nothing changed."""


class Snapshots:
    """Encoded overviews, kept until the directory changes."""

    def __init__(self, directory: MonitorDirectory) -> None:
        self._directory = directory
        self._version = -1
        self._kept: OrderedDict[tuple[Any, ...], tuple[bytes, str]] = OrderedDict()

    def get(
        self, tags: tuple[str, ...], state: str | None, search: str | None
    ) -> tuple[bytes, str]:
        """The encoded overview of this view, and its entity tag."""
        directory = self._directory
        if directory.version != self._version:
            self._kept.clear()
            self._version = directory.version
        key = (tags, state, search)
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
            return kept
        rows, counts = directory.overview(tags=tags, state=state, search=search)
        body = encode(rows, counts, directory.offset)
        made = body, strong_etag(body)
        self._kept[key] = made
        while len(self._kept) > SNAPSHOTS_KEPT:
            self._kept.popitem(last=False)
        return made


def encode(rows: list[bytes], counts: dict[str, int], offset: int | None) -> bytes:
    """The overview's JSON, joined from rows already encoded."""
    head = orjson.dumps(
        {
            "at": round(time.time(), 3),
            "offset": offset,
            "counts": counts,
            "fields": OVERVIEW_FIELDS,
        }
    )
    return b"".join((head[:-1], b',"monitors":[', b",".join(rows), b"]}"))


def overview_blueprint(platform: Platform, directory: MonitorDirectory) -> Blueprint:
    """The overview route, answered from ``directory`` once it is loaded and
    from the platform before that."""
    api = Blueprint("api_v1_overview", url_prefix=PREFIX)
    snapshots = Snapshots(directory)

    @api.get("/overview")
    @requires("monitors:read")
    @documented(
        Operation(
            "Every monitor's state, last check and recent checks, in one answer",
            MONITORS,
            {200: OVERVIEW_ANSWER, 304: None},
            params=(
                Param(
                    "tags",
                    {"type": "string"},
                    "only monitors with any of these tags (a comma list)",
                ),
                Param("state", {"enum": list(_STATES)}, "only monitors in this state"),
                Param("q", {"type": "string"}, "only monitors whose name holds this"),
            ),
            description=OVERVIEW_DESCRIPTION,
            headers={200: {"ETag": "the answer's entity tag"}},
        )
    )
    async def overview(request: Request) -> HTTPResponse:
        query = Query(request, _PARAMS)
        listed = {
            tag.strip() for tag in (query.text("tags", limit=2000) or "").split(",")
        }
        tags = tuple(sorted(listed - {""}))
        state = query.choice("state", _STATES)
        search = query.text("q")
        if directory.loaded.is_set():
            body, etag = snapshots.get(tags, state, search)
        else:
            body = await _from_platform(platform, tags, state, search)
            etag = strong_etag(body)
        headers = {"Cache-Control": CACHE_CONTROL}
        held = tag_held(request, etag)
        if held is not None:
            return not_modified(held, headers)
        return raw(
            body,
            content_type="application/json",
            headers={**headers, "ETag": etag},
        )

    return api


async def _from_platform(
    platform: Platform, tags: tuple[str, ...], state: str | None, search: str | None
) -> bytes:
    """The overview made from what the platform lists: before the directory
    loads, without recent checks or offset."""
    monitors = await platform.list_monitors(search=search)
    shown = sorted(
        (redact_monitor(monitor) for monitor in monitors),
        key=lambda monitor: (str(monitor["name"]).casefold(), str(monitor["id"])),
    )
    rows: list[bytes] = []
    counts: dict[str, int] = {}
    for monitor in shown:
        if tags and set(tags).isdisjoint(monitor["tags"]):
            continue
        status = monitor.get("status") or {}
        current = overview_state(monitor, status)
        if state is not None and current != state:
            continue
        counts[current] = counts.get(current, 0) + 1
        rows.append(orjson.dumps(overview_row(monitor, current, status, None)))
    return encode(rows, counts, None)
