"""Following live updates from a gateway over socket.io.

``Subscription`` is the asyncio form, on ``socketio.AsyncClient`` (whose
websocket transport comes from aiohttp, already a dependency).
``ThreadedSubscription`` gives blocking code the same updates: it runs a
``Subscription`` on a private event loop in a background thread and hands
updates over through a thread-safe queue. The blocking ``socketio.Client``
would need ``requests`` and ``websocket-client`` as extra dependencies for
the same result.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import socketio

from sdk.errors import ConnectionFailed

logger = logging.getLogger(__name__)

Update = dict[str, Any]
"""``{"type": "result" | "event", "data": {...}}``."""

_END: Final = object()


def _socketio_address(base_url: str, monitors: Sequence[str] | None) -> tuple[str, str]:
    """The URL to connect to and the socket.io path, honouring a path prefix.

    A gateway behind a proxy at ``https://ops.example/upcast`` serves
    socket.io at ``/upcast/socket.io``.
    """
    parts = urlsplit(base_url)
    url = f"{parts.scheme}://{parts.netloc}"
    if monitors:
        url += "?" + urlencode({"monitors": ",".join(monitors)})
    prefix = parts.path.strip("/")
    path = f"{prefix}/socket.io" if prefix else "socket.io"
    return url, path


class Subscription:
    """Live updates as an async iterator; use ``async with`` to connect and close.

    ``monitors`` limits updates to those monitors; ``None`` follows all.
    Updates wait in an unbounded queue until read, so a reader that stops
    reading should close the subscription.
    """

    def __init__(
        self,
        base_url: str,
        monitors: Sequence[str] | None = None,
        *,
        timeout: float = 10.0,
    ) -> None:
        self._url, self._path = _socketio_address(base_url, monitors)
        self._timeout = timeout
        self._updates: asyncio.Queue[Any] = asyncio.Queue()
        self._client: Any = None
        self._closed = False

    async def open(self) -> None:
        """Connect; updates are received from the moment this returns."""
        if self._client is not None:
            return
        client = socketio.AsyncClient(reconnection=True)

        async def on_result(data: Any) -> None:
            self._updates.put_nowait({"type": "result", "data": data})

        async def on_event(data: Any) -> None:
            self._updates.put_nowait({"type": "event", "data": data})

        client.on("result", on_result)
        client.on("event", on_event)
        try:
            await client.connect(
                self._url,
                socketio_path=self._path,
                transports=["websocket"],
                wait_timeout=self._timeout,
            )
        except socketio.exceptions.ConnectionError as exc:
            raise ConnectionFailed(
                f"could not follow live updates at {self._url}: {exc}"
            ) from exc
        self._client = client

    async def close(self) -> None:
        """Disconnect, then end iteration; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        client, self._client = self._client, None
        try:
            if client is not None:
                await client.disconnect()
        finally:
            self._updates.put_nowait(_END)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Update:
        if self._client is None and not self._closed:
            await self.open()
        item = await self._updates.get()
        if item is _END:
            self._updates.put_nowait(_END)
            raise StopAsyncIteration
        update: Update = item
        return update

    async def __aenter__(self) -> Subscription:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class ThreadedSubscription:
    """Live updates for blocking code: iterate, or call ``next_update``.

    Use ``with`` to connect and to close; closing stops the background
    thread and its loop.
    """

    def __init__(
        self,
        base_url: str,
        monitors: Sequence[str] | None = None,
        *,
        timeout: float = 10.0,
    ) -> None:
        self._base_url = base_url
        self._monitors = list(monitors) if monitors else None
        self._timeout = timeout
        self._updates: queue.Queue[Any] = queue.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._following: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        """Connect from the background thread; returns once connected."""
        if self._thread is not None:
            return
        connected = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        async def follow() -> None:
            subscription = Subscription(
                self._base_url, self._monitors, timeout=self._timeout
            )
            try:
                await subscription.open()
            except BaseException as exc:
                failure.append(exc)
                connected.set()
                return
            connected.set()
            try:
                async for update in subscription:
                    self._updates.put(update)
            finally:
                await subscription.close()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._following = loop.create_task(follow())
            try:
                loop.run_until_complete(self._following)
            except asyncio.CancelledError:
                pass
            finally:
                loop.close()
                self._updates.put(_END)

        self._loop = loop
        self._thread = threading.Thread(
            target=run, name="upcast-live-updates", daemon=True
        )
        self._thread.start()
        connected.wait()
        if failure:
            self._thread.join()
            raise failure[0]

    def next_update(self, timeout: float | None = None) -> Update:
        """The next update; ``TimeoutError`` if none comes within ``timeout``."""
        if self._thread is None:
            self.open()
        try:
            item = self._updates.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no live update within {timeout:g}s") from None
        if item is _END:
            self._updates.put(_END)
            raise StopIteration
        update: Update = item
        return update

    def close(self) -> None:
        """Disconnect and stop the background thread; safe to call twice.

        The following task is cancelled rather than the subscription closed
        from here, so the disconnect runs inside that task and the loop only
        ends once it is done.
        """
        loop, following, thread = self._loop, self._following, self._thread
        self._following = None
        if loop is not None and following is not None:
            try:
                loop.call_soon_threadsafe(following.cancel)
            except RuntimeError:
                logger.debug("the live updates loop had already ended")
        if thread is not None:
            thread.join(self._timeout)
            if thread.is_alive():
                logger.warning("live updates did not stop within %gs", self._timeout)

    def __iter__(self) -> ThreadedSubscription:
        return self

    def __next__(self) -> Update:
        return self.next_update()

    def __enter__(self) -> ThreadedSubscription:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
