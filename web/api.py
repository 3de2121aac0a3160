"""The REST API under ``/api/v1``: monitors, results, status, events, engine.

Handlers only translate between HTTP and the ``Platform``: they read and
check parameters, redact secrets from every monitor they return, and leave
validation of definitions to the platform, whose errors the handlers in
``web.errors`` turn into responses. Each route declares its scope
(``web.access``) and documents itself (``web.openapi``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import quote

import orjson
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import empty, json, raw

from actors.platform import MonitorExists, MonitorNotFound, Platform
from engine.errors import FieldError, ValidationError
from engine.model import monitor_from_dict
from engine.result import MonitorState
from web import schemas
from web.access import requires
from web.directory import SORTS, MonitorDirectory, MonitorQuery
from web.errors import ApiError, BadRequest, summary
from web.monitor_files import (
    FORMATS,
    export_response,
    export_tags,
    sent_as_yaml,
    yaml_definitions,
)
from web.openapi import (
    CURSOR,
    LIMIT,
    SINCE,
    UNTIL,
    Operation,
    Param,
    documented,
    page_of,
    sort_param,
)
from web.paging import cursor_of, encode_cursor, page_in_memory, sort_of
from web.params import Query, json_object
from web.redact import REDACTED, placeholder_errors, redact_monitor, restore_secrets

logger = logging.getLogger(__name__)

PREFIX = "/api/v1"

_STATES = tuple(str(state) for state in MonitorState)
_LIST_PARAMS = ("tag", "kind", "state", "enabled", "q", "sort", "cursor", "limit")

MONITORS: Final = "monitors"
RESULTS: Final = "results"
EVENTS: Final = "events"
REPORTS: Final = "reports"
ENGINE: Final = "engine"

LIST_PARAMS: Final = (
    Param("tag", {"type": "string"}, "only monitors with this tag"),
    Param("kind", {"type": "string"}, "only monitors of this check kind"),
    Param("state", {"enum": list(_STATES)}, "only monitors in this state"),
    Param("enabled", {"type": "boolean"}, "only monitors enabled, or paused"),
    Param("q", {"type": "string"}, "only monitors whose name holds this text"),
    sort_param(SORTS, "id"),
    LIMIT,
    CURSOR,
)

MONITOR_FIELDS: Final = {
    "id": {"type": "string", "maxLength": 64},
    "name": {"type": "string", "minLength": 1},
    "kind": {"type": "string"},
    "target": {"type": "string"},
    "interval": {"type": ["number", "string"]},
    "timeout": {"type": ["number", "string"]},
    "retries": {"type": "integer", "minimum": 0},
    "retry_interval": {"type": ["number", "string"]},
    "tags": {"type": "array", "items": {"type": "string"}},
    "priority": {"enum": ["critical", "normal", "low"]},
    "enabled": {"type": "boolean"},
    "description": {"type": "string"},
    "options": {"type": "object"},
    "depends_on": {"type": "array", "items": {"type": "string"}},
}
"""A monitor definition's fields; the README's monitor table says what each means."""

MONITOR_DEFINITION: Final = {
    "type": "object",
    "required": ["name", "kind"],
    "properties": MONITOR_FIELDS,
    "additionalProperties": False,
}
MONITOR_CHANGES: Final = {
    "type": "object",
    "properties": MONITOR_FIELDS,
    "additionalProperties": False,
}
APPLY_BODY: Final = {
    "type": "object",
    "required": ["monitors"],
    "properties": {"monitors": {"type": "array", "items": MONITOR_DEFINITION}},
    "additionalProperties": False,
}
"""An apply body, and the monitor file an export writes."""
APPLY_YAML: Final = {
    "type": "string",
    "description": "a monitor file as `upcast apply` reads it: a list of "
    "definitions or {monitors: [...]}, in YAML (also as application/x-yaml or "
    "text/yaml)",
}
BULK_BODY: Final = {
    "type": "object",
    "required": ["operation", "items"],
    "properties": {
        "operation": {"enum": ["create", "update", "pause", "resume", "delete"]},
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "items": {
                "oneOf": [
                    {"type": "string", "description": "a monitor id"},
                    MONITOR_DEFINITION,
                    {
                        "type": "object",
                        "required": ["id", "changes"],
                        "properties": {
                            "id": {"type": "string"},
                            "changes": MONITOR_CHANGES,
                        },
                    },
                ]
            },
        },
    },
    "additionalProperties": False,
}
REPORT_PAGE: Final = {
    "type": "object",
    "required": ["period", "by", "rows", "next_cursor"],
    "properties": {
        "period": {"type": "string"},
        "by": {"type": "string"},
        "rows": {"type": "array", "items": schemas.Report},
        "next_cursor": {"type": ["string", "null"]},
    },
}
SUMMARY_PAGE: Final = {
    "type": "object",
    "required": ["since", "until", "monitors", "next_cursor"],
    "properties": {
        "since": {"type": "number"},
        "until": {"type": "number"},
        "monitors": {"type": "array", "items": schemas.Report},
        "next_cursor": {"type": ["string", "null"]},
    },
}


YIELD_EVERY: Final = 500

MAX_APPLY = 10_000
"""The most definitions one apply request may carry; larger sets go in parts."""


def monitor_location(monitor_id: str) -> str:
    """The path a monitor is found at."""
    return f"{PREFIX}/monitors/{quote(monitor_id, safe='')}"


REPORT_PERIODS = ("day", "week", "month")

REPORT_SPANS = {
    "day": 30 * 86_400.0,
    "week": 12 * 7 * 86_400.0,
    "month": 366 * 86_400.0,
}
"""How far back a report of each period reaches when ``since`` is not given."""

MAX_LISTED = 1000
"""Monitors or tags one report may name."""


def _report_span(query: Query, default_span: float) -> tuple[float, float]:
    """A report's ``since`` and ``until``: until now and back by default."""
    until = query.time("until")
    until = time.time() if until is None else until
    since = query.time("since")
    since = until - default_span if since is None else since
    if until < since:
        raise BadRequest.parameter("until", "must not be before since")
    return since, until


