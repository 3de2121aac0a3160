"""The alerting part of the REST API: incidents, alert settings, deliveries.

Under ``/api/v1``: ``/incidents`` (list, read with the timeline,
acknowledge, resolve, add a note), the settings ``/channels``, ``/routes``,
``/escalation-policies`` and ``/maintenance`` (list, create, read, replace,
delete), ``/channels/<id>/test`` and ``/channels/<id>/deliveries``, and
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
from engine.durations import parse_duration
from engine.errors import FieldError, ValidationError
from notify.settings import HIDDEN, hide_secrets, keep_secrets, secret_fields
from store.alerting import INCIDENT_STATUSES
from store.outbox import STATES as OUTBOX_STATES
from web.errors import ApiError, BadRequest, summary
from web.params import Query, json_object

logger = logging.getLogger(__name__)

PREFIX: Final = "/api/v1"

SETTING_PATHS: Final = {
    "channels": "channel",
    "routes": "route",
    "escalation-policies": "escalation",
    "maintenance": "maintenance",
    "slos": "slo",
}
"""Where each kind of alert setting is served."""

UPCOMING_SHOWN: Final = 5
"""Occurrences of a maintenance window listed with it."""

MAX_NOTE: Final = 10_000
MAX_ACKNOWLEDGEMENT: Final = 30 * 86400.0
DEFAULT_ACTOR: Final = "api"
"""Who acknowledged, resolved or wrote a note when the request does not say."""


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
    async def list_incidents(request: Request) -> HTTPResponse:
        query = Query(request, ("status", "monitor", "before", "limit"))
        statuses = _statuses(query.text("status"))
        found = await platform.incidents(
            {
                "status": statuses,
                "monitor_id": query.text("monitor"),
                "before": query.text("before"),
                "limit": query.limit(),
            }
        )
        return json({"incidents": found})

    @api.get("/incidents/<incident_id:str>")
    async def get_incident(request: Request, incident_id: str) -> HTTPResponse:
        Query(request, ())
        return json(await platform.incident(incident_id))

    @api.post("/incidents/<incident_id:str>/acknowledge")
    async def acknowledge(request: Request, incident_id: str) -> HTTPResponse:
        Query(request, ())
        body = _optional_body(request, ("by", "for", "note"))
        lasting = _lasting(body.get("for"))
        incident = await platform.acknowledge_incident(
            incident_id,
            by=_actor(body),
            lasting=lasting,
            note=_text(body, "note", MAX_NOTE),
        )
        return json(incident)

    @api.post("/incidents/<incident_id:str>/resolve")
    async def resolve(request: Request, incident_id: str) -> HTTPResponse:
        Query(request, ())
        body = _optional_body(request, ("by", "note"))
        incident = await platform.resolve_incident(
            incident_id, by=_actor(body), note=_text(body, "note", MAX_NOTE)
        )
        return json(incident)

    @api.post("/incidents/<incident_id:str>/notes")
    async def add_note(request: Request, incident_id: str) -> HTTPResponse:
        Query(request, ())
        body = _optional_body(request, ("by", "text"))
        text = _text(body, "text", MAX_NOTE)
        if not text.strip():
            raise BadRequest.parameter("text", "is required")
        entry = await platform.note_incident(incident_id, by=_actor(body), text=text)
        return json(entry, status=201)

    for path, kind in SETTING_PATHS.items():
        _setting_routes(api, platform, path, kind)

    @api.post("/channels/<channel_id:str>/test")
    async def send_test(request: Request, channel_id: str) -> HTTPResponse:
        Query(request, ())
        return json(await platform.send_test(channel_id))

    @api.get("/channels/<channel_id:str>/deliveries")
    async def deliveries(request: Request, channel_id: str) -> HTTPResponse:
        query = Query(request, ("limit",))
        await platform.get_setting("channel", channel_id)
        found = await platform.deliveries(channel_id=channel_id, limit=query.limit())
        return json({"deliveries": found})

    @api.get("/outbox")
    async def outbox(request: Request) -> HTTPResponse:
        query = Query(request, ("state", "channel", "after", "limit"))
        after = query.text("after")
        if after is not None and not after.isdigit():
            raise BadRequest.parameter("after", "must be an outbox entry id")
        found = await platform.outbox(
            {
                "state": query.choice("state", OUTBOX_STATES),
                "channel_id": query.text("channel"),
                "after": None if after is None else int(after),
                "limit": query.limit(),
            }
        )
        return json({"entries": found})

    @api.post("/outbox/<entry_id:int>/requeue")
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
        Query(request, ())
        found = await platform.list_settings(kind)
        return json({path.replace("-", "_"): [_shown(kind, s) for s in found]})

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
    for handler, uri, method in routes:
        api.add_route(handler, uri, methods=[method], name=f"{name}_{handler.__name__}")


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


def _actor(body: Mapping[str, Any]) -> str:
    actor = _text(body, "by", 200) or DEFAULT_ACTOR
    return actor


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
