"""The presence part of the REST API: who is watching live updates now.

``GET /api/v1/presence`` answers ``{"watching": [...]}``, one entry per
signed-in person connected to the live updates of any gateway sharing this
one's channel: ``user_id``, ``name``, ``since`` (seconds since the epoch)
and ``connections``. The same list comes over socket.io as the answer to
``who``; see ``web.live``.
"""

from __future__ import annotations

import logging
from typing import Final

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import json

from web.access import requires
from web.errors import error_response
from web.live import LiveHub, LiveUnavailable
from web.openapi import Operation, documented, list_of
from web.params import Query

logger = logging.getLogger(__name__)

PREFIX: Final = "/api/v1"
PRESENCE: Final = "presence"

WATCHER: Final = {
    "type": "object",
    "required": ["user_id", "name", "since", "connections"],
    "properties": {
        "user_id": {"type": "string"},
        "name": {"type": "string"},
        "since": {
            "type": "number",
            "description": "when their oldest open connection began (unix seconds)",
        },
        "connections": {"type": "integer", "minimum": 1},
    },
}
"""One person watching, as ``who`` and the presence route tell it."""


def presence_blueprint(hub: LiveHub) -> Blueprint:
    """The presence route, answered from ``hub``."""
    api = Blueprint("api_v1_presence", url_prefix=PREFIX)

    @api.get("/presence")
    @requires("monitors:read")
    @documented(
        Operation(
            "Who is watching live updates now, on every gateway",
            PRESENCE,
            {200: list_of("watching", WATCHER)},
            errors=(503,),
        )
    )
    async def presence(request: Request) -> HTTPResponse:
        Query(request, ())
        try:
            watching = await hub.who()
        except LiveUnavailable as exc:
            logger.warning("could not say who is watching: %s", exc)
            return error_response(503, "presence is not available right now")
        return json({"watching": watching})

    return api
