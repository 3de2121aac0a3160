"""How the gateway reports failures: one JSON shape for every error.

Every error response has the body ``{"error": {"status", "message",
"fields"}}``, where ``fields`` lists ``{"field", "problem"}`` pairs when the
problem lies in named fields or query parameters. Platform errors are
translated here, at the edge of the API; anything unexpected becomes a 500
whose message reveals nothing about the server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from sanic import HTTPResponse, Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import json

from actors.platform import MonitorExists, MonitorNotFound, ShardNotFound
from alerting.engine import IncidentNotFound
from alerting.settings import SettingNotFound
from engine.errors import FieldError, ValidationError
from notify.service import ChannelNotFound

logger = logging.getLogger(__name__)

INTERNAL_MESSAGE = "the server failed to handle the request; the error was logged"


class ApiError(Exception):
    """A request the API refuses, with the status to answer and what to fix."""

    status = 400
    headers: ClassVar[Mapping[str, str]] = {}

    def __init__(self, message: str, fields: Iterable[FieldError] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.fields = list(fields)


class BadRequest(ApiError):
    """A malformed body or query parameter; the message names the parameter."""

    status = 400

    @classmethod
    def parameter(cls, name: str, problem: str) -> BadRequest:
        """The error for one bad parameter: ``limit: must be a whole number ...``."""
        return cls(f"{name}: {problem}", [FieldError(name, problem)])


class Unauthorized(ApiError):
    """No credentials, or credentials that are wrong, expired or revoked."""

    status = 401
    headers: ClassVar[Mapping[str, str]] = {"WWW-Authenticate": 'Bearer realm="upcast"'}


class Forbidden(ApiError):
    """The caller is known but may not do this; the message names the scope."""

    status = 403


class NotFound(ApiError):
    """Nothing is at the address asked for; the message names what is missing."""

    status = 404


class Conflict(ApiError):
    """The request clashes with what is stored (a name taken, the last owner)."""

    status = 409


def summary(errors: list[FieldError]) -> str:
    """The one problem, or how many there are, for an error's message."""
    return str(errors[0]) if len(errors) == 1 else f"{len(errors)} problems"


def error_response(
    status: int,
    message: str,
    fields: Iterable[FieldError] = (),
    headers: dict[str, str] | None = None,
) -> HTTPResponse:
    """The JSON error body every failure is answered with."""
    body = {
        "error": {
            "status": status,
            "message": message,
            "fields": [{"field": e.field, "problem": e.problem} for e in fields],
        }
    }
    return json(body, status=status, headers=headers)


def install_error_handlers(app: Sanic[Any, Any]) -> None:
    """Answer every exception a handler raises with the JSON error shape."""

    async def invalid(request: Request, exc: Exception) -> HTTPResponse:
        assert isinstance(exc, ValidationError)
        message = "the request is not valid: " + summary(exc.errors)
        return error_response(422, message, exc.errors)

    async def not_found(request: Request, exc: Exception) -> HTTPResponse:
        return error_response(404, str(exc))

    async def exists(request: Request, exc: Exception) -> HTTPResponse:
        return error_response(409, str(exc))

    async def refused(request: Request, exc: Exception) -> HTTPResponse:
        assert isinstance(exc, ApiError)
        return error_response(
            exc.status, exc.message, exc.fields, dict(exc.headers) or None
        )

    async def framework(request: Request, exc: Exception) -> HTTPResponse:
        # Sanic's own errors (no such route, wrong method, body too large)
        # carry a status and a message meant for the client.
        assert isinstance(exc, SanicException)
        status = exc.status_code
        if status >= 500:
            return await unexpected(request, exc)
        message = str(exc) or "the request was refused"
        if status == 404:
            message = f"no such resource: {request.method} {request.path}"
        return error_response(status, message)

    async def unexpected(request: Request, exc: Exception) -> HTTPResponse:
        logger.error(
            "failed to handle %s %s",
            request.method,
            request.path,
            exc_info=exc,
        )
        return error_response(500, INTERNAL_MESSAGE)

    app.error_handler.add(ValidationError, invalid)
    app.error_handler.add(MonitorNotFound, not_found)
    app.error_handler.add(ShardNotFound, not_found)
    app.error_handler.add(IncidentNotFound, not_found)
    app.error_handler.add(SettingNotFound, not_found)
    app.error_handler.add(ChannelNotFound, not_found)
    app.error_handler.add(MonitorExists, exists)
    app.error_handler.add(ApiError, refused)
    app.error_handler.add(SanicException, framework)
    app.error_handler.add(Exception, unexpected)
