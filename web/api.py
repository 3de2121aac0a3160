"""The REST API under ``/api/v1``: monitors, results, status, events, engine.

Handlers only translate between HTTP and the ``Platform``: they read and
check parameters, redact secrets from every monitor they return, and leave
validation of definitions to the platform, whose errors the handlers in
``web.errors`` turn into responses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import empty, json

from actors.platform import MonitorNotFound, Platform
from engine.errors import FieldError, ValidationError
from engine.result import MonitorState
from web.errors import BadRequest
from web.params import Query, json_object
from web.redact import REDACTED, placeholder_errors, redact_monitor, restore_secrets

logger = logging.getLogger(__name__)

PREFIX = "/api/v1"

_STATES = tuple(str(state) for state in MonitorState)
_LIST_FILTERS = ("tag", "kind", "state", "enabled", "q")

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


def api_blueprint(platform: Platform) -> Blueprint:
    """The API's routes, each asking ``platform`` for what it serves."""
    api = Blueprint("api_v1", url_prefix=PREFIX)

    @api.post("/monitors")
    async def create_monitor(request: Request) -> HTTPResponse:
        Query(request, ())
        definition = json_object(request)
        errors = placeholder_errors(definition)
        if errors:
            raise ValidationError(errors)

        monitor = await platform.create_monitor(definition)
        logger.info("created monitor %s", monitor.get("id"))
        return json(
            redact_monitor(monitor),
            status=201,
            headers={"Location": monitor_location(str(monitor["id"]))},
        )

    @api.get("/monitors")
    async def list_monitors(request: Request) -> HTTPResponse:
        query = Query(request, _LIST_FILTERS)
        monitors = await platform.list_monitors(
            tag=query.text("tag"),
            kind=query.text("kind"),
            state=query.choice("state", _STATES),
            enabled=query.boolean("enabled"),
            search=query.text("q"),
        )
        return json({"monitors": [redact_monitor(m) for m in monitors]})

    @api.get("/monitors/<monitor_id:str>")
    async def get_monitor(request: Request, monitor_id: str) -> HTTPResponse:
        Query(request, ())
        return json(redact_monitor(await platform.get_monitor(monitor_id)))

    @api.patch("/monitors/<monitor_id:str>")
    async def update_monitor(request: Request, monitor_id: str) -> HTTPResponse:
        Query(request, ())
        changes = json_object(request)
        _check_same_id(monitor_id, changes)
        changes = await _with_stored_secrets(platform, monitor_id, changes)

        monitor = await platform.update_monitor(monitor_id, changes)
        logger.info("updated monitor %s: %s", monitor_id, ", ".join(sorted(changes)))
        return json(redact_monitor(monitor))

    @api.put("/monitors/<monitor_id:str>")
    async def replace_monitor(request: Request, monitor_id: str) -> HTTPResponse:
        Query(request, ())
        definition = json_object(request)
        _check_same_id(monitor_id, definition)
        definition.setdefault("id", monitor_id)
        definition = await _with_stored_secrets(platform, monitor_id, definition)

        monitor = await platform.replace_monitor(monitor_id, definition)
        logger.info("replaced monitor %s", monitor_id)
        return json(redact_monitor(monitor))

    @api.delete("/monitors/<monitor_id:str>")
    async def delete_monitor(request: Request, monitor_id: str) -> HTTPResponse:
        Query(request, ())
        await platform.delete_monitor(monitor_id)
        logger.info("deleted monitor %s", monitor_id)
        return empty()

    @api.post("/monitors/<monitor_id:str>/pause")
    async def pause_monitor(request: Request, monitor_id: str) -> HTTPResponse:
        Query(request, ())
        monitor = await platform.pause_monitor(monitor_id)
        logger.info("paused monitor %s", monitor_id)
        return json(redact_monitor(monitor))

    @api.post("/monitors/<monitor_id:str>/resume")
    async def resume_monitor(request: Request, monitor_id: str) -> HTTPResponse:
        Query(request, ())
        monitor = await platform.resume_monitor(monitor_id)
        logger.info("resumed monitor %s", monitor_id)
        return json(redact_monitor(monitor))

    @api.get("/monitors/<monitor_id:str>/results")
    async def results(request: Request, monitor_id: str) -> HTTPResponse:
        query = Query(request, ("since", "until", "limit"))
        since, until = query.time("since"), query.time("until")
        limit = query.limit()
        if since is not None and until is not None and until < since:
            raise BadRequest.parameter("until", "must not be before since")

        found = await platform.results(
            monitor_id, since=since, until=until, limit=limit
        )
        return json({"results": found})

    @api.get("/status")
    async def status(request: Request) -> HTTPResponse:
        Query(request, ())
        return json({"status": await platform.status()})

    @api.get("/events")
    async def events(request: Request) -> HTTPResponse:
        query = Query(request, ("after", "monitor", "limit"))
        found = await platform.events(
            after=query.text("after"),
            monitor_id=query.text("monitor"),
            limit=query.limit(),
        )
        return json({"events": found})

    @api.get("/reports/uptime")
    async def uptime_report(request: Request) -> HTTPResponse:
        query = Query(request, ("period", "by", "since", "until", "monitors", "tags"))
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
        return json({"period": period, "by": by, "rows": found})

    @api.get("/reports/summary")
    async def summary_report(request: Request) -> HTTPResponse:
        query = Query(request, ("since", "until", "monitors"))
        since, until = _report_span(query, 86_400.0)
        found = await platform.rollup_summaries(
            {"since": since, "until": until, "monitor_ids": _listed(query, "monitors")}
        )
        return json({"since": since, "until": until, "monitors": found})

    @api.post("/apply")
    async def apply(request: Request) -> HTTPResponse:
        Query(request, ())
        definitions = _apply_body(json_object(request))
        # The body goes on as the text it came in, unless a secret's
        # placeholder in it (perhaps written with \u escapes) has to be
        # replaced by the stored value.
        sent: list[dict[str, Any]] | bytes = request.body
        if REDACTED.encode() in request.body or b"\\u" in request.body:
            sent = [
                await _restored_for_apply(platform, index, definition)
                for index, definition in enumerate(definitions)
            ]
        outcomes = await platform.apply_monitors(sent)
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
    async def engine(request: Request) -> HTTPResponse:
        Query(request, ())
        shards, actors, storage = await asyncio.gather(
            platform.engine_stats(), platform.actors(), platform.storage_stats()
        )
        return json({"shards": shards, "actors": actors, "storage": storage})

    @api.post("/engine/shards")
    async def add_shard(request: Request) -> HTTPResponse:
        Query(request, ())
        added = await platform.add_shard()
        logger.info("added %s, moving %d monitors", added["shard"], added["moved"])
        return json(added, status=201)

    @api.delete("/engine/shards/<name:str>")
    async def remove_shard(request: Request, name: str) -> HTTPResponse:
        Query(request, ())
        removed = await platform.remove_shard(name)
        logger.info("removed %s, moving %d monitors", name, removed["moved"])
        return json(removed)

    return api


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