def _listed(query: Query, name: str) -> list[str] | None:
    """A comma-separated list parameter, or None when absent."""
    text = query.text(name, limit=100_000)
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items or len(items) > MAX_LISTED:
        raise BadRequest.parameter(
            name, f"must list 1 to {MAX_LISTED} names separated by commas"
        )
    return items


def api_blueprint(
    platform: Platform, directory: MonitorDirectory | None = None
) -> Blueprint:
    """The API's routes, each asking ``platform`` for what it serves.

    Lists of monitors and statuses are read from ``directory`` once it is
    loaded (``web.directory``), and from the platform before that.
    """
    api = Blueprint("api_v1", url_prefix=PREFIX)

    def kept(monitor: Mapping[str, Any]) -> None:
        if directory is not None:
            directory.put(monitor)

    def forgotten(monitor_id: str) -> None:
        if directory is not None:
            directory.remove(monitor_id)

    @api.post("/monitors")
    @requires("monitors:write", "monitor.create")
    @documented(
        Operation(
            "Create a monitor",
            MONITORS,
            {201: schemas.Monitor},
            body=MONITOR_DEFINITION,
            errors=(409, 422),
            headers={201: {"Location": "where the monitor is found"}},
        )
    )
    async def create_monitor(request: Request) -> HTTPResponse:
        Query(request, ())
        definition = json_object(request)
        errors = placeholder_errors(definition)
        if errors:
            raise ValidationError(errors)

        monitor = await platform.create_monitor(definition)
        kept(monitor)
        logger.info("created monitor %s", monitor.get("id"))
        return json(
            redact_monitor(monitor),
            status=201,
            headers={"Location": monitor_location(str(monitor["id"]))},
        )

    @api.get("/monitors")
    @requires("monitors:read")
    @documented(
        Operation(
            "List monitors with their status",
            MONITORS,
            {200: page_of("monitors", schemas.Monitor)},
            params=LIST_PARAMS,
        )
    )
    async def list_monitors(request: Request) -> HTTPResponse:
        query = Query(request, _LIST_PARAMS)
        wanted = _monitor_query(query)
        if directory is not None and directory.loaded.is_set():
            return _directory_page(
                directory, wanted, "monitors", directory.monitor_json
            )
        monitors, following = await _platform_page(platform, wanted)
        return json({"monitors": monitors, "next_cursor": following})

    @api.get("/monitors/<monitor_id:str>")
    @requires("monitors:read")
    @documented(
        Operation("Read a monitor", MONITORS, {200: schemas.Monitor}, errors=(404,))
    )
    async def get_monitor(request: Request, monitor_id: str) -> HTTPResponse:
        Query(request, ())
        return json(redact_monitor(await platform.get_monitor(monitor_id)))

    @api.patch("/monitors/<monitor_id:str>")
    @requires("monitors:write", "monitor.update")
    @documented(
        Operation(
            "Change some fields of a monitor",
            MONITORS,
            {200: schemas.Monitor},
            body=MONITOR_CHANGES,
            errors=(404, 422),
        )
    )
    async def update_monitor(request: Request, monitor_id: str) -> HTTPResponse:
        Query(request, ())
        changes = json_object(request)
        _check_same_id(monitor_id, changes)
        changes = await _with_stored_secrets(platform, monitor_id, changes)

        monitor = await platform.update_monitor(monitor_id, changes)
        kept(monitor)
        logger.info("updated monitor %s: %s", monitor_id, ", ".join(sorted(changes)))
        return json(redact_monitor(monitor))

    @api.put("/monitors/<monitor_id:str>")
    @requires("monitors:write", "monitor.replace")
    @documented(
        Operation(
            "Replace a monitor's whole definition",
            MONITORS,
            {200: schemas.Monitor},
            body=MONITOR_DEFINITION,
            errors=(404, 422),
        )
    )
    async def replace_monitor(request: Request, monitor_id: str) -> HTTPResponse:
        Query(request, ())
        definition = json_object(request)
        _check_same_id(monitor_id, definition)
        definition.setdefault("id", monitor_id)
        definition = await _with_stored_secrets(platform, monitor_id, definition)

        monitor = await platform.replace_monitor(monitor_id, definition)
        kept(monitor)
        logger.info("replaced monitor %s", monitor_id)
        return json(redact_monitor(monitor))

    @api.delete("/monitors/<monitor_id:str>")
    @requires("monitors:write", "monitor.delete")
    @documented(Operation("Delete a monitor", MONITORS, {204: None}, errors=(404,)))
    async def delete_monitor(request: Request, monitor_id: str) -> HTTPResponse:
        Query(request, ())
        await platform.delete_monitor(monitor_id)
        forgotten(monitor_id)
        logger.info("deleted monitor %s", monitor_id)
        return empty()

    @api.post("/monitors/<monitor_id:str>/pause")
    @requires("monitors:write", "monitor.pause")
    @documented(
        Operation("Pause a monitor", MONITORS, {200: schemas.Monitor}, errors=(404,))
    )
    async def pause_monitor(request: Request, monitor_id: str) -> HTTPResponse:
        Query(request, ())
        monitor = await platform.pause_monitor(monitor_id)
        kept(monitor)
        logger.info("paused monitor %s", monitor_id)
        return json(redact_monitor(monitor))

    @api.post("/monitors/<monitor_id:str>/resume")
    @requires("monitors:write", "monitor.resume")
    @documented(
        Operation("Resume a monitor", MONITORS, {200: schemas.Monitor}, errors=(404,))
    )
    async def resume_monitor(request: Request, monitor_id: str) -> HTTPResponse:
        Query(request, ())
        monitor = await platform.resume_monitor(monitor_id)
        kept(monitor)
        logger.info("resumed monitor %s", monitor_id)
        return json(redact_monitor(monitor))

    @api.post("/monitors/bulk")
    @requires("monitors:write", "monitor.bulk")
    @documented(
        Operation(
            "Create, change, pause, resume or delete many monitors",
            MONITORS,
            {200: schemas.BulkAnswer},
            body=BULK_BODY,
            errors=(422,),
            description="Each item is done on its own: one that fails does not "
            "stop the others, and the answer says what each came to.",
        )
    )
    async def bulk(request: Request) -> HTTPResponse:
        Query(request, ())
        operation, items = _bulk_body(json_object(request))
        outcomes = [
            await _bulk_item(platform, operation, index, item)
            for index, item in enumerate(items)
        ]
        for outcome in outcomes:
            if outcome["status"] >= 300 or outcome["id"] is None:
                continue
            if operation == "delete":
                forgotten(outcome["id"])
            elif outcome.get("monitor") is not None:
                kept(outcome.pop("stored"))
        for outcome in outcomes:
            outcome.pop("stored", None)
        failed = sum(1 for outcome in outcomes if outcome["status"] >= 300)
        logger.info(
            "bulk %s of %d monitors: %d failed", operation, len(outcomes), failed
        )
        return json(
            {"succeeded": len(outcomes) - failed, "failed": failed, "items": outcomes}
        )

    @api.get("/monitors/<monitor_id:str>/results")
    @requires("monitors:read")
    @documented(
        Operation(
            "A monitor's check results, newest first",
            RESULTS,
            {200: page_of("results", schemas.Result)},
            params=(SINCE, UNTIL, LIMIT, CURSOR),
            errors=(404,),
        )
    )
    async def results(request: Request, monitor_id: str) -> HTTPResponse:
        query = Query(request, ("since", "until", "limit", "cursor"))
        since, until = query.time("since"), query.time("until")
        limit = query.limit()
        if since is not None and until is not None and until < since:
            raise BadRequest.parameter("until", "must not be before since")
        # The next page ends before the last result shown; one monitor's
        # checks never start at the same microsecond, so none is skipped.
        after = cursor_of(query)
        if after is not None:
            moment = _number_key(after)
            until = moment if until is None else min(until, moment)

        found = await platform.results(
            monitor_id, since=since, until=until, limit=limit
        )
        following = (
            encode_cursor([found[-1]["started_at"]]) if len(found) == limit else None
        )
        return json({"results": found, "next_cursor": following})

    @api.get("/status")
    @requires("monitors:read")
    @documented(
        Operation(
            "Every monitor's state and last check",
            MONITORS,
            {200: page_of("status", schemas.StatusEntry)},
            params=LIST_PARAMS,
        )
    )
    async def status(request: Request) -> HTTPResponse:
        query = Query(request, _LIST_PARAMS)
        wanted = _monitor_query(query)
        if directory is not None and directory.loaded.is_set():
            return _directory_page(
                directory, wanted, "status", directory.status_entry_json
            )
        monitors, following = await _platform_page(platform, wanted)
        entries = [
            {"id": m["id"], "name": m["name"], **(m.get("status") or {})}
            for m in monitors
        ]
        return json({"status": entries, "next_cursor": following})

    @api.get("/events")
    @requires("monitors:read")
    @documented(
        Operation(
            "Events, oldest first",
            EVENTS,
            {200: page_of("events", schemas.Event)},
            params=(
                Param("monitor", {"type": "string"}, "only this monitor's events"),
                Param(
                    "after",
                    {"type": "string"},
                    "only events after this event id (the same as a cursor)",
                ),
                LIMIT,
                CURSOR,
            ),
        )
    )
    async def events(request: Request) -> HTTPResponse:
        query = Query(request, ("after", "monitor", "limit", "cursor"))
        after = query.text("after")
        cursor = cursor_of(query)
        if cursor is not None:
            after = str(cursor[0])
        limit = query.limit()
        found = await platform.events(
            after=after, monitor_id=query.text("monitor"), limit=limit
        )
        following = encode_cursor([found[-1]["id"]]) if len(found) == limit else None
        return json({"events": found, "next_cursor": following})

    @api.get("/reports/uptime")
    @requires("monitors:read")
    @documented(
        Operation(
            "Uptime per day, week or month, by monitor or tag",
            REPORTS,
            {200: REPORT_PAGE},
            params=(
                Param("period", {"enum": list(REPORT_PERIODS)}, "day, week or month"),
                Param("by", {"enum": ["monitor", "tag"]}, "monitor or tag"),
                SINCE,
                UNTIL,
                Param("monitors", {"type": "string"}, "monitor ids, by commas"),
                Param("tags", {"type": "string"}, "tags, by commas"),
                LIMIT,
                CURSOR,
            ),
        )
    )
    async def uptime_report(request: Request) -> HTTPResponse:
        query = Query(
            request,
            ("period", "by", "since", "until", "monitors", "tags", "limit", "cursor"),
        )
        period = query.choice("period", REPORT_PERIODS) or "day"
        by = query.choice("by", ("monitor", "tag")) or "monitor"
        since, until = _report_span(query, REPORT_SPANS[period])
        found = await platform.uptime_report(
            {
                "period": period,
                "by": by,
                "since": since,
                "until": until,
                "monitor_ids": _listed(query, "monitors"),
                "tags": _listed(query, "tags"),
            }
        )
        rows, following = page_in_memory(
            found,
            lambda row: (str(row.get("start", "")), str(row.get("key", row))),
            after=cursor_of(query),
            limit=query.limit(),
        )
        return json(
            {"period": period, "by": by, "rows": rows, "next_cursor": following}
        )

    @api.get("/reports/summary")
    @requires("monitors:read")
    @documented(
        Operation(
            "Each monitor's uptime and latency over a span",
            REPORTS,
            {200: SUMMARY_PAGE},
            params=(
                SINCE,
                UNTIL,
                Param("monitors", {"type": "string"}, "monitor ids, by commas"),
                LIMIT,
                CURSOR,
            ),
        )
    )
    async def summary_report(request: Request) -> HTTPResponse:
        query = Query(request, ("since", "until", "monitors", "limit", "cursor"))
        since, until = _report_span(query, 86_400.0)
        found = await platform.rollup_summaries(
            {"since": since, "until": until, "monitor_ids": _listed(query, "monitors")}
        )
        monitors, following = page_in_memory(
            found,
            lambda row: (str(row.get("monitor_id", "")),),
            after=cursor_of(query),
            limit=query.limit(),
        )
        return json(
            {
                "since": since,
                "until": until,
                "monitors": monitors,
                "next_cursor": following,
            }
        )

    @api.get("/monitors/export")
    @requires("monitors:read")
    @documented(
        Operation(
            "Every monitor as a monitor file, to keep or to apply again",
            MONITORS,
            {200: APPLY_BODY},
            params=(
                Param(
                    "format",
                    {"enum": list(FORMATS), "default": "yaml"},
                    "the file's format",
                ),
                Param(
                    "tags",
                    {"type": "string"},
                    "only monitors with one of these tags, separated by commas",
                ),
            ),
            media_type=FORMATS["yaml"],
            other_media_types=(FORMATS["json"],),
            headers={200: {"Content-Disposition": "the file's name"}},
            description="The file `upcast apply` reads, monitors ordered by id. "
            "Secrets read as `********`; applying the file again keeps the "
            "stored ones.",
        )
    )
    async def export_monitors(request: Request) -> HTTPResponse:
        query = Query(request, ("format", "tags"))
        file_format = query.choice("format", tuple(FORMATS)) or "yaml"
        tags = export_tags(query.text("tags", limit=10_000))
        return export_response(await platform.list_monitors(), file_format, tags)

    @api.post("/apply")
    @requires("monitors:write", "monitor.apply")
    @documented(
        Operation(
            "Create or replace many monitors, all or nothing",
            MONITORS,
            {200: schemas.ApplyAnswer},
            body=APPLY_BODY,
            body_alternatives={"application/yaml": APPLY_YAML},
            errors=(422,),
            description="Every definition is checked first; if any is bad, "
            "nothing changes and every problem is named. A body sent as YAML "
            "(`Content-Type: application/yaml`) is read as `upcast apply` "
            "reads a file; text that is not YAML is refused naming its line.",
        )
    )
    async def apply(request: Request) -> HTTPResponse:
        Query(request, ())
        sent: list[dict[str, Any]] | bytes
        if sent_as_yaml(request):
            definitions = _apply_body({"monitors": yaml_definitions(request.body)})
            sent = [
                await _restored_for_apply(platform, index, definition)
                for index, definition in enumerate(definitions)
            ]
        else:
            definitions = _apply_body(json_object(request))
            # The body goes on as the text it came in, unless a secret's
            # placeholder in it (perhaps written with \u escapes) has to be
            # replaced by the stored value.
            sent = request.body
            if REDACTED.encode() in request.body or b"\\u" in request.body:
                sent = [
                    await _restored_for_apply(platform, index, definition)
                    for index, definition in enumerate(definitions)
                ]
        outcomes = await platform.apply_monitors(sent)
        await _keep_applied(directory, definitions, outcomes)
        counts = {outcome: 0 for outcome in ("created", "updated", "unchanged")}
        for outcome, _ in outcomes:
            counts[outcome] += 1
        logger.info(
            "applied %d monitors: %d created, %d updated",
            len(outcomes),
            counts["created"],
            counts["updated"],
        )
        return json(
            {
                **counts,
                "monitors": [
                    {"id": monitor_id, "outcome": outcome}
                    for outcome, monitor_id in outcomes
                ],
            }
        )

    @api.get("/engine")
    @requires("monitors:read")
    @documented(
        Operation("The shards, actors and store at work", ENGINE, {200: schemas.Engine})
    )
    async def engine(request: Request) -> HTTPResponse:
        Query(request, ())
        shards, actors, storage = await asyncio.gather(
            platform.engine_stats(), platform.actors(), platform.storage_stats()
        )
        return json({"shards": shards, "actors": actors, "storage": storage})

    @api.post("/engine/shards")
    @requires("admin", "shard.add")
    @documented(
        Operation(
            "Start one more shard and move its share of monitors to it",
            ENGINE,
            {201: schemas.ShardChange},
        )
    )
    async def add_shard(request: Request) -> HTTPResponse:
        Query(request, ())
        added = await platform.add_shard()
        logger.info("added %s, moving %d monitors", added["shard"], added["moved"])
        return json(added, status=201)

    @api.delete("/engine/shards/<name:str>")
    @requires("admin", "shard.remove")
    @documented(
        Operation(
            "Move a shard's monitors to the others and stop it",
            ENGINE,
            {200: schemas.ShardChange},
            errors=(404,),
        )
    )
    async def remove_shard(request: Request, name: str) -> HTTPResponse:
        Query(request, ())
        removed = await platform.remove_shard(name)
        logger.info("removed %s, moving %d monitors", name, removed["moved"])
        return json(removed)

    return api


