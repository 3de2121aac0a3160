"""Following live updates from a gateway over socket.io.

``Subscription`` is the asyncio form, on ``socketio.AsyncClient`` (whose
websocket transport comes from aiohttp, already a dependency).
``ThreadedSubscription`` gives blocking code the same updates: it runs a
``Subscription`` on a private event loop in a background thread and hands
updates over through a thread-safe queue. The blocking ``socketio.Client``
would need ``requests`` and ``websocket-client`` as extra dependencies for
the same result.

A subscription keeps the offset of the last update it saw (the gateway also
sends it now and then while nothing comes, see ``web.live``). When the
connection drops, python-socketio reconnects and the subscription sends that
offset, so the gateway replays what was missed first: readers see no gap.
When too much was missed to replay, the gateway says so; the subscription
logs a warning and counts it in ``gaps``, and goes on with new updates.
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
"""``{"type": "result" | "event", "data": {...}, "offset": n}``; ``offset``
is missing when the gateway does not send one."""

_END: Final = object()


def _socketio_address(
    base_url: str,
    monitors: Sequence[str] | None,
    tags: Sequence[str] | None = None,
    teams: Sequence[str] | None = None,
) -> tuple[str, str]:
    """The URL to connect to and the socket.io path, honouring a path prefix.

    A gateway behind a proxy at ``https://ops.example/upcast`` serves
    socket.io at ``/upcast/socket.io``.
    """
    parts = urlsplit(base_url)
    url = f"{parts.scheme}://{parts.netloc}"
    rooms = {
        name: ",".join(values)
        for name, values in (("monitors", monitors), ("tags", tags), ("teams", teams))
        if values
    }
    if rooms:
        url += "?" + urlencode(rooms)
    prefix = parts.path.strip("/")
    path = f"{prefix}/socket.io" if prefix else "socket.io"
    return url, path


class Subscription:
    """Live updates as an async iterator; use ``async with`` to connect and close.

    ``monitors``, ``tags`` and ``teams`` limit updates to those monitors, the
    monitors with those tags and those teams' monitors; with none of them
    every update comes. Updates wait in an unbounded queue until read, so a
    reader that stops reading should close the subscription.
    """

    def __init__(
        self,
        base_url: str,
        monitors: Sequence[str] | None = None,
        *,
        timeout: float = 10.0,
        token: str | None = None,
        tags: Sequence[str] | None = None,
        teams: Sequence[str] | None = None,
    ) -> None:
        self._url, self._path = _socketio_address(base_url, monitors, tags, teams)
        self._timeout = timeout
        self._token = token
        self._updates: asyncio.Queue[Any] = asyncio.Queue()
        self._client: Any = None
        self._closed = False
        self.offset: int | None = None
        """The offset of the last update seen, sent when reconnecting."""
        self.gaps = 0
        """Reconnections after which the missed updates could not be replayed."""

    async def open(self) -> None:
        """Connect; updates are received from the moment this returns."""
        if self._client is not None:
            return
        client = socketio.AsyncClient(reconnection=True)

        async def on_result(data: Any) -> None:
            self._receive("result", data)

        async def on_event(data: Any) -> None:
            self._receive("event", data)

        async def on_offset(data: Any) -> None:
            self._seen(data.get("offset") if isinstance(data, dict) else None)

        async def on_recovery(data: Any) -> None:
            self._recovered(data)

        client.on("result", on_result)
        client.on("event", on_event)
        client.on("offset", on_offset)
        client.on("recovery", on_recovery)
        try:
            await client.connect(
                self._url,
                socketio_path=self._path,
                transports=["websocket"],
                wait_timeout=self._timeout,
                # Asked again at each reconnection, so it sends the last offset.
                auth=self._auth,
            )
        except socketio.exceptions.ConnectionError as exc:
            raise ConnectionFailed(
                f"could not follow live updates at {self._url}: {exc}"
            ) from exc
        self._client = client

    def _auth(self) -> dict[str, Any]:
        auth: dict[str, Any] = {}
        if self._token:
            auth["token"] = self._token
        if self.offset is not None:
            auth["offset"] = self.offset
        return auth

    def _receive(self, kind: str, data: Any) -> None:
        """Queue one update, unless its offset says it was seen already."""
        update: Update = {"type": kind, "data": data}
        offset = data.pop("offset", None) if isinstance(data, dict) else None
        if isinstance(offset, int):
            if self.offset is not None and offset <= self.offset:
                return
            self.offset = offset
            update["offset"] = offset
        self._updates.put_nowait(update)

    def _seen(self, offset: Any) -> None:
        if isinstance(offset, int) and (self.offset is None or offset > self.offset):
            self.offset = offset

    def _recovered(self, answer: Any) -> None:
        if not isinstance(answer, dict):
            return
        if answer.get("status") == "reload":
            self.gaps += 1
            logger.warning(
                "live updates were missed while reconnecting and cannot be "
                "replayed (%s); reload what depends on them",
                answer.get("reason"),
            )
            offset = answer.get("offset")
            if isinstance(offset, int):
                self.offset = offset
            return
        self._seen(answer.get("offset"))

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
        token: str | None = None,
        tags: Sequence[str] | None = None,
        teams: Sequence[str] | None = None,
    ) -> None:
        self._base_url = base_url
        self._monitors = list(monitors) if monitors else None
        self._tags = list(tags) if tags else None
        self._teams = list(teams) if teams else None
        self._timeout = timeout
        self._token = token
        self._subscription: Subscription | None = None
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
                self._base_url,
                self._monitors,
                timeout=self._timeout,
                token=self._token,
                tags=self._tags,
                teams=self._teams,
            )
            self._subscription = subscription
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

    @property
    def gaps(self) -> int:
        """Reconnections after which the missed updates could not be replayed."""
        return 0 if self._subscription is None else self._subscription.gaps

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
