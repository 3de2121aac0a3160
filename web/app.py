"""The web gateway: the REST API, health probes, live updates and the
dashboard's files in one app.

``create_app`` builds a Sanic application around a ``Platform``. It holds no
state of its own beyond connected live clients, so any number of gateways
can serve the same platform.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import socketio
from sanic import HTTPResponse, Request, Sanic
from sanic.response import json, raw, text

from actors.platform import Platform
from engine.heartbeats import MAX_MESSAGE, BadPing, read_ping
from web import metrics
from web.access import Principal
from web.access_checks import install_access_checks
from web.accounts import Accounts, Client
from web.accounts_api import accounts_blueprint
from web.alerting_api import alerting_blueprint
from web.analytics_api import analytics_blueprint
from web.api import api_blueprint
from web.dashboard import dashboard_blueprint
from web.directory import MonitorDirectory
from web.errors import error_response, install_error_handlers
from web.live import LiveHub, LiveSettings, server_options
from web.overview_api import overview_blueprint
from web.presence_api import presence_blueprint
from web.protection import ProtectionSettings, install_protection
from web.reference import install_versioning, reference_blueprint
from web.status_pages_api import status_pages_blueprint

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
"""The largest request body accepted: room for an apply of thousands of monitors."""


def dumps(value: Any) -> bytes:
    """JSON for answers: orjson, a tenth of the standard library's time.

    Keys that are not text (a histogram's bounds) are written as text, and a
    number that is not finite as null, as JSON has no other way to say it.
    """
    encoded: bytes = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    return encoded


def create_app(
    platform: Platform,
    *,
    name: str = "upcast",
    accounts: Accounts | None = None,
    protection: ProtectionSettings | None = None,
    touchup: bool = False,
    live: LiveSettings | None = None,
) -> Sanic[Any, Any]:
    """A gateway serving ``platform`` over HTTP and socket.io.

    Socket.io is served by python-socketio's ``sanic`` mode on the same app
    and port: with Sanic 25 its route answers long-polling and upgrades to
    websocket through Sanic's own websocket protocol, so no second server or
    ASGI wrapper is needed and both transports work under ``app.run`` and
    ``create_server`` alike. The live feed starts after the server starts and
    stops, disconnecting clients, before it stops.

    Every route under ``/api/v1`` needs credentials unless it is declared
    public (``web.access``); ``accounts`` checks them, by default against
    the platform's store. Health probes, ``/metrics``, push pings and the
    dashboard's files (``web.dashboard``) need none. ``protection`` sets
    rate limits, CORS, security headers and compression
    (``web.protection``; its defaults when not given).
    ``live`` sets heartbeats, recovery and, with a Redis URL, the sharing of
    live updates between gateways (``web.live``; one gateway alone when not
    given).

    ``touchup`` lets Sanic rewrite its request handling for speed, which only
    a process serving this one gateway may do (``upcast serve``).

    Sanic keeps apps in a registry by name, so two apps living in one process
    at the same time need different names.
    """
    # Logging is configured by the process (engine.logs), not by Sanic.
    app: Sanic[Any, Any] = Sanic(name, configure_logging=False, dumps=dumps)
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    app.config.MOTD = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    # TouchUp rewrites Sanic's request handling code in place at startup,
    # dropping the signals nobody listens to (a tenth of a request's time); a
    # second app starting in the same process then fails to rewrite it again.
    # Only a process that serves one gateway alone may ask for it.
    app.config.TOUCHUP = touchup

    live = live or LiveSettings()
    sio = socketio.AsyncServer(async_mode="sanic", **server_options(live))
    sio.attach(app)
    if accounts is None:
        accounts = Accounts(platform.account_backend())
    known = accounts

    async def live_caller(header: str | None, address: str) -> Principal | None:
        return await known.authenticate(header, Client(address=address))

    directory = MonitorDirectory(platform)
    hub = LiveHub(
        sio,
        platform,
        authenticate=live_caller,
        settings=live,
        observer=directory.observe,
        tags_of=directory.tags_of,
    )
    directory.follow_feed_from(hub.feed_starts_after)
    app.ctx.platform = platform
    app.ctx.sio = sio
    app.ctx.live = hub
    app.ctx.accounts = accounts

    async def start_live(app: Sanic[Any, Any]) -> None:
        hub.start()

    async def stop_live(app: Sanic[Any, Any]) -> None:
        await hub.stop()

    app.ctx.directory = directory

    async def start_accounts(app: Sanic[Any, Any]) -> None:
        await accounts.start()

    async def stop_accounts(app: Sanic[Any, Any]) -> None:
        await accounts.stop()

    async def start_directory(app: Sanic[Any, Any]) -> None:
        directory.start()

    async def stop_directory(app: Sanic[Any, Any]) -> None:
        await directory.stop()

    app.register_listener(start_accounts, "before_server_start")
    app.register_listener(start_live, "after_server_start")
    app.register_listener(start_directory, "after_server_start")
    app.register_listener(stop_live, "before_server_stop")
    app.register_listener(stop_directory, "before_server_stop")
    app.register_listener(stop_accounts, "after_server_stop")
    install_access_checks(app, accounts)
    install_versioning(app)
    protection = protection or ProtectionSettings()
    install_protection(app, protection)

    @app.get("/healthz")
    async def healthz(request: Request) -> HTTPResponse:
        return json({"status": "ok"})

    @app.get("/readyz")
    async def readyz(request: Request) -> HTTPResponse:
        try:
            ready = await platform.ready()
        except Exception:
            logger.exception("the readiness probe failed to ask the platform")
            ready = False
        if not ready:
            return error_response(503, "the platform is not ready")
        return json({"status": "ready"})

    @app.get("/metrics")
    async def prometheus(request: Request) -> HTTPResponse:
        shards, storage = await asyncio.gather(
            platform.engine_stats(), platform.storage_stats()
        )
        exposition = metrics.render(shards, storage)
        return raw(exposition.encode(), content_type=metrics.CONTENT_TYPE)

    async def push(
        request: Request, token: str, status: str | None = None
    ) -> HTTPResponse:
        body = ""
        if request.method == "POST" and "msg" not in request.args:
            body = request.body[: MAX_MESSAGE * 4].decode("utf-8", "replace")
        query = {key: request.args.get(key, "") for key in request.args}
        try:
            ok, message, duration_ms = read_ping(status, query, body)
        except BadPing as exc:
            return text(f"{exc}\n", status=400)
        known = await platform.record_ping(
            token, ok=ok, message=message, duration_ms=duration_ms
        )
        if not known:
            return text("unknown token\n", status=404)
        return text("OK")

    for name, path in (
        ("push", "/push/<token:str>"),
        ("push_status", "/push/<token:str>/<status:str>"),
    ):
        app.add_route(push, path, methods=["GET", "POST", "HEAD"], name=name)

    app.blueprint(accounts_blueprint(accounts))
    app.blueprint(api_blueprint(platform, directory))
    app.blueprint(reference_blueprint())
    app.blueprint(alerting_blueprint(platform))
    app.blueprint(analytics_blueprint(platform))
    app.blueprint(presence_blueprint(hub))
    app.blueprint(status_pages_blueprint(platform, directory))
    app.blueprint(overview_blueprint(platform, directory))
    app.blueprint(dashboard_blueprint(codings=protection.compression))
    install_error_handlers(app)
    return app
