"""Delivery as a running service: the channels, the Dispatcher and test sends.

``DeliveryService`` builds the channels from the store's channel settings,
keeps a ``Dispatcher`` delivering the outbox in the background, and builds
them again when the settings change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

from notify.channels import Channel
from notify.dispatch import Dispatcher
from notify.message import TEST
from notify.settings import channel_of_setting
from notify.templates import AlertEvent, MonitorFacts, render_notification
from store.base import Store

logger = logging.getLogger(__name__)


class ChannelNotFound(KeyError):
    """No channel has this id."""

    def __init__(self, channel_id: str) -> None:
        super().__init__(channel_id)
        self.channel_id = channel_id

    def __str__(self) -> str:
        return f"no channel has the id {self.channel_id!r}"

    def __reduce__(self) -> tuple[type[ChannelNotFound], tuple[str]]:
        return (ChannelNotFound, (self.channel_id,))


class DeliveryService:
    """Delivers what the outbox holds through the channels the store names."""

    def __init__(self, store: Store, *, idle: float = 1.0) -> None:
        self._store = store
        self._idle = idle
        self._channels: dict[str, Channel] = {}
        self._dispatcher = Dispatcher(store, self._channels)
        self._stop = asyncio.Event()
        self._running: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.reload()
        self._running = asyncio.get_running_loop().create_task(
            self._dispatcher.run(self._stop, idle=self._idle)
        )

    async def reload(self) -> None:
        """Build the channels again from their stored settings."""
        built: dict[str, Channel] = {}
        for body in await self._store.settings("channel"):
            channel = channel_of_setting(body)
            if channel is not None:
                built[str(body["id"])] = channel
        old = list(self._channels.values())
        # The Dispatcher holds this very mapping, so it sees the change.
        self._channels.clear()
        self._channels.update(built)
        for channel in old:
            await channel.close()

    async def send_test(
        self, channel_id: str, *, public_url: str | None = None
    ) -> dict[str, Any]:
        """Send a test notification through one channel now; how it went.

        It does not go through the outbox: whoever asked wants the answer
        of this attempt, not a retry later.
        """
        body = await self._store.get_setting("channel", channel_id)
        if body is None:
            raise ChannelNotFound(channel_id)
        channel = channel_of_setting({**body, "enabled": True})
        if channel is None:
            raise ChannelNotFound(channel_id)
        now = time.time()
        facts = MonitorFacts(id="test", name="Test notification", kind="test")
        event = AlertEvent(
            key="test-" + secrets.token_hex(8),
            incident="test",
            status=TEST,
            monitor=facts,
            at=now,
            state="up",
            severity="info",
        )
        notification = render_notification(
            event, channel.templates, public_url=public_url
        )
        try:
            delivery = await channel.send(notification)
        finally:
            await channel.close()
        logger.info("test notification to %s: %s", channel_id, delivery.detail)
        return {
            "ok": delivery.ok,
            "retryable": delivery.retryable,
            "status": delivery.status,
            "detail": delivery.detail,
            "response": delivery.response,
        }

    async def close(self) -> None:
        self._stop.set()
        if self._running is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._running
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