async def _keep_applied(
    directory: MonitorDirectory | None,
    definitions: list[dict[str, Any]],
    outcomes: list[list[str]],
) -> None:
    """Put what an apply changed in the directory, as the platform keeps it.

    The platform took every definition, so each reads back into the same
    monitor here; lists then show the apply before the feed tells of it.
    Reading one costs about 30 µs, so other requests get a turn every
    ``YIELD_EVERY`` of them.
    """
    if directory is None:
        return
    changed = {monitor_id for outcome, monitor_id in outcomes if outcome != "unchanged"}
    kept: list[dict[str, Any]] = []
    for count, definition in enumerate(definitions, 1):
        if count % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        try:
            monitor = monitor_from_dict(definition)
        except ValidationError:
            continue
        if monitor.id in changed:
            kept.append(monitor.to_dict())
    directory.put_many(kept)
    directory.applied_here(outcomes)


def _monitor_query(query: Query) -> MonitorQuery:
    """Which monitors a list asks for, in which order, from where."""
    sort, descending = sort_of(query, SORTS, "id")
    return MonitorQuery(
        tag=query.text("tag"),
        kind=query.text("kind"),
        state=query.choice("state", _STATES),
        enabled=query.boolean("enabled"),
        search=query.text("q"),
        sort=sort,
        descending=descending,
        after=cursor_of(query),
        limit=query.limit(),
    )


