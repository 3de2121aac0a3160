"""The alerting part of the REST API: incidents, alert settings, deliveries.

Under ``/api/v1``: ``/incidents`` (list, read with the timeline,
acknowledge, resolve, add a note), the settings ``/channels``, ``/routes``,
``/escalation-policies``, ``/maintenance``, ``/slos`` and ``/status-pages``
(list, create, read, replace, delete), ``/channels/<id>/test`` and
``/channels/<id>/deliveries``, and
``/outbox`` with its dead letters and ``/outbox/<id>/requeue``. A channel's
secret fields are never returned once stored: they read as ``********``,
and sending that back keeps the stored value.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Final
from urllib.parse import quote

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import empty, json

from actors.platform import AlertingPlatform
from alerting.maintenance import maintenance_from_dict
from alerting.status_pages import (
    MAX_DESCRIPTION,
    MAX_MONITORS,
    MAX_TAGS,
    MAX_TITLE,
    SLUG,
)
from engine.durations import parse_duration
from engine.errors import FieldError, ValidationError
from notify.settings import HIDDEN, hide_secrets, keep_secrets, secret_fields
from store.alerting import INCIDENT_STATUSES
from store.outbox import STATES as OUTBOX_STATES
from web import schemas
from web.access import Principal, requires
from web.errors import ApiError, BadRequest, summary
from web.openapi import CURSOR, LIMIT, Operation, Param, documented, page_of
from web.paging import cursor_of, encode_cursor, page_in_memory
from web.params import Query, json_object

logger = logging.getLogger(__name__)

PREFIX: Final = "/api/v1"

SETTING_PATHS: Final = {
    "channels": "channel",
    "routes": "route",
    "escalation-policies": "escalation",
    "maintenance": "maintenance",
    "slos": "slo",
    "status-pages": "status_page",
}
"""Where each kind of setting is served."""

SETTING_NOUNS: Final = {
    "channel": "notification channel",
    "route": "route",
    "escalation": "escalation policy",
    "maintenance": "maintenance window",
    "slo": "service level objective",
    "status_page": "status page",
}

INCIDENTS: Final = "incidents"
SETTINGS: Final = "alert settings"
STATUS_PAGES: Final = "status pages"

SETTING_ACCESS: Final = {"status_page": ("monitors:read", "monitors:write")}
"""The scopes that read and that change a kind of setting, where they are not
``alerts:read`` and ``alerts:write``: a status page is about monitors, and
whoever may change monitors may publish them."""
SETTING_TAGS: Final = {"status_page": STATUS_PAGES}

STATUS_PAGE_BODY: Final = {
    "type": "object",
    "required": ["id", "title"],
    "properties": {
        "id": {
            "type": "string",
            "pattern": f"^{SLUG.pattern}$",
            "description": "the page's address: /status/<id>",
        },
        "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
        "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
        "monitors": {
            "type": "array",
            "maxItems": MAX_MONITORS,
            "items": {"type": "string"},
            "description": "monitor ids shown",
        },
        "tags": {
            "type": "array",
            "maxItems": MAX_TAGS,
            "items": {"type": "string"},
            "description": "every monitor with one of these tags is shown too",
        },
        "show_latency": {"type": "boolean", "default": True},
    },
    "additionalProperties": False,
}
SETTING_SHAPES: Final = {"status_page": (STATUS_PAGE_BODY, schemas.StatusPage)}
"""The body and answer of a kind of setting, where the document says more
than that it is an object with an id."""

NOTE_BODY: Final = {
    "type": "object",
    "properties": {"note": {"type": "string", "maxLength": 10_000}},
    "additionalProperties": False,
}
ACKNOWLEDGE_BODY: Final = {
    "type": "object",
    "properties": {
        "note": {"type": "string", "maxLength": 10_000},
        "for": {
            "type": ["string", "number"],
            "description": "how long the acknowledgement lasts (30m, or seconds)",
        },
    },
    "additionalProperties": False,
}
TEXT_BODY: Final = {
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 10_000}},
    "additionalProperties": False,
}

UPCOMING_SHOWN: Final = 5
"""Occurrences of a maintenance window listed with it."""

MAX_NOTE: Final = 10_000
MAX_ACKNOWLEDGEMENT: Final = 30 * 86400.0
DEFAULT_ACTOR: Final = "api"
"""Who acts when no one is signed in: the platform's own calls."""


class InvalidSetting(ApiError):
    """A setting with bad fields, each named."""

    status = 422


class SettingExists(ApiError):
    status = 409


class NotDead(ApiError):
    status = 409


