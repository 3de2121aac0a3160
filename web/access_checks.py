"""The gateway's checks of who calls: authentication, scopes, the activity log.

``install_access_checks`` adds two middlewares to an app:

1. Before a handler runs, the request's credentials are read (``Accounts.
   authenticate``) and the caller is kept as ``request.ctx.principal``. A
   route under ``/api/`` then needs what its handler declared
   (``web.access``): nothing, any caller, or one scope. A route that
   declared nothing is refused, so forgetting the declaration locks a route
   rather than opening it.
2. After a handler that declared an action answered with success, the
   action goes to the activity log with the caller and the route's first
   path parameter (the monitor, incident or setting it changed).
"""

from __future__ import annotations

import logging
from typing import Any, Final
from urllib.parse import unquote

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse

from web.access import (
    PUBLIC,
    SCOPES,
    SIGNED_IN,
    Principal,
    declared_action,
    declared_scope,
)
from web.accounts import Accounts
from web.accounts_api import client_of
from web.errors import Forbidden, Unauthorized

logger = logging.getLogger(__name__)

GUARDED_PREFIX: Final = "/api/"


def install_access_checks(app: Sanic[Any, Any], accounts: Accounts) -> None:
    """Authenticate every request and hold each API route to its scope."""

    async def authenticate(request: Request) -> None:
        request.ctx.principal = None
        request.ctx.principal_id = None
        route = request.route
        if route is None or not request.path.startswith(GUARDED_PREFIX):
            return
        scope = declared_scope(route.handler)
        if scope is None:
            logger.error("the route %s declares no scope; refused", route.path)
            raise Forbidden("this route is closed: it declares no access rule")
        try:
            principal = await accounts.authenticate(
                request.headers.get("authorization"), client_of(request)
            )
        except Unauthorized:
            # Signing in and refreshing must work whatever stale header a
            # client still sends.
            if scope != PUBLIC:
                raise
            principal = None
        request.ctx.principal = principal
        request.ctx.principal_id = principal.user_id if principal else None
        if scope == PUBLIC:
            return
        if principal is None:
            raise Unauthorized(
                "sign in first (POST /api/v1/auth/login) and send the access "
                "token, or send an API key, as 'Authorization: Bearer ...'"
            )
        if scope != SIGNED_IN and not principal.allows(scope):
            raise Forbidden(
                f"this needs the scope {scope} ({SCOPES[scope]}), which the "
                f"{_holder(principal)} does not have"
            )

    async def record(request: Request, response: BaseHTTPResponse) -> None:
        route = request.route
        principal = getattr(request.ctx, "principal", None)
        if route is None or not isinstance(principal, Principal):
            return
        action = declared_action(route.handler)
        if action is None or not 200 <= response.status < 300:
            return
        # What changed: the route's first path parameter, or what a create
        # made, as its Location says.
        target = next(iter(request.match_info.values()), "")
        if not target:
            target = response.headers.get("location", "").rsplit("/", 1)[-1]
        accounts.record(
            principal, action, target=unquote(str(target)), client=client_of(request)
        )

    app.register_middleware(authenticate, "request")
    app.register_middleware(record, "response")


def _holder(principal: Principal) -> str:
    if principal.key_id is not None:
        return f"API key {principal.key_id}"
    return f"role {principal.role}"
