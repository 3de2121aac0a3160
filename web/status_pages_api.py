"""What anyone may read of a status page: ``GET /api/v1/public/status-pages/<id>``.

A status page (``alerting.status_pages``, kept and changed through the
settings routes at ``/api/v1/status-pages``) is public: its answer needs no
credentials and says only what a page shows, each monitor's name, state,
latency if the page shows it, and uptime over the last day and 30 days,
with the incidents open now or resolved in the last 7 days. Never a
target, an option, a tag or a note.

An answer costs a few calls whatever the number of monitors: monitors and
states come from the gateway's directory (``web.directory``), uptime from
two reads of the hourly rollups, incidents from one read of those
unresolved and a few pages of those resolved. It is kept for
``KEPT_FOR`` seconds, so a page many people watch costs the store little.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, Final

import orjson
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import raw

from actors.platform import Platform
from alerting.settings import SettingNotFound
from alerting.status_pages import (
    MAX_MONITORS,
    SLUG,
    StatusPage,
    overall_state,
    status_page_from_dict,
)
from engine.result import MonitorState
from store.alerting import ACKNOWLEDGED, OPEN, RESOLVED
from web import schemas
from web.access import public
from web.directory import MonitorDirectory, MonitorQuery
from web.openapi import Operation, documented
from web.params import Query

logger = logging.getLogger(__name__)

PREFIX: Final = "/api/v1"
STATUS_PAGES: Final = "status pages"

KEPT_FOR: Final = 5.0
"""Seconds a page's answer is served again before it is made anew."""

MAX_KEPT: Final = 1000
"""Answers kept at most; the oldest go first beyond."""

DAY: Final = 86_400.0
UPTIME_SPANS: Final = {"24h": DAY, "30d": 30 * DAY}
"""The spans a monitor's uptime is shown over, by the name the answer uses."""

RESOLVED_SHOWN: Final = 7 * DAY
"""How long a resolved incident stays on the page."""

INCIDENT_PAGE: Final = 1000
RESOLVED_PAGES: Final = 5
RESOLVED_LOOKBACK: Final = 30 * DAY
"""Resolved incidents are read newest opened first, a page at a time, until
one opened this long ago, or ``RESOLVED_PAGES`` pages: an incident resolved
this week but opened before then is not shown."""

_UNKNOWN: Final = str(MonitorState.UNKNOWN)


def status_pages_blueprint(
    platform: Platform, directory: MonitorDirectory | None = None
) -> Blueprint:
    """The public route of status pages, reading monitors from ``directory``
    once it is loaded, from the platform before."""
    api = Blueprint("api_v1_status_pages", url_prefix=PREFIX)
    kept: dict[str, tuple[float, bytes]] = {}

    @api.get("/public/status-pages/<page_id:str>")
    @public
    @documented(
        Operation(
            "A status page's monitors, uptime and incidents, for anyone",
            STATUS_PAGES,
            {200: schemas.PublicStatusPage},
            errors=(404,),
            description="Needs no credentials. `overall` is `down` when every "
            "monitor checked is down, `degraded` when some are down, pending "
            "or degraded, `maintenance` when some are under maintenance and "
            "the rest up, `up` when all are up, and `unknown` when none has "
            "been checked. Uptime is the share of checks that passed (null "
            "without checks). An answer may be up to 5 seconds old.",
        )
    )
    async def public_status_page(request: Request, page_id: str) -> HTTPResponse:
        Query(request, ())
        if not SLUG.fullmatch(page_id):
            raise SettingNotFound("status_page", page_id)
        now = time.time()
        held = kept.get(page_id)
        if held is not None and now - held[0] < KEPT_FOR:
            return _answer(held[1])

        page = status_page_from_dict(await platform.get_setting("status_page", page_id))
        encoded = orjson.dumps(await public_page(platform, directory, page, now=now))
        if len(kept) >= MAX_KEPT:
            kept.pop(next(iter(kept)))
        kept.pop(page_id, None)
        kept[page_id] = (now, encoded)
        return _answer(encoded)

    return api


def _answer(encoded: bytes) -> HTTPResponse:
    return raw(
        encoded,
        content_type="application/json",
        headers={"Cache-Control": f"public, max-age={int(KEPT_FOR)}"},
    )