def _directory_page(
    directory: MonitorDirectory,
    wanted: MonitorQuery,
    key: str,
    item_json: Callable[[str], bytes],
) -> HTTPResponse:
    """One page from the directory, joined from each item's kept JSON."""
    try:
        ids, last = directory.page(wanted)
    except TypeError:
        raise BadRequest.parameter(
            "cursor", "is not a cursor of this list in this order"
        ) from None
    following = None if last is None else encode_cursor(last)
    body = b"".join(
        (
            b'{"',
            key.encode(),
            b'":[',
            b",".join(item_json(monitor_id) for monitor_id in ids),
            b'],"next_cursor":',
            orjson.dumps(following),
            b"}",
        )
    )
    return raw(body, content_type="application/json")


async def _platform_page(
    platform: Platform, wanted: MonitorQuery
) -> tuple[list[dict[str, Any]], str | None]:
    """A page cut here from what the platform lists: before the directory loads."""
    sort, descending = wanted.sort, wanted.descending
    found = await platform.list_monitors(
        tag=wanted.tag,
        kind=wanted.kind,
        state=wanted.state,
        enabled=wanted.enabled,
        search=wanted.search,
    )
    shown = [redact_monitor(monitor) for monitor in found]
    return page_in_memory(
        shown,
        lambda monitor: _fallback_key(sort, monitor),
        after=wanted.after,
        limit=wanted.limit,
        descending=descending,
    )


