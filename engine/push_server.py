"""The HTTP endpoint that watched jobs ping: ``/push/<token>`` into a heartbeat book.

Routes (GET, HEAD and POST alike):

* ``/push/<token>`` records a successful run;
* ``/push/<token>/fail`` (or ``/down``) records a failed one, as does
  ``?status=down``; ``/ok`` and ``?status=up`` say success explicitly;
* ``?msg=...`` attaches a message, and a POST body does when ``msg`` is absent;
* ``?ms=123`` reports how long the job itself took, in milliseconds.

``/healthz`` answers ``{"status": "ok"}`` while the server runs. The answer
to a ping is ``200 OK`` once recorded. ``known`` can limit tokens to those a
monitor uses, so that stray or mistyped pings get ``404`` instead of silently
filling the book.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from engine import heartbeats
from engine.heartbeats import BadPing, Heartbeats, read_ping

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
PREFIX = "/push"
# Bodies are only ever kept as a short message, so larger ones are refused.
MAX_BODY = 64 * 1024


def make_app(
    book: Heartbeats | None = None,
    known: Callable[[str], bool] | None = None,
    on_ping: Callable[[str], None] | None = None,
) -> web.Application:
    """The aiohttp application that records pings into ``book``.

    ``on_ping`` is told each recorded ping's token, so that the monitor's
    check can judge it at once.
    """
    target = book if book is not None else heartbeats.default

    async def receive(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not heartbeats.valid_token(token) or (
            known is not None and not known(token)
        ):
            return web.Response(status=404, text="unknown token\n")
        try:
            ok, message, duration_ms = await _read_ping(request)
        except BadPing as exc:
            return web.Response(status=400, text=f"{exc}\n")
        target.record(token, ok=ok, message=message, duration_ms=duration_ms)
        if on_ping is not None:
            on_ping(token)
        logger.debug("ping token=%s ok=%s duration_ms=%s", token, ok, duration_ms)
        return web.Response(text="OK")

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "tokens_seen": len(target)})

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_get("/healthz", health)
    for path in (f"{PREFIX}/{{token}}", f"{PREFIX}/{{token}}/{{status}}"):
        app.router.add_get(path, receive)
        app.router.add_post(path, receive)
    return app


async def _read_ping(request: web.Request) -> tuple[bool, str, float | None]:
    """Success, message and duration from the path, query and body of a ping."""
    body = ""
    if (
        request.method == "POST"
        and request.can_read_body
        and "msg" not in request.query
    ):
        body = await request.text()
    return read_ping(request.match_info.get("status"), request.query, body)


class PushServer:
    """A push endpoint that starts and stops with the process hosting it.

    ``port`` 0 picks a free port; ``port`` and ``url`` report the one bound
    once started. Stopping closes the listener and waits briefly for pings
    already being answered.
    """

    def __init__(
        self,
        book: Heartbeats | None = None,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        known: Callable[[str], bool] | None = None,
        on_ping: Callable[[str], None] | None = None,
    ) -> None:
        self.book = book if book is not None else heartbeats.default
        self.host = host
        self.port = port
        self._app = make_app(self.book, known, on_ping)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The base URL of the push routes, e.g. ``http://127.0.0.1:8035/push``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{PREFIX}"

    async def start(self) -> None:
        """Bind and begin answering; raises ``OSError`` if the port is taken."""
        if self._runner is not None:
            return
        runner = web.AppRunner(
            self._app, access_log=None, handle_signals=False, shutdown_timeout=2.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        logger.info("push server listening on %s", self.url)

    async def stop(self) -> None:
        """Stop listening; pings already being answered get to finish."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            logger.info("push server on %s stopped", self.url)

    async def __aenter__(self) -> PushServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
