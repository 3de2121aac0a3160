"""Running a gateway inside an existing process: on a loop, or in a thread.

``Sanic.run`` owns the process (its own loop, signal handlers, workers), so
embedding the gateway next to other work goes through Sanic's lower-level
``create_server`` instead. That path runs none of the lifecycle for us;
``start_gateway`` and ``RunningGateway.stop`` run it in Sanic's order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import uvloop
from sanic import Sanic
from sanic.server.async_server import AsyncioServer

logger = logging.getLogger(__name__)

STOP_GRACE = 5.0
"""Seconds requests in flight get to finish when the gateway stops."""

_DRAIN_POLL = 0.05


class RunningGateway:
    """A gateway serving on the current loop until ``stop`` is awaited."""

    def __init__(self, app: Sanic[Any, Any], server: AsyncioServer, url: str) -> None:
        self.app = app
        self.url = url
        # AsyncioServer's lifecycle methods carry no annotations.
        self._server: Any = server
        self._stopped = False

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop serving, let requests in flight finish, then release the port.

        1. Run the ``before_server_stop`` listeners (live clients are
           disconnected there).
        2. Stop accepting connections and close the idle ones.
        3. Give busy connections ``grace`` seconds, then abort the rest.
        4. Run the ``after_server_stop`` listeners and take the app out of
           Sanic's registry, so an app of the same name can start later.
        """
        if self._stopped:
            return
        self._stopped = True
        server = self._server
        await server.before_stop()

        server.close()
        connections = server.connections
        for connection in list(connections):
            connection.close_if_idle()
        # Sanic signals nothing when a connection ends, so the set is polled.
        for _ in range(max(1, round(grace / _DRAIN_POLL))):
            if not connections:
                break
            await asyncio.sleep(_DRAIN_POLL)
        for connection in list(connections):
            websocket = getattr(connection, "websocket", None)
            if websocket is not None:
                websocket.fail_connection(code=1001)
            else:
                connection.abort()
        await server.wait_closed()

        await server.after_stop()
        Sanic.unregister_app(self.app)
        logger.info("the gateway at %s stopped", self.url)


async def start_gateway(
    app: Sanic[Any, Any], host: str = "127.0.0.1", port: int = 0
) -> RunningGateway:
    """Serve ``app`` on the running loop at ``host:port`` (0: any free port).

    The socket is bound here rather than by Sanic because Sanic reads port 0
    as "use the default port 8000"; binding first also tells us the port.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        bound_port = sock.getsockname()[1]
        created = await app.create_server(sock=sock, access_log=False)
    except BaseException:
        sock.close()
        raise
    assert created is not None
    # AsyncioServer's lifecycle methods carry no annotations.
    server: Any = created

    await server.startup()
    await server.before_start()
    await server.after_start()
    shown_host = f"[{host}]" if family == socket.AF_INET6 else host
    url = f"http://{shown_host}:{bound_port}"
    logger.info("the gateway serves at %s", url)
    return RunningGateway(app, created, url)


class GatewayThread:
    """A gateway on its own uvloop in a background thread.

    For callers without a loop of their own, or whose loop must not carry
    the gateway's traffic (a test session, a command that also blocks).
    """

    def __init__(
        self, app: Sanic[Any, Any], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.app = app
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: RunningGateway | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._running is None:
            raise RuntimeError("the gateway thread is not running")
        return self._running.url

    def start(self, timeout: float = 10.0) -> str:
        """Start serving and return the gateway's URL once it accepts requests."""
        started = threading.Event()
        failure: list[BaseException] = []
        loop = uvloop.new_event_loop()
        self._loop = loop

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._running = loop.run_until_complete(
                    start_gateway(self.app, self._host, self._port)
                )
            except BaseException as exc:
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            _finish_tasks(loop)
            loop.close()

        self._thread = threading.Thread(
            target=serve, name="upcast-gateway", daemon=True
        )
        self._thread.start()
        if not started.wait(timeout):
            raise TimeoutError(f"the gateway did not start within {timeout:g}s")
        if failure:
            raise failure[0]
        return self.url

    def stop(self, timeout: float = STOP_GRACE + 5.0) -> None:
        """Stop the gateway and its loop, and wait for the thread to end."""
        loop, running, thread = self._loop, self._running, self._thread
        if loop is None or running is None or thread is None:
            return
        self._running = None
        future = asyncio.run_coroutine_threadsafe(running.stop(), loop)
        try:
            future.result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)

    def __enter__(self) -> GatewayThread:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _finish_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is still pending on a stopped loop and let it unwind.

    Socket.io keeps a ping task per connection that outlives its connection
    by up to a ping interval; closing the loop over it would leave it
    destroyed while pending.
    """
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


@contextlib.contextmanager
def gateway_in_thread(
    app: Sanic[Any, Any], host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Serve ``app`` from a background thread for the ``with`` block; yields its URL."""
    with GatewayThread(app, host, port) as running:
        yield running.url