async def public_page(
    platform: Platform,
    directory: MonitorDirectory | None,
    page: StatusPage,
    *,
    now: float,
) -> dict[str, Any]:
    """What anyone may read of ``page`` at ``now``.

    1. Find its monitors: those it names, in its order, then those with
       one of its tags, by id; at most ``MAX_MONITORS``.
    2. Read their uptime over each span, and the incidents, at once.
    3. Show each monitor's name, state, latency if the page shows it, and
       uptime; the incidents of these monitors only.
    """
    monitors = await _monitors_of(platform, directory, page)
    ids = [str(monitor["id"]) for monitor in monitors]
    day, month, unresolved, resolved = await asyncio.gather(
        _uptime(platform, ids, now - UPTIME_SPANS["24h"], now),
        _uptime(platform, ids, now - UPTIME_SPANS["30d"], now),
        platform.incidents({"status": [OPEN, ACKNOWLEDGED], "limit": INCIDENT_PAGE}),
        _recently_resolved(platform, now),
    )

    shown = []
    for monitor in monitors:
        monitor_id = str(monitor["id"])
        status: Mapping[str, Any] = monitor.get("status") or {}
        entry: dict[str, Any] = {
            "id": monitor_id,
            "name": monitor["name"],
            "state": status.get("state") or _UNKNOWN,
        }
        if page.show_latency:
            entry["latency_ms"] = status.get("last_latency_ms")
        entry["uptime"] = {"24h": day.get(monitor_id), "30d": month.get(monitor_id)}
        shown.append(entry)

    wanted = set(ids)
    incidents = [
        {
            "monitor_id": incident["monitor_id"],
            "status": incident["status"],
            "opened_at": incident["opened_at"],
            "updated_at": incident["updated_at"],
            "resolved_at": incident.get("resolved_at"),
        }
        for incident in [*unresolved, *resolved]
        if incident.get("monitor_id") in wanted
    ]
    return {
        "id": page.id,
        "title": page.title,
        "description": page.description,
        "at": now,
        "overall": overall_state(entry["state"] for entry in shown),
        "monitors": shown,
        "incidents": incidents,
    }


async def _monitors_of(
    platform: Platform, directory: MonitorDirectory | None, page: StatusPage
) -> list[dict[str, Any]]:
    """The monitors a page shows, each with its status, in the page's order."""
    named = list(page.monitors)
    tagged: list[dict[str, Any]] = []
    found: dict[str, dict[str, Any]] = {}
    if directory is not None and directory.loaded.is_set():
        for monitor_id in named:
            try:
                found[monitor_id] = directory.monitor(monitor_id)
            except KeyError:
                continue
        tagged_ids: set[str] = set()
        for tag in page.tags:
            ids, _ = directory.page(MonitorQuery(tag=tag, limit=MAX_MONITORS))
            tagged_ids.update(ids)
        tagged = [directory.monitor(monitor_id) for monitor_id in sorted(tagged_ids)]
    else:
        wanted_tags = set(page.tags)
        for monitor in await platform.list_monitors():
            monitor_id = str(monitor["id"])
            if monitor_id in page.monitors:
                found[monitor_id] = monitor
            if not wanted_tags.isdisjoint(monitor.get("tags") or ()):
                tagged.append(monitor)
        tagged.sort(key=lambda monitor: str(monitor["id"]))

    shown = [found[monitor_id] for monitor_id in named if monitor_id in found]
    seen = set(found)
    shown.extend(monitor for monitor in tagged if str(monitor["id"]) not in seen)
    return shown[:MAX_MONITORS]


async def _uptime(
    platform: Platform, ids: list[str], since: float, until: float
) -> dict[str, float | None]:
    """Each monitor's uptime over ``[since, until)``, from the hourly rollups."""
    if not ids:
        return {}
    rows = await platform.rollup_summaries(
        {"since": since, "until": until, "monitor_ids": ids}
    )
    return {str(row["monitor_id"]): row.get("uptime") for row in rows}


async def _recently_resolved(platform: Platform, now: float) -> list[dict[str, Any]]:
    """Incidents resolved in the last ``RESOLVED_SHOWN`` seconds, newest first."""
    shown: list[dict[str, Any]] = []
    before: str | None = None
    for _ in range(RESOLVED_PAGES):
        found = await platform.incidents(
            {"status": [RESOLVED], "before": before, "limit": INCIDENT_PAGE}
        )
        shown.extend(
            incident
            for incident in found
            if (incident.get("resolved_at") or 0.0) >= now - RESOLVED_SHOWN
        )
        if len(found) < INCIDENT_PAGE:
            break
        if found[-1]["opened_at"] < now - RESOLVED_LOOKBACK:
            break
        before = str(found[-1]["id"])
    shown.sort(key=lambda incident: -float(incident.get("resolved_at") or 0.0))
    return shown