def alerting_blueprint(platform: AlertingPlatform) -> Blueprint:
    """The alerting routes, each asking ``platform`` for what it serves."""
    api = Blueprint("api_v1_alerting", url_prefix=PREFIX)

    @api.get("/incidents")
    @requires("alerts:read")
    @documented(
        Operation(
            "Incidents, newest first",
            INCIDENTS,
            {200: page_of("incidents", schemas.Incident)},
            params=(
                Param(
                    "status",
                    {"type": "string"},
                    "open, acknowledged or resolved; several by commas",
                ),
                Param("monitor", {"type": "string"}, "only this monitor's"),
                Param("before", {"type": "string"}, "only older than this id"),
                LIMIT,
                CURSOR,
            ),
        )
    )
    async def list_incidents(request: Request) -> HTTPResponse:
        query = Query(request, ("status", "monitor", "before", "limit", "cursor"))
        statuses = _statuses(query.text("status"))
        before = query.text("before")
        cursor = cursor_of(query)
        if cursor is not None:
            before = str(cursor[0])
        limit = query.limit()
        try:
            found = await platform.incidents(
                {
                    "status": statuses,
                    "monitor_id": query.text("monitor"),
                    "before": before,
                    "limit": limit,
                }
            )
        except ValueError as exc:
            raise BadRequest.parameter("before", str(exc)) from None
        following = encode_cursor([found[-1]["id"]]) if len(found) == limit else None
        return json({"incidents": found, "next_cursor": following})

    @api.get("/incidents/<incident_id:str>")
    @requires("alerts:read")
    @documented(
        Operation(
            "An incident with its timeline",
            INCIDENTS,
            {200: schemas.IncidentWithTimeline},
            errors=(404,),
        )
    )
    async def get_incident(request: Request, incident_id: str) -> HTTPResponse:
        Query(request, ())
        return json(await platform.incident(incident_id))

    @api.post("/incidents/<incident_id:str>/acknowledge")
    @requires("alerts:ack", "incident.acknowledge")
    @documented(
        Operation(
            "Acknowledge an incident, for a while or until its policy's limit",
            INCIDENTS,
            {200: schemas.Incident},
            body=ACKNOWLEDGE_BODY,
            body_required=False,
            errors=(404, 409),
        )
    )
    async def acknowledge(request: Request, incident_id: str) -> HTTPResponse:
        Query(request, ())
        body = _optional_body(request, ("for", "note"))
        lasting = _lasting(body.get("for"))
        incident = await platform.acknowledge_incident(
            incident_id,
            by=actor_of(request),
            lasting=lasting,
            note=_text(body, "note", MAX_NOTE),
        )
        return json(incident)

    @api.post("/incidents/<incident_id:str>/resolve")
    @requires("alerts:ack", "incident.resolve")
    @documented(
        Operation(
            "Resolve an incident by hand",
            INCIDENTS,
            {200: schemas.Incident},
            body=NOTE_BODY,
            body_required=False,
            errors=(404, 409),
        )
    )
    async def resolve(request: Request, incident_id: str) -> HTTPResponse:
        Query(request, ())
        body = _optional_body(request, ("note",))
        incident = await platform.resolve_incident(
            incident_id, by=actor_of(request), note=_text(body, "note", MAX_NOTE)
        )
        return json(incident)

    @api.post("/incidents/<incident_id:str>/notes")
    @requires("alerts:ack", "incident.note")
    @documented(
        Operation(
            "Add a note to an incident's timeline",
            INCIDENTS,
            {201: schemas.TimelineEntry},
            body=TEXT_BODY,
            errors=(404,),
        )
    )
    async def add_note(request: Request, incident_id: str) -> HTTPResponse:
        Query(request, ())
        body = _optional_body(request, ("text",))
        text = _text(body, "text", MAX_NOTE)
        if not text.strip():
            raise BadRequest.parameter("text", "is required")
        entry = await platform.note_incident(
            incident_id, by=actor_of(request), text=text
        )
        return json(entry, status=201)

    for path, kind in SETTING_PATHS.items():
        _setting_routes(api, platform, path, kind)

    @api.post("/channels/<channel_id:str>/test")
    @requires("alerts:write", "channel.test")
    @documented(
        Operation(
            "Send a test notification through a channel now",
            SETTINGS,
            {200: {"type": "object"}},
            errors=(404,),
        )
    )
    async def send_test(request: Request, channel_id: str) -> HTTPResponse:
        Query(request, ())
        return json(await platform.send_test(channel_id))

    @api.get("/channels/<channel_id:str>/deliveries")
    @requires("alerts:read")
    @documented(
        Operation(
            "A channel's latest delivery attempts, newest first",
            SETTINGS,
            {200: page_of("deliveries", schemas.Delivery)},
            params=(LIMIT,),
            errors=(404,),
            description="The latest attempts only: older ones are not paged.",
        )
    )
    async def deliveries(request: Request, channel_id: str) -> HTTPResponse:
        query = Query(request, ("limit",))
        await platform.get_setting("channel", channel_id)
        found = await platform.deliveries(channel_id=channel_id, limit=query.limit())
        return json({"deliveries": found, "next_cursor": None})

    @api.get("/outbox")
    @requires("alerts:read")
    @documented(
        Operation(
            "Notifications waiting, sent or given up on, oldest first",
            SETTINGS,
            {200: page_of("entries", schemas.OutboxEntry)},
            params=(
                Param("state", {"enum": list(OUTBOX_STATES)}, "only in this state"),
                Param("channel", {"type": "string"}, "only for this channel"),
                Param("after", {"type": "integer"}, "only after this entry id"),
                LIMIT,
                CURSOR,
            ),
        )
    )
    async def outbox(request: Request) -> HTTPResponse:
        query = Query(request, ("state", "channel", "after", "limit", "cursor"))
        after = query.text("after")
        cursor = cursor_of(query)
        if cursor is not None:
            after = str(cursor[0])
        if after is not None and not after.isdigit():
            raise BadRequest.parameter("after", "must be an outbox entry id")
        limit = query.limit()
        found = await platform.outbox(
            {
                "state": query.choice("state", OUTBOX_STATES),
                "channel_id": query.text("channel"),
                "after": None if after is None else int(after),
                "limit": limit,
            }
        )
        following = encode_cursor([found[-1]["id"]]) if len(found) == limit else None
        return json({"entries": found, "next_cursor": following})

    @api.post("/outbox/<entry_id:int>/requeue")
    @requires("alerts:write", "outbox.requeue")
    @documented(
        Operation(
            "Send a dead letter again",
            SETTINGS,
            {200: schemas.Requeued},
            errors=(409,),
        )
    )
    async def requeue(request: Request, entry_id: int) -> HTTPResponse:
        Query(request, ())
        if not await platform.requeue(entry_id):
            raise NotDead(f"outbox entry {entry_id} is not a dead letter")
        return json({"requeued": entry_id})

    return api