def _fallback_key(sort: str, monitor: Mapping[str, Any]) -> tuple[Any, ...]:
    """A monitor's key in ``sort`` order, as ``MonitorDirectory.sort_key`` makes it."""
    monitor_id = str(monitor["id"])
    if sort == "id":
        return (monitor_id,)
    if sort == "name":
        return (str(monitor["name"]).casefold(), monitor_id)
    if sort == "kind":
        return (str(monitor["kind"]), monitor_id)
    value = (monitor.get("status") or {}).get(sort)
    return (value is not None, value if value is not None else 0, monitor_id)


def _number_key(key: tuple[Any, ...]) -> float:
    value = key[0]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest.parameter("cursor", "is not a cursor this list gave")
    return float(value)


BULK_OPERATIONS: Final = ("create", "update", "pause", "resume", "delete")
MAX_BULK: Final = 1000


def _bulk_body(body: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """The operation and items of a bulk request, checked."""
    problems: list[FieldError] = [
        FieldError(str(name), "is not a known field")
        for name in body
        if name not in ("operation", "items")
    ]
    operation = body.get("operation")
    if operation not in BULK_OPERATIONS:
        problems.append(
            FieldError(
                "operation",
                f"must be one of {', '.join(BULK_OPERATIONS)}, got {operation!r}",
            )
        )
    items = body.get("items")
    if not isinstance(items, list) or not items:
        problems.append(FieldError("items", "must be a list of at least one item"))
    elif len(items) > MAX_BULK:
        problems.append(
            FieldError("items", f"must hold at most {MAX_BULK}, got {len(items)}")
        )
    if problems:
        raise ValidationError(problems)
    assert isinstance(operation, str)
    assert isinstance(items, list)
    return operation, items


async def _bulk_item(
    platform: Platform, operation: str, index: int, item: Any
) -> dict[str, Any]:
    """Do one item of a bulk request; what it came to, never raising."""
    monitor_id = _bulk_id(operation, item)
    outcome: dict[str, Any] = {"index": index, "id": monitor_id}
    try:
        stored = await _bulk_change(platform, operation, item, monitor_id)
    except ValidationError as exc:
        return {**outcome, "status": 422, "error": _error(422, exc.errors)}
    except MonitorNotFound as exc:
        return {**outcome, "status": 404, "error": _error(404, [], str(exc))}
    except MonitorExists as exc:
        return {**outcome, "status": 409, "error": _error(409, [], str(exc))}
    except ApiError as exc:
        return {
            **outcome,
            "status": exc.status,
            "error": _error(exc.status, exc.fields, exc.message),
        }
    if stored is None:
        return {**outcome, "status": 204}
    return {
        **outcome,
        "id": str(stored["id"]),
        "status": 201 if operation == "create" else 200,
        "monitor": redact_monitor(stored),
        "stored": stored,
    }


def _bulk_id(operation: str, item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping) and isinstance(item.get("id"), str):
        return str(item["id"])
    return None


async def _bulk_change(
    platform: Platform, operation: str, item: Any, monitor_id: str | None
) -> dict[str, Any] | None:
    """The change one bulk item asks for; the monitor after it (None: deleted)."""
    if operation == "create":
        if not isinstance(item, Mapping):
            raise ValidationError([FieldError("item", "must be a monitor definition")])
        definition = dict(item)
        errors = placeholder_errors(definition)
        if errors:
            raise ValidationError(errors)
        return await platform.create_monitor(definition)
    if monitor_id is None:
        raise ValidationError(
            [FieldError("id", "each item must be a monitor id or carry one")]
        )
    if operation == "update":
        changes = item.get("changes") if isinstance(item, Mapping) else None
        if not isinstance(changes, Mapping):
            raise ValidationError([FieldError("changes", "must be an object")])
        _check_same_id(monitor_id, changes)
        restored = await _with_stored_secrets(platform, monitor_id, dict(changes))
        return await platform.update_monitor(monitor_id, restored)
    if operation == "pause":
        return await platform.pause_monitor(monitor_id)
    if operation == "resume":
        return await platform.resume_monitor(monitor_id)
    await platform.delete_monitor(monitor_id)
    return None


def _error(
    status: int, fields: list[FieldError], message: str | None = None
) -> dict[str, Any]:
    return {
        "status": status,
        "message": message or summary(fields),
        "fields": [{"field": e.field, "problem": e.problem} for e in fields],
    }


def _apply_body(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The definitions of an apply request: ``{"monitors": [...]}``."""
    unknown = sorted(set(body) - {"monitors"})
    if unknown:
        raise BadRequest.parameter(
            unknown[0], "is not a known field; an apply body has only monitors"
        )
    definitions = body.get("monitors")
    if not isinstance(definitions, list):
        raise BadRequest.parameter("monitors", "must be a list of definitions")
    if len(definitions) > MAX_APPLY:
        raise BadRequest.parameter(
            "monitors",
            f"must hold at most {MAX_APPLY} definitions, got {len(definitions)}; "
            "send larger sets in parts",
        )
    problems = [
        FieldError(f"monitors[{index}]", "must be a monitor definition (an object)")
        for index, definition in enumerate(definitions)
        if not isinstance(definition, Mapping)
    ]
    if problems:
        raise ValidationError(problems)
    return definitions


async def _restored_for_apply(
    platform: Platform, index: int, definition: dict[str, Any]
) -> dict[str, Any]:
    """A definition with the stored secret wherever its placeholder came back.

    Only a monitor that exists has secrets to restore; for any other the
    placeholder is an error naming the field.
    """
    if not placeholder_errors(definition):
        return definition
    monitor_id = definition.get("id")
    stored: Mapping[str, Any] = {}
    if isinstance(monitor_id, str):
        try:
            stored = await platform.get_monitor(monitor_id)
        except MonitorNotFound:
            stored = {}
    restored, errors = restore_secrets(definition, stored)
    if errors:
        raise ValidationError(
            [FieldError(f"monitors[{index}].{e.field}", e.problem) for e in errors]
        )
    return restored


def _check_same_id(monitor_id: str, definition: Mapping[str, Any]) -> None:
    """Refuse a body that names another monitor than its path does."""
    given = definition.get("id")
    if given is not None and given != monitor_id:
        raise ValidationError(
            [
                FieldError(
                    "id",
                    f"must match the id in the path ({monitor_id!r}), got {given!r}; "
                    "an id cannot be changed",
                )
            ]
        )


async def _with_stored_secrets(
    platform: Platform, monitor_id: str, sent: dict[str, Any]
) -> dict[str, Any]:
    """The definition with the stored secret wherever the placeholder came back.

    The stored definition is only read when a placeholder is present, so an
    update that carries real values costs no extra call.
    """
    if not placeholder_errors(sent):
        return sent
    stored = await platform.get_monitor(monitor_id)
    restored, errors = restore_secrets(sent, stored)
    if errors:
        raise ValidationError(errors)
    return restored