def _setting_routes(
    api: Blueprint, platform: AlertingPlatform, path: str, kind: str
) -> None:
    """List, create, read, replace and delete one kind of setting."""
    collection = f"/{path}"
    member = f"/{path}/<setting_id:str>"

    async def put(body: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        try:
            return await platform.put_setting(kind, body)
        except ValidationError as exc:
            raise InvalidSetting(
                f"the {kind} is not valid: " + summary(exc.errors), exc.errors
            ) from None

    async def listing(request: Request) -> HTTPResponse:
        query = Query(request, ("limit", "cursor"))
        found = await platform.list_settings(kind)
        shown, following = page_in_memory(
            [_shown(kind, setting) for setting in found],
            lambda setting: (str(setting["id"]),),
            after=cursor_of(query),
            limit=query.limit(),
        )
        return json({path.replace("-", "_"): shown, "next_cursor": following})

    async def create(request: Request) -> HTTPResponse:
        Query(request, ())
        body = json_object(request)
        _refuse_placeholders(kind, body)
        setting_id = body.get("id")
        if isinstance(setting_id, str):
            try:
                await platform.get_setting(kind, setting_id)
            except KeyError:
                pass
            else:
                raise SettingExists(f"a {kind} with the id {setting_id!r} exists")
        setting, _ = await put(body)
        logger.info("created %s %s", kind, setting["id"])
        location = f"{PREFIX}{collection}/{quote(setting['id'], safe='')}"
        return json(_shown(kind, setting), status=201, headers={"Location": location})

    async def read(request: Request, setting_id: str) -> HTTPResponse:
        Query(request, ())
        return json(_shown(kind, await platform.get_setting(kind, setting_id)))

    async def replace(request: Request, setting_id: str) -> HTTPResponse:
        Query(request, ())
        body = json_object(request)
        given_id = body.setdefault("id", setting_id)
        if given_id != setting_id:
            raise BadRequest.parameter(
                "id", f"must be {setting_id!r} as in the path, got {given_id!r}"
            )
        if kind == "channel":
            try:
                stored = await platform.get_setting(kind, setting_id)
            except KeyError:
                stored = {}
            body = keep_secrets(body, stored)
        _refuse_placeholders(kind, body)
        setting, created = await put(body)
        logger.info("%s %s %s", "created" if created else "replaced", kind, setting_id)
        return json(_shown(kind, setting), status=201 if created else 200)

    async def delete(request: Request, setting_id: str) -> HTTPResponse:
        Query(request, ())
        await platform.delete_setting(kind, setting_id)
        logger.info("deleted %s %s", kind, setting_id)
        return empty()

    name = path.replace("-", "_")
    routes: list[tuple[Callable[..., Coroutine[Any, Any, HTTPResponse]], str, str]] = [
        (listing, collection, "GET"),
        (create, collection, "POST"),
        (read, member, "GET"),
        (replace, member, "PUT"),
        (delete, member, "DELETE"),
    ]
    reading, writing = SETTING_ACCESS.get(kind, ("alerts:read", "alerts:write"))
    for handler, uri, method in routes:
        verb = handler.__name__
        if method == "GET":
            requires(reading)(handler)
        else:
            requires(writing, f"{kind}.{verb}")(handler)
        documented(_setting_operation(kind, path, verb))(handler)
        api.add_route(handler, uri, methods=[method], name=f"{name}_{verb}")


def _setting_operation(kind: str, path: str, verb: str) -> Operation:
    """What the document says of one of a kind of setting's routes."""
    noun = SETTING_NOUNS[kind]
    key = path.replace("-", "_")
    tag = SETTING_TAGS.get(kind, SETTINGS)
    generic: dict[str, Any] = {
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "string"}},
    }
    body, shown = SETTING_SHAPES.get(kind, (generic, schemas.Setting))
    operations = {
        "listing": Operation(
            f"Every {noun}, by id",
            tag,
            {200: page_of(key, shown)},
            params=(LIMIT, CURSOR),
        ),
        "create": Operation(
            f"Create a {noun}",
            tag,
            {201: shown},
            body=body,
            errors=(409, 422),
        ),
        "read": Operation(f"Read a {noun}", tag, {200: shown}, errors=(404,)),
        "replace": Operation(
            f"Create or replace a {noun}",
            tag,
            {200: shown, 201: shown},
            body=body,
            errors=(422,),
        ),
        "delete": Operation(f"Delete a {noun}", tag, {204: None}, errors=(404, 409)),
    }
    return operations[verb]


def _shown(kind: str, setting: Mapping[str, Any]) -> dict[str, Any]:
    """A setting as the API shows it: secrets hidden, a window's next occurrences."""
    if kind == "channel":
        return hide_secrets(setting)
    shown = dict(setting)
    if kind == "maintenance":
        window = maintenance_from_dict(setting)
        now = time.time()
        shown["active"] = window.span_at(now) is not None
        shown["upcoming"] = [
            {"start": start, "end": end}
            for start, end in window.upcoming(now, UPCOMING_SHOWN)
        ]
    return shown


def _refuse_placeholders(kind: str, body: Mapping[str, Any]) -> None:
    if kind != "channel":
        return
    errors = [
        FieldError(name, "is the hidden placeholder; send the secret itself")
        for name in secret_fields(body)
        if body.get(name) == HIDDEN
    ]
    if errors:
        raise InvalidSetting("the channel is not valid: " + summary(errors), errors)


def _statuses(text: str | None) -> list[str] | None:
    if text is None:
        return None
    statuses = [part.strip() for part in text.split(",") if part.strip()]
    for status in statuses:
        if status not in INCIDENT_STATUSES:
            raise BadRequest.parameter(
                "status",
                f"must be one or more of {', '.join(INCIDENT_STATUSES)} separated "
                f"by commas, got {status!r}",
            )
    return statuses


def _optional_body(request: Request, known: tuple[str, ...]) -> dict[str, Any]:
    """The JSON object sent, or an empty one when nothing was."""
    if not request.body:
        return {}
    body = json_object(request)
    unknown = [
        FieldError(str(name), "unknown field") for name in body if name not in known
    ]
    if unknown:
        raise BadRequest(f"{unknown[0]}", unknown)
    return body


def _text(body: Mapping[str, Any], name: str, limit: int) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest.parameter(name, f"must be text of at most {limit} characters")
    return value


def actor_of(request: Request) -> str:
    """Who acts, for an incident's timeline: the caller's name."""
    principal = getattr(request.ctx, "principal", None)
    return principal.name if isinstance(principal, Principal) else DEFAULT_ACTOR


def _lasting(value: Any) -> float | None:
    """How long an acknowledgement lasts, from ``for`` (``30m``, seconds)."""
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise BadRequest.parameter("for", str(exc)) from None
    if not 0 < seconds <= MAX_ACKNOWLEDGEMENT:
        raise BadRequest.parameter("for", "must be above 0s and at most 30d")
    return seconds
